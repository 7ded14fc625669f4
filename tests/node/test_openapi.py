"""The OpenAPI document at /api/v1/openapi.json matches the routes the app really serves."""

from __future__ import annotations

import copy
import re

import pytest

API_PREFIX = "/api/v1"
NOT_DOCUMENTED = {"/api/v1/openapi.json"}  # the document does not describe itself
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
JSON_TYPES = {"null", "boolean", "object", "array", "number", "string", "integer"}


def served_operations(url_map) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every Flask rule under /api/v1."""
    out = set()
    for rule in url_map.iter_rules():
        if not rule.rule.startswith(API_PREFIX + "/") or rule.rule in NOT_DOCUMENTED:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        out |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return out


def documented_operations(document: dict) -> set[tuple[str, str]]:
    return {(path, method) for path, item in document["paths"].items() for method in item if method in HTTP_METHODS}


def route_mismatches(url_map, document: dict) -> tuple[set, set]:
    """(served but undocumented, documented but not served)."""
    served, documented = served_operations(url_map), documented_operations(document)
    return served - documented, documented - served


def schema_problems(schema, where: str) -> list[str]:
    """JSON Schema (2020-12, as OpenAPI 3.1 uses it) mistakes this document could plausibly make."""
    if not isinstance(schema, dict):
        return [f"{where}: a schema must be an object"]
    problems = []
    types = schema.get("type", [])
    for t in types if isinstance(types, list) else [types]:
        if t not in JSON_TYPES:
            problems.append(f"{where}: unknown type {t!r}")
    if "nullable" in schema:
        problems.append(f"{where}: 'nullable' is OpenAPI 3.0; 3.1 uses type: [..., 'null']")
    props = schema.get("properties", {})
    if not isinstance(props, dict):
        problems.append(f"{where}: properties must be an object")
        props = {}
    missing = set(schema.get("required", [])) - set(props)
    if props and missing:
        problems.append(f"{where}: required but not in properties: {sorted(missing)}")
    for name, sub in props.items():
        problems += schema_problems(sub, f"{where}.{name}")
    if "items" in schema:
        problems += schema_problems(schema["items"], f"{where}[]")
    return problems


def operation_problems(path: str, method: str, op: dict, schemes: dict) -> list[str]:
    """What OpenAPI 3.1 requires of one operation, plus our own conventions."""
    where = f"{method.upper()} {path}"
    problems = [] if op.get("summary") else [f"{where}: no summary"]
    responses = op.get("responses")
    if not responses:
        problems.append(f"{where}: no responses")
    for code, resp in (responses or {}).items():
        if not (code == "default" or re.fullmatch(r"[1-5](\d\d|XX)", code)):
            problems.append(f"{where}: bad response code {code!r}")
        if not isinstance(resp, dict) or not isinstance(resp.get("description"), str):
            problems.append(f"{where} {code}: a response needs a description")
            continue
        for media in resp.get("content", {}).values():
            problems += schema_problems(media.get("schema", {}), f"{where} {code}")
    templated = set(re.findall(r"{([^}]+)}", path))
    declared = {p["name"] for p in op.get("parameters", []) if p.get("in") == "path"}
    if templated != declared:
        problems.append(f"{where}: path parameters {sorted(templated)} but declared {sorted(declared)}")
    for p in op.get("parameters", []):
        if p.get("in") == "path" and p.get("required") is not True:
            problems.append(f"{where}: path parameter {p.get('name')} must be required")
        problems += schema_problems(p.get("schema", {}), f"{where} param {p.get('name')}")
    for media in op.get("requestBody", {}).get("content", {}).values():
        problems += schema_problems(media.get("schema", {}), f"{where} body")
    for requirement in op.get("security", []):
        problems += [f"{where}: unknown security scheme {s}" for s in requirement if s not in schemes]
    return problems


def document_problems(document: dict) -> list[str]:
    """Structural check of an OpenAPI 3.1 document (no validator library in the venv)."""
    problems = [] if document.get("openapi") == "3.1.0" else [f"openapi is {document.get('openapi')!r}"]
    info = document.get("info", {})
    if not (isinstance(info.get("title"), str) and info["title"] and isinstance(info.get("version"), str)):
        problems.append("info needs a title and a version string")
    schemes = document.get("components", {}).get("securitySchemes", {})
    ids = []
    for path, item in document.get("paths", {}).items():
        if not path.startswith("/") or "<" in path:
            problems.append(f"bad path {path!r}")
        for method, op in item.items():
            if method not in HTTP_METHODS:
                problems.append(f"{path}: {method!r} is not an HTTP method")
                continue
            ids.append(op.get("operationId"))
            problems += operation_problems(path, method, op, schemes)
    dupes = {i for i in ids if ids.count(i) > 1}
    if None in ids or dupes:
        problems.append(f"operationIds missing or repeated: {sorted(map(str, dupes))}")
    return problems


@pytest.fixture
def document(client):
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    return resp.get_json()


def test_every_route_is_documented_and_every_operation_is_served(app, document):
    undocumented, phantom = route_mismatches(app.url_map, document)
    assert not undocumented, f"routes missing from the OpenAPI document: {sorted(undocumented)}"
    assert not phantom, f"documented operations the app does not serve: {sorted(phantom)}"
    assert ("/api/v1/transfers", "post") in documented_operations(document)


def test_document_is_well_formed_openapi_3_1(document):
    assert document_problems(document) == []


def test_documented_security_is_enforced(client, document):
    """Every operation documented as needing a token refuses a request without one."""
    checked = 0
    for path, item in document["paths"].items():
        for method, op in item.items():
            if op.get("security"):
                url = re.sub(r"{[^}]+}", "1", path)
                resp = client.open(url, method=method.upper())
                assert resp.status_code == 401, f"{method.upper()} {path} answered {resp.status_code} without a token"
                checked += 1
    assert checked > 5


def test_self_check_flags_an_undocumented_route(app, client):
    """The comparison can fail: a route added behind ApiBlueprint's back is reported."""
    app.add_url_rule("/api/v1/fake/<int:thing_id>", endpoint="fake", view_func=lambda thing_id: "", methods=["POST"])
    document = client.get("/api/v1/openapi.json").get_json()
    undocumented, phantom = route_mismatches(app.url_map, document)
    assert undocumented == {("/api/v1/fake/{thing_id}", "post")} and not phantom


def test_self_check_flags_a_phantom_and_a_missing_method(app, document):
    doc = copy.deepcopy(document)
    doc["paths"]["/api/v1/ghost"] = {"get": {"summary": "x", "responses": {"200": {"description": "ok"}}}}
    del doc["paths"]["/api/v1/me"]["patch"]
    undocumented, phantom = route_mismatches(app.url_map, doc)
    assert undocumented == {("/api/v1/me", "patch")}
    assert phantom == {("/api/v1/ghost", "get")}


def test_self_check_flags_malformed_documents(document):
    doc = copy.deepcopy(document)
    doc["openapi"] = "3.0.3"
    doc["paths"]["/api/v1/x/{id}"] = {"get": {"summary": "x", "operationId": "x", "responses": {}}}
    transfer = doc["paths"]["/api/v1/transfers"]["post"]
    transfer["requestBody"]["content"]["application/json"]["schema"]["properties"]["memo"] = {
        "type": "str",
        "nullable": True,
    }
    problems = "\n".join(document_problems(doc))
    for expected in (
        "openapi is '3.0.3'",
        "GET /api/v1/x/{id}: no responses",
        "path parameters ['id']",
        "unknown type 'str'",
        "'nullable' is OpenAPI 3.0",
    ):
        assert expected in problems
