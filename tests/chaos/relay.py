"""A fault-injecting HTTP relay in front of one node: drops, duplicates, delays, reorders and partitions.

Each node's base_url is its relay's URL, so every federation request to the node passes
through here (the RFC 9421 signature covers the relay URL, which is the node's own view of
itself). Only /federation/v1/* gets faults; the node document and everything else pass through.
Each request draws its fate from the relay's own seeded RNG, in arrival order: the sequence of
decisions replays for a seed; which request meets which decision depends on real timing.
"""

from __future__ import annotations

import http.client
import random
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTED_PREFIX = "/federation/v1/"
# Per-request faults, in the order a draw is mapped onto them.
KINDS = ("drop_before", "drop_after", "duplicate", "delay", "reorder")
HOP_HEADERS = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "proxy-connection",
    "te",
    "upgrade",
    "trailer",
}
REORDER_HOLD_SECONDS = 2.0
UPSTREAM_TIMEOUT = 30.0


@dataclass
class FaultConfig:
    """Which per-request faults are on and how often each fires (a probability per request)."""

    rates: dict[str, float] = field(default_factory=dict)

    def enabled(self) -> dict[str, float]:
        return {k: r for k, r in self.rates.items() if r > 0}


@dataclass(frozen=True)
class Upstream:
    """What the node answered (or None when it could not be reached)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


class Relay:
    """One relay: a threaded HTTP server on its own loopback port forwarding to one node."""

    def __init__(self, node_id: str, target_port: int, seed: str, *, port: int = 0) -> None:
        self.node_id = node_id
        self.target_port = target_port
        self.rng = random.Random(seed)
        self.config = FaultConfig()
        self.active = False  # faults fire only while active; heal() switches everything off
        self.partitions: set[frozenset[str]] = set()
        self.counts: Counter[str] = Counter()  # faults injected, per kind
        self.seen: Counter[str] = Counter()  # what passed: forwarded, upstream_down, upstream_5xx
        self.errors_5xx: list[str] = []
        self._lock = threading.Lock()
        self._held: threading.Event | None = None
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self.server.daemon_threads = True
        self.server.relay = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, name=f"relay-{node_id}", daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Relay:
        self.thread.start()
        return self

    def close(self) -> None:
        self.heal()
        self.server.shutdown()
        self.server.server_close()

    # --- switches -------------------------------------------------------------------------------

    def set_faults(self, rates: dict[str, float]) -> None:
        unknown = set(rates) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        with self._lock:
            self.config = FaultConfig(dict(rates))
            self.active = True

    def partition(self, other: str) -> None:
        """Refuse all federation traffic from `other` to this node until unpartitioned."""
        with self._lock:
            self.partitions.add(frozenset((self.node_id, other)))

    def unpartition(self, other: str) -> None:
        with self._lock:
            self.partitions.discard(frozenset((self.node_id, other)))

    def heal(self) -> None:
        """Every fault off, every partition lifted, a held request released."""
        with self._lock:
            self.active = False
            self.partitions.clear()
            held, self._held = self._held, None
        if held is not None:
            held.set()

    # --- per request ----------------------------------------------------------------------------

    def decide(self, path: str, sender: str) -> tuple[str, dict]:
        """This request's fate and its parameters, drawn under the lock so the sequence replays."""
        if not path.startswith(FAULTED_PREFIX):
            return "pass", {}
        with self._lock:
            if frozenset((self.node_id, sender)) in self.partitions:
                self.counts["partition"] += 1
                return "partition", {"close": True}  # no answer at all, as from a cut network
            if not self.active:
                return "pass", {}
            draw, params = self.rng.random(), {"x": self.rng.random(), "y": self.rng.random()}
            edge = 0.0
            for kind in KINDS:
                edge += self.config.rates.get(kind, 0.0)
                if draw < edge:
                    if kind == "reorder":
                        if self._held is not None:  # one request held at a time
                            return "pass", {}
                        self._held = threading.Event()
                        params["event"] = self._held
                    self.counts[kind] += 1
                    return kind, params
        return "pass", {}

    def release_held(self, own: threading.Event | None = None) -> None:
        """A request went through: let the held one (not ourselves) follow it."""
        with self._lock:
            held = self._held
            if held is None or held is own:
                return
            self._held = None
        held.set()

    def forward(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> Upstream | None:
        conn = http.client.HTTPConnection("127.0.0.1", self.target_port, timeout=UPSTREAM_TIMEOUT)
        try:
            send_headers = {k: v for k, v in headers if k.lower() not in HOP_HEADERS}
            send_headers["Content-Length"] = str(len(body))
            send_headers["Connection"] = "close"
            conn.request(method, path, body=body, headers=send_headers)
            resp = conn.getresponse()
            out = Upstream(
                resp.status, [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_HEADERS], resp.read()
            )
        except (OSError, http.client.HTTPException):
            with self._lock:
                self.seen["upstream_down"] += 1
            return None
        finally:
            conn.close()
        with self._lock:
            self.seen["forwarded"] += 1
            if out.status >= 500 and path.startswith(FAULTED_PREFIX):
                self.seen["upstream_5xx"] += 1
                self.errors_5xx.append(f"{method} {path} -> {out.status}: {out.body[:200]!r}")
        return out


class _Handler(BaseHTTPRequestHandler):
    """Reads the request whole, asks the relay its fate, acts it out."""

    protocol_version = "HTTP/1.0"  # one request per connection: a dropped answer is a closed socket

    def log_message(self, format, *args) -> None:
        return

    def _any(self) -> None:
        relay: Relay = self.server.relay  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = list(self.headers.items())
        fate, p = relay.decide(self.path, self.headers.get("Sifnet-From", ""))
        if fate == "partition" or fate == "drop_before":
            return self._refuse(close=p.get("close", p.get("x", 0) < 0.5))
        if fate == "delay":
            time.sleep(0.1 + 1.9 * p["x"])
        if fate == "reorder":
            p["event"].wait(REORDER_HOLD_SECONDS)
        if fate == "duplicate":
            answer = self._duplicate(relay, headers, body, p)
        else:
            answer = relay.forward(self.command, self.path, headers, body)
        relay.release_held(p.get("event"))
        if answer is None:
            return self._send(
                502, [("Content-Type", "application/json")], b'{"error": {"code": "relay_upstream_down"}}'
            )
        if fate == "drop_after":  # the node applied it; the sender never hears
            return self._refuse(close=p["y"] < 0.7)
        self._send(answer.status, answer.headers, answer.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any

    def _duplicate(self, relay: Relay, headers, body: bytes, p: dict) -> Upstream | None:
        """Forward the same request twice, one after the other or both at once; answer one of them."""
        if p["x"] < 0.5:
            first = relay.forward(self.command, self.path, headers, body)
            second = relay.forward(self.command, self.path, headers, body)
        else:
            results: list = [None, None]

            def go(i: int) -> None:
                results[i] = relay.forward(self.command, self.path, headers, body)

            threads = [threading.Thread(target=go, args=(i,)) for i in (0, 1)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            first, second = results
        return first if p["y"] < 0.5 else (second or first)

    def _refuse(self, *, close: bool) -> None:
        if close:  # the sender sees the connection drop without an answer
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._send(503, [("Content-Type", "application/json")], b'{"error": {"code": "relay_dropped"}}')

    def _send(self, status: int, headers, body: bytes) -> None:
        try:
            self.send_response(status)
            for k, v in headers:
                if k.lower() not in ("server", "date"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:  # the sender gave up first
            pass
