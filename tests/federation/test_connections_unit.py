"""PeerConnections: one session per peer, kept while the peer's URL stays, replaced when it changes, closed at stop."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from federation.transport.connections import PeerConnections, send_signed


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


class _Redirect(_Answer):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(302)
        self.send_header("Location", "/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_a_signed_request_is_not_redirected_and_keeps_its_connection():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Redirect)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    connections, signed = PeerConnections(), []
    try:
        session = connections.session("hu", url)
        answer = send_signed(
            session, "POST", url + "/federation/v1/inbox", b"{}", lambda: signed.append(1) or {}, timeout=5
        )
        assert answer.status_code == 302 and answer.url.endswith("/federation/v1/inbox") and signed == [1]
    finally:
        connections.close()
        httpd.shutdown()
        httpd.server_close()


def test_a_peers_proxy_comes_from_the_environment_once_for_its_url(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example.test:3128")
    monkeypatch.setenv("NO_PROXY", "nl.example.test")
    connections = PeerConnections()
    hu = connections.session("hu", "http://hu.example.test")
    nl = connections.session("nl", "http://nl.example.test")
    monkeypatch.setenv("HTTP_PROXY", "http://other.example.test:3128")  # read when the session was made, not later
    assert hu.proxies.get("http") == "http://proxy.example.test:3128" and not hu.trust_env
    assert "http" not in nl.proxies  # NO_PROXY names it
    connections.close()
