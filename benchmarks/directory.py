"""One directory poll of 500 simulated national nodes, against the time its concurrency allows in theory.

A child process serves 500 node endpoints, one loopback port each (asyncio, no threads): every
request is answered after 50 ms with that node's summary, signed for real with its own key.
The directory then polls all 500 once, exactly as `sifnet directory run` does (a new
connection per node, the summary verified against the key pinned for that node, every
outcome recorded in its own database). With C threads the poll cannot take less than
ceil(500 / C) x 50 ms; the goal is at most twice that.

Run: `.venv/bin/python benchmarks/directory.py [--nodes 500] [--delay-ms 50] [--concurrency C] [--json]`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from federation.directory.poller import checks_for, poll_targets, record, targets_of
from federation.directory.settings import load_settings
from federation.directory.store import open_directory
from federation.directory.tables import Listing
from protocol import SigningKey, canonical_json, format_time, make_envelope, sign_envelope

SUMMARY = {
    "members": 40,
    "active_30d": 12,
    "active_180d": 30,
    "reviewers_by_tag": {"food": 3, "housing": 2},
    "reviewers_by_language": {"en": 4, "de": 2},
    "proposals_open": 3,
    "proposals_reviewed": 9,
    "median_turnaround_days": 5,
    "sif_in_circulation": 400,
    "cross_border": [],
    "software_version": "sifnet bench",
    "protocol_version": 1,
}


def node_id(n: int) -> str:
    return f"sim{n:04d}"


def key_of(n: int) -> SigningKey:
    return SigningKey.from_seed(hashlib.sha256(f"bench-node/{n}".encode()).digest())


def signed_answer(n: int, directory_id: str) -> bytes:
    body = {**SUMMARY, "members": 40 + n % 7}
    env = make_envelope(
        type="directory_summary",
        from_=node_id(n),
        to=directory_id,
        created=format_time(datetime.now(UTC)),
        body=body,
        id=uuid.uuid4().hex,
    )
    payload = canonical_json(sign_envelope(env, key_of(n)).to_dict())
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    return head + payload


async def serve(nodes: int, delay: float, directory_id: str) -> None:
    """The child process: one listening port per simulated node; prints the ports, then serves until killed."""
    answers = [signed_answer(n, directory_id) for n in range(nodes)]

    def handler(n: int):
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            await asyncio.sleep(delay)
            writer.write(answers[n])
            await writer.drain()
            writer.close()

        return handle

    servers = [await asyncio.start_server(handler(n), "127.0.0.1", 0, backlog=64) for n in range(nodes)]
    print(json.dumps([s.sockets[0].getsockname()[1] for s in servers]), flush=True)
    await asyncio.Event().wait()


def start_nodes(nodes: int, delay_ms: int, directory_id: str) -> tuple[subprocess.Popen, list[int]]:
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(nodes), "--delay-ms", str(delay_ms), "--directory-id", directory_id],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None  # stdout=PIPE
    ports = json.loads(child.stdout.readline())
    return child, ports


def list_nodes(directory, ports: list[int]) -> None:
    """Listed and approved, as if the working group had pinned each node's key."""
    now = directory.now()
    with directory.db.write() as s:
        for n, port in enumerate(ports):
            key = key_of(n).public_key
            s.add(
                Listing(
                    node_id=node_id(n),
                    name=f"Simulated {n}",
                    country="EU",
                    base_url=f"http://127.0.0.1:{port}",
                    summary_url=f"http://127.0.0.1:{port}/federation/v1/summary",
                    status="listed",
                    fingerprint=key.fingerprint,
                    keys=[{"kid": key.key_id, "public": key.b64}],
                    applied_at=now,
                    approved_at=now,
                )
            )


def run(nodes: int, delay_ms: int, concurrency: int | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        overrides = {"data_dir": tmp, "poll_timeout_ms": 10000, "slow_ms": 10000}
        if concurrency:
            overrides["poll_concurrency"] = concurrency
        directory = open_directory(load_settings(overrides, environ={}))
        child, ports = start_nodes(nodes, delay_ms, directory.id)
        try:
            list_nodes(directory, ports)
            checks, workers = checks_for(directory), directory.settings.poll_concurrency
            began = time.perf_counter()
            with directory.db.read() as s:
                targets = targets_of(s)
            fetched_at = time.perf_counter()
            outcomes = poll_targets(targets, checks, workers)
            recorded_at = time.perf_counter()
            record(directory, outcomes, directory.now())
            ended = time.perf_counter()
        finally:
            child.kill()
            child.wait()
            directory.close()
    theory = math.ceil(nodes / workers) * delay_ms / 1000
    health = {h: sum(1 for o in outcomes if o.health == h) for h in ("up", "slow", "unreachable", "refused")}
    return {
        "nodes": nodes,
        "delay_ms": delay_ms,
        "concurrency": workers,
        "poll_s": ended - began,
        "read_targets_s": fetched_at - began,
        "fetch_verify_s": recorded_at - fetched_at,
        "record_s": ended - recorded_at,
        "theory_s": theory,
        "ratio": (ended - began) / theory,
        "goal_ratio": 2.0,
        "verified": health["up"] + health["slow"],
        "outcomes": health,
        "cpus": os.cpu_count(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--delay-ms", type=int, default=50, help="each simulated node answers after this long")
    parser.add_argument("--concurrency", type=int, help="poll threads (default: the directory's poll_concurrency)")
    parser.add_argument("--json", action="store_true", help="print the raw figures as one JSON object")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--directory-id", default="eu-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.delay_ms / 1000, args.directory_id))
        return 0
    f = run(args.nodes, args.delay_ms, args.concurrency)
    if args.json:
        print(json.dumps(f))
        return 0 if f["verified"] == f["nodes"] else 1
    print(f"one poll of {f['nodes']} nodes answering after {f['delay_ms']} ms, {f['concurrency']} threads:")
    print(
        f"  measured:  {f['poll_s']:.3f} s  (fetch and verify {f['fetch_verify_s']:.3f} s, record "
        f"{f['record_s']:.3f} s)"
    )
    print(f"  theory:    {f['theory_s']:.3f} s  (ceil({f['nodes']}/{f['concurrency']}) x {f['delay_ms']} ms)")
    print(f"  ratio:     {f['ratio']:.2f}  (goal <= {f['goal_ratio']:.0f})")
    print(f"  verified:  {f['verified']} of {f['nodes']}  {f['outcomes']}")
    return 0 if f["verified"] == f["nodes"] else 1


if __name__ == "__main__":
    sys.exit(main())
