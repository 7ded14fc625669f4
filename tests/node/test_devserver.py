"""The development server keeps HTTP/1.1 connections open: several requests, answers framed, unread bodies read away."""

from __future__ import annotations

import http.client
import json
import socket
import threading

import pytest
from werkzeug.serving import make_server

from node.devserver import KeepAliveRequestHandler

from .test_web import login


@pytest.fixture
def served(app):
    """The node app behind the development server's handler on a loopback port; yields the port."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=KeepAliveRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.port
    server.shutdown()
    server.server_close()


def connect(port: int) -> http.client.HTTPConnection:
    """An HTTP/1.1 connection that fails instead of silently opening a new one when the server closed it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.connect()
    conn.auto_open = 0
    return conn


def ask(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None, **headers: str):
    conn.request(method, path, body=body, headers=headers)
    answer = conn.getresponse()
    return answer, answer.read()


def test_two_requests_share_one_connection(served):
    conn = connect(served)
    local = conn.sock.getsockname()
    for _ in range(2):
        answer, body = ask(conn, "GET", "/healthz")
        assert answer.status == 200 and json.loads(body)["node_id"] == "be-vl"
        assert answer.getheader("Connection") is None and answer.getheader("Content-Length") == str(len(body))
    assert conn.sock is not None and conn.sock.getsockname() == local
    conn.close()


def test_a_body_the_app_did_not_read_is_read_away_before_the_next_request(served):
    conn = connect(served)
    answer, _ = ask(conn, "GET", "/healthz", b"x" * 5000)  # the view never reads a body
    assert answer.status == 200
    oversized = b'{"entries": ["' + b"y" * (2 * 1024 * 1024) + b'"]}'
    answer, _ = ask(conn, "POST", "/federation/v1/inbox", oversized, **{"Content-Type": "application/json"})
    assert answer.status == 413
    answer, body = ask(conn, "GET", "/healthz")  # not read as the rest of a body
    assert answer.status == 200 and json.loads(body)["node_id"] == "be-vl"
    conn.close()


def test_a_streamed_answer_is_chunked_and_the_connection_goes_on(app, make_member, served):
    make_member("anna")
    browser = app.test_client()
    login(browser, "anna@example.org")
    cookie = f"sifnet_be-vl={browser.get_cookie('sifnet_be-vl').value}"
    conn = connect(served)
    answer, body = ask(conn, "GET", "/statement.csv", Cookie=cookie)
    assert answer.status == 200 and answer.getheader("Transfer-Encoding") == "chunked"
    assert answer.getheader("Content-Length") is None and b"Welcome grant" in body
    answer, _ = ask(conn, "GET", "/healthz")
    assert answer.status == 200
    conn.close()


@pytest.mark.parametrize(
    "request_head",
    [b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"GET /healthz HTTP/1.0\r\n\r\n"],
    ids=["connection-close", "http-1.0"],
)
def test_a_client_that_asks_to_close_or_speaks_http_1_0_gets_one_answer_and_the_close(served, request_head):
    with socket.create_connection(("127.0.0.1", served), timeout=10) as sock:
        sock.sendall(request_head)
        received = b""
        while chunk := sock.recv(65536):  # ends only when the server closes the connection
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].endswith(b"200 OK") and b"Connection: close" in head
    assert json.loads(body)["node_id"] == "be-vl"


@pytest.mark.slow
def test_sifnet_node_run_answers_two_requests_on_one_connection(node_process):
    node = node_process("be-vl")
    conn = connect(node.port)
    local = conn.sock.getsockname()
    for _ in range(2):
        answer, body = ask(conn, "GET", "/healthz")
        assert answer.status == 200 and json.loads(body)["node_id"] == "be-vl"
    assert conn.sock.getsockname() == local
    conn.close()
