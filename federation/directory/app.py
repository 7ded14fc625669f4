"""The directory service's app factory: settings, its own database and key, pages, API, and the poller."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, abort, jsonify, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from federation import labels
from node import formats, i18n
from node.app import JSONProvider, _secret_key
from node.clock import SystemClock
from node.errors import DomainError
from node.security_headers import init_app as init_security_headers

from .settings import DirectorySettings, load_settings
from .store import open_directory

# What a refused request says when nothing more precise was given (werkzeug's own texts are English only).
HTTP_TEXTS = {
    400: _l("The request could not be understood."),
    404: _l("There is no page at this address."),
    405: _l("This address does not take that kind of request."),
    413: _l("What was sent is too large."),
    500: _l("Something went wrong on the directory's side."),
}


def create_app(
    test_config: Mapping[str, Any] | None = None,
    *,
    settings: DirectorySettings | None = None,
    clock: SystemClock | None = None,
    start_poller: bool = False,
) -> Flask:
    """Build the directory app; the poller runs only when asked (``sifnet directory run`` asks)."""
    settings = settings or load_settings(test_config)
    d = open_directory(settings, clock)
    app = Flask(__name__)
    app.json_provider_class = JSONProvider
    app.json = JSONProvider(app)
    app.config.update(
        SECRET_KEY=_secret_key(settings.data_path),
        MAX_CONTENT_LENGTH=1024 * 1024 + 4096,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME=f"sifnet_{settings.directory_id}",
    )
    app.extensions["sifnet_directory"] = d
    # The working group's admins have no saved language: the switch (session), the browser, the setting.
    i18n.init_app(app, default_language=settings.default_language, time_zone=settings.time_zone)
    labels.init_app(app)
    from .api import bp as api_bp
    from .web import bp as views_bp

    app.register_blueprint(views_bp)
    app.register_blueprint(api_bp)
    # The node's phone stylesheet (header and tap targets), which the directory's pages share.
    app.register_blueprint(Blueprint("node_assets", "node", static_folder="static", static_url_path="/static/node"))
    from . import clearing  # clearing rounds the directory coordinates

    clearing.register(app)
    app.before_request(_check_csrf)
    init_security_headers(app)
    app.context_processor(lambda: {"settings": settings, "csrf_token": csrf_token})
    app.add_template_filter(ago)
    app.add_url_rule("/language", "switch_language", switch_language, methods=["POST"])
    _register_error_handlers(app)
    if start_poller:
        from .poller import Poller

        app.extensions["sifnet_directory_poller"] = Poller(d).start()
        app.extensions["sifnet_directory_clearing"] = clearing.ClearingSweeper(d).start()
    return app


def stop(app: Flask) -> None:
    """Stop the poller (if any) and close the database."""
    poller = app.extensions.get("sifnet_directory_poller")
    if poller is not None:
        poller.stop()
    sweeper = app.extensions.get("sifnet_directory_clearing")
    if sweeper is not None:
        sweeper.stop()
    app.extensions["sifnet_directory"].close()


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def _check_csrf() -> None:
    """Browser forms carry the session's token; the JSON API takes no cookies and needs none."""
    if request.method in ("GET", "HEAD", "OPTIONS") or request.path.startswith("/api/"):
        return
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(request.form.get("csrf_token", ""), expected):
        abort(400, description=_("The form expired or did not come from this site. Reload and try again."))


def ago(value: datetime | None, now: datetime) -> str:
    """How long before ``now``, in words of the reader's language ("5 minutes ago")."""
    return "" if value is None else formats.format_elapsed(value, now, i18n.current_language())


def switch_language():
    """The language switch (POST /language with lang and next): remembered in the browser session."""
    i18n.choose_language(request.form.get("lang"))
    return redirect(i18n.on_site(request.form.get("next"), url_for("directory.index")), 303)


def _register_error_handlers(app: Flask) -> None:
    from flask import render_template

    def answer(status: int, code: str, message: str):
        if request.path.startswith("/api/"):
            return jsonify({"error": {"code": code, "message": message}}), status
        return render_template("directory_error.html", message=f"{message} [{code}]", status=status), status

    @app.errorhandler(DomainError)
    def _domain(exc: DomainError):
        return answer(exc.status, exc.code, exc.message)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        status = exc.code or 500
        description = exc.description
        if description is None or description == type(exc).description:
            message = str(HTTP_TEXTS.get(status, description or ""))
        else:
            message = description
        return answer(status, (exc.name or "error").lower().replace(" ", "_"), message)
