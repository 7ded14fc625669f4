"""The OpenAPI 3.1 document, built from the routes registered through ApiBlueprint."""

from __future__ import annotations

import re

from flask import Blueprint, jsonify

from .. import __version__
from .base import OPERATIONS

blueprint = Blueprint("openapi", __name__)

ERROR = {
    "type": "object",
    "description": "A refusal. `code` is stable and meant for programs; `message` is for people and follows the "
    "request's Accept-Language (else the member's language, else the node's).",
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "machine-readable and stable across versions and languages"},
                "message": {"type": "string", "description": "human-readable, in the request's language"},
                "field": {"type": "string", "description": "the input field at fault, when there is one"},
                "fields": {
                    "type": "array",
                    "description": "when several fields are refused at once: each one's code, message and field "
                    "(the first is also the error's own code, message and field)",
                    "items": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                            "field": {"type": "string"},
                        },
                    },
                },
            },
        }
    },
    "required": ["error"],
}


def openapi_path(rule: str) -> str:
    """Flask's /x/<int:id> becomes OpenAPI's /x/{id}."""
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def _parameters(rule: str) -> list[dict]:
    params = []
    for conv, name in re.findall(r"<(?:([a-z]+):)?([a-z_]+)>", rule):
        schema = (
            {"type": "integer", "minimum": 1, "maximum": 2**53 - 1}
            if conv == "int"
            else {"type": "string", "minLength": 1, "maxLength": 64}
        )
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return params


# The refusals an operation can answer with, each {error: {code, message}}; listed per status (not
# as "default") so a client, and schemathesis, can tell an undocumented status from a documented one.
ERROR_STATUSES = {
    400: "malformed request (invalid JSON, not an object)",
    401: "no or unknown API token, or wrong credentials",
    403: "not yours, or not a coordinator",
    404: "no such object (or not visible to you)",
    409: "clashes with the current state",
    413: "body larger than 1 MiB",
    415: "body not application/json",
    422: "a field is invalid (wrong type, out of range, unknown field)",
    429: "too many attempts (failed logins; new conversations or messages beyond the member's limits): wait "
    "Retry-After seconds",
    502: "a peer node could not be reached or answered badly",
    503: "this process holds as many event streams as it may: wait Retry-After seconds",
}


def _error_statuses(op) -> list[int]:
    out = [400, 403, 404, 409, 422]
    if op.auth or op.rule == "/tokens":
        out.append(401)
    if op.method in ("POST", "PATCH", "PUT"):
        out += [413, 415]
    if op.rule == "/tokens" or op.rate_limited:
        out.append(429)
    if op.tag == "federation":
        out.append(502)
    if op.busy:
        out.append(503)
    return sorted(out)


def _responses(op) -> dict:
    out = {
        str(op.status): {
            "description": "success",
            "content": {op.media_type: {"schema": op.response or {"type": "object"}}},
        }
    }
    if op.auth and op.method == "POST":
        out[str(op.status)]["headers"] = {
            "Idempotent-Replayed": {
                "description": "true when this is the stored first answer to a request repeated with its "
                "Idempotency-Key",
                "schema": {"type": "string", "enum": ["true"]},
            }
        }
    for status in _error_statuses(op):
        out[str(status)] = {"description": ERROR_STATUSES[status], "content": {"application/json": {"schema": ERROR}}}
    for code in ("429", "503"):
        if code not in out:
            continue
        out[code]["headers"] = {
            "Retry-After": {
                "description": "seconds to wait before the next attempt",
                "schema": {"type": "integer", "minimum": 1},
            }
        }
    return out


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "8 to 100 visible ASCII characters chosen by the client, new for each intended request. A "
        "request repeated with the same key (a retry after a lost answer) gets the first answer "
        "again, marked Idempotent-Replayed: true, and changes nothing twice, money above all; the "
        "same key with another body is refused (422 idempotency_key_reused), and while the first "
        "is still being handled a repeat gets 409 idempotency_in_progress. A refused request "
        "(4xx) keeps nothing, so its key may be used again. Keys are per API token."
    ),
    "schema": {"type": "string", "minLength": 8, "maxLength": 100, "pattern": "^[\\x21-\\x7e]+$"},
}


def _query_parameters(op) -> list[dict]:
    return [
        {"name": name, "in": where, "required": False, "schema": schema}
        for where, given in (("query", op.query), ("header", op.headers))
        for name, schema in (given or {}).items()
    ]


def build_document(base_url: str = "/") -> dict:
    """The whole OpenAPI document."""
    paths: dict = {}
    for op in OPERATIONS:
        operation: dict = {
            "summary": op.summary,
            "operationId": op.endpoint.replace(".", "_"),
            "tags": [op.tag],
            "responses": _responses(op),
        }
        params = _parameters(op.rule) + _query_parameters(op)
        if op.auth and op.method == "POST":
            params.append(IDEMPOTENCY_KEY)
        if params:
            operation["parameters"] = params
        if op.body is not None:
            operation["requestBody"] = {
                "required": op.method != "POST" or bool(op.body.get("required")),
                "content": {"application/json": {"schema": op.body}},
            }
        if op.auth:
            operation["security"] = [{"token": []}]
        paths.setdefault("/api/v1" + openapi_path(op.rule), {})[op.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "sifnet node API",
            "version": __version__,
            "description": "The JSON API of one national SIF node. Errors are {error: {code, message}}: the "
            "code is stable (programs test it), the message is for people and follows the "
            "request's Accept-Language (en, nl, de, it, hu, fr), else the token member's "
            "language, else the node's default_language. Times are ISO 8601 UTC, in and out.",
        },
        "servers": [{"url": base_url}],
        "paths": paths,
        "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
    }


@blueprint.get("/api/v1/openapi.json")
def openapi_json():
    from ..context import node_ctx

    return jsonify(build_document(node_ctx().settings.base_url))
