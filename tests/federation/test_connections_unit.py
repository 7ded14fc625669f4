"""PeerConnections: one session per peer, kept while the peer's URL stays, replaced when it changes, closed at stop."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from federation.transport.connections import PeerConnections


class _Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        port = str(self.client_address[1]).encode()
        self.send_response(200)
        self.send_header("Set-Cookie", "tracking=1; Path=/")
        self.send_header("Content-Length", str(len(port)))
        self.end_headers()
        self.wfile.write(port)

    def log_message(self, format, *args) -> None:
        return


@pytest.fixture
def server():
    """A keep-alive HTTP/1.1 server that answers each request with the client's port (and a cookie)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_peer_keeps_its_session_and_connection_until_its_url_changes(server):
    connections = PeerConnections()
    first = connections.session("hu", server)
    ports = {first.get(server, timeout=5).text for _ in range(3)}
    assert connections.session("hu", server) is first and len(ports) == 1  # one connection, reused
    moved = connections.session("hu", server + "/")
    assert moved is not first and moved.get(server, timeout=5).text not in ports  # a new session, a new connection
    assert connections.session("nl", server) is not moved  # another peer has its own
    connections.close()
    assert connections.session("hu", server + "/") is not moved
    connections.close()


def test_a_session_keeps_no_cookies(server):
    connections = PeerConnections()
    session = connections.session("hu", server)
    assert session.get(server, timeout=5).headers["Set-Cookie"] == "tracking=1; Path=/"
    assert len(session.cookies) == 0
    connections.close()
