"""A stream whose client left frees its gunicorn thread within a second, not at its next heartbeat.

One worker with two threads, the heartbeat five minutes away: a member opens a stream and leaves the page, then
opens another. Until the first stream notices its client is gone, both threads are held and an ordinary request
waits; once it notices, the request is answered. (Before, it waited for the heartbeat: here five minutes.)
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
import requests

from deploy.processes import gunicorn
from tests.federation.conftest import FAST
from tests.procs import NodeProcess

pytestmark = pytest.mark.slow
WAIT = 30  # seconds an ordinary request may wait: far below the heartbeat, far above the departure check


def open_stream(url: str, token: str) -> socket.socket:
    """A raw connection with the stream's request sent and its head read: the stream holds a thread now."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=WAIT)
    sock.sendall(
        f"GET /api/v1/events HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    )
    head = b""
    while b"retry:" not in head:  # the stream's first line: it is open and waiting in a worker thread
        chunk = sock.recv(4096)
        assert chunk, f"the stream closed: {head!r}"
        head += chunk
    assert head.startswith(b"HTTP/1.1 200"), head
    return sock


def test_a_stream_whose_client_left_frees_its_thread(tmp_path):
    settings = {**FAST, "live_heartbeat_seconds": 300, "live_stream_seconds": 3600, "live_max_streams": 2}
    node = NodeProcess(tmp_path / "lv", "lv", settings=settings).init()
    web = gunicorn(node, workers=1, threads=2)
    try:
        web.start()
        web.wait_healthy(node.url, path="/readyz", timeout=60, interval=0.1)
        member = node.new_member("paul", node.coordinator())
        token = str(member.api_token)
        left = open_stream(node.url, token)
        left.close()  # the member left the page
        kept = open_stream(node.url, token)  # a second page: the worker's other thread
        try:
            answer = requests.get(f"{node.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=WAIT)
            assert answer.status_code == 200, answer.text
        finally:
            kept.close()
    finally:
        web.kill9()
