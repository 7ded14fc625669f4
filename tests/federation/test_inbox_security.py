"""Hostile and repeated deliveries to a real node's inbox: each refused with its own code, nothing changed.

The test acts as a real peer: it reads that peer's signing key from its data folder and signs
requests for real (no mocked authentication).
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

from protocol import SigningKey, entry_hash

from .conftest import FAST, peer, peer_both, wait_until
from .forge import Forger, chain_in, db_digest, node_key, now_utc, send

pytestmark = pytest.mark.slow


@pytest.fixture
def trio(node_process):
    """be-vl peered with hu and nl; hu has paid once (a real chain exists); hu and nl then stop."""
    a = node_process("be-vl", **FAST)
    b = node_process("hu", **FAST)
    c = node_process("nl", **FAST)
    peer_both(a, b)
    peer(a, c)
    anna, zoltan = a.new_member("anna"), b.new_member("zoltan")
    assert zoltan.transfer("anna@be-vl", 2).status_code == 201
    wait_until(lambda: anna.balance() == 12, what="real payment hu -> be-vl")
    wait_until(
        lambda: not any(p["entries_pending"] for p in a.coordinator().call("GET", "/federation/peers").json()["peers"]),
        what="quiet",
    )
    b.stop()
    c.stop()
    return a, b, c, anna


def quiet_digest(node) -> dict:
    """The node's database digest once background jobs (1 s sweeps) have settled: two equal reads 1.5 s apart."""
    db = node.data_dir / "node.db"
    previous = None
    for _ in range(20):
        current = db_digest(db)
        if current == previous:
            return current
        previous = current
        time.sleep(1.5)
    raise AssertionError("the database never settled")


def refused(response, status: int, code: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.json()["error"]["code"] == code, response.text


def test_hostile_requests_are_refused_and_change_nothing(trio):
    a, b, c, anna = trio
    db = a.data_dir / "node.db"
    hu = Forger(node_key(b.data_dir), "hu", "be-vl", a.url)
    seq, last_hash = chain_in(db, "hu")[-1][:2]
    good = hu.transfer(seq + 1, last_hash, "anna", 1)
    before = quiet_digest(a)

    cases = {
        "no signature": (lambda: send(_unsigned(hu.request([good]))), 401, "signature_missing"),
        "unknown peer": (lambda: hu.post([good], from_header="xx"), 401, "unknown_peer"),
        "unknown key": (lambda: hu.post([good], key=SigningKey.from_seed(b"\x07" * 32)), 401, "unknown_key"),
        "another peer's key": (lambda: hu.post([good], key=node_key(c.data_dir)), 401, "key_not_of_sender"),
        "signed for another node's URL": (
            lambda: hu.post([good], sign_url="http://127.0.0.1:1/federation/v1/inbox"),
            401,
            "bad_request_signature",
        ),
        "routed to another node": (lambda: hu.post([good], to_header="nl"), 421, "wrong_recipient"),
        "stale request": (lambda: hu.post([good], created=now_utc() - timedelta(hours=1)), 401, "request_expired"),
        "future request": (lambda: hu.post([good], created=now_utc() + timedelta(hours=1)), 401, "request_future"),
        "body altered after signing": (lambda: send(_altered(hu.request([good]))), 401, "digest_mismatch"),
        "entry tampered": (lambda: hu.post([_tamper(good)]), 401, "bad_signature"),
        "entry from another node": (
            lambda: hu.post([hu.transfer(seq + 1, last_hash, "anna", 1, from_="nl")]),
            403,
            "origin_mismatch",
        ),
        "entry for another node": (
            lambda: hu.post([hu.transfer(seq + 1, last_hash, "anna", 1, to="nl")]),
            421,
            "wrong_recipient",
        ),
        "entry signed by another peer": (
            lambda: hu.post([hu.transfer(seq + 1, last_hash, "anna", 1, key=node_key(c.data_dir))]),
            401,
            "key_not_of_sender",
        ),
        "broken chain link": (lambda: hu.post([hu.transfer(seq + 1, "A" * 43, "anna", 1)]), 409, "prev_mismatch"),
        "rewritten history": (lambda: hu.post([hu.transfer(seq, last_hash, "anna", 1)]), 409, "seq_conflict"),
        "future-dated entry": (
            lambda: hu.post([hu.transfer(seq + 1, last_hash, "anna", 1, created=now_utc() + timedelta(hours=2))]),
            400,
            "envelope_future",
        ),
        "not a batch": (lambda: hu.post([], body=b'{"entries": "x"}'), 400, "invalid_batch"),
    }
    for name, (call, status, code) in cases.items():
        response = call()
        assert response.status_code == status and response.json()["error"]["code"] == code, (name, response.text)
    after = quiet_digest(a)
    assert after == before, {
        t: (before.get(t), after.get(t)) for t in set(before) | set(after) if before.get(t) != after.get(t)
    }
    assert anna.balance() == 12


def test_replayed_request_refused_and_duplicates_apply_once(trio):
    a, b, c, anna = trio
    db = a.data_dir / "node.db"
    hu = Forger(node_key(b.data_dir), "hu", "be-vl", a.url)
    seq, last_hash = chain_in(db, "hu")[-1][:2]
    entry = hu.transfer(seq + 1, last_hash, "anna", 3)
    prepared = hu.request([entry])
    assert send(prepared).status_code == 200
    assert anna.balance() == 15
    refused(send(prepared), 409, "request_replayed")  # the very same request again
    # The same entry in a new, validly signed request: acknowledged, applied once.
    again = hu.post([entry])
    assert again.status_code == 200 and again.json()["received_through"] == seq + 1
    old = json.loads(chain_in(db, "hu")[0][2])
    assert hu.post([old, entry]).status_code == 200
    assert anna.balance() == 15


def test_reordered_entries_wait_for_the_gap(trio):
    a, b, c, anna = trio
    db = a.data_dir / "node.db"
    hu = Forger(node_key(b.data_dir), "hu", "be-vl", a.url)
    seq, last_hash = chain_in(db, "hu")[-1][:2]
    first = hu.transfer(seq + 1, last_hash, "anna", 1)
    second = hu.transfer(seq + 2, entry_hash(first), "anna", 2)
    early = hu.post([second])
    assert early.status_code == 200 and early.json() == {
        "received_through": seq,
        "last_hash": last_hash,
        "resend_from": seq + 1,
    }
    assert anna.balance() == 12
    done = hu.post([first, second])
    assert done.json()["received_through"] == seq + 2 and anna.balance() == 15


def test_suspended_peer_is_refused_until_resumed(pair):
    a, b = pair
    anna, zoltan = a.new_member("anna"), b.new_member("zoltan")
    a.coordinator().call("POST", "/federation/peers/hu/suspend", {"reason": "audit"}, expect=200)
    assert zoltan.transfer("anna@be-vl", 2).status_code == 201
    hu = Forger(node_key(b.data_dir), "hu", "be-vl", a.url)
    refused(hu.post([], body=b'{"entries": []}'), 403, "peer_suspended")
    # hu keeps the entry queued; anna gets nothing while be-vl refuses
    wait_until(
        lambda: b.coordinator().call("GET", "/federation/peers").json()["peers"][0]["failures"] >= 1,
        what="hu's delivery refused",
    )
    assert anna.balance() == 10
    # be-vl cannot pay hu either while it suspends it
    r = anna.transfer("zoltan@hu", 1)
    assert r.status_code == 409 and r.json()["error"]["code"] == "peer_not_active"
    a.coordinator().call("POST", "/federation/peers/hu/resume", expect=200)
    wait_until(lambda: anna.balance() == 12, timeout=30, what="delivery after resume")


def _unsigned(prepared):
    for header in ("Signature", "Signature-Input"):
        prepared.headers.pop(header, None)
    return prepared


def _altered(prepared):
    prepared.body = prepared.body.replace(b'"amount":1', b'"amount":9')
    prepared.headers["Content-Length"] = str(len(prepared.body))
    return prepared


def _tamper(env):
    data = env.to_dict()
    data["body"]["amount"] = 50
    return data
