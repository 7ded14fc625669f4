"""Helpers for web handlers: the logged-in member, access checks, rendering."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from functools import wraps

from flask import current_app, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from ..context import node_ctx
from ..errors import DomainError
from ..tables import Member
from . import form_echo


def current_member() -> Member | None:
    """The member logged in to this browser session, if any (closed accounts are logged out)."""
    if "member" in g:
        return g.member
    member = None
    member_id, version = session.get("member_id"), session.get("session_version")
    if member_id is not None:
        with node_ctx().db.read() as s:
            found = s.get(Member, member_id)
        if found is not None and found.session_version == version and found.status != "closed":
            member = found
    g.member = member
    return member


def logged_in_member() -> Member:
    """The member of a page behind login_required, where there always is one."""
    member = current_member()
    assert member is not None, "the page is not behind login_required"
    return member


def logged_in_member_id() -> int:
    """The id of the member of a page behind login_required."""
    member_id = logged_in_member().id
    assert member_id is not None  # a stored member
    return member_id


def viewer() -> Member | None:
    """Whose language and time zone a request uses: the page's logged-in member, or the API token's."""
    if request.path.startswith("/api/"):
        from ..api.base import token_viewer

        return token_viewer()
    return current_member()


# What a member whose account waits for approval (or was refused) may open: their waiting page (the
# dashboard), profile, notifications, export and closing. Every other page would offer forms that fail.
WHILE_PENDING = frozenset(
    {"member.dashboard", "member.profile", "member.export", "member.close", "notes.history", "notes.mark_read"}
    | {"notes.settings"}
)


def login_required(view: Callable) -> Callable:
    @wraps(view)
    def wrapped(**kwargs):
        member = current_member()
        if member is None:
            return redirect(url_for("auth.login", next=request.path))
        if member.status != "active" and request.endpoint not in WHILE_PENDING:
            return redirect(url_for("member.dashboard"), 303)
        return view(**kwargs)

    return wrapped


def coordinator_required(view: Callable) -> Callable:
    @wraps(view)
    def wrapped(**kwargs):
        member = current_member()
        if member is None:
            return redirect(url_for("auth.login", next=request.path))
        if member.role != "coordinator" or member.status != "active":
            return render_error(403, "coordinator_only", _("Only a coordinator may open this page."))
        return view(**kwargs)

    return wrapped


def form_action(fallback_endpoint: str, names: dict[str, str] | None = None):
    """Run a form handler; a domain error changes nothing and goes back to the form's page, which shows every
    error beside its field with what was typed (form_echo). `names`: a rule's field name -> the form's."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(**kwargs):
            try:
                return view(**kwargs)
            except DomainError as exc:
                form_echo.refused(exc, names)
                return redirect(back_url(fallback_endpoint), 303)

        return wrapped

    return decorator


def flash_refusal(exc: DomainError) -> None:
    """A refusal as a message at the top of the page (its code in the message's data-code)."""
    form_echo.flash_errors(exc)


def back_url(fallback_endpoint: str) -> str:
    """The page the form came from, if it is on this site; else the fallback."""
    ref = request.referrer or ""
    if ref.startswith(request.host_url):
        return ref
    return url_for(fallback_endpoint)


def csv_line(values) -> str:
    """One CSV row, its text cells made safe for spreadsheets."""
    out = io.StringIO()
    csv.writer(out).writerow([safe_cell(v) for v in values])
    return out.getvalue()


def safe_cell(value: object) -> object:
    """A text cell a spreadsheet would run as a formula (=, +, -, @) gets a leading apostrophe; numbers stay."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def render_error(status: int, code: str, message: str):
    return render_template("error.html", status=status, code=code, message=message), status


def template_globals() -> dict:
    from . import csrf_token

    ctx = node_ctx()
    return {
        "me": current_member(),
        "csrf_token": csrf_token,
        "settings": ctx.settings,
        "unit": ctx.settings.unit,
        "nav_links": NAV_LINKS,
        "nav_badge": nav_badge,
        "endpoints": current_app.view_functions,
    }


def nav_badge(endpoint: str) -> int:
    """The number shown beside a menu link (unread conversations beside Messages); 0 shows none."""
    badge = NAV_BADGES.get(endpoint)
    return badge() if badge is not None else 0


# Areas add their top-level pages here as (label, endpoint) when their module is imported; the label is a lazy
# text (flask_babel.lazy_gettext), shown in the reader's language.
NAV_LINKS: list[tuple[object, str]] = []
# A number beside a menu link, by its endpoint: a function () -> int for the logged-in member.
NAV_BADGES: dict[str, Callable[[], int]] = {}
