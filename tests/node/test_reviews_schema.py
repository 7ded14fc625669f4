"""Every reviews-area API answer matches the JSON schema it documents in the OpenAPI document."""

from __future__ import annotations

import re

from node.api.base import OPERATIONS
from node.api.openapi import ERROR
from tests.node.test_proposals import BODY, REVIEWER

TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
DATE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def problems(value, schema: dict, path: str = "$") -> list[str]:
    """A small JSON-schema check (the subset our schemas use); returns what does not match."""
    types = schema.get("type")
    types = [types] if isinstance(types, str) else types or []
    if types and not any(_is(value, t) for t in types):
        return [f"{path}: {value!r} is not {types}"]
    out = []
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, int) and not isinstance(value, bool):
        if value < schema.get("minimum", value) or value > schema.get("maximum", value):
            out.append(f"{path}: {value} out of range")
    if isinstance(value, str):
        if len(value) > schema.get("maxLength", len(value)):
            out.append(f"{path}: too long")
        if schema.get("format") == "date-time" and not DATE_TIME.match(value):
            out.append(f"{path}: {value!r} is not a date-time")
    if isinstance(value, list):
        out += [p for i, item in enumerate(value) for p in problems(item, schema.get("items", {}), f"{path}[{i}]")]
    if isinstance(value, dict):
        props = schema.get("properties", {})
        out += [f"{path}: missing {k}" for k in schema.get("required", []) if k not in value]
        if schema.get("additionalProperties") is False:
            out += [f"{path}: unexpected {k}" for k in value if k not in props]
        out += [p for k, v in value.items() if k in props for p in problems(v, props[k], f"{path}.{k}")]
    return out


def _is(value, type_name: str) -> bool:
    if type_name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, TYPES[type_name])


class Checked:
    """A test client wrapper that checks each /api/v1 answer against its documented schema."""

    def __init__(self, app):
        self.client, self.app, self.seen = app.test_client(), app, set()

    def call(self, method: str, path: str, headers: dict, json=None):
        r = self.client.open(path, method=method, headers=headers, json=json)
        endpoint, _ = self.app.url_map.bind("localhost").match(path.split("?")[0], method=method)
        op = next(o for o in OPERATIONS if o.endpoint == endpoint)
        schema = op.response if r.status_code == op.status else ERROR
        assert problems(r.json, schema) == [], (method, path, r.status_code, r.json)
        self.seen.add((op.rule, op.method))
        return r


def test_every_reviews_route_answers_as_documented(app, make_member, token_for):
    c = Checked(app)
    author, coord = make_member("author"), make_member("coord", role="coordinator")
    rev = make_member("rev", expertise=["food"], **REVIEWER)
    other = make_member("other", expertise=["food"], **REVIEWER)
    a, k, h, o = token_for(author), token_for(coord), token_for(rev), token_for(other)
    pid = c.call("POST", "/api/v1/proposals", a, BODY).json["id"]
    c.call("POST", "/api/v1/proposals", a, {**BODY, "bounty": 99})
    for path in (
        "/api/v1/proposals",
        "/api/v1/proposals?all=1",
        f"/api/v1/proposals/{pid}",
        f"/api/v1/proposals/{pid}/candidates",
        "/api/v1/proposals/999",
    ):
        c.call("GET", path, a)
        c.call("GET", path, k)
    c.call("GET", f"/api/v1/proposals/{pid}/candidates", h)
    inv = c.call("GET", "/api/v1/invitations", h).json["invitations"][0]["id"]
    inv_other = c.call("GET", "/api/v1/invitations", o).json["invitations"][0]["id"]
    c.call("GET", f"/api/v1/proposals/{pid}", h)
    c.call("GET", f"/api/v1/invitations/{inv}", h)
    c.call("POST", f"/api/v1/invitations/{inv}/accept", h)
    c.call("POST", f"/api/v1/invitations/{inv}/accept", h)
    c.call("GET", f"/api/v1/proposals/{pid}", h)
    c.call("POST", f"/api/v1/invitations/{inv_other}/decline", o, {"reason": "busy"})
    review = c.call(
        "POST",
        f"/api/v1/invitations/{inv}/review",
        h,
        {"shared_value": 5, "social_transformation": 4, "impact": 3, "confidence": 2, "feedback": "Fine."},
    ).json
    c.call("GET", f"/api/v1/invitations/{inv}", h)
    c.call("POST", f"/api/v1/reviews/{review['id']}/rate", a, {"helpfulness": 3})
    c.call("POST", f"/api/v1/reviews/{review['id']}/rate", a, {"helpfulness": 3})
    c.call("POST", "/api/v1/conflicts", h, {"other_handle": "author", "reason": "neighbours"})
    c.call("POST", "/api/v1/conflicts", h, {"organisation": "Acme"})
    c.call("POST", "/api/v1/coordinator/conflicts", k, {"member_handle": "other", "organisation": "Acme"})
    c.call("POST", "/api/v1/coordinator/conflicts", h, {"member_handle": "other", "organisation": "Acme"})
    c.call("GET", "/api/v1/conflicts", h)
    c.call("GET", "/api/v1/conflicts?all=1", k)
    c.call("GET", f"/api/v1/proposals/{pid}", a)
    c.call("POST", f"/api/v1/proposals/{pid}/withdraw", a)
    c.call("POST", f"/api/v1/proposals/{pid}/withdraw", a)
    c.call("GET", "/api/v1/notifications", h)
    c.call("GET", "/api/v1/notifications", a)
    documented = {(o.rule, o.method) for o in OPERATIONS if o.tag == "reviews"}
    assert documented - c.seen == set()


def test_the_checker_can_fail():
    schema = {
        "type": "object",
        "required": ["a"],
        "additionalProperties": False,
        "properties": {"a": {"type": "integer", "minimum": 1}, "b": {"type": ["string", "null"]}},
    }
    assert problems({"a": 1, "b": None}, schema) == []
    assert problems({"a": 0, "b": 1, "c": True}, schema) == [
        "$: unexpected c",
        "$.a: 0 out of range",
        "$.b: 1 is not ['string', 'null']",
    ]
    assert problems({"b": "x"}, schema) == ["$: missing a"]
