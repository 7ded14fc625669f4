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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import insert, update  # noqa: E402

from node.app import create_app  # noqa: E402
from node.clock import FixedClock  # noqa: E402
from node.services import ledger, members  # noqa: E402
from node.tables import Account, LedgerTxn, Posting  # noqa: E402

LIMIT_MS = 100.0
START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=730)
PASSWORD = "benchmark password"


def seed(ctx, postings: int) -> tuple[int, str]:
    """anna and 50 others; postings // 2 transfers, each anna <-> someone, in time order. Returns anna's id."""
    now = ctx.now()
    with ctx.db.write() as s:
        people = []
        for n in range(51):
            handle = "anna" if n == 0 else f"m{n}"
            m = members.sign_up(
                s, ctx.settings, email=f"{handle}@example.org", password=PASSWORD, display_name=handle.title(),
                handle=handle, now=START, hasher=ctx.hasher,
            )  # fmt: skip
            members._activate(s, ctx.settings, m, actor=None, reason="seed", now=START)
            people.append(m.id)
        accounts = [a.id for a in ledger.member_accounts(s, *people)]
    txns = postings // 2
    step = SPAN / txns
    balances = dict.fromkeys(accounts, 10)
    with ctx.db.write() as s:
        for first in range(0, txns, 20000):
            chunk = range(first, min(txns, first + 20000))
            first_id = (s.execute(select_max_txn()).scalar() or 0) + 1
            s.execute(
                insert(LedgerTxn.__table__),
                [{"kind": "transfer", "memo": f"t{i}", "ref": None, "actor_id": None, "created_at": START + step * i}
                 for i in chunk],
            )  # fmt: skip
            legs = []
            for offset, i in enumerate(chunk):
                other = accounts[1 + i % 50]
                amount = 1 if i % 3 else -1  # anna mostly receives, sometimes pays
                balances[accounts[0]] += amount
                balances[other] -= amount
                legs += [
                    {"txn_id": first_id + offset, "account_id": accounts[0], "amount": amount,
                     "balance_after": balances[accounts[0]]},
                    {"txn_id": first_id + offset, "account_id": other, "amount": -amount,
                     "balance_after": balances[other]},
                ]  # fmt: skip
            s.execute(insert(Posting.__table__), legs)
        for account_id, balance in balances.items():
            s.execute(update(Account).where(Account.id == account_id).values(balance=balance))
    ctx.clock.advance((START + SPAN - now).total_seconds() + 3600)
    return people[0], "anna@example.org"


def select_max_txn():
    from sqlalchemy import func, select

    return select(func.max(LedgerTxn.id))


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
        token = client.get("/login").get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
        client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
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
