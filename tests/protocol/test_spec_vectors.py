"""SPEC.md's test vectors are exactly what the code produces, byte for byte.

Regenerate the blocks after a deliberate change with:
    .venv/bin/python tests/protocol/test_spec_vectors.py
and paste them into protocol/SPEC.md.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocol import (
    ChannelRef,
    Envelope,
    KeyInfo,
    Keyring,
    SigningKey,
    b64url_decode,
    canonical_json,
    check_chain,
    entry_hash,
    genesis_hash,
    make_envelope,
    sign_envelope,
    signing_input,
)

SPEC = Path(__file__).resolve().parents[2] / "protocol" / "SPEC.md"
BLOCK = re.compile(r"^```vector name=(?P<name>[a-z0-9-]+)(?P<text> format=text)?\n(?P<body>.*?)^```$", re.M | re.S)
SEED = bytes(range(32))
SENDER, RECEIVER = "be-vl", "hu"


def _entries(key: SigningKey) -> list[Envelope]:
    """The three entries of the example channel be-vl -> hu; entry 1 is the example transfer."""
    bodies = [
        (
            "transfer",
            {
                "transfer_id": "t-0001",
                "payer": "anna",
                "payee": "bela",
                "amount": 250,
                "memo": "Review of the café plan",
            },
        ),
        ("review_accept", {"invite_id": "inv-7"}),
        ("transfer", {"transfer_id": "t-0002", "payer": "anna", "payee": "csaba", "amount": 9007199254740991}),
    ]
    entries, prev = [], genesis_hash(SENDER, RECEIVER)
    for seq, (type_name, body) in enumerate(bodies, start=1):
        env = make_envelope(
            type=type_name,
            from_=SENDER,
            to=RECEIVER,
            created=f"2026-01-15T10:0{seq - 1}:00Z",
            body=body,
            id=f"be-vl-hu-{seq:06d}",
            channel=ChannelRef(seq, prev),
        )
        entries.append(sign_envelope(env, key))
        prev = entry_hash(entries[-1])
    return entries


def build_vectors() -> dict[str, object]:
    """Every vector, by name: JSON values, or str for format=text blocks."""
    key = SigningKey.from_seed(SEED)
    entries = _entries(key)
    transfer = entries[0]
    unsigned = transfer.to_dict()
    del unsigned["sig"]
    return {
        "key": {
            "seed_hex": SEED.hex(),
            "public_key_hex": key.public_key.raw.hex(),
            "public_key": key.public_key.b64,
            "key_id": key.key_id,
            "fingerprint": key.public_key.fingerprint,
        },
        "genesis": {
            "from": SENDER,
            "to": RECEIVER,
            "input": canonical_json({"channel": [SENDER, RECEIVER], "genesis": True}).decode(),
            "hash": genesis_hash(SENDER, RECEIVER),
        },
        "transfer-unsigned": unsigned,
        "transfer-signing-input": signing_input(transfer).decode("utf-8"),
        "transfer": {
            "signing_input_hex": signing_input(transfer).hex(),
            "signature": transfer.sig.value,  # type: ignore[union-attr]
            "envelope": transfer.to_dict(),
            "envelope_hash": entry_hash(transfer),
        },
        "chain": {
            "sender": SENDER,
            "receiver": RECEIVER,
            "genesis": genesis_hash(SENDER, RECEIVER),
            "entries": [{"envelope": e.to_dict(), "hash": entry_hash(e)} for e in entries],
        },
    }


def render(name: str, value: object) -> str:
    """The fenced block for one vector, as it appears in SPEC.md."""
    if isinstance(value, str):
        return f"```vector name={name} format=text\n{value}\n```"
    return f"```vector name={name}\n{json.dumps(value, indent=2, ensure_ascii=False)}\n```"


def spec_blocks() -> dict[str, str]:
    """The vector blocks found in SPEC.md, by name, as exact text."""
    text = SPEC.read_text(encoding="utf-8")
    return {m["name"]: m[0] for m in BLOCK.finditer(text)}


VECTORS = build_vectors()


def test_spec_has_exactly_the_vectors() -> None:
    assert sorted(spec_blocks()) == sorted(VECTORS)


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_vector_matches_code_byte_for_byte(name: str) -> None:
    assert spec_blocks()[name] == render(name, VECTORS[name])


def _spec_value(name: str) -> object:
    match = BLOCK.search(spec_blocks()[name])
    assert match is not None
    body = match["body"][:-1]  # the newline before the closing fence
    return body if match["text"] else json.loads(body)


def test_vectors_are_consistent_without_our_code() -> None:
    """Check the documented values with bare hashlib and cryptography, as another implementer would."""
    key, transfer = _spec_value("key"), _spec_value("transfer")
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(key["public_key_hex"]))
    signing_bytes = bytes.fromhex(transfer["signing_input_hex"])
    public.verify(b64url_decode(transfer["signature"]), signing_bytes)  # raises if wrong
    assert signing_bytes.decode("utf-8") == _spec_value("transfer-signing-input")
    genesis = _spec_value("genesis")
    assert hashlib.sha256(genesis["input"].encode()).digest() == b64url_decode(genesis["hash"])
    # For ASCII member names and integers, sorted compact JSON is the canonical form.
    envelope_text = json.dumps(transfer["envelope"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    envelope_bytes = envelope_text.encode()
    assert hashlib.sha256(envelope_bytes).digest() == b64url_decode(transfer["envelope_hash"])
    assert {**transfer["envelope"], "sig": None} == {**_spec_value("transfer-unsigned"), "sig": None}


def test_documented_chain_verifies() -> None:
    chain, key = _spec_value("chain"), _spec_value("key")
    entries = [Envelope.from_dict(item["envelope"]) for item in chain["entries"]]
    ring = Keyring.of(KeyInfo(SENDER, SigningKey.from_seed(bytes.fromhex(key["seed_hex"])).public_key))
    report = check_chain(entries, sender=chain["sender"], receiver=chain["receiver"], keyring=ring)
    assert list(report.hashes) == [item["hash"] for item in chain["entries"]]
    assert entries[0].channel.prev == chain["genesis"]  # type: ignore[union-attr]


if __name__ == "__main__":
    for vector_name, vector in VECTORS.items():
        print(render(vector_name, vector), end="\n\n")
