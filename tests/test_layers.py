"""Imports flow one way: protocol <- node <- federation; only the app factory wires federation in."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# (package, packages it must never import, files allowed to break the rule and why)
RULES = {
    "protocol": ({"node", "federation", "flask", "requests", "sqlalchemy", "sqlmodel"}, {}),
    "node": (
        {"federation"},
        {
            "node/app.py": "the app factory wires federation in",
            "node/cli.py": "the command line wires federation's commands in, as the factory does",
            "node/migrations/env.py": "one schema holds the node and federation tables",
        },
    ),
    "federation": (set(), {}),
}


def imported_packages(source: str, module_package: str) -> set[str]:
    """Top-level packages a module imports (relative imports resolve to its own package)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add(module_package if node.level else (node.module or "").split(".")[0])
    return found


def violations() -> list[str]:
    out = []
    for package, (forbidden, allowed) in RULES.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel in allowed or "/migrations/versions/" in rel:
                continue
            bad = imported_packages(path.read_text(), package) & forbidden
            out.extend(f"{rel} imports {name}" for name in sorted(bad))
    return out


def test_imports_flow_one_way():
    assert violations() == []


def test_the_checker_can_fail():
    assert imported_packages("from federation.peers import x\nimport flask", "node") == {"federation", "flask"}
    assert imported_packages("from . import tables", "node") == {"node"}
