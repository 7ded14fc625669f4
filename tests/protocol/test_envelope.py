"""Envelope records: strict JSON form, building, signing input."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from protocol import (
    MAX_AMOUNT,
    ChannelRef,
    Envelope,
    EnvelopeError,
    LocalProtocolError,
    canonical_json,
    genesis_hash,
    make_envelope,
    sign_envelope,
    signing_input,
)

PREV = genesis_hash("be-vl", "hu")


def wire(**changes: object) -> dict:
    """A valid signed-looking transfer envelope dict, with top-level ``changes`` (None deletes)."""
    data = {
        "v": 1,
        "id": "env-1",
        "type": "transfer",
        "from": "be-vl",
        "to": "hu",
        "created": "2026-01-15T10:00:00Z",
        "body": {"transfer_id": "t-1", "payer": "anna", "payee": "bela", "amount": 5},
        "channel": {"seq": 1, "prev": PREV},
        "sig": {"alg": "ed25519", "kid": "ed25519:AAAAAAAAAAAAAAAAAAAAAA", "value": "AAAA"},
    }
    for key, value in changes.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    return data


def test_dict_round_trip() -> None:
    data = wire()
    env = Envelope.from_dict(data)
    assert env.from_ == "be-vl" and env.channel == ChannelRef(1, PREV) and env.sig is not None
    assert env.to_dict() == data
    assert "channel" not in Envelope.from_dict(wire(channel=None, type="checkpoint")).to_dict()
    assert "sig" not in Envelope.from_dict(wire(sig=None)).to_dict()


def test_from_dict_copies_the_body() -> None:
    data = wire(body={"transfer_id": "t-1", "payer": "anna", "payee": "bela", "amount": 5, "x": [{"y": 1}]})
    env = Envelope.from_dict(data)
    data["body"]["x"][0]["y"] = 2
    assert env.body["x"][0]["y"] == 1


def test_envelopes_are_frozen_and_hashable() -> None:
    env = Envelope.from_dict(wire())
    with pytest.raises(AttributeError):
        env.to = "nl"  # type: ignore[misc]
    assert len({env, Envelope.from_dict(wire())}) == 1


@pytest.mark.parametrize(
    ("changes", "code", "where"),
    [
        ({"extra": 1}, "unknown_field", "extra"),
        ({"created": None}, "missing_field", "created"),
        ({"v": "1"}, "wrong_type", "v"),
        ({"v": True}, "wrong_type", "v"),
        ({"v": 1.0}, "float_not_allowed", "v"),
        ({"v": 0}, "out_of_range", "v"),
        ({"id": "x" * 65}, "string_too_long", "id"),
        ({"id": "a b"}, "bad_format", "id"),
        ({"id": ""}, "bad_format", "id"),
        ({"from": "BE-VL"}, "bad_format", "from"),
        ({"from": "b"}, "bad_format", "from"),
        ({"from": "*"}, "bad_format", "from"),
        ({"to": "hu "}, "bad_format", "to"),
        ({"to": "*"}, "wrong_recipient", "to"),
        ({"type": "node_document"}, "wrong_recipient", "to"),
        ({"type": "Transfer"}, "bad_format", "type"),
        ({"created": "2026-01-15T10:00:00+00:00"}, "bad_time", "created"),
        ({"channel": {"seq": 0, "prev": PREV}}, "out_of_range", "channel.seq"),
        ({"channel": {"seq": 1, "prev": "short"}}, "bad_format", "channel.prev"),
        ({"channel": {"seq": 1, "prev": PREV, "x": 1}}, "unknown_field", "channel.x"),
        ({"channel": [1, PREV]}, "wrong_type", "channel"),
        ({"sig": {"alg": "ed25519", "kid": "k"}}, "missing_field", "sig.value"),
        ({"sig": {"alg": "ed25519", "kid": "k", "value": "AA=="}}, "bad_base64", "sig.value"),
        ({"body": []}, "wrong_type", "body"),
        ({"body": {"amount": 5.0}}, "float_not_allowed", "body.amount"),
        ({"body": {"x": [{"y": 0.5}]}}, "float_not_allowed", "body.x[0].y"),
        ({"body": {"n": MAX_AMOUNT + 1}}, "integer_out_of_range", "body.n"),
        ({"body": {"n": -MAX_AMOUNT - 1}}, "integer_out_of_range", "body.n"),
        ({"body": {"s": "\ud800"}}, "bad_string", "body.s"),
        ({"body": {"x": (1, 2)}}, "wrong_type", "body.x"),
        ({"body": {1: 2}}, "wrong_type", "body"),
    ],
)
def test_from_dict_is_strict(changes: dict, code: str, where: str) -> None:
    with pytest.raises(EnvelopeError) as info:
        Envelope.from_dict(wire(**changes))
    assert (info.value.code, info.value.where) == (code, where)


def test_from_dict_refuses_non_objects_and_deep_bodies() -> None:
    with pytest.raises(EnvelopeError) as info:
        Envelope.from_dict([])
    assert (info.value.code, info.value.where) == ("wrong_type", None)
    deep: dict = {}
    node = deep
    for _ in range(40):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(EnvelopeError) as info:
        Envelope.from_dict(wire(body=deep))
    assert info.value.code == "nesting_too_deep"


def test_from_dict_accepts_unknown_types_for_the_receiver_to_refuse() -> None:
    env = Envelope.from_dict(wire(type="future_thing", to="*"))
    assert env.type == "future_thing"


def _build(**changes):
    args = dict(
        type="transfer",
        from_="be-vl",
        to="hu",
        created="2026-01-15T10:00:00Z",
        body={"transfer_id": "t-1", "payer": "anna", "payee": "bela", "amount": 5},
        id="env-1",
        channel=ChannelRef(1, PREV),
    )
    args.update(changes)
    return make_envelope(**args)


def test_make_envelope_builds_an_unsigned_envelope() -> None:
    env = _build(created=datetime(2026, 1, 15, 10, 0, 0, 750000, tzinfo=UTC))
    assert env.v == 1 and env.sig is None and env.created == "2026-01-15T10:00:00Z"


@pytest.mark.parametrize(
    ("changes", "code", "where"),
    [
        ({"body": {"transfer_id": "t-1", "payer": "anna", "payee": "bela"}}, "missing_field", "body.amount"),
        (
            {"body": {"transfer_id": "t-1", "payer": "anna", "payee": "bela", "amount": 0}},
            "amount_not_positive",
            "body.amount",
        ),
        ({"to": "*"}, "wrong_recipient", "to"),
        ({"channel": None}, "channel_mismatch", "channel"),
        ({"type": "checkpoint"}, "unknown_field", "body.transfer_id"),
        ({"type": "no_such_type"}, "unknown_type", "type"),
        ({"id": "has space"}, "bad_format", "id"),
        ({"created": datetime(2026, 1, 15)}, "naive_datetime", None),
    ],
)
def test_make_envelope_refuses_what_a_receiver_would(changes: dict, code: str, where: str | None) -> None:
    with pytest.raises(LocalProtocolError) as info:
        _build(**changes)
    assert (info.value.code, info.value.where, info.value.status_hint) == (code, where, 500)


def test_make_envelope_copies_the_body() -> None:
    body = {"transfer_id": "t-1", "payer": "anna", "payee": "bela", "amount": 5}
    env = _build(body=body)
    body["amount"] = 6
    assert env.body["amount"] == 5


def test_signing_input_binds_kid_but_not_signature_value(key_for) -> None:
    key = key_for("be-vl")
    env = sign_envelope(_build(), key)
    expected = copy.deepcopy(env.to_dict())
    del expected["sig"]["value"]
    assert signing_input(env) == canonical_json(expected)
    assert signing_input(_build(), key.key_id) == signing_input(env)
    assert key.key_id.encode() in signing_input(env)


def test_signing_input_needs_a_kid() -> None:
    with pytest.raises(LocalProtocolError) as info:
        signing_input(_build())
    assert info.value.code == "bad_argument"


def test_sign_envelope_replaces_a_previous_signature(key_for) -> None:
    once = sign_envelope(_build(), key_for("nl"))
    again = sign_envelope(once, key_for("be-vl"))
    assert again == sign_envelope(_build(), key_for("be-vl"))
    assert again.sig is not None and again.sig.kid == key_for("be-vl").key_id
