"""A refused web form goes back to its page with what was typed and every error beside its field.

form_action (pages.py) calls `refused()`: the errors become messages at the top of the page (their codes in
`data-code`, for support and tests; the words are the member's), and the form's values and errors are kept
in the form_echoes table under a key in the browser's session. The page the browser is sent back to reads
them once (`fill_page`, after the request) and puts them into the form that was sent. A page that answers
a refused form itself (sign-up, log-in) calls `fill_response` directly.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any, cast

from flask import Response, flash, request, session
from sqlalchemy import CursorResult, delete
from sqlmodel import col

from ..context import NodeContext, node_ctx
from ..errors import DomainError, FieldErrors
from ..idempotency import NOT_PART_OF_A_FORM
from ..tables import FormEcho
from .form_fill import fill

SESSION_KEY = "form_echo"
KEPT_FOR = timedelta(hours=1)  # a page not opened by then is not coming


def errors_of(exc: DomainError) -> list[DomainError]:
    return list(exc.errors) if isinstance(exc, FieldErrors) else [exc]


def flash_errors(exc: DomainError) -> None:
    """Each refusal as a message at the top of the page, its code kept apart from the words."""
    for error in errors_of(exc):
        flash(str(error.message), f"error:{error.code}")


def typed_values() -> dict[str, list[str]]:
    """What the member typed into the form, without the tokens and without any password."""
    return {
        name: request.form.getlist(name)
        for name in request.form
        if name not in NOT_PART_OF_A_FORM and "password" not in name
    }


def field_errors(exc: DomainError, names: dict[str, str] | None = None) -> dict[str, str]:
    """{form field: message}; `names` maps a rule's field name to the form's where they differ."""
    out: dict[str, str] = {}
    for error in errors_of(exc):
        if error.field:
            out.setdefault((names or {}).get(error.field, error.field), str(error.message))
    return out


def refused(exc: DomainError, names: dict[str, str] | None = None) -> None:
    """Flash the refusal and keep the form for the page the browser goes back to."""
    flash_errors(exc)
    ctx = node_ctx()
    key = secrets.token_urlsafe(18)
    with ctx.db.write() as s:
        s.add(
            FormEcho(
                key=key,
                created_at=ctx.now(),
                action=request.path,
                typed=typed_values(),
                errors=field_errors(exc, names),
            )
        )
    session[SESSION_KEY] = key


def fill_page(response: Response) -> Response:
    """After a GET: the kept form, if any, goes into this page (once)."""
    key = session.get(SESSION_KEY)
    if not key or request.method != "GET" or response.mimetype != "text/html" or response.status_code != 200:
        return response
    session.pop(SESSION_KEY, None)
    with node_ctx().db.write() as s:
        echo = s.get(FormEcho, key)
        if echo is None:
            return response
        action, values, errors = echo.action, echo.typed, echo.errors
        s.delete(echo)
    page = fill(response.get_data(as_text=True), page_path=request.path, action=action, values=values, errors=errors)
    response.set_data(page)
    return response


def fill_response(html: str, exc: DomainError, names: dict[str, str] | None = None) -> str:
    """A page answering a refused form itself: the form keeps its values and shows its errors."""
    return fill(
        html, page_path=request.path, action=request.path, values=typed_values(), errors=field_errors(exc, names)
    )


def forget_old_echoes(ctx: NodeContext) -> int:
    """Sweep: kept forms whose page was never opened."""
    with ctx.db.write() as s:
        result = s.execute(delete(FormEcho).where(col(FormEcho.created_at) < ctx.now() - KEPT_FOR))
        return (
            cast(CursorResult[Any], result).rowcount or 0
        )  # DML gives a CursorResult; Session.execute is typed as Result
