"""Benchmark: a member's statement among a million postings, against a 100 ms p95 limit.

Seeds one node's SQLite database with 1,000,000 postings (500,000 transfers between one busy
member, anna, and 50 others, spread over two years), then times in-process requests:
the first page of /statement (with its balance chart), a page filtered to one month, the CSV of
that month, and the first page of /api/v1/me/statement. The goal: p95 under 100 ms for the first
and the filtered page (a fixed goal, not a limit measured in the run). The seed writes straight
into the tables (the ledger's balances included), since a million API payments would take an hour
and measure the payment path, not the statement.

    .venv/bin/python benchmarks/statement.py [--postings 1000000] [--runs 40] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.seed import Transfer, log_in, member_accounts, seed_transfers, sign_up_active  # noqa: E402
from node.app import create_app  # noqa: E402
from node.clock import FixedClock  # noqa: E402
from node.services import members  # noqa: E402

if TYPE_CHECKING:
    from node.context import NodeContext

LIMIT_MS = 100.0
START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=730)
PASSWORD = "benchmark password"


def seed(ctx: NodeContext, postings: int) -> tuple[int, str]:
    """anna and 50 others; postings // 2 transfers, each anna <-> someone, in time order. Returns anna's id."""
    now = ctx.now()
    people = [sign_up_active(ctx, "anna" if n == 0 else f"m{n}", PASSWORD, START) for n in range(51)]
    accounts = member_accounts(ctx, people)
    anna, others = accounts[people[0]], [accounts[p] for p in people[1:]]
    txns = postings // 2
    # anna mostly receives (amount 1), sometimes pays (-1)
    seed_transfers(ctx, (Transfer(others[i % 50], anna, 1 if i % 3 else -1) for i in range(txns)), start=START,
                   step=SPAN / txns)  # fmt: skip
    ctx.clock.advance((START + SPAN - now).total_seconds() + 3600)
    return people[0], "anna@example.org"


def timed(client, path: str, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        answer = client.get(path)
        body = answer.get_data()
        out.append((time.perf_counter() - began) * 1000)
        assert answer.status_code == 200 and body, (path, answer.status_code)
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postings", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {"data_dir": tmp, "node_id": "be-vl", "federation": False, "argon2_time_cost": 1,
             "argon2_memory_kib": 1024, "welcome_grant": 10, "min_balance": -10**9},
            clock=FixedClock(START),
        )  # fmt: skip
        ctx = app.extensions["sifnet"]
        began = time.perf_counter()
        _anna, email = seed(ctx, args.postings)
        seeded = time.perf_counter() - began
        client = app.test_client()
        log_in(client, email, PASSWORD)
        with ctx.db.write() as s:
            api = members.create_token(s, member=members.find_by_handle(s, "anna"), name="bench", now=ctx.now())
        month = "from=2025-09-01&to=2025-09-30"
        figures = {
            "postings": args.postings,
            "seed_seconds": round(seeded, 1),
            "first_page_ms": timed(client, "/statement", args.runs),
            "filtered_page_ms": timed(client, f"/statement?{month}", args.runs),
            "older_page_ms": timed(client, "/statement?before=400000", args.runs),
            "month_csv_ms": timed(client, f"/statement.csv?{month}", max(5, args.runs // 8)),
        }
        api_client = app.test_client()
        api_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api}"
        figures["api_first_page_ms"] = timed(api_client, "/api/v1/me/statement?limit=50", args.runs)
        ctx.db.dispose()
    summary = {k: round(p95(v), 1) for k, v in figures.items() if k.endswith("_ms")}
    summary["limit_ms"] = LIMIT_MS
    summary["ratio_first_page"] = round(summary["first_page_ms"] / LIMIT_MS, 2)
    summary["ratio_filtered_page"] = round(summary["filtered_page_ms"] / LIMIT_MS, 2)
    if args.json:
        print(json.dumps({**{k: v for k, v in figures.items() if not k.endswith("_ms")}, "p95": summary}))
        return 0
    print(f"{args.postings:,} postings seeded in {seeded:.1f} s; p95 over {args.runs} requests each (in-process):")
    for key, value in summary.items():
        if key.endswith("_ms") and key != "limit_ms":
            print(f"  {key.removesuffix('_ms').replace('_', ' '):<22}{value:>8.1f} ms")
    print(f"limit {LIMIT_MS:.0f} ms; ratio first page {summary['ratio_first_page']:.2f}, "
          f"filtered page {summary['ratio_filtered_page']:.2f} (goal < 1)")  # fmt: skip
    return 0 if max(summary["first_page_ms"], summary["filtered_page_ms"]) < LIMIT_MS else 1


if __name__ == "__main__":
    sys.exit(main())
