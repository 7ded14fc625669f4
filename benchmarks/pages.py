"""Benchmark: the pages a member opens most on a node of 100,000 members and 1,000,000 postings, and their growth.

Two in-process nodes (the app factory, SQLite in a temporary folder, or PostgreSQL with --database-url and
--small-database-url) are seeded straight into the tables (benchmarks/seed.py): the large one with --members
members (100,000: 90% active, 80% listed in the directory with the search terms the directory indexes, each
with an account and a notification), --postings postings (1,000,000: transfers over two years, a fifth of them
of one busy member, a fiftieth of those from a member of a peer node, the rest between random active members;
balances kept with the postings) and --listings
open advice listings (members / 2, indexed for the market's search); the small one with a tenth of each. The
busy member logs in through the log-in form, and each page is requested through the whole Flask stack with the
test client (session cookie, HTML page, no network): the dashboard, the statement's first page, the statement
filtered to one month, the member directory searched by a name prefix and the advice market searched by a
word (the prefixes and words rotate). Every round requests each page once on each node, interleaved, so
both nodes see the same load of a shared machine; the warm-up rounds are not counted. Beside each page's
times the process's CPU time per request is shown: on a machine shared with other work the times carry
the waits for a core, the CPU time does not.

Figures: the worst p95 over the pages on the large node against a limit of 100 ms (a fixed goal), and the
worst growth, p95 on the large node / p95 on the small one, against a limit of 1.5 (a page costs the same
however large the node: keyset pages and indexes). Each is printed with its ratio to the limit, and "over the
limit" when it is; the exit status is 0 either way (a figure, not a test).

    .venv/bin/python benchmarks/pages.py [--members 100000] [--postings 1000000] [--listings N] [--runs 100]
        [--quick] [--json] [--keep FOLDER] [--database-url postgresql://... --small-database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.search import percentile  # noqa: E402
from benchmarks.seed import (  # noqa: E402
    Transfer,
    analyze,
    log_in,
    member_accounts,
    seed_cross_border_rows,
    seed_listings,
    seed_members,
    seed_notifications,
    seed_peer,
    seed_transfers,
    sign_up_active,
)
from node.app import create_app  # noqa: E402
from node.clock import FixedClock  # noqa: E402
from node.services import ledger  # noqa: E402

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

    from node.context import NodeContext

LIMIT_MS = 100.0
GROWTH_LIMIT = 1.5
SMALLER = 10  # the small node has a tenth of the large one's members, postings and listings
START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=730)
PASSWORD = "benchmark password"
BUSY_SHARE = 5  # one transfer in five is the busy member's
ABROAD = 50  # one of the busy member's transfers in fifty comes from a member of a peer node
NAME_PREFIXES = ["jan", "mü", "zso", "pet", "a", "lu", "kov", "ma"]
MARKET_WORDS = ["crowdfunding", "coop", "energy", "repair", "tender", "pitch deck", "food", "gov"]
# (name, path, a text the page shows when it found what it should): the market and directory paths take a word
PAGES = (
    ("dashboard", "/dashboard", 'class="stack"'),
    ("statement", "/statement", 'id="older"'),
    ("statement, one month", "/statement?from=2026-09-01&to=2026-09-30", 'class="line-'),
    ("member search", "/members?q={}", 'href="/members/m'),
    ("market search", "/advice?q={}", 'href="/advice/listings/'),
)


@dataclass
class Node:
    """One seeded node to time: its app, a client logged in as the busy member, and its size."""

    label: str
    app: Flask
    client: FlaskClient
    members: int
    postings: int
    listings: int
    seed_seconds: float
    kept: bool


def build(label: str, folder: Path, database_url: str, n_members: int, n_postings: int, n_listings: int,
          seed: int) -> Node:  # fmt: skip
    """A node seeded with that many members, postings and listings (or the one --keep left in the folder, if of that
    size); the busy member logged in."""
    settings = {"data_dir": str(folder), "node_id": "be-vl", "database_url": database_url, "federation": True,
                "argon2_time_cost": 1, "argon2_memory_kib": 1024, "min_balance": -(10**9)}  # fmt: skip
    marker, size = folder / "benchmark.json", {"members": n_members, "postings": n_postings, "listings": n_listings}
    kept = marker.exists() and json.loads(marker.read_text()) == size
    if marker.exists() and not kept:
        raise SystemExit(f"{folder} holds a node of another size: give --keep another folder")
    folder.mkdir(parents=True, exist_ok=True)
    app = create_app(settings, clock=FixedClock(START + SPAN + timedelta(hours=1)), start_delivery=False)
    began = time.perf_counter()
    if not kept:
        seed_node(app.extensions["sifnet"], n_members, n_postings, n_listings, random.Random(seed))
        marker.write_text(json.dumps(size))
    seconds = time.perf_counter() - began
    client = app.test_client()
    log_in(client, "busy@example.org", PASSWORD)
    return Node(label, app, client, n_members, n_postings, n_listings, seconds, kept)


def seed_node(ctx: NodeContext, n_members: int, n_postings: int, n_listings: int, rng: random.Random) -> None:
    """The busy member and n_members - 1 others, the listings, the transfers and notifications; the books checked."""
    busy = sign_up_active(ctx, "busy", PASSWORD, START)
    active = seed_members(ctx, n_members - 1, rng, START)
    seed_listings(ctx, n_listings, rng, active, START)
    accounts = member_accounts(ctx, [busy, *active])
    mine, others = accounts[busy], [accounts[m] for m in active]
    position = seed_peer(ctx, "hu", "HU", START)
    txns, abroad = n_postings // 2, []
    step = SPAN / txns

    def transfers():
        for i in range(txns):
            if i % BUSY_SHARE:
                yield Transfer(rng.choice(others), rng.choice(others), 1)
            elif i % (BUSY_SHARE * ABROAD) == 0:
                tid = f"bench-{i}"
                abroad.append({"transfer_id": tid, "direction": "in", "peer_id": "hu", "local_member_id": busy,
                               "local_handle": "busy", "remote_handle": "zoltan", "amount": 2, "status": "completed",
                               "created_at": START + step * i})  # fmt: skip
                yield Transfer(position, mine, 2, "cross_border_in", f"xfer:{tid}:in")
            else:  # the busy member mostly receives, sometimes pays
                yield Transfer(rng.choice(others), mine, 1 if i % 3 else -1)

    seed_transfers(ctx, transfers(), start=START, step=step)
    seed_cross_border_rows(ctx, abroad)
    seed_notifications(ctx, rng.choices(active, k=len(active)), START)
    seed_notifications(ctx, [busy] * 40, START + SPAN, unread=True)
    analyze(ctx)
    with ctx.db.read() as s:
        books = ledger.check_books(s)
    assert books.ok, books


def request_page(node: Node, name: str, path: str, shows: str) -> tuple[float, float]:
    """One request through the whole stack: its time and this process's CPU time, in ms. The page must be there
    and show what it found."""
    began, cpu = time.perf_counter(), time.process_time()
    answer = node.client.get(path)
    body = answer.get_data(as_text=True)
    elapsed, used = (time.perf_counter() - began) * 1000, (time.process_time() - cpu) * 1000
    assert answer.status_code == 200 and shows in body, (node.label, name, path, answer.status_code)
    return elapsed, used


Times = dict[str, dict[str, list[tuple[float, float]]]]


def measure(nodes: list[Node], runs: int, warmup: int) -> Times:
    """Per node, per page: (time, CPU time) of `runs` rounds after `warmup` rounds, pages and nodes interleaved."""
    times: Times = {node.label: {name: [] for name, _p, _s in PAGES} for node in nodes}
    gc.collect()  # the seeding's garbage is not the pages' to collect
    for n in range(warmup + runs):
        word = {"member search": NAME_PREFIXES[n % len(NAME_PREFIXES)],
                "market search": MARKET_WORDS[n % len(MARKET_WORDS)]}  # fmt: skip
        for name, path, shows in PAGES:
            for node in nodes:
                measured = request_page(node, name, path.format(word.get(name, "")), shows)
                if n >= warmup:
                    times[node.label][name].append(measured)
    return times


def summary(measured: list[tuple[float, float]]) -> dict[str, float]:
    times, cpu = [t for t, _c in measured], [c for _t, c in measured]
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(percentile(times, 95), 2),
        "max_ms": round(max(times), 2),
        "cpu_p95_ms": round(percentile(cpu, 95), 2),
    }


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--postings", type=int, default=1_000_000)
    parser.add_argument("--listings", type=int, default=None, help="open advice listings (default: members / 2)")
    parser.add_argument("--runs", type=int, default=100, help="timed requests of each page on each node")
    parser.add_argument("--warmup", type=int, default=8, help="rounds before the timed ones")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20,000 members, 200,000 postings, 40 runs")
    parser.add_argument("--database-url", default="", help="PostgreSQL URL of an empty database for the large node")
    parser.add_argument("--small-database-url", default="", help="and of another one for the small node")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the raw figures as one JSON object")
    parser.add_argument("--keep", default="", help="seed the nodes in this folder once and reuse them in later runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.members, args.postings, args.runs = 20_000, 200_000, 40
    if args.listings is None:
        args.listings = args.members // 2
    if bool(args.database_url) != bool(args.small_database_url):
        parser.error("PostgreSQL needs two empty databases: --database-url and --small-database-url")
    return args


def report(raw: dict) -> None:
    large, small = raw["nodes"]
    load = f"load average {raw['load_average']:.1f} on {raw['cores']} cores"
    print(f"pages on {raw['database']}, in-process, a logged-in member; {raw['runs']} requests of each page per node, "
          f"ms (cpu: this process's CPU time; {load})")  # fmt: skip
    for node in (large, small):
        kept = " (kept from an earlier run)" if node["kept"] else f" (seeded in {node['seed_seconds']:.0f} s)"
        print(f"  {node['members']:,} members, {node['postings']:,} postings, {node['listings']:,} listings{kept}")
    print(f"  {'':<22}{large['members']:>21,} members{small['members']:>29,} members{'growth':>9}")
    print(f"  {'page':<22}" + "".join(f"{c:>9}" for c in ("p50", "p95", "max", "cpu p95") * 2) + f"{'of p95':>9}")
    for name in large["pages"]:
        cells = [
            node["pages"][name][k] for node in (large, small) for k in ("p50_ms", "p95_ms", "max_ms", "cpu_p95_ms")
        ]
        print(f"  {name:<22}" + "".join(f"{c:>9.1f}" for c in cells) + f"{raw['growth_by_page'][name]:>9.2f}")
    for what, figure, unit, limit, ratio, worst in (
        (f"worst p95 at {large['members']:,} members", raw["p95_ms"], " ms", raw["limit_ms"], raw["ratio"],
         raw["slowest_page"]),
        (f"worst growth of p95, {large['members']:,} / {small['members']:,} members", raw["growth"], "",
         raw["growth_limit"], raw["growth_ratio"], raw["fastest_growing_page"]),
    ):  # fmt: skip
        verdict = "over the limit" if ratio > 1 else "within the limit"
        print(f"{what}: {figure:.2f}{unit} ({worst}); limit {limit:g}{unit}; ratio {ratio:.2f}: {verdict}")


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = args.keep or tmp
        nodes = [
            build("large", Path(tmp) / "large", args.database_url, args.members, args.postings, args.listings,
                  args.seed),
            build("small", Path(tmp) / "small", args.small_database_url, args.members // SMALLER,
                  args.postings // SMALLER, args.listings // SMALLER, args.seed),
        ]  # fmt: skip
        database = "postgresql" if nodes[0].app.extensions["sifnet"].db.is_postgres else "sqlite"
        times = measure(nodes, args.runs, args.warmup)
        for node in nodes:
            node.app.extensions["sifnet"].db.dispose()
    pages = {node.label: {name: summary(ts) for name, ts in times[node.label].items()} for node in nodes}
    growth = {
        name: round(pages["large"][name]["p95_ms"] / pages["small"][name]["p95_ms"], 3) for name in pages["large"]
    }
    slowest = max(pages["large"], key=lambda name: pages["large"][name]["p95_ms"])
    fastest_growing = max(growth, key=lambda name: growth[name])
    raw = {
        "database": database,
        "runs": args.runs,
        "cores": os.cpu_count(),
        "load_average": round(os.getloadavg()[0], 2),
        "nodes": [
            {
                "label": node.label,
                "members": node.members,
                "postings": node.postings,
                "listings": node.listings,
                "seed_seconds": round(node.seed_seconds, 1),
                "kept": node.kept,
                "pages": pages[node.label],
                "times_ms": {name: [round(t, 2) for t, _c in ts] for name, ts in times[node.label].items()},
                "cpu_ms": {name: [round(c, 2) for _t, c in ts] for name, ts in times[node.label].items()},
            }
            for node in nodes
        ],  # fmt: skip
        "p95_ms": pages["large"][slowest]["p95_ms"],
        "slowest_page": slowest,
        "limit_ms": LIMIT_MS,
        "ratio": round(pages["large"][slowest]["p95_ms"] / LIMIT_MS, 3),
        "growth_by_page": growth,
        "growth": growth[fastest_growing],
        "fastest_growing_page": fastest_growing,
        "growth_limit": GROWTH_LIMIT,
        "growth_ratio": round(growth[fastest_growing] / GROWTH_LIMIT, 3),
    }
    if args.json:
        print(json.dumps(raw))
    else:
        report(raw)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
