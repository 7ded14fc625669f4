"""Live-update latency: from a local payment's commit to the event on the payee's open stream.

The payee holds GET /api/v1/events open (read line by line in a thread); the payer pays 1 SIF through the API,
one payment at a time. The figure is the time from the moment the payer's API call returns (the payment is
committed) until the `payment` event has arrived on the payee's stream; it is negative when the event came
first (the commit wakes the stream before the payer's answer is sent). The unit it is measured in is one
loopback round trip of the same server (`GET /healthz`, median), in the same run. Goal: p50 within 2 round
trips.

`--server run` (default) is `sifnet node run` (one process, threads); `--server gunicorn --workers N` is gunicorn
with gthread workers, as in production: with N > 1 the stream and the payment may meet different workers, and
then the event comes through the other worker's watcher: on SQLite by its poll (`--poll-ms`, the setting
live_poll_ms), on PostgreSQL (`--database-url`, an empty database) by the NOTIFY of the payment's commit.

Run: `.venv/bin/python benchmarks/live.py [--payments 200] [--server run|gunicorn] [--workers 2]
[--database-url postgresql://...] [--json]`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import queue
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests

from deploy.processes import FAST_ARGON2, NodeProcess, gunicorn

SETTINGS = {
    **FAST_ARGON2,
    "allow_clock_control": True,  # the sign-up link from the test mailbox
    "require_approval": False,
    "welcome_grant": 100_000,
    "federation": False,
    "checkpoint_seconds": 3600,
}
GOAL_ROUND_TRIPS = 2


class StreamReader:
    """The payee's event stream, read in a thread: (memo, arrival time) of every payment event."""

    def __init__(self, url: str, token: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)
        self.conn.request("GET", "/api/v1/events", headers={"Authorization": f"Bearer {token}"})
        self.response = self.conn.getresponse()
        assert self.response.status == 200, self.response.status
        self.arrivals: queue.Queue = queue.Queue()
        self.opened = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        name = ""
        while True:
            try:
                line = self.response.readline()
            except (OSError, http.client.HTTPException):  # closed at the end of the run
                return
            if not line:
                return
            now = time.perf_counter()
            text = line.decode().rstrip("\n")
            if text.startswith("retry:"):
                self.opened.set()
            elif text.startswith("event: "):
                name = text[7:]
            elif text.startswith("data: ") and name == "payment":
                self.arrivals.put((json.loads(text[6:])["memo"], now))

    def close(self) -> None:
        self.conn.close()


def member(base: str, handle: str) -> str:
    """Sign up (no approval on this node) and return an API token."""
    from deploy.processes import NodeClient

    client = NodeClient(base)
    client.signup(f"{handle}@example.org", handle)
    return client.token(f"{handle}@example.org")


def round_trip(base: str, n: int = 200) -> float:
    with requests.Session() as http_:
        times = []
        for _ in range(n):
            started = time.perf_counter()
            http_.get(f"{base}/healthz", timeout=10)
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def latencies(base: str, payments: int) -> list[float]:
    payer, payee = member(base, "payer"), member(base, "payee")
    stream = StreamReader(base, payee)
    assert stream.opened.wait(30), "the stream never opened"
    out = []
    with requests.Session() as http_:
        http_.headers["Authorization"] = f"Bearer {payer}"
        for n in range(payments):
            memo = f"bench-{n}"
            response = http_.post(f"{base}/api/v1/transfers", json={"to": "payee", "amount": 1, "memo": memo})
            returned = time.perf_counter()
            assert response.status_code == 201, response.text
            got, arrived = stream.arrivals.get(timeout=60)
            assert got == memo, (got, memo)
            out.append(arrived - returned)
    stream.close()
    return out


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def run(tmp: Path, args) -> tuple[list[float], float]:
    settings = {**SETTINGS, "live_poll_ms": args.poll_ms}
    if args.database_url:
        settings["database_url"] = args.database_url
    node = NodeProcess(tmp / "be-vl", "be-vl", settings=settings).init()
    if args.server == "run":
        node.start()
        process = None
    else:
        process = gunicorn(node, workers=args.workers, threads=8).start()
        process.wait_healthy(node.url, node_id=node.node_id)
    try:
        rtt = round_trip(node.url)
        found = latencies(node.url, args.payments)
    finally:
        node.kill9()
        if process is not None:
            process.kill9()
    return found, rtt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the raw figures as one JSON object")
    parser.add_argument("--payments", type=int, default=200)
    parser.add_argument("--server", choices=("run", "gunicorn"), default="run")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers (with --server gunicorn)")
    parser.add_argument("--poll-ms", type=int, default=250, help="live_poll_ms: other workers' events (SQLite)")
    parser.add_argument("--database-url", default="", help="an empty PostgreSQL database (default: SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        found, rtt = run(Path(tmp_name), args)
    p50, p99 = statistics.median(found), percentile(found, 0.99)
    figures = {
        "database": "postgresql" if args.database_url else "sqlite",
        "server": args.server,
        "workers": args.workers if args.server == "gunicorn" else 1,
        "payments": len(found),
        "latency_p50_s": p50,
        "latency_p99_s": p99,
        "latency_max_s": max(found),
        "loopback_round_trip_s": rtt,
        "limit_s": GOAL_ROUND_TRIPS * rtt,
        "p50_in_round_trips": p50 / rtt,
        "p99_in_round_trips": p99 / rtt,
        "latencies_s": found,
    }
    if args.json:
        print(json.dumps(figures))
        return 0
    server = "sifnet node run" if args.server == "run" else f"gunicorn, {args.workers} gthread worker(s)"
    server += ", " + figures["database"]
    print(f"payment commit -> event on the payee's stream ({server}, {len(found)} payments)")
    print(f"  p50                               {p50 * 1000:10.2f} ms")
    print(f"  p99                               {p99 * 1000:10.2f} ms")
    print(f"  one loopback round trip           {rtt * 1000:10.2f} ms")
    limit = GOAL_ROUND_TRIPS * rtt
    print(f"  limit ({GOAL_ROUND_TRIPS} round trips)              {limit * 1000:10.2f} ms")
    print(f"  ratio p50 / limit                 {p50 / limit:10.2f}      (goal <= 1)")
    print(f"  ratio p99 / limit                 {p99 / limit:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
