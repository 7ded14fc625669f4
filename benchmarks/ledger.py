"""Benchmark: local transfers per second through the HTTP API, against the limits measured in the same run.

Part 1 starts a real node (`sifnet node run`, the werkzeug threaded server) and measures
(a) POST /api/v1/transfers from several concurrent clients,
(b) the same server and clients answering a trivial POST (/_test/echo, test mode only),
(c) bare SQLite insert+commit transactions (WAL, synchronous=FULL) on the same disk.
The limit is min(b, c); the goal is transfers >= 50% of it.

Part 2 (production shape) serves the node with gunicorn, 1 and then 4 workers (4 threads each),
on SQLite and on PostgreSQL (a server at SIFNET_TEST_POSTGRES_URL, else a durable throw-away
cluster from the installed binaries: fsync and synchronous_commit on, as SQLite's FULL), and
prints transfers/s and the scaling ratio rate(4 workers) / rate(1 worker). Writers serialise on
both databases (see node/db.py), so the ratio shows what extra workers buy around the write.

    .venv/bin/python benchmarks/ledger.py [--threads 4] [--seconds 8] [--json] [--no-servers] [--profile N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from deploy.processes import FAST_ARGON2, PASSWORD, NodeClient, NodeProcess, gunicorn  # noqa: E402  (needs the repo)
from tests import pg  # noqa: E402  (the test lane's throw-away PostgreSQL cluster)

GRANT = 10**9
# Cheap hashing; the /_test/ hooks: the mailed sign-up link and the echo endpoint part 1 compares with.
SETTINGS = {**FAST_ARGON2, "allow_clock_control": True, "require_approval": False, "welcome_grant": GRANT}


def rate(workers: list[Callable[[int], bool]], seconds: float) -> tuple[float, int]:
    """Run each worker in its own thread for `seconds`; return (successful calls per second, failures)."""
    ok, failed = [0] * len(workers), [0] * len(workers)
    start = threading.Barrier(len(workers) + 1)
    deadline = [0.0]

    def loop(i: int) -> None:
        start.wait()
        n = 0
        while time.monotonic() < deadline[0]:
            n += 1
            if workers[i](n):
                ok[i] += 1
            else:
                failed[i] += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(len(workers))]
    for t in threads:
        t.start()
    began = time.monotonic()
    deadline[0] = began + seconds
    start.wait()
    for t in threads:
        t.join()
    return sum(ok) / (time.monotonic() - began), sum(failed)


def transfer_workers(payers: list[NodeClient], payees: list[str]) -> list[Callable[[int], bool]]:
    def worker(client: NodeClient, payee: str) -> Callable[[int], bool]:
        return lambda n: client.transfer(payee, 1, f"bench {n}").status_code == 201

    return [worker(c, p) for c, p in zip(payers, payees)]


def echo_workers(payers: list[NodeClient], payees: list[str]) -> list[Callable[[int], bool]]:
    """Same sessions, headers and body shape as the transfers; only the route differs."""

    def worker(client: NodeClient, payee: str) -> Callable[[int], bool]:
        url = f"{client.url}/_test/echo"
        return lambda n: (
            client.http.post(url, json={"to": payee, "amount": 1, "memo": f"bench {n}"}, timeout=30).status_code == 201
        )

    return [worker(c, p) for c, p in zip(payers, payees)]


def sqlite_commit_rate(folder: Path, seconds: float) -> float:
    """One INSERT per BEGIN IMMEDIATE..COMMIT, WAL and synchronous=FULL, as the node's ledger writes."""
    path = folder / "bench.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, account INTEGER, amount INTEGER, balance INTEGER)"
    )
    n, began = 0, time.monotonic()
    deadline = began + seconds
    while time.monotonic() < deadline:
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t (account, amount, balance) VALUES (?, ?, ?)", (n % 7, 1, n))
        db.execute("COMMIT")
        n += 1
    elapsed = time.monotonic() - began
    db.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return n / elapsed


def run(threads: int, seconds: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="sifnet-bench-") as tmp:
        node = NodeProcess(
            Path(tmp) / "bench",
            "bench",
            settings={**SETTINGS, "sweep_seconds": 3600},
        )
        try:
            node.init().start()
            payers = [node.new_member(f"payer{i}") for i in range(threads)]
            payees = [f"payee{i}" for i in range(threads)]
            for handle in payees:
                node.new_member(handle)
            rate(echo_workers(payers, payees), 1)  # warm up connections and code paths
            echo, echo_failed = rate(echo_workers(payers, payees), seconds)
            transfers, transfer_failed = rate(transfer_workers(payers, payees), seconds)
            books_ok = node.cli("check-books", check=False).returncode == 0
        finally:
            node.stop()
        sqlite_rate = sqlite_commit_rate(Path(tmp), seconds)
    limit = min(echo, sqlite_rate)
    return {
        "threads": threads,
        "seconds": seconds,
        "transfers_per_s": round(transfers, 1),
        "echo_per_s": round(echo, 1),
        "sqlite_commits_per_s": round(sqlite_rate, 1),
        "limit_per_s": round(limit, 1),
        "ratio": round(transfers / limit, 3),
        "failed_requests": echo_failed + transfer_failed,
        "books_ok": books_ok,
    }


class DurableCluster(pg.Cluster):
    """A throw-away PostgreSQL cluster with durable commits (the test lane's turns fsync off)."""

    def start(self) -> DurableCluster:
        data = self.dir / "data"
        self._run(
            str(self.bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"
        )
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=100"
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            opts,
            "-l",
            str(self.dir / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        return self


def postgres_admin_url() -> tuple[str | None, DurableCluster | None, str]:
    """(admin URL, cluster to stop, why not): a configured server, else a durable throw-away cluster."""
    url = os.environ.get(pg.ENV_URL)
    if url:
        return url, None, ""
    bindir = pg.find_binaries()
    if bindir is None:
        return None, None, "no PostgreSQL server configured and no binaries installed"
    cluster = DurableCluster(bindir)
    try:
        return cluster.start().url, cluster, ""
    except Exception as exc:  # reported, not fatal: the SQLite figures still stand
        cluster.stop()
        return None, None, f"could not start PostgreSQL: {exc}"


def gunicorn_rate(folder: Path, workers: int, clients: int, seconds: float, database_url: str = "") -> float:
    """Transfers/s of a node served by gunicorn with this many workers (4 threads each)."""
    settings = {**SETTINGS, "sweep_seconds": 3600, "scheduler": "worker"}
    if database_url:
        settings["database_url"] = database_url
    node = NodeProcess(folder, "bench", settings=settings).init()
    web = gunicorn(node, workers=workers, threads=4).start()
    try:
        web.wait_healthy(node.url, path="/readyz", timeout=60, interval=0.1)
        payers = [node.new_member(f"payer{i}") for i in range(clients)]
        payees = [f"payee{i}" for i in range(clients)]
        for handle in payees:
            node.new_member(handle)
        rate(transfer_workers(payers, payees), 1)  # warm up every worker's connections
        transfers, failed = rate(transfer_workers(payers, payees), seconds)
        if failed or node.cli("check-books", check=False).returncode != 0:
            raise RuntimeError(f"{failed} failed transfers or unbalanced books under gunicorn ({workers} workers)")
        return transfers
    finally:
        web.terminate()


def server_figures(tmp: Path, clients: int, seconds: float) -> dict:
    """gunicorn with 1 and 4 workers on SQLite and PostgreSQL: transfers/s and the scaling ratio."""
    out: dict = {}
    admin_url, cluster, why_not = postgres_admin_url()
    try:
        for database in ("sqlite", "postgresql"):
            if database == "postgresql" and admin_url is None:
                out[database] = {"skipped": why_not}
                continue
            rates = {}
            for workers in (1, 4):
                url = ""
                if database == "postgresql":
                    assert admin_url is not None  # checked above
                    name = f"sifnet_bench_{os.getpid()}_{workers}"
                    with pg._pg_connect(admin_url) as conn:
                        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                        conn.execute(f'CREATE DATABASE "{name}"')
                    url = pg._with_database(admin_url, name)
                rates[workers] = gunicorn_rate(tmp / f"{database}-{workers}", workers, clients, seconds, url)
            out[database] = {
                "transfers_per_s_1_worker": round(rates[1], 1),
                "transfers_per_s_4_workers": round(rates[4], 1),
                "scaling_4_over_1": round(rates[4] / rates[1], 2),
            }
    finally:
        if cluster is not None:
            cluster.stop()
    return out


def profile(count: int) -> None:
    """cProfile `count` transfers through the WSGI app in this process (no HTTP server, one client)."""
    import cProfile
    import pstats
    from email import message_from_bytes, policy

    from node.app import create_app

    with tempfile.TemporaryDirectory(prefix="sifnet-prof-") as tmp:
        app = create_app(
            {
                "data_dir": tmp,
                "require_approval": False,
                "welcome_grant": GRANT,
                "argon2_memory_kib": 1024,
                "argon2_time_cost": 1,
            }
        )
        client = app.test_client()
        for handle in ("anna", "bert"):  # as a person signs up: ask, then open the mailed link
            client.post(
                "/api/v1/signup",
                json={"email": f"{handle}@example.org", "password": PASSWORD, "display_name": handle, "handle": handle},
            )
            mails = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in Path(tmp).glob("mail/*.eml")]
            [body] = [m.get_content() for m in mails if m["To"] == f"{handle}@example.org"]
            link = re.search(r"/signup/confirm/([\w-]+)", body)
            assert link is not None
            token = link[1]
            client.post("/api/v1/signup/confirm", json={"token": token})
        token = client.post("/api/v1/tokens", json={"email": "anna@example.org", "password": PASSWORD}).get_json()
        headers = {"Authorization": f"Bearer {token['token']}"}

        def pay(n: int) -> None:
            client.post("/api/v1/transfers", headers=headers, json={"to": "bert", "amount": 1, "memo": str(n)})

        for n in range(20):  # warm SQLAlchemy's statement cache first
            pay(n)
        profiler = cProfile.Profile()
        began = time.perf_counter()

        def pay_all() -> None:
            for n in range(count):
                pay(n)

        profiler.runcall(pay_all)
        print(f"{count} transfers in-process: {count / (time.perf_counter() - began):.0f}/s (profiler on)")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
        app.extensions["sifnet"].db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=4, help="concurrent clients (default 4)")
    parser.add_argument("--seconds", type=float, default=8, help="length of each measurement (default 8)")
    parser.add_argument("--json", action="store_true", help="print the raw figures as one JSON object")
    parser.add_argument("--profile", type=int, metavar="N", help="instead: cProfile N in-process transfers")
    parser.add_argument("--no-servers", action="store_true", help="skip part 2 (gunicorn, PostgreSQL)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients in part 2 (default 8)")
    args = parser.parse_args()
    if args.profile:
        profile(args.profile)
        return 0
    figures = run(args.threads, args.seconds)
    if not args.no_servers:
        with tempfile.TemporaryDirectory(prefix="sifnet-bench-") as tmp:
            figures["gunicorn"] = server_figures(Path(tmp), args.clients, args.seconds)
    if args.json:
        print(json.dumps(figures))
        return 0
    rows = [
        (f"(a) transfers/s over HTTP, {args.threads} clients", figures["transfers_per_s"]),
        ("(b) trivial POST/s, same server and clients", figures["echo_per_s"]),
        ("(c) SQLite insert+commit/s (WAL, FULL)", figures["sqlite_commits_per_s"]),
        ("limit = min(b, c)", figures["limit_per_s"]),
    ]
    for label, value in rows:
        print(f"{label + ':':<46}{value:>9.1f}")
    print(f"ratio transfers/limit: {figures['ratio']:.1%} (goal >= 50%)")
    if figures["failed_requests"] or not figures["books_ok"]:
        print(f"WARNING: failed requests {figures['failed_requests']}, books ok {figures['books_ok']}")
    for database, row in figures.get("gunicorn", {}).items():
        if "skipped" in row:
            print(f"gunicorn on {database}: skipped ({row['skipped']})")
            continue
        print(
            f"gunicorn on {database}, {args.clients} clients: {row['transfers_per_s_1_worker']:.1f} transfers/s "
            f"with 1 worker, {row['transfers_per_s_4_workers']:.1f} with 4; scaling 4/1 = "
            f"{row['scaling_4_over_1']:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
