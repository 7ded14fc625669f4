"""Load: many concurrent API clients on one node under gunicorn, for a fixed time.

Mixed traffic (reads, transfers, advice offers and bookings, profile edits) from N clients,
each a member with its own token. Prints requests, 5xx (the limit is 0), p50 and p99 latency,
then checks the ledger invariant (`sifnet node check-books`) and that every acknowledged
write is present afterwards. Exits non-zero on any 5xx, a broken invariant or a lost write.

Run: `.venv/bin/python benchmarks/load.py [--seconds 60] [--clients 50] [--workers 2] [--json]`.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests

from deploy.processes import FAST_ARGON2, NodeClient, NodeProcess, gunicorn

SETTINGS = {
    **FAST_ARGON2,
    "allow_clock_control": True,  # the sign-up link is read from the node's test mailbox
    "require_approval": False,
    "welcome_grant": 50,
    "scheduler": "worker",
}
# Operation mix (weights): mostly reads and payments, as a member's day on the node looks.
MIX = {"me": 25, "statement": 10, "listings": 10, "transfer": 30, "offer": 5, "book": 10, "profile": 10}


@dataclass
class Client:
    """One simulated member: its API client and what the node acknowledged to it."""

    api: NodeClient
    handle: str
    transfers: list = field(default_factory=list)  # txn ids acknowledged (201)
    listings: list = field(default_factory=list)
    bookings: list = field(default_factory=list)
    bio: str | None = None
    latencies: list = field(default_factory=list)
    statuses: dict = field(default_factory=dict)


def one_request(c: Client, everyone: list[Client], rng: random.Random) -> None:
    op = rng.choices(list(MIX), weights=list(MIX.values()))[0]
    started = time.perf_counter()
    if op == "me":
        r = c.api.call("GET", "/me")
    elif op == "statement":
        r = c.api.call("GET", "/me/statement")
    elif op == "listings":
        r = c.api.call("GET", "/advice/listings")
    elif op == "transfer":
        other = rng.choice([o for o in everyone if o is not c])
        r = c.api.call("POST", "/transfers", {"to": other.handle, "amount": rng.randint(1, 3), "memo": "load"})
        if r.status_code == 201:
            c.transfers.append(r.json()["txn_id"])
    elif op == "offer":
        r = c.api.call(
            "POST",
            "/advice/listings",
            {"kind": "offer", "title": f"Help {rng.randint(1, 10**6)}", "rate": 1, "tags": ["education"]},
        )
        if r.status_code == 201:
            c.listings.append(r.json()["id"])
    elif op == "book":
        owners = [o for o in everyone if o is not c and o.listings]
        if not owners:
            return
        listing = rng.choice(rng.choice(owners).listings)
        r = c.api.call("POST", f"/advice/listings/{listing}/book", {"hours": 1})
        if r.status_code == 201:
            c.bookings.append(r.json()["id"])
    else:
        bio = f"bio {rng.randint(1, 10**9)}"
        r = c.api.call("PATCH", "/me", {"bio": bio})
        if r.status_code == 200:
            c.bio = bio
    c.latencies.append(time.perf_counter() - started)
    c.statuses[r.status_code] = c.statuses.get(r.status_code, 0) + 1


def drive(clients: list[Client], seconds: float) -> float:
    deadline = time.monotonic() + seconds

    def loop(c: Client, seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < deadline:
            try:
                one_request(c, clients, rng)
            except requests.RequestException as exc:  # a refused or dropped connection counts as a server error
                c.statuses[type(exc).__name__] = c.statuses.get(type(exc).__name__, 0) + 1

    started = time.monotonic()
    threads = [threading.Thread(target=loop, args=(c, i)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - started


def statement_txns(c: Client) -> set[int]:
    """Every transaction id on a client's statement, page by page."""
    seen, before = set(), ""
    while True:
        page = c.api.call("GET", f"/me/statement?limit=500{before}").json()
        seen |= {line["txn_id"] for line in page["lines"]}
        if page.get("next_before") is None:
            return seen
        before = f"&before={page['next_before']}"


def lost_writes(clients: list[Client]) -> list[str]:
    """Every acknowledged write, looked up afterwards; returns what is missing."""
    lost = []
    for c in clients:
        seen = statement_txns(c)
        lost += [f"{c.handle}: transfer txn {t}" for t in c.transfers if t not in seen]
        lost += [
            f"{c.handle}: listing {i}"
            for i in c.listings
            if c.api.call("GET", f"/advice/listings/{i}").status_code != 200
        ]
        lost += [
            f"{c.handle}: booking {i}"
            for i in c.bookings
            if c.api.call("GET", f"/advice/bookings/{i}").status_code != 200
        ]
        if c.bio is not None and c.api.me()["bio"] != c.bio:
            lost.append(f"{c.handle}: profile edit")
    return lost


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        node = NodeProcess(Path(tmp) / "be-vl", "be-vl", settings=SETTINGS).init()
        server = gunicorn(node, workers=args.workers, threads=4).start()
        try:
            server.wait_healthy(node.url, timeout=60, interval=0.1)
            anon = node.client()
            clients = []
            for i in range(args.clients):
                anon.signup(f"load{i}@example.org", f"load{i}")
                clients.append(Client(anon.login(f"load{i}@example.org"), f"load{i}"))
            elapsed = drive(clients, args.seconds)
            lost = lost_writes(clients)
        finally:
            server.stop(30)
        books = node.cli("check-books", check=False)
    statuses: dict = {}
    for c in clients:
        for k, v in c.statuses.items():
            statuses[str(k)] = statuses.get(str(k), 0) + v
    latencies = [x for c in clients for x in c.latencies]
    errors = sum(v for k, v in statuses.items() if not k.isdigit() or int(k) >= 500)
    figures = {
        "clients": args.clients,
        "workers": args.workers,
        "seconds": round(elapsed, 1),
        "requests": sum(statuses.values()),
        "rps": round(sum(statuses.values()) / elapsed, 1),
        "statuses": statuses,
        "server_errors": errors,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "acknowledged_writes": sum(
            len(c.transfers) + len(c.listings) + len(c.bookings) + (c.bio is not None) for c in clients
        ),
        "lost_writes": len(lost),
        "books_ok": "OK" in books.stdout,
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(
            f"{figures['requests']} requests from {args.clients} clients in {figures['seconds']} s "
            f"({figures['rps']}/s, gunicorn {args.workers} workers); statuses {statuses}"
        )
        print(f"5xx: {errors} (limit 0); latency p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms")
        print(
            f"acknowledged writes: {figures['acknowledged_writes']}, lost: {len(lost)} {lost[:5]}; "
            f"ledger invariant: {books.stdout.strip() or books.stderr.strip()}"
        )
    return 0 if errors == 0 and not lost and figures["books_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
