"""Imports flow one way: protocol <- node <- federation; only the app factory wires federation in.

deploy/ and benchmarks/ run without the test suite: they import nothing from tests/ (deploy/processes.py
holds the process helpers all three share), but for the few test tools listed here with the reason.
"""

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
WITHOUT_TESTS = ("deploy", "benchmarks")
# (file, module of tests/ it may import): why
TEST_TOOLS_ALLOWED = {
    ("benchmarks/ledger.py", "tests.pg"): "its PostgreSQL figures use the test lane's throw-away cluster",
    ("benchmarks/federation.py", "tests.federation.forge"): "it acts as a peer with entries signed by hand",
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


def imported_modules(source: str) -> set[str]:
    """Dotted names a module imports; `from a.b import c` is a.b.c (c may be a module or a name in a.b)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def forbidden_test_imports(rel: str, source: str) -> list[str]:
    """The modules of tests/ a file of deploy/ or benchmarks/ imports without being allowed to."""
    allowed = [module for (path, module) in TEST_TOOLS_ALLOWED if path == rel]
    return sorted(
        name
        for name in imported_modules(source)
        if (name == "tests" or name.startswith("tests."))
        and not any(name == module or name.startswith(f"{module}.") for module in allowed)
    )


def imports_from_tests() -> list[str]:
    out = []
    for folder in WITHOUT_TESTS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            out.extend(f"{rel} imports {name}" for name in forbidden_test_imports(rel, path.read_text()))
    return out


def test_imports_flow_one_way():
    assert violations() == []


def test_deploy_and_benchmarks_do_not_import_tests():
    assert imports_from_tests() == []
    assert all((ROOT / path).exists() for path, _ in TEST_TOOLS_ALLOWED), "an allowed file is gone: drop its line"


def test_the_checker_can_fail():
    assert imported_packages("from federation.transport.peers import x\nimport flask", "node") == {"federation", "flask"}
    assert imported_packages("from . import tables", "node") == {"node"}
    source = "from tests.procs import NodeProcess\nimport tests"
    assert forbidden_test_imports("deploy/devnet.py", source) == ["tests", "tests.procs.NodeProcess"]
    source = "from tests import pg\nfrom tests import procs"
    assert forbidden_test_imports("benchmarks/ledger.py", source) == ["tests.procs"]
