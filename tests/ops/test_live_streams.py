"""Live updates as production runs them: gunicorn gthread workers behind the nginx example.

Event streams pass through nginx event by event, a payment handled by either worker reaches every open stream
of its payee, and the per-process cap on streams keeps threads free for ordinary requests.
"""

from __future__ import annotations

import queue
import subprocess
import threading

import pytest
import requests

from deploy.processes import gunicorn
from tests.federation.conftest import FAST
from tests.procs import NodeProcess, free_port

from .test_proxy import NGINX, _nginx_config, _Public, _self_signed

pytestmark = [pytest.mark.slow, pytest.mark.skipif(NGINX is None, reason="nginx is not installed")]
THREADS, MAX_STREAMS = 4, 2  # per worker: two threads always stay for ordinary requests


def read_events(response, found: queue.Queue) -> None:
    """Put (name, data line) of each event of a streamed answer into `found`, until it ends."""
    name = ""
    try:
        for line in response.iter_lines(chunk_size=1, decode_unicode=True):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                found.put((name, line[6:]))
    except Exception:  # the test closed the answer under the reading thread
        pass
    found.put(None)


def test_streams_through_nginx_and_gunicorn_threads(tmp_path, monkeypatch):
    folder = tmp_path / "nginx"
    folder.mkdir()
    cert, key = _self_signed(folder)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    https_port = free_port()
    public = f"https://localhost:{https_port}"
    settings = {**FAST, "base_url": public, "proxy_fix": 1, "live_max_streams": MAX_STREAMS, "live_stream_seconds": 60}
    node = NodeProcess(tmp_path / "lv", "lv", settings=settings).init()
    web = gunicorn(node, workers=2, threads=THREADS)
    conf = _nginx_config(folder, https_port=https_port, http_port=free_port(), upstream=node.port, cert=cert, key=key)
    subprocess.run([NGINX, "-t", "-c", str(conf)], check=True, capture_output=True)
    subprocess.run([NGINX, "-c", str(conf)], check=True, capture_output=True)
    streams = []
    try:
        web.start()
        web.wait_healthy(node.url, path="/readyz", timeout=60, interval=0.1)
        site = _Public(node, public)
        payer, payee = site.new_member("pia"), site.new_member("paul")
        found: queue.Queue = queue.Queue()
        answers = []
        for _ in range(2 * MAX_STREAMS + 1):  # more than both workers may hold: some are refused, never blocked
            response = requests.get(
                f"{public}/api/v1/events",
                headers={"Authorization": f"Bearer {payee.api_token}"},
                stream=True,
                timeout=90,
            )
            answers.append(response.status_code)
            if response.status_code == 200:
                assert response.headers["Content-Type"].startswith("text/event-stream")
                streams.append(response)
                threading.Thread(target=read_events, args=(response, found), daemon=True).start()
            else:
                assert response.status_code == 503 and int(response.headers["Retry-After"]) >= 1, response.text
                response.close()
        assert 1 <= len(streams) <= 2 * MAX_STREAMS and 503 in answers, answers
        for _ in range(20):  # the streams hold threads, yet every ordinary request is answered
            assert requests.get(f"{public}/api/v1/me", headers={"Authorization": f"Bearer {payee.api_token}"}).ok
        assert payer.transfer("paul", 3, "through nginx").status_code == 201
        payments = []
        while len(payments) < len(streams):  # each open stream gets it, whichever worker holds it
            event = found.get(timeout=90)
            assert event is not None, "a stream ended before the payment came"
            if event[0] == "payment":
                payments.append(event[1])
        assert all('"memo":"through nginx"' in data for data in payments)
    finally:
        for response in streams:
            response.close()
        subprocess.run([NGINX, "-c", str(conf), "-s", "stop"], capture_output=True)
        web.kill9()
