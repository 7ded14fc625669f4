"""Keep-alive between real node processes: deliveries share one connection; a broken one is tried once more."""

from __future__ import annotations

import http.client
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from deploy.processes import peer, peer_both
from tests.procs import NodeProcess

from .conftest import FAST, check_books, peer_state, wait_until

pytestmark = pytest.mark.slow
INBOX = "/federation/v1/inbox"
HOP_HEADERS = {"connection", "keep-alive", "content-length", "transfer-encoding", "host"}


def received(node: NodeProcess) -> dict:
    """Per sending peer, the federation requests the node answered and over how many connections (a /_test/ hook)."""
    return requests.get(f"{node.url}/_test/federation/connections", timeout=30).json()["peers"]


def test_deliveries_to_a_peer_share_one_connection_each_way(node_process):
    # No sweep runs within the hour (the first one comes after sweep_seconds): no checkpoint or retry can
    # rightly take a second connection while a delivery holds one; the delivery thread sends everything.
    a = node_process("be-vl", **{**FAST, "sweep_seconds": 3600})
    b = node_process("hu", **{**FAST, "sweep_seconds": 3600})
    peer_both(a, b)
    payer, payee = a.new_member("keen"), b.new_member("kept")
    for n in range(1, 6):
        assert payer.transfer("kept@hu", 1).status_code == 201
        wait_until(lambda: peer_state(a, "hu")["entries_pending"] == 0, what=f"payment {n} acknowledged")
    wait_until(lambda: payee.balance() == 15, what="every payment applied")
    wait_until(lambda: peer_state(b, "be-vl")["entries_pending"] == 0, what="every receipt acknowledged")
    from_a, from_b = received(b)["be-vl"], received(a)["hu"]
    # be-vl asked about the payee once and delivered five transfers. hu handed each receipt back in its answer and
    # delivered only what be-vl had not acknowledged after the grace: the last receipt at least, at most all five
    # (how many depends on the time between payments; test_handback.py counts them with a grace that never ends).
    assert from_a["requests"] == 6 and 1 <= from_b["requests"] <= 5, (from_a, from_b)
    assert (from_a["connections"], from_b["connections"]) == (1, 1), (from_a, from_b)


class Relay(ThreadingHTTPServer):
    """A keep-alive HTTP/1.1 relay in front of one node that can swallow the answer to the next inbox POST."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RelayHandler)
        self.target_port = 0
        self.drop_next_inbox_answer = False
        self.connections = 0
        self.inbox_posts: list[tuple[int, int, str]] = []  # (connection, requests it carried before, outcome)
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _RelayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Relay

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1
            self.number, self.carried = self.server.connections, 0

    def log_message(self, format, *args) -> None:
        return

    def _any(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.target_port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
        upstream.request(self.command, self.path, body=body, headers=headers)
        answer = upstream.getresponse()
        data, status = answer.read(), answer.status
        upstream.close()
        drop = False
        if self.command == "POST" and self.path == INBOX:
            with self.server.lock:
                drop, self.server.drop_next_inbox_answer = self.server.drop_next_inbox_answer, False
                self.server.inbox_posts.append((self.number, self.carried, "dropped" if drop else str(status)))
        self.carried += 1
        if drop:  # the node applied the batch; the sender's connection ends without an answer
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(status)
        self.send_header("Content-Type", answer.getheader("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _any


@pytest.fixture
def relayed(tmp_path):
    """be-vl and hu, hu reached by be-vl only through a Relay (hu's base URL); be-vl runs no sweep within the hour."""
    relay = Relay()
    threading.Thread(target=relay.serve_forever, daemon=True).start()
    a = NodeProcess(tmp_path / "be-vl", "be-vl", settings={**FAST, "sweep_seconds": 3600})
    b = NodeProcess(tmp_path / "hu", "hu", settings={**FAST, "base_url": relay.url})
    relay.target_port = b.port
    try:
        a.init().start()
        b.init().start()
        peer(a, b)  # added by its direct URL; its document names the relay as its base URL
        peer(b, a)
        yield a, b, relay
    finally:
        a.kill9()
        b.kill9()
        relay.shutdown()
        relay.server_close()


def test_a_broken_kept_alive_connection_is_tried_once_more_and_the_entry_applies_once(relayed):
    a, b, relay = relayed
    payer, payee = a.new_member("brisk"), b.new_member("steady")
    assert payer.transfer("steady@hu", 1).status_code == 201
    wait_until(lambda: peer_state(a, "hu")["entries_pending"] == 0, what="first payment acknowledged")
    relay.drop_next_inbox_answer = True
    assert payer.transfer("steady@hu", 2).status_code == 201
    # No sweep retries within the hour: only the immediate retry can bring the acknowledgement.
    wait_until(lambda: peer_state(a, "hu")["entries_pending"] == 0, what="second payment acknowledged")
    state = peer_state(a, "hu")
    assert (state["failures"], state["last_error"]) == (0, ""), state
    assert [outcome for _, _, outcome in relay.inbox_posts] == ["200", "dropped", "200"], relay.inbox_posts
    _, dropped, retried = relay.inbox_posts
    assert dropped[1] > 0, relay.inbox_posts  # the connection that broke had carried requests before: kept alive
    assert retried[0] != dropped[0], relay.inbox_posts  # the retry went over a new connection
    wait_until(lambda: payee.balance() == 13, what="both payments applied")
    wait_until(lambda: peer_state(b, "be-vl")["entries_pending"] == 0, what="receipts acknowledged")
    assert payee.balance() == 13 and payer.balance() == 7  # the re-sent batch moved nothing twice
    assert peer_state(a, "hu")["position"] == 3 and peer_state(b, "be-vl")["position"] == -3
    check_books(a)
    check_books(b)
