"""Idempotent requests: a request repeated with the same key gets the first answer and changes nothing twice.

Two doors lead here: the JSON API's `Idempotency-Key` header (on any authenticated POST; the
OpenAPI document names it on the money-moving ones) and the one-time token every web form
carries (`form_guard()` renders it beside the CSRF token). Before the view runs, a key that was
already answered is answered again from storage. Otherwise the key is claimed in the request's
first write transaction (a hook of `Database.write`), so it is recorded exactly when the view's
change commits, and the first answer is stored right after. A key repeated while its first
request is still running is refused (409), never run twice; a change that was refused (any
4xx) rolled its claim back with it, so the same key may try again.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask, Response, flash, redirect, request, session
from flask_babel import gettext as _
from markupsafe import Markup, escape
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from .context import NodeContext, node_ctx
from .errors import ConflictError, ValidationError
from .tables import IdempotentRequest

HEADER = "Idempotency-Key"
FORM_FIELD = "form_token"
KEY = re.compile(r"[\x21-\x7e]{8,100}")
NOT_PART_OF_A_FORM = frozenset({"csrf_token", FORM_FIELD})


@dataclass
class Claim:
    """The key this request claims when its change is written."""

    scope: str
    key: str
    request_hash: str
    claimed: bool = False


_CLAIM: ContextVar[Claim | None] = ContextVar("idempotency_claim", default=None)


def form_guard() -> Markup:
    """The hidden fields of every web form: the session's CSRF token and a token for this one form."""
    from .web import csrf_token

    return Markup(
        f'<input type="hidden" name="csrf_token" value="{escape(csrf_token())}">'
        f'<input type="hidden" name="{FORM_FIELD}" value="{secrets.token_urlsafe(18)}">'
    )


def _forget_claim(exc: BaseException | None) -> None:
    _CLAIM.set(None)


def init_app(app: Flask) -> None:
    """Answer repeated requests before their view; claim keys in the view's write; store first answers."""
    node_ctx(app).db.write_hooks.append(claim_in)
    app.before_request(_answer_repeat)
    app.after_request(_store_answer)
    app.teardown_request(_forget_claim)
    app.jinja_env.globals["form_guard"] = form_guard


def _identify() -> tuple[str, str, str] | None:
    """(scope, key, request hash) of a POST made with a key, or None."""
    if request.method != "POST":
        return None
    body = request.get_data(cache=True)
    digest = hashlib.sha256(b"%s %s\n%s" % (request.method.encode(), request.path.encode(), body)).hexdigest()
    if request.path.startswith("/api/"):
        key, token = request.headers.get(HEADER), _bearer()
        if key is None or token is None:  # only an authenticated caller's keys are kept apart from others'
            return None
        if not KEY.fullmatch(key):
            raise ValidationError(
                _("An %(header)s is 8 to 100 visible ASCII characters.", header=HEADER),
                code="invalid_idempotency_key",
                field=HEADER,
            )
        return "token:" + hashlib.sha256(token.encode()).hexdigest()[:64], key, digest
    token = request.form.get(FORM_FIELD, "")
    if not KEY.fullmatch(token):
        return None
    # A form is one intent: the same token with other values (back button, edited) is a new request.
    fields = sorted((k, v) for k, v in request.form.items(multi=True) if k not in NOT_PART_OF_A_FORM)
    digest = hashlib.sha256(repr((request.path, fields)).encode()).hexdigest()
    who = session.get("member_id")
    scope = (
        f"member:{who}"
        if who is not None
        else "session:" + hashlib.sha256(str(session.get("csrf", "")).encode()).hexdigest()[:64]
    )
    return scope, f"{token}:{digest[:16]}", digest


def _bearer() -> str | None:
    auth = request.headers.get("Authorization", "")
    return auth[7:].strip() or None if auth.startswith("Bearer ") else None


def _answer_repeat():
    found = _identify()
    if found is None:
        return None
    scope, key, request_hash = found
    with node_ctx().db.read() as s:
        row = s.scalars(
            select(IdempotentRequest).where(col(IdempotentRequest.scope) == scope, col(IdempotentRequest.key) == key)
        ).first()
    if row is None:
        _CLAIM.set(Claim(scope, key, request_hash))
        return None
    if row.request_hash != request_hash:
        raise ValidationError(
            _("This %(header)s was used for another request; send a new one with this request.", header=HEADER),
            code="idempotency_key_reused",
            field=HEADER,
        )
    if row.status is None:
        raise _in_progress()
    if request.path.startswith("/api/"):
        response = Response(row.body, status=row.status, mimetype="application/json")
        response.headers["Idempotent-Replayed"] = "true"
        return response
    flash(_("This form was already sent; what it asked for was done once."), "info")
    return redirect(row.location or request.path, 303)


def _in_progress() -> ConflictError:
    return ConflictError(
        _("This request is already being handled; send it again in a moment to see its answer."),
        code="idempotency_in_progress",
    )


def claim_in(session: Session) -> None:
    """In the request's first write transaction: record its key (writers are serialised, so no race)."""
    claim = _CLAIM.get()
    if claim is None or claim.claimed:
        return
    taken = session.scalars(
        select(col(IdempotentRequest.id)).where(
            col(IdempotentRequest.scope) == claim.scope, col(IdempotentRequest.key) == claim.key
        )
    ).first()
    if taken is not None:  # a twin of this request committed since it was let in
        raise _in_progress()
    session.add(
        IdempotentRequest(
            scope=claim.scope, key=claim.key, request_hash=claim.request_hash, created_at=node_ctx().now()
        )
    )
    session.flush()
    claim.claimed = True


def _store_answer(response: Response) -> Response:
    claim = _CLAIM.get()
    _CLAIM.set(None)  # the write below must not claim again
    if claim is None or not claim.claimed or response.status_code >= 500:
        return response
    body = response.get_data(as_text=True) if response.mimetype == "application/json" else ""
    with node_ctx().db.write() as s:  # no row if the view's change was rolled back: nothing to answer again
        s.execute(
            update(IdempotentRequest)
            .where(
                col(IdempotentRequest.scope) == claim.scope,
                col(IdempotentRequest.key) == claim.key,
                col(IdempotentRequest.status).is_(None),
            )
            .values(status=response.status_code, body=body, location=response.headers.get("Location", "")[:2000])
        )
    return response


SWEEP_BATCH = 1000


def forget_old_keys(ctx: NodeContext) -> int:
    """Sweep: forget keys and first answers older than idempotency_keep_hours, in batches; how many went."""
    cutoff = ctx.now() - timedelta(hours=ctx.settings.idempotency_keep_hours)
    old = select(col(IdempotentRequest.id)).where(col(IdempotentRequest.created_at) < cutoff).limit(SWEEP_BATCH)
    with ctx.db.read() as session:  # most runs find nothing: they need not take the write lock
        if session.execute(old.limit(1)).first() is None:
            return 0
    forgotten = 0
    while True:
        with ctx.db.write() as session:
            ids = list(session.scalars(old))
            if ids:
                session.execute(delete(IdempotentRequest).where(col(IdempotentRequest.id).in_(ids)))
        forgotten += len(ids)
        if len(ids) < SWEEP_BATCH:
            return forgotten
