"""SPEC.md documents exactly the registered message types, fields, limits and error codes.

Print the field tables the test expects (meaning column left blank) with:
    .venv/bin/python tests/protocol/test_spec_doc.py
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from protocol import ERROR_CODES, MAX_AMOUNT, MESSAGE_TYPES, wire
from protocol import messages as m
from protocol.schema import B64, Amount, Bool, Enum, Int, List, Map, Nullable, Obj, Optional, Spec, Str, Time

SPEC = Path(__file__).resolve().parents[2] / "protocol" / "SPEC.md"

# Field formats documented once in SPEC.md's "Field formats" table, by name.
FORMATS: list[tuple[str, Spec]] = [
    ("node-id", wire.NODE_ID),
    ("b64-32", wire.HASH),  # also m.PUBLIC: the same 43-character form
    ("ref", m.REF),
    ("handle", m.HANDLE),
    ("kid", m.KID),
    ("tag", m.TAG),
    ("language", m.LANGUAGE),
    ("country", m.COUNTRY),
    ("url", m.URL),
    ("reason-code", m.REASON_CODE),
]
# Objects used by several bodies, documented once in SPEC.md's "Shared objects".
SHARED: list[tuple[str, Obj]] = [
    ("key-entry", m.KEY_ENTRY),
    ("chain-point", m.CHAIN_POINT),
    ("reviewer", m.REVIEWER),
    ("funding-lead", m.FUNDING_LEAD),
    ("advice-offer", m.ADVICE_OFFER),
    ("debt", m.DEBT),
]


def _bound(n: int) -> str:
    return {MAX_AMOUNT: "2^53-1", -MAX_AMOUNT: "-(2^53-1)", 2**31 - 1: "2^31-1"}.get(n, str(n))


def describe(spec: Spec) -> str:
    """The 'type' column SPEC.md gives for a field spec."""
    for name, known in FORMATS + SHARED:  # type: ignore[operator]
        if spec == known:
            return name
    if isinstance(spec, Optional):
        return f"{describe(spec.spec)}, optional"
    if isinstance(spec, Nullable):
        return f"{describe(spec.spec)} or null"
    if isinstance(spec, Str):
        return f"string {spec.min_len}..{spec.max_len}" if spec.min_len else f"string ≤ {spec.max_len}"
    if isinstance(spec, Int):
        return f"integer {_bound(spec.minimum)}..{_bound(spec.maximum)}"
    if isinstance(spec, List):
        size = f"{spec.min_len}..{spec.max_len}" if spec.min_len else f"≤ {spec.max_len}"
        return f"list of {describe(spec.item)}, {size}"
    if isinstance(spec, Map):
        return f"map {describe(spec.key)} → {describe(spec.value)}, ≤ {spec.max_len}"
    if isinstance(spec, Enum):
        return "one of " + ", ".join(spec.values)
    if isinstance(spec, B64):
        return f"b64-{spec.size}"
    if isinstance(spec, m.EmbeddedEnvelope):
        return f"signed {spec.type_name} envelope"
    simple = {Amount: "amount", Bool: "boolean", Time: "time", Obj: "object"}
    return simple[type(spec)]


def rows(obj: Obj, prefix: str = "") -> list[tuple[str, str]]:
    """(field path, type) rows for an object; nested objects flattened as a.b, list items as a[].b."""
    out = []
    for name, spec in obj.fields.items():
        out.append((prefix + name, describe(spec)))
        inner = spec.spec if isinstance(spec, Optional) else spec
        if isinstance(inner, Obj) and describe(inner) == "object":
            out.extend(rows(inner, prefix + name + "."))
        if isinstance(inner, List) and isinstance(inner.item, Obj) and describe(inner.item) == "object":
            out.extend(rows(inner.item, prefix + name + "[]."))
    return out


def _section(heading: str) -> str:
    text = SPEC.read_text(encoding="utf-8")
    match = re.search(rf"^#+ (?:\d+\. )?{re.escape(heading)}\n(.*?)(?=^#)", text, re.M | re.S)
    assert match, f"SPEC.md has no section '{heading}'"
    return match[1]


def _table(section: str) -> list[list[str]]:
    lines = [ln for ln in section.splitlines() if ln.startswith("|") and not re.match(r"\|\s*-", ln)]
    return [[cell.strip() for cell in ln.strip("|").split("|")] for ln in lines[1:]]


def _documented_rows(heading: str) -> list[tuple[str, str]]:
    return [(row[0].strip("`"), row[1]) for row in _table(_section(heading))]


@pytest.mark.parametrize("type_name", sorted(MESSAGE_TYPES))
def test_message_type_fields_and_limits_are_documented(type_name: str) -> None:
    assert _documented_rows(f"`{type_name}`") == rows(MESSAGE_TYPES[type_name].body)


@pytest.mark.parametrize("name", [n for n, _ in SHARED])
def test_shared_objects_are_documented(name: str) -> None:
    obj = dict(SHARED)[name]
    assert _documented_rows(f"Shared object `{name}`") == rows(obj)


def test_field_formats_are_documented() -> None:
    table = {row[0].strip("`"): row[1].strip("`") for row in _table(_section("Field formats"))}
    assert table == {name: spec.pattern for name, spec in FORMATS}  # type: ignore[attr-defined]


def test_registry_table_matches_types() -> None:
    table = _table(_section("Message types"))
    documented = {row[0].strip("`"): (row[1], row[2]) for row in table}
    expected = {
        name: ("`*`" if mt.broadcast else "one node", "channel" if mt.channel else "direct")
        for name, mt in MESSAGE_TYPES.items()
    }
    assert documented == expected


def test_every_error_code_is_documented_with_its_status_and_meaning() -> None:
    table = _table(_section("Error codes"))
    documented = {row[0].strip("`"): (int(row[1]), row[2]) for row in table}
    assert documented == {code: (e.status, e.meaning) for code, e in ERROR_CODES.items()}


if __name__ == "__main__":
    for shared_name, shared in SHARED:
        print(f"#### Shared object `{shared_name}`\n\n| field | type | meaning |\n|---|---|---|")
        for path, kind in rows(shared):
            print(f"| `{path}` | {kind} | |")
        print()
    for type_name, mt in MESSAGE_TYPES.items():
        print(f"### `{type_name}`\n\n| field | type | meaning |\n|---|---|---|")
        for path, kind in rows(mt.body):
            print(f"| `{path}` | {kind} | |")
        print()
