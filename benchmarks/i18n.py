"""Benchmark: what translation costs a page. The dashboard rendered in Hungarian against English, same run.

One in-process node (the app factory, a real SQLite database) with a member who has a year of
statement lines, notifications, a proposal and advice sessions. The dashboard is rendered for
that member again and again, alternating English and Hungarian (the member's saved language),
so both see the same machine state. The figure is the median render time in Hungarian; the
limit is 1.10 x the English median measured in the same run (the goal: translated pages within
10% of English); the ratio is figure / English.

    .venv/bin/python benchmarks/i18n.py [--renders 400] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from deploy.processes import FAST_ARGON2  # noqa: E402  (needs the repo on sys.path)
from node.app import create_app  # noqa: E402
from node.clock import FixedClock  # noqa: E402
from node.services import ledger, members  # noqa: E402

if TYPE_CHECKING:
    from node.context import NodeContext

PAGE = "/dashboard"
START = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)  # the fixed clock of the members and rows made here
PASSWORD = "benchmark password"


def build(data_dir: Path):
    """A node with anna (who reads in the language under test) and bert, and traffic between them."""
    app = create_app(
        {
            "data_dir": str(data_dir),
            "node_id": "hu",
            "welcome_grant": 1000,
            "min_balance": -5,
            "default_language": "en",
            **FAST_ARGON2,
        },
        clock=FixedClock(START),
        start_delivery=False,
    )
    ctx = app.extensions["sifnet"]
    with ctx.db.write() as s:
        people = {}
        for handle in ("anna", "bert"):
            m = members.sign_up(
                s,
                ctx.settings,
                email=f"{handle}@example.org",
                password=PASSWORD,
                display_name=handle.title(),
                handle=handle,
                now=ctx.now(),
                hasher=ctx.hasher,
            )
            members._activate(s, ctx.settings, m, actor=None, reason="benchmark", now=ctx.now())
            people[handle] = m
        for i in range(200):
            payer, payee = (people["anna"], people["bert"]) if i % 2 else (people["bert"], people["anna"])
            ledger.transfer(s, payer=payer, payee=payee, amount=1 + i % 5, memo=f"session {i}", now=ctx.now())
        anna_id = people["anna"].id
    return app, ctx, anna_id


def set_language(ctx: NodeContext, member_id: int, language: str) -> None:
    from node.tables import Member

    with ctx.db.write() as s:
        s.get_one(Member, member_id).language = language


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=400, help="renders per language")
    parser.add_argument("--json", action="store_true", help="print the raw figures as one JSON object")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        app, ctx, anna = build(Path(tmp))
        client = app.test_client()
        with client.session_transaction() as sess:  # logged in as anna, as the login form would
            from node.tables import Member

            with ctx.db.read() as s:
                member = s.get(Member, anna)
            sess["member_id"], sess["session_version"] = member.id, member.session_version
        times: dict[str, list[float]] = {"en": [], "hu": []}
        pages: dict[str, str] = {}
        for i in range(args.renders * 2 + 20):
            language = "hu" if i % 2 else "en"
            set_language(ctx, anna, language)
            began = time.perf_counter()
            response = client.get(PAGE)
            elapsed = time.perf_counter() - began
            assert response.status_code == 200, response.status_code
            if i >= 20:  # the first renders warm the template and catalog caches
                times[language].append(elapsed)
            pages[language] = response.get_data(as_text=True)
        ctx.db.dispose()
    en, hu = (statistics.median(times[lang]) * 1000 for lang in ("en", "hu"))
    assert 'lang="hu"' in pages["hu"] and 'lang="en"' in pages["en"], "the pages were not in the languages asked"
    limit = en * 1.10
    raw = {
        "page": PAGE,
        "renders_per_language": args.renders,
        "en_median_ms": round(en, 3),
        "hu_median_ms": round(hu, 3),
        "limit_ms": round(limit, 3),
        "ratio_hu_to_en": round(hu / en, 4),
        "pages_differ": pages["hu"] != pages["en"],
    }
    if args.json:
        print(json.dumps(raw))
        return 0
    print(f"dashboard render, Hungarian: {hu:.2f} ms median over {args.renders} renders")
    print(f"limit: 1.10 x English in the same run = {limit:.2f} ms (English {en:.2f} ms)")
    print(f"ratio Hungarian / English: {hu / en:.3f} (goal <= 1.10: {'met' if hu <= limit else 'NOT met'})")
    print(f"the two pages differ in text: {raw['pages_differ']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
