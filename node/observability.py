"""Request ids, one log line per request (text or JSON) and the request counters."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from typing import TextIO

from flask import Flask, g, has_request_context, request

from . import metrics

REQUEST_ID_HEADER = "X-Request-Id"
# A caller's id is kept only when it cannot smuggle anything into a header or a log line.
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
request_log = logging.getLogger("sifnet.request")
_HANDLER_MARK = "_sifnet_handler"


def current_request_id() -> str:
    """The id of the request being answered, or '-' outside a request."""
    if has_request_context():
        return getattr(g, "request_id", "-")
    return "-"


class RequestIdFilter(logging.Filter):
    """Give every record a request_id attribute."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, request fields, exception."""

    FIELDS = ("method", "path", "status", "duration_ms", "endpoint")

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", current_request_id()),
        }
        line.update({k: getattr(record, k) for k in self.FIELDS if hasattr(record, k)})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(settings, stream: TextIO | None = None) -> logging.Handler:
    """Send the root logger's records to stderr (or stream) in the configured format; idempotent."""
    if settings.log_format not in ("text", "json"):
        from .settings import SettingsError

        raise SettingsError(f"setting log_format: expected 'text' or 'json', got {settings.log_format!r}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.addFilter(RequestIdFilter())
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # Alembic narrates every migration check at INFO, once per web worker start: keep that out of the log.
    logging.getLogger("alembic").setLevel(max(root.level, logging.WARNING))
    return handler


def init_app(app: Flask) -> None:
    """Tag each request with an id, echo it, count the request and log one line about it."""

    @app.before_request
    def _start():
        given = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = given if _SAFE_ID.fullmatch(given) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish(response):
        response.headers[REQUEST_ID_HEADER] = getattr(g, "request_id", "-")
        # The rule, not the path: /api/v1/members/7 and /8 are one series, and unknown paths are one too.
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        elapsed = time.perf_counter() - getattr(g, "request_started", time.perf_counter())
        metrics.HTTP_REQUESTS.labels(endpoint=endpoint, method=request.method, status=str(response.status_code)).inc()
        metrics.HTTP_SECONDS.labels(endpoint=endpoint).observe(elapsed)
        request_log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 1),
                "endpoint": endpoint,
            },
        )
        return response
