"""Shared plumbing of the JSON API: route registration that also feeds OpenAPI, auth, body parsing."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, Literal, overload

from flask import Blueprint, g, request
from flask_babel import gettext as _
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from ..context import NodeContext, node_ctx
from ..errors import AuthError, ValidationError
from ..services import members as members_service
from ..services.validate import refuse_unknown_fields
from ..tables import Member


@dataclass(frozen=True)
class Operation:
    """One documented API operation; the OpenAPI document is built from these."""

    rule: str
    method: str
    summary: str
    tag: str
    auth: bool
    body: dict | None
    response: dict | None
    status: int
    endpoint: str
    query: dict | None = None
    rate_limited: bool = False  # may answer 429 with Retry-After (a member's limit, such as messages per hour)
    media_type: str = "application/json"  # of the success answer (the event stream's is text/event-stream)
    headers: dict | None = None  # request headers the view reads: {name: JSON schema}
    busy: bool = False  # may answer 503 with Retry-After (the process holds as many event streams as it may)


OPERATIONS: list[Operation] = []
_BEARER = re.compile(r"Bearer (\S{8,200})")


@dataclass
class ApiBlueprint:
    """A Flask blueprint whose routes are recorded for the OpenAPI document."""

    name: str
    tag: str
    blueprint: Blueprint = field(init=False)

    def __post_init__(self) -> None:
        self.blueprint = Blueprint(f"api_{self.name}", __name__)

    def route(
        self,
        rule: str,
        method: str,
        summary: str,
        *,
        body: dict | None = None,
        response: dict | None = None,
        status: int = 200,
        auth: bool = True,
        token_in_view: bool = False,
        query: dict | None = None,
        rate_limited: bool = False,
        media_type: str = "application/json",
        headers: dict | None = None,
        busy: bool = False,
    ) -> Callable:
        """Register a view at /api/v1<rule> for one method, documented for OpenAPI.

        query documents the optional query parameters the view reads: {name: JSON schema}, headers the optional
        request headers; rate_limited documents a 429 answer (a limit of the member's, with Retry-After), busy a
        503 (with Retry-After); media_type is the success answer's.

        With token_in_view the view itself looks the token up, by calling token_member(session)
        first thing in its own transaction: a hot path then needs no separate read transaction.
        """

        def decorator(view: Callable) -> Callable:
            endpoint = f"{view.__name__}_{method.lower()}"

            @wraps(view)
            def wrapped(**kwargs: Any):
                if auth and token_in_view:
                    g.api_token = bearer_token()
                    _read_body_early()
                elif auth:
                    g.member = require_token_member()
                return view(**kwargs)

            self.blueprint.add_url_rule(rule, endpoint=endpoint, view_func=wrapped, methods=[method])
            OPERATIONS.append(
                Operation(
                    rule,
                    method,
                    summary,
                    self.tag,
                    auth,
                    body,
                    response,
                    status,
                    f"api_{self.name}.{endpoint}",
                    query,
                    rate_limited,
                    media_type,
                    headers,
                    busy,
                )
            )
            return wrapped

        return decorator


def bearer_token() -> str:
    """The request's bearer token; the API never uses cookies (no CSRF surface)."""
    match = _BEARER.fullmatch(request.headers.get("Authorization", ""))
    if not match:
        raise AuthError(_("Please send an API token as “Authorization: Bearer <token>”."), code="token_missing")
    return match.group(1)


def require_token_member() -> Member:
    """The member behind the request's bearer token, looked up in a read transaction of its own."""
    ctx = node_ctx()
    with ctx.db.read() as session:
        return _member_or_refuse(session, bearer_token(), ctx)


@overload
def token_member(session: Session, *, whole: Literal[False] = False) -> members_service.MemberRef: ...
@overload
def token_member(session: Session, *, whole: Literal[True]) -> Member: ...
def token_member(session: Session, *, whole: bool = False) -> members_service.MemberRef | Member:
    """In the view's transaction: the member behind the token (routes registered with token_in_view).

    A MemberRef (id, handle, role, status), with the member's account kept for the ledger: enough
    for the payment path; `whole` loads the Member instead.
    """
    g.member = _member_or_refuse(session, g.api_token, node_ctx(), light=not whole)
    return g.member


def token_viewer() -> Member | None:
    """The API request's member with their saved language and time zone; None without a live token."""
    member = g.get("member")
    if isinstance(member, Member):
        return member
    match = _BEARER.fullmatch(request.headers.get("Authorization", ""))
    if member is None and match is None:
        return None
    ctx = node_ctx()
    with ctx.db.read() as session:
        if member is not None:  # the light MemberRef of a hot path
            return session.get(Member, member.id)
        assert match is not None
        return members_service.member_for_token(session, match.group(1), ctx.now())


@overload
def _member_or_refuse(session: Session, token: str, ctx: NodeContext, light: Literal[False] = False) -> Member: ...
@overload
def _member_or_refuse(
    session: Session, token: str, ctx: NodeContext, light: bool
) -> Member | members_service.MemberRef: ...
def _member_or_refuse(
    session: Session, token: str, ctx: NodeContext, light: bool = False
) -> Member | members_service.MemberRef:
    member = members_service.member_for_token(session, token, ctx.now(), light=light)
    if member is None:
        raise AuthError(_("This API token is unknown or was revoked."), code="token_invalid")
    return member


def _read_body_early() -> None:
    # Receive the body before the view takes the write lock, so a slow client cannot hold it.
    # A refused body (too large, client gone) is refused again, in order, when json_body() reads it.
    try:
        request.get_data(cache=True)
    except HTTPException:
        pass


def json_body(required: bool = True) -> dict:
    """The request's JSON object; floats stay floats so amount checks can refuse them."""
    raw = request.get_data(cache=True)
    if not raw and not required:
        return {}
    if request.mimetype != "application/json":
        raise ValidationError(_("Please send the body as application/json."), code="unsupported_media_type", status=415)
    try:
        data = json.loads(raw, parse_constant=_refuse_constant, object_pairs_hook=_refuse_duplicates)
    except (ValueError, RecursionError) as exc:
        raise ValidationError(
            _("The body is not valid JSON (%(problem)s).", problem=exc), code="invalid_json", status=400
        ) from None
    if not isinstance(data, dict):
        raise ValidationError(_("The body must be a JSON object."), code="invalid_body", status=400)
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def only_fields(data: dict, allowed: tuple[str, ...]) -> dict:
    """Refuse fields the operation does not know (typos must not pass silently)."""
    refuse_unknown_fields(data, allowed)
    return data


# Small JSON-schema helpers for the OpenAPI document.
def obj(required: tuple[str, ...] = (), /, **props: dict) -> dict:
    out: dict = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = list(required)
    return out


def arr(items: dict, max_items: int | None = None) -> dict:
    out: dict = {"type": "array", "items": items}
    if max_items is not None:
        out["maxItems"] = max_items
    return out


def string(max_length: int | None = None, **extra: Any) -> dict:
    out: dict = {"type": "string", **extra}
    if max_length is not None:
        out["maxLength"] = max_length
    return out


def integer(minimum: int | None = None, maximum: int | None = None) -> dict:
    out: dict = {"type": "integer"}
    if minimum is not None:
        out["minimum"] = minimum
    if maximum is not None:
        out["maximum"] = maximum
    return out


BOOL = {"type": "boolean"}
DATETIME = {"type": "string", "format": "date-time"}
AMOUNT = integer(1, 2**53 - 1)
ANY_OBJECT = {"type": "object"}
