"""Hostile deliveries to a real node process over HTTP (a replay needs a request that was once accepted)."""

from __future__ import annotations

import pytest

from protocol import SigningKey, genesis_hash, parse_time
from tests.federation.conftest import FAST, peer_both, peer_state, wait_until
from tests.federation.forge import Forger, chain_in, node_key, send
from tests.federation.test_inbox_security import quiet_digest

from .test_inbox import forged, pay_body

pytestmark = pytest.mark.slow


def test_replayed_and_forged_requests_to_a_real_node_are_refused(node_process):
    a = node_process("be-vl", **{**FAST, "sweep_seconds": 60})
    b = node_process("hu", **{**FAST, "sweep_seconds": 60})
    peer_both(a, b)
    anna = a.new_member("anna")
    b.stop()  # hu's own deliveries must not race the forged ones
    db = a.data_dir / "node.db"
    hu = Forger(node_key(b.data_dir), "hu", "be-vl", a.url)
    seq, last = chain_in(db, "hu")[-1][:2] if chain_in(db, "hu") else (0, genesis_hash("hu", "be-vl"))
    entry = hu.transfer(seq + 1, last, "anna", 3)
    accepted = hu.request([entry])
    assert send(accepted).status_code == 200
    wait_until(lambda: anna.balance() == 13, what="the one real payment")
    # be-vl handed its receipt back in the answer, which the forger ignores: after the hand-back grace be-vl
    # delivers it to hu, which is down. That attempt writes its failure; the cases below must find it written.
    wait_until(lambda: peer_state(a, "hu")["failures"] >= 1, what="be-vl's delivery of the receipt tried")
    before = quiet_digest(a)
    cases = {
        "replayed-request": (lambda: send(accepted), 409, "request_replayed"),
        "rewritten-applied-entry": (
            lambda: hu.post([{**entry.to_dict(), "body": {**entry.body, "amount": 30}}]),
            409,
            "seq_conflict",
        ),
        "stranger-key": (lambda: hu.post([entry], key=SigningKey.from_seed(b"\x09" * 32)), 401, "unknown_key"),
        "unknown-type": (
            lambda: hu.post(
                [
                    forged(
                        hu,
                        "mint_money",
                        {"amount": 1},
                        seq=seq + 2,
                        prev=chain_in(db, "hu")[-1][1],
                        created=parse_time(entry.created),
                    )
                ]
            ),
            422,
            "unknown_type",
        ),
        "negative-amount": (
            lambda: hu.post(
                [
                    forged(
                        hu,
                        "transfer",
                        pay_body(-3),
                        seq=seq + 2,
                        prev=chain_in(db, "hu")[-1][1],
                        created=parse_time(entry.created),
                    )
                ]
            ),
            422,
            "amount_not_positive",
        ),
        "lookalike-sender": (lambda: hu.post([entry], from_header="hu-"), 401, "unknown_peer"),
    }
    for name, (call, status, code) in cases.items():
        response = call()
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), (name, response.text)
    assert quiet_digest(a) == before
    # the same entry in a new, validly signed request is acknowledged and applied once (exactly once)
    assert hu.post([entry]).json()["received_through"] == seq + 1
    assert anna.balance() == 13
