"""Every parameter named `session`, `ctx` or `fed` carries its type, so mypy checks what flows through it."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The packages held to the rule; federation/ joins when its parameters are typed.
PACKAGES = ("node", "deploy", "benchmarks")
# The type each name must be annotated with (`fed` is federation's object: any annotation).
EXPECTED = {"session": "Session", "ctx": "NodeContext", "fed": None}


def untyped_params(source: str, filename: str = "<source>") -> list[str]:
    """`file:line name` of each session/ctx/fed parameter without its type (lambdas cannot carry one)."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        a = node.args
        for arg in (*a.posonlyargs, *a.args, *a.kwonlyargs):
            if arg.arg not in EXPECTED:
                continue
            wanted = EXPECTED[arg.arg]
            if arg.annotation is None or (wanted is not None and wanted not in ast.unparse(arg.annotation)):
                found.append(f"{filename}:{arg.lineno} {arg.arg}")
    return found


def test_the_check_finds_an_untyped_parameter():
    source = (
        "def a(session: Session, ctx: NodeContext, fed: Federation): pass\n"
        "def b(session): pass\n"
        "async def c(*, ctx: object): pass\n"
        "def d(fed): pass\n"
        "e = lambda session: session\n"
    )
    assert untyped_params(source) == ["<source>:2 session", "<source>:3 ctx", "<source>:4 fed"]


@pytest.mark.parametrize("package", PACKAGES)
def test_session_ctx_and_fed_are_typed(package):
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        found += untyped_params(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert not found, "annotate these parameters (session: Session, ctx: NodeContext):\n" + "\n".join(found)
