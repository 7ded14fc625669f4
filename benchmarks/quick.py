"""Benchmark: what the migrated template database saves `make quick`. The same tests, twice, same run.

`make quick`'s in-process apps start from a copy of one database migrated once per session
(tests/conftest.py, `_sqlite_template`). This runs a selection of the quick tests with the template
and then with every app migrating its own database (SIFNET_TEST_TEMPLATE=0), one after the other
on the same machine. The figure is the wall time with the template; the limit is the wall time
without it, measured in the same run; the ratio is figure / limit (below 1: the template saves time).

    .venv/bin/python benchmarks/quick.py [--select tests/node] [--json]
    .venv/bin/python benchmarks/quick.py --select all   # the whole of make quick (about twice its time)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
QUICK = "not slow and not browser and not chaos"  # make quick's marker expression


def run(select: list[str], template: bool) -> tuple[float, int]:
    """Wall seconds of one pytest run of the selection, and its exit code."""
    env = {**os.environ, "SIFNET_TEST_TEMPLATE": "1" if template else "0"}
    env.pop("SIFNET_TEST_DB", None)  # the template is the SQLite lane's
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", QUICK, *select]
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started, done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--select", default="tests/node", help="test paths, space-separated, or 'all'")
    parser.add_argument("--json", action="store_true", help="print the raw figures as one JSON object")
    args = parser.parse_args()
    select = [] if args.select == "all" else args.select.split()
    with_template, rc_with = run(select, template=True)
    without, rc_without = run(select, template=False)
    if rc_with or rc_without:
        print(f"the tests failed (exit {rc_with} with the template, {rc_without} without)", file=sys.stderr)
        return 1
    ratio = with_template / without
    if args.json:
        print(json.dumps({"select": args.select, "with_template_s": with_template, "migrate_each_s": without}))
        return 0
    print(f"make quick selection: {args.select}")
    print(f"  with the migrated template  {with_template:8.1f} s   (figure)")
    print(f"  each app migrating          {without:8.1f} s   (limit, same run)")
    print(f"  ratio                       {ratio:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
