"""The application factory: wires settings, database, API, web UI (and later federation)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, request
from flask.json.provider import DefaultJSONProvider
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from .clock import SystemClock, iso
from .context import NodeContext
from .db import Database
from .errors import DomainError
from .services.counterparties import register_describers
from .services.export import register_parts as register_export_parts
from .services.members import password_hasher
from .settings import Settings, load_settings
from .sweeps import register_sweeps

# What a member reads for an HTTP error that carries werkzeug's own (English) description.
HTTP_MESSAGES = {
    400: _l("The request could not be understood."),
    403: _l("You may not open this page."),
    404: _l("Nothing was found at this address."),
    405: _l("This page cannot be used that way."),
    413: _l("What was sent is too large."),
    429: _l("Too many requests; please wait a moment and try again."),
    500: _l("Something went wrong on the node. Please try again later."),
}


def http_message(exc: HTTPException) -> str:
    """The error's description; werkzeug's default one in the reader's language where we have it."""
    if exc.description == type(exc).description and exc.code in HTTP_MESSAGES:
        return str(HTTP_MESSAGES[exc.code])
    return exc.description or exc.name


class JSONProvider(DefaultJSONProvider):
    """Times as ISO 8601 UTC with a Z, never the HTTP-date default."""

    @staticmethod
    def default(o: Any) -> Any:
        if isinstance(o, datetime):
            return iso(o)
        if isinstance(o, date):
            return o.isoformat()
        return DefaultJSONProvider.default(o)


def create_app(
    test_config: Mapping[str, Any] | None = None,
    *,
    clock: SystemClock | None = None,
    settings: Settings | None = None,
    start_delivery: bool = True,
) -> Flask:
    """Build a node app; test_config overrides settings by name."""
    settings = settings or load_settings(test_config)
    data_path = settings.data_path
    data_path.mkdir(parents=True, exist_ok=True)
    app = Flask(__name__)
    app.json_provider_class = JSONProvider
    app.json = JSONProvider(app)
    app.config.update(
        SECRET_KEY=settings.secret_key or _secret_key(data_path),
        MAX_CONTENT_LENGTH=1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME=f"sifnet_{settings.node_id}",
    )
    db = Database(settings.db_url)
    db.upgrade()
    ctx = NodeContext(settings=settings, db=db, clock=clock or SystemClock(), hasher=password_hasher(settings))
    app.extensions["sifnet"] = ctx
    register_sweeps(ctx.sweeps)
    register_describers(ctx.statement_kinds)
    register_export_parts(ctx.export_parts)

    from . import api, i18n, idempotency, live, ops, security_headers, web
    from .web.pages import viewer

    ops.init_app(app)  # first: every later hook and log line sees the request id
    security_headers.init_app(app)
    i18n.init_app(
        app, default_language=settings.default_language, time_zone=settings.time_zone, unit=settings.unit, viewer=viewer
    )
    live.init_app(app)
    api.init_app(app)
    web.init_app(app)
    idempotency.init_app(app)  # after web: its before_request runs once the CSRF check passed
    # The one place node reaches into federation: the factory wires it in (imports flow protocol <- node <- federation).
    if settings.federation:
        from federation import init_app as init_federation

        init_federation(app, start_delivery=start_delivery)
    _register_error_handlers(app)
    _register_test_hooks(app, ctx)
    return app


def _secret_key(data_path: Path) -> str:
    """Read the node's session secret, creating it (mode 0600) on first start."""
    path = data_path / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


# Signed node-to-node endpoints: every answer there is the wire protocol's JSON error (protocol/SPEC.md).
FEDERATION_PREFIXES = ("/federation/", "/.well-known/sifnet-node")
# The codes SPEC's error table gives the framework's own refusals on those paths.
FEDERATION_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/_test/", *FEDERATION_PREFIXES))


def _register_error_handlers(app: Flask) -> None:
    """Domain errors become HTTP answers here, and nowhere else."""

    @app.errorhandler(DomainError)
    def _domain_error(exc: DomainError):
        if wants_json():
            response = app.make_response((jsonify({"error": exc.to_dict()}), exc.status))
        else:
            from .web.pages import render_error

            response = app.make_response(render_error(exc.status, exc.code, exc.message))
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        if request.path.startswith(FEDERATION_PREFIXES):
            code = FEDERATION_HTTP_CODES.get(exc.code or 500, code)
        if request.path.startswith(FEDERATION_PREFIXES):  # peers read the code; the description stays as sent
            return jsonify({"error": {"code": code, "message": exc.description or exc.name}}), exc.code
        if wants_json():
            return jsonify({"error": {"code": code, "message": http_message(exc)}}), exc.code
        from .web.pages import render_error

        return render_error(exc.code or 500, code, http_message(exc))


def _register_test_hooks(app: Flask, ctx: NodeContext) -> None:
    """Development/test only: move the node's clock so tests need not sleep through deadlines; read its mails."""
    if not ctx.settings.allow_clock_control:
        return

    @app.post("/_test/clock")
    def _advance_clock():
        from .api.base import json_body

        seconds = json_body().get("advance_seconds", 0)
        if isinstance(seconds, bool) or not isinstance(seconds, int) or not 0 <= seconds <= 10**8:
            return jsonify({"error": {"code": "invalid_input", "message": "advance_seconds: 0..1e8"}}), 422
        ctx.clock.advance(seconds)
        return jsonify({"now": ctx.now()})

    @app.get("/_test/mails")
    def _mails():
        """The mails the development mail folder holds for one address, oldest first (process tests read the
        links that sign-up and password mails carry, as a member reads their mailbox)."""
        from email import message_from_bytes, policy

        to = request.args.get("to", "").strip().lower()
        folder = ctx.settings.data_path / "mail"
        found = []
        for path in sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
            mail = message_from_bytes(path.read_bytes(), policy=policy.default)
            if str(mail["To"]).lower() == to:
                found.append({"subject": str(mail["Subject"]), "body": mail.get_content()})
        return jsonify({"mails": found})

    @app.post("/_test/echo")
    def _echo():
        """The server stack's bare rate for benchmarks/ledger.py: parse a JSON body, answer it, no database."""
        from .api.base import json_body

        return jsonify(json_body()), 201
