"""Hostile federation deliveries to the in-process node, signed for real with its peers' keys:
forged, tampered, retargeted, misdated and malformed; each refused with its code, nothing changed."""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from protocol import SigningKey, b64url_encode, canonical_json, genesis_hash
from tests.conftest import START
from tests.federation.forge import INBOX, node_key

from .conftest import BASE_URL, refused, unchanged

MESSAGES = "/federation/v1/messages"
HOUR = timedelta(hours=1)
DEEP = b'{"entries": [' + b"[" * 50_000 + b"]" * 50_000 + b"]}"
OVERSIZE = b'{"entries": [], "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
G = genesis_hash("hu", "be-vl")


def send(world, prepared):
    """Deliver a prepared (signed) request to the in-process node."""
    return world.client().post(urlsplit(prepared.url).path, data=prepared.body, headers=dict(prepared.headers))


def transfer(f, amount=1, *, payee="anna", seq=1, prev=G, body=None, **kw):
    body = body or {"transfer_id": uuid.uuid4().hex, "payer": "zoltan", "payee": payee, "amount": amount, "memo": ""}
    return f.entry(seq, prev, "transfer", body, created=kw.pop("created", START), **kw)


def post(f, entries, **kw):
    return f.request(entries, created=kw.pop("created", START), **kw)


def unsigned(prepared):
    for header in ("Signature", "Signature-Input"):
        prepared.headers.pop(header, None)
    return prepared


def altered(prepared):
    prepared.body = prepared.body.replace(b'"amount":1', b'"amount":9')
    return prepared


def tampered(env) -> dict:
    data = env.to_dict()
    data["body"]["amount"] = 50
    return data


def raw_entry(env, **changes) -> dict:
    data = env.to_dict()
    data.update(changes)
    return data


def direct(f, envelope: dict):
    return f.request([], url=BASE_URL + MESSAGES, body=canonical_json(envelope), created=START)


def forged(f, type_name, body, *, seq=1, prev=G, created=START, to="be-vl", channel=True) -> dict:
    """A correctly signed envelope that make_envelope would refuse to build (the peer's software is hostile)."""
    data = {
        "v": 1,
        "id": uuid.uuid4().hex,
        "type": type_name,
        "from": f.node_id,
        "to": to,
        "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "body": body,
    }
    if channel:
        data["channel"] = {"seq": seq, "prev": prev}
    data["sig"] = {"alg": "ed25519", "kid": f.key.key_id}
    data["sig"]["value"] = b64url_encode(f.key.sign(canonical_json(data)))
    return data


def pay_body(amount=1, **extra) -> dict:
    return {"transfer_id": uuid.uuid4().hex, "payer": "zoltan", "payee": "anna", "amount": amount, "memo": "", **extra}


def huge_amount(f) -> bytes:
    """A batch whose entry carries 2**63 (beyond what canonical JSON can sign; the receiver must refuse it first)."""
    batch = canonical_json({"entries": [forged(f, "transfer", pay_body(123456789))]})
    return batch.replace(b'"amount":123456789', b'"amount":9223372036854775808')


def with_ack(f, ack) -> bytes:
    """A valid one-entry batch carrying `ack` as its acknowledgement of the receiver's entries."""
    return canonical_json({"ack": ack, "entries": [transfer(f).to_dict()]})


def stranger() -> SigningKey:
    return SigningKey.from_seed(b"\x07" * 32)


P = pytest.param
# Each case: fn(world, hu, nl) -> prepared request; then (status, code).
CASES = [
    P(lambda w, hu, nl: unsigned(post(hu, [transfer(hu)])), 401, "signature_missing", id="request-unsigned"),
    P(lambda w, hu, nl: post(hu, [transfer(hu)], from_header="xx"), 401, "unknown_peer", id="request-unknown-peer"),
    P(
        lambda w, hu, nl: post(hu, [transfer(hu)], from_header="HU"),
        401,
        "unknown_peer",
        id="request-lookalike-peer-id-case",
    ),
    P(
        lambda w, hu, nl: post(hu, [transfer(hu)], from_header="hu."),
        401,
        "unknown_peer",
        id="request-lookalike-peer-id-dot",
    ),
    P(lambda w, hu, nl: post(hu, [transfer(hu)], key=stranger()), 401, "unknown_key", id="request-stranger-key"),
    P(lambda w, hu, nl: post(hu, [transfer(hu)], key=nl.key), 401, "key_not_of_sender", id="request-other-peers-key"),
    P(
        lambda w, hu, nl: post(hu, [transfer(hu)], key=node_key(w.ctx.settings.data_path)),
        401,
        "unknown_key",
        id="request-receivers-own-key",
    ),
    P(
        lambda w, hu, nl: post(hu, [transfer(hu)], sign_url="http://127.0.0.1.evil.example:5000" + INBOX),
        401,
        "bad_request_signature",
        id="request-signed-for-lookalike-url",
    ),
    P(
        lambda w, hu, nl: post(hu, [transfer(hu)], sign_url="https://127.0.0.1:5000" + INBOX),
        401,
        "bad_request_signature",
        id="request-signed-for-https-url",
    ),
    P(
        lambda w, hu, nl: post(hu, [transfer(hu)], sign_url=BASE_URL + "/federation/v1/messages"),
        401,
        "bad_request_signature",
        id="request-signed-for-other-path",
    ),
    P(
        lambda w, hu, nl: post(hu, [transfer(hu)], to_header="nl"),
        421,
        "wrong_recipient",
        id="request-retargeted-to-other-node",
    ),
    P(lambda w, hu, nl: post(hu, [transfer(hu)], created=START - HOUR), 401, "request_expired", id="request-expired"),
    P(
        lambda w, hu, nl: post(hu, [transfer(hu)], created=START + HOUR),
        401,
        "request_future",
        id="request-future-dated",
    ),
    P(lambda w, hu, nl: altered(post(hu, [transfer(hu)])), 401, "digest_mismatch", id="request-body-altered"),
    P(lambda w, hu, nl: post(hu, [tampered(transfer(hu))]), 401, "bad_signature", id="entry-tampered-amount"),
    P(lambda w, hu, nl: post(hu, [transfer(hu, from_="nl")]), 403, "origin_mismatch", id="entry-claims-other-origin"),
    P(
        lambda w, hu, nl: post(hu, [transfer(nl, prev=genesis_hash("nl", "be-vl"))]),
        403,
        "origin_mismatch",
        id="entry-of-other-peer-relayed",
    ),
    P(lambda w, hu, nl: post(hu, [transfer(hu, to="nl")]), 421, "wrong_recipient", id="entry-retargeted"),
    P(
        lambda w, hu, nl: post(hu, [transfer(hu, key=nl.key)]),
        401,
        "key_not_of_sender",
        id="entry-signed-by-other-peer",
    ),
    P(lambda w, hu, nl: post(hu, [transfer(hu, prev="A" * 43)]), 409, "prev_mismatch", id="entry-broken-chain"),
    P(
        lambda w, hu, nl: post(hu, [transfer(hu, created=START + 2 * HOUR)]),
        400,
        "envelope_future",
        id="entry-future-dated",
    ),
    P(
        lambda w, hu, nl: post(hu, [raw_entry(transfer(hu), channel=None)]),
        422,
        "wrong_type",
        id="entry-without-channel",
    ),
    P(
        lambda w, hu, nl: post(hu, [raw_entry(transfer(hu), v=2)]),
        400,
        "unsupported_version",
        id="entry-unknown-version",
    ),
    P(lambda w, hu, nl: post(hu, [transfer(hu), transfer(hu)]), 400, "batch_out_of_order", id="batch-repeated-seq"),
    P(lambda w, hu, nl: post(hu, [], body=b'{"entries": "x"}'), 400, "invalid_batch", id="batch-not-a-list"),
    P(lambda w, hu, nl: post(hu, [], body=b'{"entries": []}'), 400, "invalid_batch", id="batch-empty"),
    P(
        lambda w, hu, nl: post(hu, [], body=b'{"entries": [], "mint": 1}'),
        400,
        "invalid_batch",
        id="batch-unknown-field",
    ),
    # An acknowledgement must name an entry the receiver sent this peer, with its hash (be-vl sent hu nothing).
    P(
        lambda w, hu, nl: post(hu, [], body=with_ack(hu, {"received_through": 1, "last_hash": G})),
        409,
        "ack_mismatch",
        id="ack-of-an-entry-never-sent",
    ),
    P(
        lambda w, hu, nl: post(hu, [], body=with_ack(hu, {"received_through": "1", "last_hash": G})),
        400,
        "invalid_batch",
        id="ack-seq-a-string",
    ),
    P(
        lambda w, hu, nl: post(hu, [], body=with_ack(hu, {"received_through": True, "last_hash": G})),
        400,
        "invalid_batch",
        id="ack-seq-a-boolean",
    ),
    P(
        lambda w, hu, nl: post(hu, [], body=with_ack(hu, {"received_through": 0, "last_hash": G})),
        400,
        "invalid_batch",
        id="ack-seq-zero",
    ),
    P(
        lambda w, hu, nl: post(hu, [], body=with_ack(hu, {"received_through": 1, "last_hash": G, "more": 1})),
        400,
        "invalid_batch",
        id="ack-unknown-field",
    ),
    P(lambda w, hu, nl: post(hu, [], body=with_ack(hu, [1, G])), 400, "invalid_batch", id="ack-not-an-object"),
    P(lambda w, hu, nl: post(hu, [], body=DEEP), 400, "nesting_too_deep", id="batch-nested-50k-deep"),
    P(lambda w, hu, nl: post(hu, [], body=OVERSIZE), 413, "too_large", id="batch-oversize-2mib"),
    # Regressions of the bug this suite found: channel entries were checked for their signature only, so a
    # peer's correctly signed transfer of -5 SIF was applied (it debited the payee) and an unknown type was
    # stored in the chain; federation/transport/channels.py now checks each entry's form (check_form) first.
    P(
        lambda w, hu, nl: post(hu, [forged(hu, "mint_money", {"amount": 100})]),
        422,
        "unknown_type",
        id="entry-unknown-type",
    ),
    P(
        lambda w, hu, nl: post(hu, [forged(hu, "transfer", pay_body(fee=-1))]),
        422,
        "unknown_field",
        id="entry-unknown-body-field",
    ),
    P(
        lambda w, hu, nl: post(hu, [forged(hu, "transfer", pay_body(-5))]),
        422,
        "amount_not_positive",
        id="entry-negative-amount",
    ),
    P(
        lambda w, hu, nl: post(hu, [forged(hu, "transfer", pay_body(0))]),
        422,
        "amount_not_positive",
        id="entry-zero-amount",
    ),
    P(lambda w, hu, nl: post(hu, [], body=huge_amount(hu)), 422, "integer_out_of_range", id="entry-huge-amount"),
    P(
        lambda w, hu, nl: post(hu, [forged(hu, "transfer", pay_body(1.5))]),
        422,
        "float_not_allowed",
        id="entry-float-amount",
    ),
    P(lambda w, hu, nl: post(hu, [forged(hu, "transfer", pay_body("1"))]), 422, "wrong_type", id="entry-string-amount"),
    P(
        lambda w, hu, nl: post(hu, [forged(hu, "transfer", {**pay_body(), "payee": "anna' OR '1'='1"})]),
        422,
        "bad_format",
        id="entry-sql-injection-payee",
    ),
    P(
        lambda w, hu, nl: direct(hu, forged(hu, "mint_money", {"amount": 100}, channel=False)),
        422,
        "unknown_type",
        id="direct-unknown-type",
    ),
    P(
        lambda w, hu, nl: direct(hu, forged(hu, "transfer", pay_body(), channel=False)),
        422,
        "channel_mismatch",
        id="direct-channel-type-without-channel",
    ),
    P(
        lambda w, hu, nl: direct(hu, forged(hu, "checkpoint", {}, channel=False)),
        422,
        "missing_field",
        id="direct-checkpoint-empty-body",
    ),
]


@pytest.mark.parametrize(("build", "status", "code"), CASES)
def test_hostile_delivery_is_refused_and_changes_nothing(world, build, status, code):
    hu, nl = world.peers["hu"][1], world.peers["nl"][1]
    prepared = build(world, hu, nl)
    with unchanged(world.ctx):
        response = send(world, prepared)
    refused(response, status, code)
