"""A payment's answer rides back in the receipt, between real node processes over loopback HTTP.

hu hands its `transfer_receipt` back in its answer to be-vl's delivery; be-vl applies it there and
acknowledges it in its next delivery, so hu need not deliver it. What be-vl does not acknowledge in
time, hu delivers as usual.
"""

from __future__ import annotations

import pytest

from .conftest import FAST, check_books, peer_both, peer_state, wait_until

pytestmark = pytest.mark.slow


def _statuses(client) -> list[str]:
    return [t["status"] for t in client.call("GET", "/me/cross-border", expect=200).json()["transfers"]]


def _drained(a, b) -> bool:
    return peer_state(a, b.node_id)["entries_pending"] == 0 and peer_state(b, a.node_id)["entries_pending"] == 0


def test_each_receipt_rides_back_and_the_next_delivery_acknowledges_it(node_process):
    a = node_process("be-vl", **FAST)
    b = node_process("hu", **FAST, handback_grace_ms=600_000)  # hu would deliver only after ten minutes
    peer_both(a, b)
    anna, zoltan = a.new_member("anna"), b.new_member("zoltan")
    wait_until(lambda: _drained(a, b), what="peering's entries delivered")
    for n in range(1, 4):
        assert anna.transfer("zoltan@hu", 1).status_code == 201
        wait_until(lambda: _statuses(anna) == ["completed"] * n, what=f"payment {n} completed at be-vl")  # noqa: B023
        # Only the newest receipt waits at hu: be-vl applied it from the answer, and its delivery of payment n
        # acknowledged receipt n - 1. Were hu delivering, nothing would wait.
        assert peer_state(b, "be-vl")["entries_pending"] == 1
    assert zoltan.balance() == 13 and anna.balance() == 7
    assert peer_state(a, "hu")["position"] == 3 and peer_state(b, "be-vl")["position"] == -3
    check_books(a)
    check_books(b)


def test_a_receipt_not_acknowledged_in_time_is_delivered_and_changes_nothing_twice(node_process):
    a = node_process("be-vl", **FAST)
    b = node_process("hu", **FAST, handback_grace_ms=300)
    peer_both(a, b)
    anna, zoltan = a.new_member("anna"), b.new_member("zoltan")
    assert anna.transfer("zoltan@hu", 4).status_code == 201
    wait_until(lambda: _statuses(anna) == ["completed"], what="payment completed at be-vl")
    # be-vl sends nothing more, so hu delivers the receipt it handed back; be-vl has it and acknowledges it.
    wait_until(lambda: _drained(a, b), what="hu's receipt delivered and acknowledged")
    assert zoltan.balance() == 14 and anna.balance() == 6
    assert peer_state(a, "hu")["position"] == 4 and peer_state(b, "be-vl")["position"] == -4
    check_books(a)
    check_books(b)
