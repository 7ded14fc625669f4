"""Every `session`, `fed` and `ctx` parameter in federation/ carries its type, so mypy checks what is done with it.

A lambda cannot annotate its parameters; mypy infers them from where the lambda is passed, so lambdas are skipped.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
# parameter name: the type its annotation names (the last dotted part, so `orm.Session` counts too)
TYPED = {"session": "Session", "fed": "Federation", "ctx": "NodeContext"}


def untyped_params(source: str, filename: str = "<source>") -> list[str]:
    """`file:line name` for each session/fed/ctx parameter of a def that lacks the annotation TYPED names."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        args = node.args
        for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs):
            expected = TYPED.get(arg.arg)
            if expected is None:
                continue
            names = {n.attr if isinstance(n, ast.Attribute) else n.id for n in _names(arg.annotation)}
            if expected not in names:
                found.append(f"{filename}:{arg.lineno} {node.name}({arg.arg})")
    return found


def _names(annotation: ast.expr | None) -> list[ast.Name | ast.Attribute]:
    if annotation is None:
        return []
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        annotation = ast.parse(annotation.value, mode="eval").body
    return [n for n in ast.walk(annotation) if isinstance(n, (ast.Name, ast.Attribute))]


def test_federation_params_are_typed():
    found = []
    for path in sorted((ROOT / "federation").rglob("*.py")):
        found += untyped_params(path.read_text(), str(path.relative_to(ROOT)))
    assert found == [], "annotate these parameters:\n" + "\n".join(found)


def test_walker_finds_untyped_and_wrongly_typed_params():
    source = (
        "def a(session, fed: Federation, *, ctx): ...\n"
        "async def b(fed: 'Federation | None', ctx: node.context.NodeContext, session: requests.Session): ...\n"
        "def c(session: Session, fed: object): return lambda session: session\n"
    )
    assert untyped_params(source) == ["<source>:1 a(session)", "<source>:1 a(ctx)", "<source>:3 c(fed)"]
