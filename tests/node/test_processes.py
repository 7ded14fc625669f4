"""Durability: every transfer the node acknowledged survives a kill -9 in the middle of a burst."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

import pytest
import requests

pytestmark = pytest.mark.slow

GRANT = 100_000
MEMBERS = 6
KILL_AFTER_ACKS = 150


@dataclass
class Burst:
    """What the client threads saw: acknowledged transfers and the ones left in doubt by the kill."""

    acked: dict[str, tuple[int, str, str, int]] = field(default_factory=dict)  # memo -> txn_id, payer, payee, amount
    in_doubt: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # memo -> payer, payee, amount
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _pay_until_killed(client, payer: str, payee: str, burst: Burst) -> None:
    """Pay in a loop with a unique memo per attempt; only the failed connection of the kill ends it."""
    seq = 0
    while True:
        seq += 1
        memo, amount = f"{payer}-{seq}", 1 + seq % 3
        try:
            resp = client.transfer(payee, amount, memo)
        except requests.RequestException:
            with burst.lock:  # sent or not, committed or not: we cannot know
                burst.in_doubt[memo] = (payer, payee, amount)
            return
        with burst.lock:
            if resp.status_code == 201:
                burst.acked[memo] = (resp.json()["txn_id"], payer, payee, amount)
            else:
                burst.unexpected.append(f"{memo}: {resp.status_code} {resp.text[:200]}")


def _committed_transfers(clients: dict) -> dict[str, tuple[int, str, str, int]]:
    """memo -> (txn_id, payer, payee, amount) as the restarted node's ledger shows them."""
    legs: dict[str, dict] = defaultdict(dict)
    for handle, client in clients.items():
        for line in client.export()["statement"]:
            if line["kind"] == "transfer":
                legs[line["memo"]]["payer" if line["amount"] < 0 else "payee"] = (
                    handle,
                    line["txn_id"],
                    abs(line["amount"]),
                )
    out = {}
    for memo, sides in legs.items():
        (payer, txn_id, amount), (payee, txn_id2, amount2) = sides["payer"], sides["payee"]
        assert (txn_id, amount) == (txn_id2, amount2), f"{memo}: legs disagree {sides}"
        out[memo] = (txn_id, payer, payee, amount)
    return out


def test_acknowledged_transfers_survive_kill_9(node_process):
    node = node_process("dur", require_approval=False, welcome_grant=GRANT)
    handles = [f"m{i}" for i in range(MEMBERS)]
    clients = {h: node.new_member(h) for h in handles}
    burst = Burst()
    threads = [
        threading.Thread(
            target=_pay_until_killed, args=(clients[h].clone(), h, handles[(i + 1) % MEMBERS], burst), daemon=True
        )
        for i, h in enumerate(handles)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(burst.acked) < KILL_AFTER_ACKS and time.monotonic() < deadline:
        time.sleep(0.005)
    node.kill9()
    for t in threads:
        t.join(30)
    assert len(burst.acked) >= KILL_AFTER_ACKS, f"burst too slow before the kill\n{node.log_text()}"
    assert not burst.unexpected, burst.unexpected
    # Every thread was still paying when the node died (each ended on a failed request): the kill landed mid-burst.
    assert len(burst.in_doubt) == MEMBERS, burst.in_doubt

    node.start()
    committed = _committed_transfers(clients)
    missing = {m: v for m, v in burst.acked.items() if committed.get(m) != v}
    assert not missing, f"acknowledged transfers lost or changed after kill -9: {missing}"
    extra = set(committed) - set(burst.acked)
    assert extra <= set(burst.in_doubt), f"transfers nobody asked for: {extra - set(burst.in_doubt)}"
    for memo in extra:
        assert committed[memo][1:] == burst.in_doubt[memo], memo

    expected = {h: GRANT for h in handles}
    for _txn_id, payer, payee, amount in committed.values():
        expected[payer] -= amount
        expected[payee] += amount
    assert {h: c.balance() for h, c in clients.items()} == expected

    books = node.cli("check-books")  # exits 0, or cli() fails the test with its output
    assert books.stdout.strip().endswith("OK"), books.stdout
    # The restarted node takes writes again.
    assert clients["m0"].transfer("m1", 1, "after restart").status_code == 201


def test_harness_stops_restarts_and_moves_the_clock(node_process):
    """The harness itself: graceful stop, restart on the same port and data, clock control over HTTP."""
    node = node_process("harness", require_approval=False)
    anna = node.new_member("anna")
    before = node.advance_clock(0)
    assert node.advance_clock(3600) > before
    node.restart()
    assert node.running and anna.balance() == 10  # same data folder, same token, same port
    node.stop()
    assert not node.running
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{node.url}/healthz", timeout=2)
