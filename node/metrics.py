"""Prometheus metrics: process counters (requests, job runs) and gauges read from the database at scrape time.

Counters live in the process that counts. Under gunicorn every web worker and the
`sifnet node worker` process count on their own, so they must share one
PROMETHEUS_MULTIPROC_DIR (set in the environment before start): a scrape of any worker
then sums the files of all of them. Ledger totals, outbox depth and peer failures are
not counted in memory at all: each scrape reads them from the database, so every
worker gives the same answer.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import text

from .context import NodeContext

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

HTTP_REQUESTS = Counter(
    "sifnet_http_requests", "HTTP requests answered, by endpoint, method and status.", ["endpoint", "method", "status"]
)
HTTP_SECONDS = Histogram(
    "sifnet_http_request_duration_seconds",
    "Time to answer an HTTP request, by endpoint.",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
JOB_RUNS = Counter("sifnet_job_runs", "Scheduled sweep runs, by job and outcome (ok or failed).", ["job", "outcome"])

# Read-only aggregate queries; table names are the schema's (node must not import federation's table classes).
_LEDGER = text("SELECT kind, COUNT(*), COALESCE(SUM(balance), 0) FROM accounts GROUP BY kind")
_TXNS = text("SELECT COUNT(*) FROM ledger_txns")
_OUTBOX = text(
    "SELECT p.node_id, p.status, p.failures, COUNT(e.id) FROM fed_peers p "
    "LEFT JOIN fed_channel_entries e ON e.peer_id = p.node_id AND e.direction = 'out' "
    "AND e.acked_at IS NULL GROUP BY p.node_id, p.status, p.failures"
)


def multiprocess_dir() -> str | None:
    """The shared counter folder, when this process runs under several workers."""
    return os.environ.get(MULTIPROC_ENV) or None


def record_job(job: str, moved: int) -> None:
    """Count one sweep run; a sweep that raised returns -1 (see node.scheduler.run_sweeps)."""
    JOB_RUNS.labels(job=job, outcome="failed" if moved < 0 else "ok").inc()


class DatabaseCollector:
    """Gauges computed from the node's database on every scrape."""

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    def collect(self):
        accounts = GaugeMetricFamily("sifnet_ledger_accounts", "Ledger accounts by kind.", labels=["kind"])
        balances = GaugeMetricFamily(
            "sifnet_ledger_balance_sum", "Sum of account balances by kind (SIF).", labels=["kind"]
        )
        total = GaugeMetricFamily(
            "sifnet_ledger_balance_total", "Sum of every account balance; 0 when the books balance."
        )
        txns = GaugeMetricFamily("sifnet_ledger_transactions", "Ledger transactions recorded.")
        with self.ctx.db.read() as session:
            ledger_rows = session.execute(_LEDGER).all()
            txn_count = session.execute(_TXNS).scalar_one()
            peer_rows = session.execute(_OUTBOX).all() if self.ctx.settings.federation else []
        for kind, count, balance in ledger_rows:
            accounts.add_metric([kind], count)
            balances.add_metric([kind], int(balance))
        total.add_metric([], sum(int(row[2]) for row in ledger_rows))
        txns.add_metric([], txn_count)
        yield from (accounts, balances, total, txns)
        yield from _peer_families(peer_rows)


def _peer_families(rows):
    depth = GaugeMetricFamily("sifnet_outbox_depth", "Channel entries waiting for the peer's receipt.", labels=["peer"])
    failures = GaugeMetricFamily(
        "sifnet_delivery_failures", "Consecutive failed deliveries to the peer (0 after a success).", labels=["peer"]
    )
    active = GaugeMetricFamily("sifnet_peer_active", "1 when the peer is confirmed and not suspended.", labels=["peer"])
    for node_id, status, fails, backlog in rows:
        depth.add_metric([node_id], backlog)
        failures.add_metric([node_id], fails)
        active.add_metric([node_id], 1 if status == "active" else 0)
    return depth, failures, active


def exposition(ctx: NodeContext) -> bytes:
    """The text exposition of this node: the processes' counters, then the database gauges."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        counters = CollectorRegistry()
        multiprocess.MultiProcessCollector(counters)
        process_text = generate_latest(counters)
    else:
        from prometheus_client import REGISTRY

        process_text = generate_latest(REGISTRY)
    database = CollectorRegistry(auto_describe=False)
    database.register(DatabaseCollector(ctx))
    return process_text + generate_latest(database)
