"""One table of codes: every code the protocol and the federation endpoints can answer is in it (with the
status SPEC.md gives), and every reason code the node puts in a bounce or a decline is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from federation.transport.refusal import Refusal
from protocol import ERROR_CODES

ROOT = Path(__file__).resolve().parents[2]
SPEC = (ROOT / "protocol" / "SPEC.md").read_text(encoding="utf-8")
# A call that raises a coded refusal, with the code as its first argument (also on the next line).
RAISERS = (
    r"(?:Refusal|ProtocolError|SchemaError|SignatureError|ReplayWindowError|ChainError|EnvelopeError|"
    r"BodyError|JSONInputError|_refuse|fail)"
)
CODE_ARG = re.compile(RAISERS + r'\(\s*"([a-z0-9_]+)"')


def sources(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (ROOT / pkg).rglob("*.py") if "directory" not in p.parts)


def raised_codes() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sources("protocol", "federation"):
        for code in CODE_ARG.findall(path.read_text(encoding="utf-8")):
            found.setdefault(code, set()).add(str(path.relative_to(ROOT)))
    return found


def test_the_scan_finds_the_codes_it_should():
    """The scan itself: it sees codes raised in protocol/ and in federation/ (else the next test proves nothing)."""
    found = raised_codes()
    assert {"prev_mismatch", "unknown_peer", "signature_params", "certificate_forged", "bad_base64"} <= set(found)
    assert len(found) > 60


def test_every_code_the_code_raises_is_in_the_table():
    unregistered = {code: where for code, where in raised_codes().items() if code not in ERROR_CODES}
    assert unregistered == {}


def test_a_refusal_of_an_unregistered_code_fails_loudly():
    with pytest.raises(KeyError):
        Refusal("no_such_code", "typo")
    assert Refusal("key_claimed", "m").status == ERROR_CODES["key_claimed"].status == 409


def test_statuses_named_in_the_text_agree_with_the_table():
    pairs = re.findall(r"\(`([a-z0-9_]+)`, (\d{3})\)", SPEC)
    assert pairs, "SPEC names no (code, status) pair any more: drop this test"
    wrong = [
        (code, int(status), ERROR_CODES[code].status)
        for code, status in pairs
        if code not in ERROR_CODES or ERROR_CODES[code].status != int(status)
    ]
    assert wrong == []


def test_every_reason_code_of_a_bounce_or_decline_is_documented():
    text = "\n".join(p.read_text(encoding="utf-8") for p in sources("federation"))
    decline = set(re.findall(r'return f?"([a-z_]+): ', text))
    bounce = set(re.findall(r'"[a-z_]+": "([a-z_]+)"', re.search(r"code = \{(.*?)\}", text, re.S)[1]))
    transfers = (ROOT / "federation" / "transfers.py").read_text(encoding="utf-8")
    apply_transfer = transfers[
        transfers.index("def apply_transfer(") : transfers.index("\n\n\n", transfers.index("def apply_transfer("))
    ]
    bounce |= set(re.findall(r'code="([a-z_]+)"\)', apply_transfer))
    bounce.add("transfer_id_reused")
    assert {"accept_by_too_far", "peer_slot_cap", "no_capacity"} <= decline
    assert {"trust_limit_exceeded", "payee_cap_exceeded", "unknown_payee"} <= bounce
    undocumented = sorted(code for code in decline | bounce if f"`{code}`" not in SPEC)
    assert undocumented == []
