"""N real node processes, each behind its own fault relay, peered in a full mesh through the relays.

A node's base_url is its relay's URL (the signature covers the URL the receiver rebuilds from its
own base_url), peers are added by relay URL, and the harness's own API calls go straight to the
node's real port. Data folders are copied from a template initialised once per node id, which
saves the two CLI runs `init` and `create-coordinator` per node and seed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.procs import COORDINATOR_EMAIL, REPO, NodeClient, NodeProcess, NodeStartError, free_port

from .invariants import NodeView, disputes_ending, open_rounds
from .relay import Relay

NODE_IDS = ("be-vl", "nl", "at", "it", "hu")
HANDLES = ("ana", "ben", "cas", "dora", "eli", "fay", "gus", "hal")
# Pools travel at once and invitations expire after an hour, so a clock jump (or the quiet wait) ends them.
NODE_SETTINGS = {
    "retry_base_seconds": 1,
    "retry_max_seconds": 4,
    "sweep_seconds": 1,
    "checkpoint_seconds": 15,
    "require_approval": False,
    "allow_clock_control": True,
    "fed_max_skew_seconds": 300,
    "pool_share_seconds": 1,
    "invite_accept_hours": 1,
}
# Each node serves its own country, so min_foreign_reviewers asks for a peer's reviewer.
COUNTRIES = {"be-vl": "BE", "nl": "NL", "at": "AT", "it": "IT", "hu": "HU"}
REVIEWER_PROFILE = {
    "expertise": ["education"],
    "languages": ["en"],
    "is_reviewer": True,
    "pool_consent": True,
    "review_capacity": 3,
}
MIGRATIONS = REPO / "node" / "migrations" / "versions"
CLOCK_STEP = 60  # seconds per step when moving every clock forward together (well inside the 300 s window)


def schema_stamp() -> str:
    """A digest of the migration files: a template made under another schema must not be reused."""
    digest = hashlib.sha256()
    for path in sorted(MIGRATIONS.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


class Templates:
    """Initialised data folders, one per node id and schema, copied for every seed."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._ready: set[tuple[str, str]] = set()
        self.stamp = ""

    def prepare(self, node_ids) -> None:
        # The checkout may change under a long run (other work adds a migration): re-stamp per seed.
        self.stamp = stamp = schema_stamp()
        missing = [n for n in node_ids if (n, stamp) not in self._ready]
        with ThreadPoolExecutor(max_workers=len(missing) or 1) as pool:
            list(pool.map(lambda n: self._init(n, stamp), missing))

    def _init(self, node_id: str, stamp: str) -> None:
        path = self.root / stamp / node_id
        if not (path / ".ready").exists():  # a template whose init was interrupted is made again
            shutil.rmtree(path, ignore_errors=True)
            NodeProcess(path, node_id, settings=NODE_SETTINGS).init()
            (path / ".ready").touch()
        with self._lock:
            self._ready.add((node_id, stamp))

    def copy(self, node_id: str, dest: Path) -> None:
        shutil.copytree(self.root / self.stamp / node_id, dest, ignore=shutil.ignore_patterns("node.log", ".ready"))


@dataclass
class ChaosNode:
    node_id: str
    proc: NodeProcess
    relay: Relay
    handles: list[str]
    coord: NodeClient | None = None
    members: list[NodeClient] = field(default_factory=list)
    offset: int = 0  # seconds this node's clock is ahead of real time (lost on restart, so re-applied)

    @property
    def data_dir(self) -> Path:
        return self.proc.data_dir


class Cluster:
    """The network under test for one seed."""

    def __init__(
        self, seed: int, node_ids, workdir: Path, templates: Templates, *, members: int, settings: dict[str, dict]
    ) -> None:
        self.seed = seed
        self.workdir = Path(workdir)
        self.nodes: dict[str, ChaosNode] = {}
        templates.prepare(node_ids)
        for node_id in node_ids:
            port = free_port()
            relay = Relay(node_id, port, f"{seed}:relay:{node_id}").start()
            templates.copy(node_id, self.workdir / node_id)
            proc = NodeProcess(
                self.workdir / node_id,
                node_id,
                port=port,
                settings={
                    **NODE_SETTINGS,
                    "country": COUNTRIES[node_id],
                    **settings.get(node_id, {}),
                    "base_url": relay.url,
                },
            )
            self.nodes[node_id] = ChaosNode(node_id, proc, relay, list(HANDLES[:members]))

    def dirs(self) -> dict[str, Path]:
        return {n: c.data_dir for n, c in self.nodes.items()}

    def _each(self, fn) -> list:
        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            return list(pool.map(fn, self.nodes.values()))

    def start(self, *, trust: dict[tuple[str, str], int], reviewers: bool) -> None:
        """Start every node, peer every pair through the relays and sign up the members."""
        self._each(self._start)
        for n in self.nodes.values():
            n.coord = NodeClient(n.proc.url).login(COORDINATOR_EMAIL)
        for a in self.nodes.values():
            for b in self.nodes.values():
                if a is not b:
                    added = a.coord.call("POST", "/federation/peers", {"url": b.relay.url}, expect=201).json()
                    a.coord.call(
                        "POST",
                        f"/federation/peers/{b.node_id}/confirm",
                        {"fingerprint": added["fingerprint"], "trust_limit": trust[(a.node_id, b.node_id)]},
                        expect=200,
                    )

        def sign_up(n: ChaosNode) -> None:
            for handle in n.handles:
                client = n.proc.new_member(handle)
                if reviewers:
                    client.call("PATCH", "/me", REVIEWER_PROFILE, expect=200)
                n.members.append(client)

        self._each(sign_up)

    # --- faults -------------------------------------------------------------------------------

    def set_faults(self, rates: dict[str, float]) -> None:
        for n in self.nodes.values():
            n.relay.set_faults(rates)

    def partition(self, a: str, b: str, *, on: bool) -> None:
        for x, y in ((a, b), (b, a)):
            relay = self.nodes[x].relay
            relay.partition(y) if on else relay.unpartition(y)

    def _start(self, n: ChaosNode, attempts: int = 3) -> None:
        """Start a node; if its port was taken meanwhile (by anything on this machine), move it.

        Peers only know the relay's URL, so the node's own port may change between restarts.
        """
        for attempt in range(attempts):
            try:
                n.proc.start(timeout=60)
                return
            except NodeStartError as exc:
                if "in use" not in str(exc) or attempt == attempts - 1:
                    raise
                n.proc.port = free_port()
                n.relay.target_port = n.proc.port
                for client in [n.coord, *n.members]:
                    if client is not None:
                        client.url = n.proc.url

    def restart(self, node_id: str) -> str:
        n = self.nodes[node_id]
        if n.proc.running:
            return "already_running"
        try:
            self._start(n)
        except NodeStartError as exc:
            return f"error:restart_failed {str(exc)[-400:]}"
        if n.offset:
            n.proc.advance_clock(n.offset)
        return "ok"

    def advance(self, node_id: str, seconds: int) -> str:
        n = self.nodes[node_id]
        n.offset += seconds
        if not n.proc.running:
            return "later"  # applied when it restarts
        try:
            n.proc.advance_clock(seconds)
        except (requests.RequestException, AssertionError):
            return "down"  # it died meanwhile; the restart applies the whole offset
        return "ok"

    def heal(self) -> list[str]:
        """Switch every fault off and restart every dead node; returns restart failures."""
        for n in self.nodes.values():
            n.relay.heal()
        return [
            f"{n.node_id}: {out}" for n in self.nodes.values() if (out := self.restart(n.node_id)).startswith("error")
        ]

    # --- quiet ----------------------------------------------------------------------------------

    def backlog(self) -> list[str]:
        """What is still in flight: unacknowledged channel entries and pending outgoing transfers."""
        out = []
        for n in self.nodes.values():
            for p in n.coord.call("GET", "/federation/peers", expect=200).json()["peers"]:
                if p["entries_pending"]:
                    out.append(
                        f"{n.node_id}->{p['node_id']}: {p['entries_pending']} pending "
                        f"(failures {p['failures']}, last error {p['last_error'][:160]!r})"
                    )
            pending = NodeView(n.node_id, n.data_dir).one(
                "select count(*) from fed_transfers where direction='out' and status='pending'"
            )
            if pending:
                out.append(f"{n.node_id}: {pending} outgoing transfers pending")
            rounds = open_rounds(NodeView(n.node_id, n.data_dir))
            if rounds:
                out.append(f"{n.node_id}: clearing rounds not over: {rounds}")
            disputes = disputes_ending(NodeView(n.node_id, n.data_dir))
            if disputes:
                out.append(f"{n.node_id}: disputes waiting for an agreeing checkpoint: {disputes}")
        return out

    def wait_quiet(self, timeout: float, *, max_advance: int = 3600) -> list[str]:
        """Wait until nothing is in flight, then freeze every node on that state; [] when frozen quiet.

        Sweeps keep writing on their own (reviewer pools, clearing rounds), so a quiet answer from
        the API can be stale by the time the nodes stop. Instead every node gets SIGSTOP at once and
        the databases are read: only a cut where nothing is unacknowledged or pending is accepted,
        and the nodes are then killed on exactly that state (the invariants read it). Otherwise they
        go on, and the clocks move forward in steps to skip retry backoff.
        """
        deadline = time.monotonic() + timeout
        advanced, last_step = 0, time.monotonic()
        while True:
            left = self.backlog()
            if not left:
                self._signal_all(signal.SIGSTOP)
                left = self.frozen_backlog()
                if not left:
                    return []
                self._signal_all(signal.SIGCONT)
            if time.monotonic() > deadline:
                return left
            if time.monotonic() - last_step > 2 and advanced < max_advance:
                for n in self.nodes.values():  # one node after another: the spread grows by one step at most
                    self.advance(n.node_id, CLOCK_STEP)
                advanced += CLOCK_STEP
                last_step = time.monotonic()
            time.sleep(0.3)

    def _signal_all(self, sig: int) -> None:
        for n in self.nodes.values():
            n.proc.signal(sig)  # its whole process group, if it runs
        if sig == signal.SIGSTOP:
            # kill() returns before the target has stopped: a commit could still land after our read.
            for n in self.nodes.values():
                if n.proc.running:
                    _wait_stopped(n.proc.pid)

    def frozen_backlog(self) -> list[str]:
        """What the databases of the stopped nodes still hold in flight (read directly, not via the API)."""
        out = []
        for n in self.nodes.values():
            view = NodeView(n.node_id, n.data_dir)
            try:
                unacked = view.one(
                    "select count(*) from fed_channel_entries where direction='out' and acked_at is null"
                )
                pending = view.one("select count(*) from fed_transfers where direction='out' and status='pending'")
                rounds = open_rounds(view)
                disputes = disputes_ending(view)
            except sqlite3.Error as exc:
                return [f"{n.node_id}: database not readable while frozen ({exc})"]
            if unacked or pending or rounds or disputes:
                out.append(
                    f"{n.node_id}: {unacked} entries unacknowledged, {pending} transfers pending, "
                    f"rounds not over {rounds}, disputes waiting {disputes} (frozen)"
                )
        return out

    def kill_all(self) -> None:
        """Kill every node where it stands (frozen or running): its database keeps what it committed."""
        self._each(lambda n: n.proc.kill9())

    def close(self) -> None:
        """Kill whatever still runs and shut the relays (safe to call twice)."""
        for n in self.nodes.values():
            n.proc.kill9()
            for client in [n.coord, *n.members]:
                if client is not None:
                    client.close()
            try:
                n.relay.close()
            except OSError:
                pass


def _wait_stopped(pid: int, timeout: float = 5.0) -> None:
    """Wait until every thread of the process is stopped (state T in /proc), or it is gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            return  # gone
        try:
            states = [
                Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                for tid in os.listdir(f"/proc/{pid}/task")
            ]
        except FileNotFoundError:  # a thread ended while we looked: look again
            continue
        if all(state in ("T", "t", "Z", "X") for state in states):
            return
        time.sleep(0.005)
    raise RuntimeError(f"process {pid} did not stop within {timeout}s")
