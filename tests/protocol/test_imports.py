"""protocol/ is sans-IO: standard library, cryptography and rfc8785 only; no clock, no randomness, no I/O."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PROTOCOL_DIR = Path(__file__).resolve().parents[2] / "protocol"
THIRD_PARTY_ALLOWED = {"cryptography", "rfc8785"}
# Standard library modules that would bring a clock, randomness or I/O in.
STDLIB_FORBIDDEN = {
    "asyncio", "http", "io", "logging", "os", "pathlib", "random", "secrets", "select", "selectors",
    "shutil", "socket", "sqlite3", "ssl", "subprocess", "sys", "tempfile", "threading", "time",
    "urllib", "uuid",
}  # fmt: skip
FORBIDDEN_CALLS = {"now", "utcnow", "today", "open", "print", "input", "__import__", "import_module"}


def import_problems(source: str) -> list[str]:
    """Each import or call in ``source`` that breaks the sans-IO rule, as 'line N: why'."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [] if node.level > 0 else [node.module or ""]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in FORBIDDEN_CALLS:
                problems.append(f"line {node.lineno}: calls {name}()")
            continue
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top == "__future__" or top == "protocol" or top in THIRD_PARTY_ALLOWED:
                continue
            if top not in sys.stdlib_module_names:
                problems.append(f"line {node.lineno}: imports third-party {name}")
            elif top in STDLIB_FORBIDDEN:
                problems.append(f"line {node.lineno}: imports {name} (clock, randomness or I/O)")
    return problems


def test_protocol_sources_exist() -> None:
    assert len(list(PROTOCOL_DIR.glob("*.py"))) >= 8


@pytest.mark.parametrize("path", sorted(PROTOCOL_DIR.rglob("*.py")), ids=lambda p: p.name)
def test_protocol_module_is_sans_io(path: Path) -> None:
    assert import_problems(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ("import flask", True),
        ("from requests import get", True),
        ("import sqlmodel.main", True),
        ("import os", True),
        ("from time import monotonic", True),
        ("import random", True),
        ("from datetime import datetime\ndatetime.now()", True),
        ("x = open('f')", True),
        ("importlib.import_module('flask')", True),
        ("import json, hashlib", False),
        ("from cryptography.hazmat.primitives import hashes", False),
        ("import rfc8785", False),
        ("from .errors import ProtocolError", False),
        ("from protocol.keys import PublicKey", False),
        ("from __future__ import annotations", False),
    ],
)
def test_checker_can_fail(source: str, flagged: bool) -> None:
    assert bool(import_problems(source)) is flagged
