"""The OpenAPI 3.1 document, built from the routes registered through ApiBlueprint."""
from __future__ import annotations

import re

from flask import Blueprint, jsonify

from .. import __version__
from .base import OPERATIONS

blueprint = Blueprint("openapi", __name__)

ERROR = {
    "type": "object",
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}}}},
    "required": ["error"],
}


def openapi_path(rule: str) -> str:
    """Flask's /x/<int:id> becomes OpenAPI's /x/{id}."""
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def _parameters(rule: str) -> list[dict]:
    params = []
    for conv, name in re.findall(r"<(?:([a-z]+):)?([a-z_]+)>", rule):
        schema = {"type": "integer", "minimum": 1, "maximum": 2**53 - 1} if conv == "int" else {"type": "string", "minLength": 1, "maxLength": 64}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return params


def build_document(base_url: str = "/") -> dict:
    """The whole OpenAPI document."""
    paths: dict = {}
    for op in OPERATIONS:
        operation: dict = {
            "summary": op.summary,
            "operationId": op.endpoint.replace(".", "_"),
            "tags": [op.tag],
            "responses": {
                str(op.status): {"description": "success", "content": {"application/json": {"schema": op.response or {"type": "object"}}}},
                "default": {"description": "an error", "content": {"application/json": {"schema": ERROR}}},
            },
        }
        params = _parameters(op.rule)
        if params:
            operation["parameters"] = params
        if op.body is not None:
            operation["requestBody"] = {"required": op.method != "POST" or bool(op.body.get("required")),
                                        "content": {"application/json": {"schema": op.body}}}
        if op.auth:
            operation["security"] = [{"token": []}]
        paths.setdefault("/api/v1" + openapi_path(op.rule), {})[op.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "sifnet node API", "version": __version__,
                 "description": "The JSON API of one national SIF node. Errors are {error: {code, message}}."},
        "servers": [{"url": base_url}],
        "paths": paths,
        "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
    }


@blueprint.get("/api/v1/openapi.json")
def openapi_json():
    from ..context import node_ctx

    return jsonify(build_document(node_ctx().settings.base_url))
