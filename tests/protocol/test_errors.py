"""Error families, codes and status hints."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from protocol import (
    ERROR_CODES,
    BodyError,
    ChainError,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    SignatureError,
)

PROTOCOL_DIR = Path(__file__).resolve().parents[2] / "protocol"


def _codes_raised_in(source: str) -> set[str]:
    """String literals passed as the first argument to a *Error(...) call."""
    codes = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name.endswith("Error") and isinstance(node.args[0].value, str):
                codes.add(node.args[0].value)
    return codes


def test_every_code_used_in_protocol_is_registered() -> None:
    used = set().union(*(_codes_raised_in(p.read_text(encoding="utf-8")) for p in PROTOCOL_DIR.glob("*.py")))
    assert len(used) > 30
    assert used - set(ERROR_CODES) == set()


def test_code_scanner_can_fail() -> None:
    assert _codes_raised_in('raise BodyError("no_such_code", "m")') == {"no_such_code"}


def test_codes_are_snake_case_with_meanings() -> None:
    for code, info in ERROR_CODES.items():
        assert code == info.code and re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", code)
        assert info.meaning.endswith(".") and 400 <= info.status <= 500


def test_unregistered_code_fails_loudly() -> None:
    with pytest.raises(KeyError):
        RemoteProtocolError("typo_code", "m")


def test_families_and_status_hints() -> None:
    remote = BodyError("amount_not_positive", "amounts are positive", where="body.amount")
    assert isinstance(remote, RemoteProtocolError) and isinstance(remote, ProtocolError)
    assert (remote.code, remote.message, remote.where, remote.status_hint) == (
        "amount_not_positive",
        "amounts are positive",
        "body.amount",
        422,
    )
    assert str(remote) == "amount_not_positive: amounts are positive (at body.amount)"
    assert SignatureError("key_not_of_sender", "m").status_hint == 401
    local = LocalProtocolError("amount_not_positive", "m")
    assert local.status_hint == 500 and not isinstance(local, RemoteProtocolError)


def test_chain_error_names_the_entry() -> None:
    error = ChainError("seq_gap", "expected 2", index=1, seq=3)
    assert (error.where, error.index, error.seq, error.status_hint) == ("entry seq 3", 1, 3, 409)
    assert ChainError("not_a_channel_entry", "m", index=4, seq=None).where == "entry index 4"
