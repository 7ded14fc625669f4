"""The receiver checks of verify_envelope, each code and their order."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import (
    Envelope,
    KeyInfo,
    Keyring,
    LocalProtocolError,
    ProtocolError,
    ReplayWindowError,
    SignatureError,
    canonical_json,
    check_created,
    make_envelope,
    parse_json,
    sign_envelope,
    verify_envelope,
)

CREATED_AT = datetime(2026, 1, 15, 10, 0, 0, tzinfo=UTC)
SKEW, AGE = timedelta(minutes=5), timedelta(hours=1)


def _codes(fn, *args, **kwargs) -> str:
    with pytest.raises(ProtocolError) as info:
        fn(*args, **kwargs)
    return info.value.code


def test_valid_envelope_verifies(signed_transfer, verify) -> None:
    env = signed_transfer()
    assert verify(env) is env


def test_verify_after_wire_round_trip(signed_transfer, verify) -> None:
    env = signed_transfer(memo="café ✓ \n tab\t")
    received = Envelope.from_dict(parse_json(json.dumps(env.to_dict(), indent=3).encode()))
    assert verify(received) == env


def test_valid_signature_of_another_node_is_refused(signed_transfer, key_for, verify) -> None:
    forged = sign_envelope(signed_transfer(), key_for("nl"))  # nl signs, claims to be be-vl
    with pytest.raises(SignatureError) as info:
        verify(forged)
    assert (info.value.code, info.value.where, info.value.status_hint) == ("key_not_of_sender", "sig.kid", 401)


def test_unknown_key_is_refused(signed_transfer, key_for, verify) -> None:
    env = sign_envelope(signed_transfer(), key_for("be-vl", generation=1))
    assert _codes(verify, env) == "unknown_key"


def test_retired_and_not_yet_valid_keys(signed_transfer, key_for, verify) -> None:
    env = signed_transfer()
    pub = key_for("be-vl").public_key
    retired = Keyring.of(KeyInfo("be-vl", pub, not_after=CREATED_AT))
    assert _codes(verify, env, keyring=retired) == "key_expired"
    later = Keyring.of(KeyInfo("be-vl", pub, not_before=CREATED_AT + timedelta(seconds=1)))
    assert _codes(verify, env, keyring=later) == "key_not_yet_valid"
    window = Keyring.of(KeyInfo("be-vl", pub, not_before=CREATED_AT, not_after=CREATED_AT + timedelta(seconds=1)))
    assert verify(env, keyring=window) is env


def test_acceptance_window_boundaries(signed_transfer, verify) -> None:
    env = signed_transfer()
    assert verify(env, now=CREATED_AT - SKEW) is env
    assert verify(env, now=CREATED_AT + AGE) is env
    assert _codes(verify, env, now=CREATED_AT - SKEW - timedelta(seconds=1)) == "envelope_future"
    assert _codes(verify, env, now=CREATED_AT + AGE + timedelta(seconds=1)) == "envelope_expired"


def test_check_created_standalone() -> None:
    assert check_created("2026-01-15T10:00:00Z", CREATED_AT, SKEW, AGE) == CREATED_AT
    with pytest.raises(ReplayWindowError) as info:
        check_created(CREATED_AT + timedelta(minutes=6), CREATED_AT, SKEW, AGE)
    assert info.value.code == "envelope_future"
    with pytest.raises(LocalProtocolError):
        check_created(CREATED_AT, datetime(2026, 1, 15), SKEW, AGE)
    with pytest.raises(LocalProtocolError):
        check_created(CREATED_AT, CREATED_AT, -SKEW, AGE)


def test_wrong_recipient(signed_transfer, verify) -> None:
    with pytest.raises(ProtocolError) as info:
        verify(signed_transfer(), expected_to="nl")
    assert (info.value.code, info.value.where, info.value.status_hint) == ("wrong_recipient", "to", 421)


def test_broadcast_type_is_accepted_by_any_node(key_for, keyring, now) -> None:
    pub = key_for("be-vl").public_key
    body = {
        "node_id": "be-vl",
        "name": "Flanders",
        "country": "BE",
        "base_url": "https://be-vl.example",
        "keys": [{"kid": pub.key_id, "public": pub.b64}],
        "protocol_versions": [1],
        "endpoints": {"inbox": "https://be-vl.example/inbox", "document": "https://be-vl.example/node"},
    }
    env = make_envelope(
        type="node_document", from_="be-vl", to="*", created="2026-01-15T10:00:00Z", body=body, id="doc-1"
    )
    env = sign_envelope(env, key_for("be-vl"))
    for node in ("hu", "nl"):
        assert verify_envelope(env, keyring=keyring, expected_to=node, now=now, max_skew=SKEW, max_age=AGE) is env


def _tamper_body(env: Envelope) -> Envelope:
    return dataclasses.replace(env, body={**env.body, "amount": env.body["amount"] + 1})


def _with_alg(env: Envelope, alg: str) -> Envelope:
    return dataclasses.replace(env, sig=dataclasses.replace(env.sig, alg=alg))


# Receiver steps in SPEC order. Each mutates a scenario so that exactly its check fails.
STEPS = [
    ("unsupported_version", lambda s: s.update(env=dataclasses.replace(s["env"], v=2))),
    ("unknown_type", lambda s: s.update(env=dataclasses.replace(s["env"], type="mystery"))),
    ("amount_not_positive", lambda s: s.update(env=dataclasses.replace(s["env"], body={**s["env"].body, "amount": 0}))),
    ("channel_mismatch", lambda s: s.update(env=dataclasses.replace(s["env"], channel=None))),
    ("wrong_recipient", lambda s: s.update(expected_to="nl")),
    ("signature_missing", lambda s: s.update(env=dataclasses.replace(s["env"], sig=None))),
    ("unsupported_algorithm", lambda s: s.update(env=_with_alg(s["env"], "rsa"))),
    ("unknown_key", lambda s: s.update(known=False)),
    ("key_not_of_sender", lambda s: s.update(owner="nl")),
    ("key_expired", lambda s: s.update(not_after=CREATED_AT)),
    ("bad_signature", lambda s: s.update(env=_tamper_body(s["env"]))),
    ("envelope_future", lambda s: s.update(now=CREATED_AT - timedelta(hours=1))),
]


@pytest.mark.parametrize("first", range(len(STEPS)), ids=[code for code, _ in STEPS])
def test_checks_run_in_spec_order(first: int, signed_transfer, key_for) -> None:
    """With the faults of step ``first`` and every later step at once, step ``first`` is reported."""
    scenario = {"env": signed_transfer(), "expected_to": "hu", "now": CREATED_AT, "owner": "be-vl"}
    scenario.update(known=True, not_after=None)
    for _, mutate in reversed(STEPS[first:]):
        mutate(scenario)
    pub = key_for("be-vl").public_key
    infos = [KeyInfo(scenario["owner"], pub, not_after=scenario["not_after"])] if scenario["known"] else []
    with pytest.raises(ProtocolError) as info:
        verify_envelope(
            scenario["env"],
            keyring=Keyring.of(*infos),
            expected_to=scenario["expected_to"],
            now=scenario["now"],
            max_skew=SKEW,
            max_age=AGE,
        )
    assert info.value.code == STEPS[first][0]


def test_bad_signature_encodings(signed_transfer, verify) -> None:
    env = signed_transfer()
    for value in ("AAAA", env.sig.value[:-2], "A", env.sig.value[:-1] + "B"):
        broken = dataclasses.replace(env, sig=dataclasses.replace(env.sig, value=value))
        assert _codes(verify, broken) == "bad_signature"


# --- Single-byte corruption of the wire form ----------------------------------------------


def _receive(data: bytes, verify) -> Envelope:
    return verify(Envelope.from_dict(parse_json(data)))


def test_every_single_byte_flip_is_refused(signed_transfer, verify) -> None:
    data = canonical_json(signed_transfer(memo="Thanks for the review of the café plan").to_dict())
    assert b"\\" not in data  # no escapes, so every flip changes the meaning
    for position in range(len(data)):
        for mask in (0x01, 0x02, 0x20, 0x80):
            flipped = bytearray(data)
            flipped[position] ^= mask
            with pytest.raises(ProtocolError):
                _receive(bytes(flipped), verify)


@settings(max_examples=200, deadline=None)
@given(
    memo=st.text(max_size=40),
    amount=st.integers(1, 2**53 - 1),
    where=st.floats(0, 1, exclude_max=True),
    mask=st.integers(1, 255),
)
def test_a_byte_flip_never_verifies_a_different_envelope(signed_transfer, verify, memo, amount, where, mask) -> None:
    original = signed_transfer(memo=memo, amount=amount)
    data = bytearray(canonical_json(original.to_dict()))
    data[int(where * len(data))] ^= mask
    try:
        received = _receive(bytes(data), verify)
    except ProtocolError:
        return
    # Only a flip that leaves the parsed value unchanged (e.g. "\u001f" -> "\u001F") may verify.
    assert received == original
