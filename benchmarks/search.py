"""Benchmark: the member directory and the advice market's text search on a large node, through the JSON API.

One in-process node (the app factory, SQLite in a temporary folder, or --database-url for PostgreSQL) is
filled with --members members (100,000; 90% active, 80% of those listed, each showing a random choice
of their parts) with names of the five countries, and --listings open listings with titles and
descriptions from a vocabulary of the field. Each request goes through the whole Flask stack (token
lookup, query, JSON) with the test client, without a network. The mix: the directory unfiltered, by
name prefixes of 1 to 5 letters, by expertise, language and country and their combinations, five pages
deep; the market by one and two words, kind and tag, five pages deep. The figure is the 95th
percentile of all request times; the limit is 100 ms; the ratio is figure / limit. Each query class's
p50/p95/max is printed too.

    .venv/bin/python benchmarks/search.py [--members 100000] [--listings 50000] [--rounds 3] [--json]
                                          [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.seed import FIRST, LAST, WORDS, analyze, seed_listings, seed_members  # noqa: E402
from deploy.processes import FAST_ARGON2  # noqa: E402
from node.app import create_app  # noqa: E402  (needs the repo on sys.path)
from node.clock import FixedClock  # noqa: E402
from node.services import advice_listings, members  # noqa: E402

LIMIT_MS = 100.0
START = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)  # the fixed clock of the members and rows made here
PASSWORD = "benchmark password"


def build(data_dir: Path, database_url: str, n_members: int, n_listings: int, seed: int):
    settings = {"data_dir": str(data_dir), "node_id": "be-vl", "database_url": database_url, **FAST_ARGON2}
    app = create_app(settings, clock=FixedClock(START), start_delivery=False)
    ctx = app.extensions["sifnet"]
    rng = random.Random(seed)
    began = time.perf_counter()
    with ctx.db.write() as s:
        viewer = members.sign_up(
            s,
            ctx.settings,
            email="viewer@example.org",
            password=PASSWORD,
            display_name="Viewer",
            handle="viewer",
            now=ctx.now(),
            hasher=ctx.hasher,
        )
        members._activate(s, ctx.settings, viewer, actor=None, reason="benchmark", now=ctx.now())
        token = members.create_token(s, member=viewer, name="bench", now=ctx.now())
    authors = seed_members(ctx, n_members, rng, START)
    seed_listings(ctx, n_listings, rng, authors, START)
    analyze(ctx)
    return app, ctx, token, time.perf_counter() - began


def node(folder: Path, args):
    """The node to measure: built now, or (--keep) the one built in that folder before."""
    marker = folder / "benchmark.json"
    if args.keep and marker.exists():
        kept = json.loads(marker.read_text())
        settings = {"data_dir": str(folder), "node_id": "be-vl", "database_url": kept["database_url"], **FAST_ARGON2}
        app = create_app(settings, clock=FixedClock(START), start_delivery=False)
        return app, app.extensions["sifnet"], kept["token"], 0.0
    app, ctx, token, build_s = build(folder, args.database_url, args.members, args.listings, args.seed)
    if args.keep:
        marker.write_text(json.dumps({"token": token, "database_url": args.database_url}))
    return app, ctx, token, build_s


def queries(rng: random.Random, tags, langs) -> list[tuple[str, str, dict]]:
    """(class, path, query) of one round of the mix."""
    name = rng.choice(FIRST)
    surname = rng.choice(LAST)
    out = [
        ("directory: everyone", "/members", {}),
        ("directory: name, 1 letter", "/members", {"q": name[:1]}),
        ("directory: name, 2 letters", "/members", {"q": name[:2]}),
        ("directory: name, 3 letters", "/members", {"q": surname[:3]}),
        ("directory: full name", "/members", {"q": f"{name} {surname}"}),
        ("directory: expertise", "/members", {"expertise": rng.choice(tags)}),
        ("directory: language", "/members", {"language": rng.choice(langs)}),
        ("directory: country (common)", "/members", {"country": "BE"}),
        ("directory: expertise+language", "/members", {"expertise": rng.choice(tags), "language": rng.choice(langs)}),
        ("directory: expertise+country (rare)", "/members", {"expertise": rng.choice(tags), "country": "HU"}),
        (
            "directory: name+expertise+language",
            "/members",
            {"q": name[:2], "expertise": rng.choice(tags), "language": rng.choice(langs)},
        ),  # fmt: skip
        ("market: newest", "/advice/listings", {}),
        ("market: one word", "/advice/listings", {"q": rng.choice(WORDS)}),
        ("market: word prefix", "/advice/listings", {"q": rng.choice(WORDS)[:3]}),
        ("market: two words", "/advice/listings", {"q": " ".join(rng.sample(WORDS, 2))}),
        ("market: kind+tag", "/advice/listings", {"kind": rng.choice(advice_listings.KINDS), "tag": rng.choice(tags)}),
        (
            "market: words+kind+tag",
            "/advice/listings",
            {"q": rng.choice(WORDS), "kind": rng.choice(advice_listings.KINDS), "tag": rng.choice(tags)},
        ),  # fmt: skip
    ]
    return out


def percentile(values: list[float], p: int) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(math.ceil(len(ordered) * p / 100) - 1, 0)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--listings", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the query mix (each query 5 pages deep)")
    parser.add_argument("--database-url", default="", help="PostgreSQL URL of an empty database; default SQLite")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the raw figures as one JSON object")
    parser.add_argument("--keep", default="", help="build the node in this folder once and reuse it in later runs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        app, ctx, token, build_s = node(Path(args.keep or tmp), args)
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        rng = random.Random(args.seed + 1)
        tags, langs = members.taxonomy(ctx.settings), members.LANGUAGES
        times: dict[str, list[float]] = {}
        for warm in (True, *([False] * args.rounds)):
            for kind, path, query in queries(rng, tags, langs):
                cursor = ""
                for _page in range(5):
                    began = time.perf_counter()
                    response = client.get("/api/v1" + path, headers=headers, query_string={**query, "cursor": cursor})
                    elapsed = (time.perf_counter() - began) * 1000
                    assert response.status_code == 200, (path, query, response.get_json())
                    if not warm:
                        times.setdefault(kind, []).append(elapsed)
                    cursor = response.get_json()["next_cursor"]
                    if not cursor:
                        break
        backend = "postgresql" if ctx.db.is_postgres else "sqlite"
        ctx.db.dispose()
    every = sorted(t for ts in times.values() for t in ts)
    p95 = percentile(every, 95)
    per_class = {
        kind: {
            "n": len(ts),
            "p50_ms": round(statistics.median(ts), 2),
            "p95_ms": round(percentile(ts, 95), 2),
            "max_ms": round(max(ts), 2),
        }
        for kind, ts in times.items()
    }
    raw = {
        "database": backend,
        "members": args.members,
        "listings": args.listings,
        "build_seconds": round(build_s, 1),
        "requests": len(every),
        "p50_ms": round(statistics.median(every), 2),
        "p95_ms": round(p95, 2),
        "limit_ms": LIMIT_MS,
        "ratio": round(p95 / LIMIT_MS, 4),
        "classes": per_class,
    }
    if args.json:
        print(json.dumps(raw))
        return 0
    print(f"search on {backend}: {args.members:,} members, {args.listings:,} listings (built in {build_s:.0f} s)")
    for kind, c in per_class.items():
        print(f"  {kind:<38} p50 {c['p50_ms']:7.2f} ms  p95 {c['p95_ms']:7.2f} ms  max {c['max_ms']:7.2f} ms")
    print(f"p95 of all {len(every)} requests: {p95:.2f} ms (p50 {raw['p50_ms']:.2f} ms)")
    print(
        f"limit: {LIMIT_MS:.0f} ms; ratio p95 / limit: {p95 / LIMIT_MS:.3f} ({'met' if p95 <= LIMIT_MS else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
