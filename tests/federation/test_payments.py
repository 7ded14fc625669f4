"""Cross-border payments between real node processes over loopback HTTP."""

from __future__ import annotations

import pytest

from .conftest import check_books, peer_state, wait_until

pytestmark = pytest.mark.slow


def _xfers(client):
    return client.call("GET", "/me/cross-border", expect=200).json()["transfers"]


def test_payment_applied_once_with_positions_mirrored(pair):
    a, b = pair
    anna, zoltan = a.new_member("anna"), b.new_member("zoltan")
    r = anna.transfer("zoltan@hu", 4, "thanks for the review")
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "pending" and r.json()["balance"] == 6
    wait_until(lambda: zoltan.balance() == 14, what="payee credited")
    wait_until(lambda: _xfers(anna)[0]["status"] == "completed", what="sender sees completion")
    assert _xfers(zoltan)[0]["status"] == "completed"
    assert peer_state(a, "hu")["position"] == 4 and peer_state(b, "be-vl")["position"] == -4
    wait_until(
        lambda: peer_state(a, "hu")["entries_pending"] == 0 and peer_state(b, "be-vl")["entries_pending"] == 0,
        what="both outboxes drained",
    )
    check_books(a)
    check_books(b)


def test_bounce_for_unknown_payee_and_trust_limit(node_process):
    from .conftest import FAST, peer_both

    a = node_process("be-vl", **FAST)
    b = node_process("hu", **FAST)
    peer_both(a, b, a_trusts_b=100, b_trusts_a=5)  # hu lets be-vl owe it at most 5
    anna, zoltan = a.new_member("anna"), b.new_member("zoltan")
    refused = anna.transfer("nobody@hu", 2)  # hu is asked first: refused at once, nothing moves
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "unknown_payee"), refused.text
    assert _xfers(anna) == [] and anna.balance() == 10
    b.stop()  # hu cannot be asked: the payment goes ahead, and the bounce is the fallback
    assert anna.transfer("nobody2@hu", 2).status_code == 201 and anna.balance() == 8
    b.start()
    wait_until(lambda: _xfers(anna)[0]["status"] == "bounced", what="bounce for unknown payee")
    assert _xfers(anna)[0]["reason_code"] == "unknown_payee" and anna.balance() == 10
    assert anna.transfer("zoltan@hu", 4).status_code == 201
    wait_until(lambda: zoltan.balance() == 14, what="first payment within the limit")
    assert anna.transfer("zoltan@hu", 3).status_code == 201  # 4 + 3 > 5: over hu's limit for be-vl
    wait_until(lambda: _xfers(anna)[0]["status"] == "bounced", what="bounce over the trust limit")
    assert _xfers(anna)[0]["reason_code"] == "trust_limit_exceeded"
    assert anna.balance() == 6 and zoltan.balance() == 14
    assert peer_state(a, "hu")["position"] == 4 and peer_state(b, "be-vl")["position"] == -4
    check_books(a)
    check_books(b)


def test_payee_node_down_then_back_catches_up(pair):
    a, b = pair
    anna, zoltan = a.new_member("anna"), b.new_member("zoltan")
    b.stop()
    for amount in (1, 2, 3):
        assert anna.transfer("zoltan@hu", amount).status_code == 201
    wait_until(lambda: peer_state(a, "hu")["failures"] >= 1, what="a failed delivery")
    assert peer_state(a, "hu")["entries_pending"] >= 3  # the three transfers (pool updates may queue too)
    # A long outage: move the clock a day on (the backoff is capped) instead of sleeping through it.
    a.client().http.post(f"{a.url}/_test/clock", json={"advance_seconds": 86400})
    b.start()
    b.client().http.post(f"{b.url}/_test/clock", json={"advance_seconds": 86400})
    wait_until(lambda: zoltan.balance() == 16, timeout=30, what="catch-up after outage")
    wait_until(lambda: all(t["status"] == "completed" for t in _xfers(anna)), what="all completed")
    assert peer_state(a, "hu")["position"] == 6 and peer_state(b, "be-vl")["position"] == -6
    check_books(a)
    check_books(b)


def test_reused_transfer_ids_keep_positions_mirrored(pair):
    """A careless sender (the test hook) reuses a transfer id: the same transfer again moves nothing, a
    different one under the id is bounced and reversed by the sender; positions mirror throughout."""
    a, b = pair
    anna, zoltan = a.new_member("anna"), b.new_member("zoltan")
    assert anna.transfer("zoltan@hu", 3).status_code == 201
    wait_until(lambda: _xfers(anna)[0]["status"] == "completed", what="the first transfer completes")
    tid = _xfers(anna)[0]["transfer_id"]
    same = a.test_hook("federation/reuse-transfer", {"transfer_id": tid, "same": True})
    assert same.status_code == 201 and same.json()["body"]["amount"] == 3, same.text
    other = a.test_hook("federation/reuse-transfer", {"transfer_id": tid})
    assert other.status_code == 201 and other.json()["body"]["memo"] == "reused id 1", other.text
    assert anna.balance() == 4  # the different transfer under the old id moved her SIF again, for now
    wait_until(lambda: anna.balance() == 7, what="the reused id bounced and reversed")
    wait_until(
        lambda: peer_state(a, "hu")["entries_pending"] == 0 and peer_state(b, "be-vl")["entries_pending"] == 0,
        what="both outboxes drained",
    )
    assert zoltan.balance() == 13
    assert peer_state(a, "hu")["position"] == 3 and peer_state(b, "be-vl")["position"] == -3
    statuses = sorted((t["transfer_id"][len(tid) :], t["status"], t["reason_code"]) for t in _xfers(anna))
    assert statuses == [("", "completed", ""), ("-reuse-1", "bounced", "transfer_id_reused")]
    check_books(a)
    check_books(b)
