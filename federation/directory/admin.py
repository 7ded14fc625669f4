"""The working group's web admin: accounts, login and sessions, and approving, refusing and delisting nodes.

Accounts are made with ``sifnet directory add-admin``; passwords are argon2id hashes. A
login starts a fresh session (no fixation) that ends after ADMIN_SESSION_HOURS or when the
account's password changes. Every change is written to the audit trail (``admin_actions``)
in the same transaction as the change itself. CSRF is checked for every form by the app.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache, wraps

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from node import i18n
from node.errors import AuthError, ConflictError, DomainError, RateLimitedError, ValidationError
from node.services.validate import clean_text

from . import listings
from .api import directory
from .listings import audit
from .tables import AdminAccount, AdminAction, Listing

ADMIN_SESSION_HOURS = 12
MAX_FAILURES = 5  # failed logins per account name within FAILURE_WINDOW before logins are refused
FAILURE_WINDOW = timedelta(minutes=15)
MIN_PASSWORD = 10
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")

bp = Blueprint("admin", __name__, url_prefix="/admin")


def password_hasher(settings) -> PasswordHasher:
    """argon2id with the directory's cost settings."""
    return PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib)


@cache
def _dummy_hash(time_cost: int, memory_cost: int) -> str:
    """A hash to verify when the account does not exist, so that a wrong name takes as long as a wrong password."""
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost).hash("no such account")


# --- services ---------------------------------------------------------------------------------------------


def add_admin(
    session: Session,
    *,
    username: object,
    password: object,
    now: datetime,
    hasher: PasswordHasher,
    replace: bool = False,
) -> AdminAccount:
    """Create a working-group account (or set a new password with ``replace``)."""
    name = clean_text(username, "username", 64, required=True).lower()
    if not set(name) <= USERNAME_CHARS:
        raise ValidationError(
            _("A name may hold only letters, digits, '-', '_' and '.'."), code="invalid_username", field="username"
        )
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise ValidationError(
            ngettext(
                "The password needs at least %(num)d character.",
                "The password needs at least %(num)d characters.",
                MIN_PASSWORD,
            ),
            code="weak_password",
            field="password",
        )
    row = session.get(AdminAccount, name)
    if row is not None and not replace:
        raise ConflictError(_("There is already an account named %(name)s.", name=name), code="admin_exists")
    if row is None:
        row = AdminAccount(username=name, password_hash="", created_at=now)
        session.add(row)
    else:
        row.session_version += 1  # a new password ends the old sessions
    row.password_hash = hasher.hash(password)
    audit(session, username=name, action="add-admin" if row.session_version == 1 else "password", now=now)
    return row


def authenticate(
    session: Session, *, username: object, password: object, now: datetime, hasher: PasswordHasher
) -> AdminAccount:
    """Check a working-group login; refuse after too many recent failures for that name."""
    name = str(username or "").strip().lower()[:64]
    failures = session.execute(
        select(func.count())
        .select_from(AdminAction)
        .where(
            col(AdminAction.username) == name,
            col(AdminAction.action) == "login-failed",
            col(AdminAction.at) >= now - FAILURE_WINDOW,
        )
    ).scalar_one()
    if failures >= MAX_FAILURES:
        raise RateLimitedError(
            ngettext(
                "Too many failed logins; try again in %(num)d minute.",
                "Too many failed logins; try again in %(num)d minutes.",
                int(FAILURE_WINDOW.total_seconds() // 60),
            ),
            code="login_rate_limited",
        )
    row = session.get(AdminAccount, name) if name else None
    try:
        stored = row.password_hash if row else _dummy_hash(hasher.time_cost, hasher.memory_cost)
        ok: bool = hasher.verify(stored, password if isinstance(password, str) else "")
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or row is None:
        audit(session, username=name or "?", action="login-failed", now=now)
        raise AuthError(_("Wrong name or password."), code="bad_credentials")
    row.last_login_at = now
    audit(session, username=name, action="login", now=now)
    return row


def applications(session: Session) -> list[Listing]:
    """Nodes waiting for a decision: new applications and listed nodes with a new key."""
    rows = session.scalars(
        select(Listing).where(col(Listing.status) != "delisted").order_by(col(Listing.applied_at))
    ).all()
    return [r for r in rows if r.candidate]  # a JSON column stores None as JSON null, which IS NOT NULL matches


def approve(session: Session, *, admin: str, node_id: str, fingerprint: object, now: datetime) -> Listing:
    """Pin the application's key after the fingerprint was read back; recorded in the audit trail."""
    return listings.approve(session, node_id=node_id, fingerprint=fingerprint, now=now, by=admin)


def refuse(session: Session, *, admin: str, node_id: str, reason: object, now: datetime) -> str:
    """Turn down an application with a reason; a listed node keeps its pinned key.

    Returns what became of the node: "kept" (still listed with its pinned key), "removed" (it never was
    listed and may apply again) or "delisted" (listed once, it stays delisted).
    """
    reason = clean_text(reason, "reason", 500, required=True)
    row = listings.get_listing(session, node_id)
    if not row.candidate or row.status == "delisted":
        raise ConflictError(_("%(node)s has no application waiting.", node=node_id), code="nothing_to_refuse")
    audit(
        session,
        username=admin,
        action="refuse",
        node_id=node_id,
        fingerprint=row.candidate["fingerprint"],
        reason=reason,
        now=now,
    )
    if row.status == "listed":
        row.candidate = None
        return "kept"
    if row.approved_at is None:  # never listed: nothing to keep but the audit line; it may apply again
        session.delete(row)
        return "removed"
    listings.LISTING.move(row, "delisted")  # listed once, then delisted: it stays delisted
    row.candidate = None
    return "delisted"


def delist(session: Session, *, admin: str, node_id: str, reason: object, now: datetime) -> Listing:
    """Stop listing a node, with a reason; its history stays."""
    reason = clean_text(reason, "reason", 500, required=True)
    row = listings.get_listing(session, node_id)
    if row.status != "listed":
        raise ConflictError(_("%(node)s is not listed.", node=node_id), code="not_listed")
    return listings.delist(session, node_id=node_id, now=now, by=admin, reason=reason)


def audit_trail(session: Session, limit: int = 50) -> list[AdminAction]:
    return list(
        session.scalars(
            select(AdminAction).order_by(col(AdminAction.at).desc(), col(AdminAction.id).desc()).limit(limit)
        ).all()
    )


# --- web --------------------------------------------------------------------------------------------------


def flash_refusal(exc: DomainError) -> None:
    """A refusal as a message at the top of the page: the reason in the reader's language; its code (for whoever
    helps) in the message's data-code attribute, as on the nodes' pages."""
    flash(exc.message, f"error:{exc.code}")


def admin_required(view: Callable) -> Callable:
    """Only a logged-in working-group member; ``g.admin`` is their username. Others go to the login page."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        d = directory()
        name, version, since = session.get("admin"), session.get("admin_version"), session.get("admin_since", 0)
        now = d.now()
        fresh = now.timestamp() - since < ADMIN_SESSION_HOURS * 3600
        with d.db.read() as s:
            row = s.get(AdminAccount, name) if name else None
            live = row is not None and row.session_version == version and fresh
        if not live:
            if name:
                i18n.clear_session()
                flash(_("Your session ended. Please log in again."), "info")
            target = request.path if request.method == "GET" else url_for("directory.admin.home")
            return redirect(url_for("directory.admin.login", next=target), 303)
        g.admin = name
        return view(*args, **kwargs)

    return wrapped


@bp.after_request
def _no_store(resp):
    """Admin pages show who applied and who did what: no browser or proxy keeps a copy."""
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _act(fn: Callable[[], str]):
    """Run one admin change; a refusal is shown as an error on the admin page, changing nothing."""
    try:
        flash(fn(), "info")
    except DomainError as exc:
        flash_refusal(exc)
    return redirect(url_for("directory.admin.home"), 303)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The working group's login form."""
    target = request.values.get("next", "")
    if not target.startswith("/admin") or "//" in target:
        target = url_for("directory.admin.home")
    if request.method == "GET":
        return render_template("directory_admin_login.html", next=target)
    d = directory()
    failure = None
    with d.db.write() as s:  # the refusal is caught inside: the failed attempt is recorded (rate limit, audit)
        try:
            row = authenticate(
                s,
                username=request.form.get("username"),
                password=request.form.get("password"),
                now=d.now(),
                hasher=password_hasher(d.settings),
            )
            name, version = row.username, row.session_version
        except DomainError as exc:
            failure = exc
    if failure is not None:
        flash_refusal(failure)
        return render_template("directory_admin_login.html", next=target), failure.status
    i18n.clear_session()  # a fresh session (and CSRF token) on login: no fixation
    session.update(admin=name, admin_version=version, admin_since=d.now().timestamp())
    return redirect(target, 303)


@bp.post("/logout")
def logout():
    name = session.get("admin")
    if name:
        d = directory()
        with d.db.write() as s:
            audit(s, username=name, action="logout", now=d.now())
    i18n.clear_session()
    flash(_("You are logged out."), "info")
    return redirect(url_for("directory.admin.login"), 303)


@bp.get("/")
@admin_required
def home():
    """Applications waiting, listed nodes and the latest audit lines."""
    d = directory()
    with d.db.read() as s:
        waiting = applications(s)
        listed = listings.listings(s)
        recent = audit_trail(s, 20)
    return render_template(
        "directory_admin.html",
        applications=waiting,
        listed=[r for r in listed if r.status == "listed"],
        audit=recent,
        now=d.now(),
    )


@bp.get("/audit")
@admin_required
def audit_page():
    """The whole audit trail, newest first."""
    d = directory()
    with d.db.read() as s:
        rows = audit_trail(s, 1000)
    return render_template("directory_admin_audit.html", audit=rows)


def _write(fn: Callable, node_id: str, **kwargs):
    """One admin change in one transaction, as the logged-in admin."""
    d = directory()
    with d.db.write() as s:
        return fn(s, admin=g.admin, node_id=node_id, now=d.now(), **kwargs)


@bp.post("/nodes/<node_id>/approve")
@admin_required
def approve_node(node_id: str):
    def run() -> str:
        row = _write(approve, node_id, fingerprint=request.form.get("fingerprint"))
        return _(
            "%(node)s is listed; key %(fingerprint)s pinned. It is polled from now on.",
            node=node_id,
            fingerprint=row.fingerprint,
        )

    return _act(run)


@bp.post("/nodes/<node_id>/refuse")
@admin_required
def refuse_node(node_id: str):
    def run() -> str:
        outcome = _write(refuse, node_id, reason=request.form.get("reason"))
        if outcome == "kept":
            return _("The new key of %(node)s is refused; it stays listed with its pinned key.", node=node_id)
        if outcome == "delisted":
            return _("The application of %(node)s is refused; it stays delisted.", node=node_id)
        return _("The application of %(node)s is refused and removed; it may apply again.", node=node_id)

    return _act(run)


@bp.post("/nodes/<node_id>/delist")
@admin_required
def delist_node(node_id: str):
    def run() -> str:
        _write(delist, node_id, reason=request.form.get("reason"))
        return _("%(node)s is no longer listed.", node=node_id)

    return _act(run)
