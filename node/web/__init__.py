"""The server-rendered web UI: works without JavaScript, every form CSRF-protected."""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, request, session
from flask_babel import gettext as _

from .. import labels
from ..errors import DomainError

# Paths that are not browser forms: token-authenticated API, signed federation, test hooks.
CSRF_EXEMPT_PREFIXES = ("/api/", "/_test/", "/federation/", "/.well-known/")
WEB_MODULES = (
    "auth",
    "member",
    "notes",
    "coordinator",
    "audit",
    "advice",
    "reviews",
    "rounds",
    "funding",
    "directory",
    "messages",
    "language",
    "live",
)


def csrf_token() -> str:
    """The session's CSRF token, created on first use."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


# How ledger transaction kinds read on a statement (lazy texts: shown in the reader's language).
KIND_LABELS = labels.LABELS["transaction_kind"]


def kind_label(kind: str) -> str:
    """A transaction kind's label; an unknown kind as written, capitalised."""
    found = KIND_LABELS.get(kind)
    return str(found) if found is not None else kind.replace("_", " ").capitalize()


def _check_csrf() -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.path.startswith(CSRF_EXEMPT_PREFIXES):
        return
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent, expected):
        # Its own code (not the generic bad_request), so a client and the tests can tell this refusal apart.
        raise DomainError(
            _("The form expired or did not come from this site (CSRF check failed). Reload and try again."),
            code="csrf_failed",
            status=400,
        )


def init_app(app: Flask) -> None:
    """Register the web blueprints, the CSRF check and template helpers."""
    import importlib

    from .form_echo import fill_page
    from .pages import template_globals

    app.before_request(_check_csrf)
    app.after_request(fill_page)
    app.context_processor(template_globals)
    app.jinja_env.filters["kind_label"] = kind_label
    labels.init_app(app)
    for name in WEB_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        app.register_blueprint(module.bp)
