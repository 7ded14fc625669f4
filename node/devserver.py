"""The development server of `sifnet node run` (and `sifnet directory run`): werkzeug's, with HTTP/1.1 keep-alive.

werkzeug's own request handler ends every answer with `Connection: close`, since http.server does
not know where a request body the application left unread ends. This handler frames both
directions instead, so one connection carries request after request, as gunicorn and nginx do: the
request body is read through its Content-Length (what the application leaves unread is read away
afterwards), and an answer without a Content-Length is sent chunked. Whatever cannot be framed
(a chunked or doubtful request body, an HTTP/1.0 client, an answer that failed half-way) closes the
connection after its answer, as before.
"""

from __future__ import annotations

import re
import socket
import traceback
from typing import IO, cast

from werkzeug.exceptions import InternalServerError
from werkzeug.serving import WSGIRequestHandler, run_simple
from werkzeug.wsgi import LimitedStream

IDLE_SECONDS = 75  # how long a kept-alive connection waits for its next request (nginx's default for clients)
DRAIN_LIMIT = 16 * 1024 * 1024  # an unread request body up to this is read away; a longer one closes the connection
_DIGITS = re.compile(r"[0-9]{1,18}")


def serve(app, host: str, port: int) -> None:
    """Serve the app on host:port with a thread per connection until interrupted."""
    run_simple(host, port, app, threaded=True, use_reloader=False, request_handler=KeepAliveRequestHandler)


class KeepAliveRequestHandler(WSGIRequestHandler):
    """werkzeug's WSGI request handler, keeping the connection open for the next request where that is safe."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_SECONDS  # a socket timeout: an idle connection (or a stalled client) ends its thread

    def setup(self) -> None:
        super().setup()
        # Head and body are separate writes; without this, Nagle's algorithm holds the body back until the
        # client acknowledges the head, which a kept-alive client may delay by up to 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_error(self, format: str, *args) -> None:
        # http.server reports a connection that timed out waiting for its next request as an error; for a
        # kept-alive connection that is its normal end.
        if not format.startswith("Request timed out"):
            super().log_error(format, *args)

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if self.request_version != "HTTP/1.1":
            self.close_connection = True
        self.environ = environ = self.make_environ()
        body = self._framed_body(environ)
        answer = _Answer(self, environ)
        try:
            answer.run(self.server.app)
        except (ConnectionError, TimeoutError) as exc:
            self.close_connection = True
            self.connection_dropped(exc, environ)
            return
        except Exception:
            if self.server.passthrough_errors:
                raise
            self._answer_error(answer)
        if not self.close_connection:
            self._read_away(body)

    def _framed_body(self, environ) -> LimitedStream | None:
        """Put the request body behind its Content-Length, so that its end is known; None closes the connection."""
        if environ.get("wsgi.input_terminated"):  # a chunked body (werkzeug dechunks it): its end is not tracked
            self.close_connection = True
            return None
        lengths = self.headers.get_all("Content-Length") or []
        if len(lengths) > 1 or (lengths and not _DIGITS.fullmatch(lengths[0].strip())):
            self.close_connection = True
            return None
        body = LimitedStream(cast(IO[bytes], self.rfile), int(lengths[0]) if lengths else 0)  # a binary stream
        environ["wsgi.input"] = body
        return body

    def _read_away(self, body: LimitedStream | None) -> None:
        """Read what the application left of the request body, so the next request starts where it should."""
        if body is None or body.is_exhausted:
            return
        if body.limit > DRAIN_LIMIT:
            self.close_connection = True
            return
        try:
            while body.read(65536):
                pass
        except Exception:  # the client went away or stalled: no next request on this connection
            self.close_connection = True

    def _answer_error(self, answer: _Answer) -> None:
        """A 500 for an application error; after a half-sent answer only closing the connection is left."""
        self.log_error("Error on request:\n%s", traceback.format_exc())
        if answer.status_sent:
            self.close_connection = True
            return
        answer.reset()
        try:
            answer.run(InternalServerError())
        except Exception:
            self.close_connection = True


class _Answer:
    """One WSGI answer written to the handler's connection, framed by Content-Length or chunked encoding."""

    def __init__(self, handler: KeepAliveRequestHandler, environ) -> None:
        self.handler, self.environ = handler, environ
        self.reset()

    def reset(self) -> None:
        self.status_line: str | None = None
        self.headers: list[tuple[str, str]] | None = None
        self.status_sent = False
        self.chunked = False

    def run(self, app) -> None:
        result = app(self.environ, self.start_response)
        try:
            for data in result:
                self.write(data)
            if not self.status_sent:
                self.write(b"")
            if self.chunked:
                self.handler.wfile.write(b"0\r\n\r\n")
        finally:
            if hasattr(result, "close"):
                result.close()

    def start_response(self, status, headers, exc_info=None):
        if exc_info:
            try:
                if self.status_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.headers is not None:
            raise AssertionError("Headers already set")
        self.status_line, self.headers = status, headers
        return self.write

    def write(self, data: bytes) -> None:
        assert self.status_line is not None and self.headers is not None, "write() before start_response"
        if not self.status_sent:
            self._send_head()
        if data:
            self.handler.wfile.write(b"%x\r\n%b\r\n" % (len(data), data) if self.chunked else data)
        self.handler.wfile.flush()

    def _send_head(self) -> None:
        handler = self.handler
        assert self.status_line is not None and self.headers is not None, "write() before start_response"
        code, _, reason = self.status_line.partition(" ")
        handler.send_response(int(code), reason)
        names = set()
        for name, value in self.headers:
            handler.send_header(name, value)  # an application's own `Connection: close` is honoured here
            names.add(name.lower())
        bodiless = self.environ["REQUEST_METHOD"] == "HEAD" or int(code) < 200 or int(code) in (204, 304)
        # A streamed answer (no Content-Length) is chunked, unless the close that follows ends it anyway.
        if not bodiless and "content-length" not in names and not handler.close_connection:
            self.chunked = True
            handler.send_header("Transfer-Encoding", "chunked")
        if handler.close_connection and "connection" not in names:
            handler.send_header("Connection", "close")
        handler.end_headers()
        self.status_sent = True
