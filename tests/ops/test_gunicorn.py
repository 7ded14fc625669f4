"""Production processes: two gunicorn web workers and `sifnet node worker` on one database, under load.

Runs on SQLite, and on PostgreSQL when the suite runs its PostgreSQL lane (tests/conftest.py
points every NodeProcess at a fresh database there).
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import pytest

from deploy.processes import gunicorn, worker
from tests.federation.conftest import FAST, peer_both, peer_state, wait_until
from tests.procs import NodeProcess

pytestmark = pytest.mark.slow

GRANT, MIN_BALANCE = 20, -5
MEMBERS = 8
ROUNDS = 12  # transfers per member thread
DRAIN = 12  # concurrent payments of 5 from one member: exactly (GRANT - MIN_BALANCE) // 5 may pass
SETTINGS = {**FAST, "welcome_grant": GRANT, "min_balance": MIN_BALANCE, "scheduler": "worker"}


class Traffic:
    """What the clients saw, per unique memo."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acked: dict[str, tuple[int, str, str, int]] = {}  # memo -> txn_id, payer, payee, amount
        self.refused: dict[str, str] = {}  # memo -> error code
        self.remote: dict[str, tuple[str, int]] = {}  # memo -> payer, amount (cross-border, accepted)
        self.unexpected: list[str] = []
        self.calls = 0

    def record(self, memo: str, payer: str, payee: str, amount: int, resp) -> None:
        with self.lock:
            self.calls += 1
            if resp.status_code == 201 and "@" in payee:
                self.remote[memo] = (payer, amount)
            elif resp.status_code == 201:
                self.acked[memo] = (resp.json()["txn_id"], payer, payee, amount)
            elif resp.status_code == 422 and resp.json()["error"]["code"] == "insufficient_funds":
                self.refused[memo] = "insufficient_funds"
            else:
                self.unexpected.append(f"{memo}: {resp.status_code} {resp.text[:200]}")


def _member_traffic(client, payer: str, handles: list[str], seed: int, traffic: Traffic) -> None:
    rng = random.Random(seed)
    for i in range(ROUNDS):
        memo = f"{payer}-{i}"
        if i % 4 == 3:  # every fourth payment crosses the border
            payee, amount = "zoltan@ops-b", 1
        else:
            # m0 only spends (the drain), so how many of its payments may pass is known exactly.
            payee, amount = rng.choice([h for h in handles[1:] if h != payer]), rng.randint(1, 6)
        traffic.record(memo, payer, payee, amount, client.transfer(payee, amount, memo))


def _ledger_by_memo(clients: dict) -> dict[str, list[tuple[str, int, int]]]:
    """memo -> every (handle, txn_id, amount) statement line of a local transfer, across all members."""
    lines: dict[str, list] = defaultdict(list)
    for handle, client in clients.items():
        for line in client.export()["statement"]:
            if line["kind"] == "transfer":
                lines[line["memo"]].append((handle, line["txn_id"], line["amount"]))
    return lines


def _metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of one metric whose labels include the given ones."""
    total = 0.0
    for match in re.finditer(rf"^{name}(?:{{(.*?)}})? (\S+)$", text, re.M):
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(2))
    return total


@pytest.fixture
def production(node_process, tmp_path):
    """Node ops-a under gunicorn (2 workers) plus its worker, peered with ops-b (`sifnet node run`)."""
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    a = NodeProcess(tmp_path / "ops-a", "ops-a", settings=SETTINGS).init()
    web, jobs = gunicorn(a, workers=2, threads=4, env=env), worker(a, env=env)
    try:
        web.start()
        web.wait_healthy(a.url, path="/readyz", timeout=60, interval=0.1)
        jobs.start()
        b = node_process("ops-b", **FAST)
        peer_both(a, b, 1000, 1000)
        yield a, b, web, jobs
    finally:
        web.kill9()
        jobs.kill9()


def test_two_web_workers_and_the_worker_keep_every_invariant(production):
    a, b, web, jobs = production
    handles = [f"m{i}" for i in range(MEMBERS)]
    coordinator = a.coordinator()
    clients = {h: a.new_member(h, coordinator) for h in handles}
    zoltan = b.new_member("zoltan")
    zoltan_before = zoltan.balance()
    traffic = Traffic()
    b.stop()  # the peer is away: cross-border payments wait in the outbox for the worker's retries
    # One member spends in DRAIN parallel requests; every other member pays around in its own thread.
    with ThreadPoolExecutor(MEMBERS + DRAIN) as pool:
        drains = [
            pool.submit(
                lambda i=i: traffic.record(
                    f"drain-{i}", "m0", "m1", 5, clients["m0"].clone().transfer("m1", 5, f"drain-{i}")
                )
            )
            for i in range(DRAIN)
        ]
        rest = [
            pool.submit(_member_traffic, clients[h].clone(), h, handles, n, traffic)
            for n, h in enumerate(handles[1:], 1)
        ]
        for future in drains + rest:
            future.result()
    assert not traffic.unexpected, traffic.unexpected
    assert sum(m.startswith("drain-") for m in traffic.acked) == (GRANT - MIN_BALANCE) // 5
    assert sum(m.startswith("drain-") for m in traffic.refused) == DRAIN - (GRANT - MIN_BALANCE) // 5

    # Every acknowledged transfer is in the ledger exactly once (one debit, one credit), no refused one is.
    lines = _ledger_by_memo(clients)
    for memo, (txn_id, payer, payee, amount) in traffic.acked.items():
        assert sorted(lines.get(memo, [])) == sorted([(payer, txn_id, -amount), (payee, txn_id, amount)]), memo
    assert not set(lines) & set(traffic.refused), "a refused transfer reached the ledger"
    assert set(lines) == set(traffic.acked), f"transfers nobody was told about: {set(lines) - set(traffic.acked)}"
    balances = {h: c.balance() for h, c in clients.items()}
    assert min(balances.values()) >= MIN_BALANCE, balances
    sent_abroad = Counter()
    for payer, amount in traffic.remote.values():
        sent_abroad[payer] += amount
    expected = {h: GRANT - sent_abroad[h] for h in handles}
    for _txn, payer, payee, amount in traffic.acked.values():
        expected[payer] -= amount
        expected[payee] += amount
    assert balances == expected

    # The peer comes back; nobody pays any more, so only the worker's retries can deliver the backlog.
    b.start()
    wait_until(lambda: peer_state(a, "ops-b")["entries_pending"] == 0, timeout=60, what="worker drains the outbox")
    wait_until(lambda: zoltan.balance() == zoltan_before + sum(sent_abroad.values()), timeout=30, what="payee credited")
    assert peer_state(a, "ops-b")["position"] == sum(sent_abroad.values())
    credits = [line for line in zoltan.export()["statement"] if line["kind"] == "cross_border_in"]
    assert len(credits) == len(traffic.remote)  # each accepted cross-border payment arrived exactly once
    for node in (a, b):
        assert node.cli("check-books").stdout.strip().endswith("OK")

    # Metrics agree whichever web worker answers: counters from every process, gauges from the database.
    scrapes = [a.client().http.get(f"{a.url}/metrics", timeout=10).text for _ in range(4)]
    for text in scrapes:
        assert _metric(text, "sifnet_ledger_balance_total") == 0
        assert _metric(text, "sifnet_outbox_depth", peer="ops-b") == 0
        assert _metric(text, "sifnet_http_requests_total", endpoint="/api/v1/transfers") == traffic.calls
        assert _metric(text, "sifnet_job_runs_total", job="retry_deliveries", outcome="ok") >= 1

    assert jobs.terminate() == 0, jobs.log_text()
    assert "worker: stopped" in jobs.log_text()
    assert web.terminate() == 0, web.log_text()
