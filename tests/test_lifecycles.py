"""Every stateful record has a declared graph, and its state changes only through `Lifecycle.move`.

The graphs are checked when defined (node/lifecycle.py); here: every state is reachable, move()
refuses what is not declared and changes nothing, timeouts are refused when they name an undeclared
move or a missing column, and no module of node/ or federation/ assigns a state field itself.
"""

from __future__ import annotations

import ast
import importlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from federation.settlement.transport import Coordinator
from node.errors import IllegalTransitionError
from node.lifecycle import INVITATION, Lifecycle, Timeout, lifecycle
from node.services.rounds import ROUND as REVIEW_ROUND
from node.settings import SETTINGS
from node.tables import ReviewInvitation, ReviewRound

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("node", "federation")
# Where each lifecycle lives: module -> the names it declares.
DECLARED = {
    "node.lifecycle": ("MEMBER", "BOOKING", "LISTING", "FUNDING_LEAD", "REPORT", "PROPOSAL", "INVITATION"),
    "node.services.rounds": ("ROUND",),
    "federation.reviews.reviewer_side": ("INCOMING",),
    "federation.advice.booker_side": ("BOOKER_SIDE",),
    "federation.advice.adviser_side": ("ADVISER_SIDE",),
    "federation.settlement.participant": ("PART",),
    "federation.settlement.coordinator": ("ROUND",),
    "federation.transport.peers": ("PEER",),
    "federation.payments.transfers": ("TRANSFER",),
    "federation.transport.checkpoints": ("DISPUTE",),
    "federation.directory.listings": ("LISTING",),
}
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def all_lifecycles() -> dict[str, Lifecycle]:
    found = {}
    for module, names in DECLARED.items():
        imported = importlib.import_module(module)
        for name in names:
            found[f"{module}:{name}"] = getattr(imported, name)
    return found


LIFECYCLES = all_lifecycles()


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def declarations_in_code() -> set[str]:
    """module:NAME of every module-level `NAME = lifecycle(...)` in node/ and federation/."""
    found = set()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for stmt in ast.parse(path.read_text()).body:
                if (
                    isinstance(stmt, ast.Assign)
                    and isinstance(stmt.value, ast.Call)
                    and isinstance(stmt.value.func, ast.Name)
                    and stmt.value.func.id == "lifecycle"
                ):
                    found.update(f"{module_name(path)}:{t.id}" for t in stmt.targets if isinstance(t, ast.Name))
    return found


def test_every_declared_lifecycle_is_listed_here():
    assert declarations_in_code() == set(LIFECYCLES)


def reachable(lc: Lifecycle) -> set[str]:
    seen, todo = {lc.initial}, [lc.initial]
    while todo:
        for target in lc.transitions[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


@pytest.mark.parametrize("key", sorted(LIFECYCLES))
def test_every_state_is_reachable_from_the_initial_one(key):
    lc = LIFECYCLES[key]
    assert reachable(lc) == set(lc.transitions), key


@pytest.mark.parametrize("key", sorted(LIFECYCLES))
def test_move_assigns_every_declared_move_and_refuses_every_other(key):
    lc = LIFECYCLES[key]
    for current, targets in lc.transitions.items():
        for target in lc.transitions:
            row = SimpleNamespace(**{lc.field: current})
            if target in targets:
                lc.move(row, target)
                assert getattr(row, lc.field) == target
            else:
                with pytest.raises(IllegalTransitionError):
                    lc.move(row, target)
                assert getattr(row, lc.field) == current, f"{key}: a refused {current} -> {target} changed the row"


def test_a_refusal_changes_nothing_on_a_table_row():
    row = ReviewInvitation(status="declined", bounty=1, invited_at=T0, accept_by=T0)
    with pytest.raises(IllegalTransitionError, match="declined"):
        INVITATION.move(row, "accepted")
    assert row.status == "declined"


def test_move_uses_the_lifecycles_field_unless_told_otherwise():
    lc = lifecycle("part", "a", field="state", a="b", b="")
    row = SimpleNamespace(state="a", status="a")
    lc.move(row, "b")
    assert (row.state, row.status) == ("b", "a")
    lc.move(row, "b", field="status")
    assert row.status == "b"


def test_a_graph_naming_an_undeclared_state_is_refused():
    with pytest.raises(ValueError, match="not declared"):
        lifecycle("x", "a", a="b")
    with pytest.raises(ValueError, match="initial"):
        lifecycle("x", "z", a="")


def test_a_timeout_must_be_a_declared_move():
    with pytest.raises(ValueError, match="a -> c is not a declared move"):
        lifecycle("x", "a", timeouts=(Timeout("a", "c", at="t"),), a="b", b="", c="")
    with pytest.raises(ValueError, match="not a declared move"):
        lifecycle("x", "a", timeouts=(Timeout("z", "a", at="t"),), a="", b="")


def test_a_timeouts_deadline_field_must_exist_on_the_table():
    with pytest.raises(ValueError, match="no deadline field 'accept_until'"):
        lifecycle(
            "x",
            "invited",
            table=ReviewInvitation,
            timeouts=(Timeout("invited", "expired", at="accept_until"),),
            invited="expired",
            expired="",
        )
    with pytest.raises(ValueError, match="no state field 'state'"):
        lifecycle("x", "invited", field="state", table=ReviewInvitation, invited="")


def test_a_state_has_at_most_one_timeout():
    with pytest.raises(ValueError, match="more than one timeout"):
        lifecycle("x", "a", timeouts=(Timeout("a", "b", at="t"), Timeout("a", "c", at="u")), a="b c", b="", c="")


def test_every_grace_names_a_setting_or_a_coordinators_period():
    settings = {s.name for s in SETTINGS}
    for key, lc in LIFECYCLES.items():
        for t in lc.timeouts:
            assert not t.grace or t.grace in settings or t.grace in Coordinator.__annotations__, (key, t)


def test_a_timeout_is_due_when_its_deadline_is_reached():
    row = ReviewInvitation(status="invited", bounty=1, invited_at=T0, accept_by=T0)
    assert INVITATION.is_overdue(row, "invited", T0)
    assert not INVITATION.is_overdue(row, "invited", T0 - timedelta(seconds=1))
    row.status = "accepted"  # accepted meanwhile: the expiry no longer applies, nor the due date (none yet)
    assert not INVITATION.is_overdue(row, "invited", T0)
    assert not INVITATION.is_overdue(row, "accepted", T0)
    assert "accept_by <=" in str(INVITATION.overdue("invited", T0))


def test_a_grace_period_is_added_from_the_settings():
    stale = REVIEW_ROUND.timeout("solving")
    row = ReviewRound(status="solving", solve_started_at=T0)
    settings = SimpleNamespace(round_solve_timeout_seconds=60)
    assert (stale.source, stale.target) == ("solving", "failed")
    assert stale.deadline(row, settings) == T0 + timedelta(seconds=60)
    with pytest.raises(ValueError, match="use deadline"):
        REVIEW_ROUND.is_overdue(row, "solving", T0)


# --- no state field is assigned outside a lifecycle ---------------------------------------------------------

STATE_FIELDS = {"status", "state"}
# (module path, what is assigned) -> why it is no row's state.
ALLOWED = {
    ("node/errors.py", "self.status"): "an error's HTTP status",
    ("node/services/counterparties.py", "line.status"): "a statement line's word for its session's state",
    ("federation/payments/statement_lines.py", "line.status"): "a statement line's word for its payment's state",
    ("node/idempotency.py", "values(status=)"): "the HTTP status of a stored first answer",
}


def state_assignments(source: str) -> list[tuple[int, str]]:
    """(line, what) of every assignment of a `status`/`state` attribute, setattr of one, or `.values(status=...)`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            for t in target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]:
                if isinstance(t, ast.Attribute) and t.attr in STATE_FIELDS:
                    found.append((node.lineno, ast.unparse(t)))
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id == "setattr" and len(node.args) > 1:
                name = node.args[1]
                if isinstance(name, ast.Constant) and name.value in STATE_FIELDS:
                    found.append((node.lineno, f"setattr({name.value})"))
            if isinstance(func, ast.Attribute) and func.attr == "values":
                found.extend((node.lineno, f"values({k.arg}=)") for k in node.keywords if k.arg in STATE_FIELDS)
    return found


def test_no_module_assigns_a_state_field_directly():
    bad, allowed_seen = [], set()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel == "node/lifecycle.py":
                continue
            for line, what in state_assignments(path.read_text()):
                if (rel, what) in ALLOWED:
                    allowed_seen.add((rel, what))
                else:
                    bad.append(f"{rel}:{line}: {what}")
    assert bad == [], "state changes go through Lifecycle.move():\n" + "\n".join(bad)
    assert allowed_seen == set(ALLOWED), "an allowed assignment is gone: drop it from ALLOWED"


def test_the_scan_sees_every_form_of_assignment():
    source = """
row.status = "paid"
part.state, part.reason = "lapsed", ""
setattr(row, "status", "x")
session.execute(update(T).values(state="y"))
row.status_reason = "kept"
row = T(status="created")
"""
    assert state_assignments(source) == [
        (2, "row.status"),
        (3, "part.state"),
        (4, "setattr(status)"),
        (5, "values(state=)"),
    ]
