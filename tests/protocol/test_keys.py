"""Keys, key ids, fingerprints and strict base64url."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from protocol import LocalProtocolError, PublicKey, RemoteProtocolError, SigningKey, b64url_decode, b64url_encode

SEED = bytes(range(32))


@pytest.mark.parametrize("seed", [b"", bytes(31), bytes(33), "0" * 32, bytearray(32)])
def test_seed_must_be_exactly_32_bytes(seed: object) -> None:
    with pytest.raises(LocalProtocolError) as info:
        SigningKey.from_seed(seed)  # type: ignore[arg-type]
    assert info.value.code == "bad_seed"


def test_key_round_trips_and_derivations() -> None:
    key = SigningKey.from_seed(SEED)
    pub = key.public_key
    assert key.seed == SEED
    assert len(pub.raw) == 32
    assert PublicKey.from_b64(pub.b64) == pub
    digest = hashlib.sha256(pub.raw).digest()
    assert pub.key_id == "ed25519:" + base64.urlsafe_b64encode(digest).decode().rstrip("=")[:22]
    assert re.fullmatch(r"ed25519:[A-Za-z0-9_-]{22}", pub.key_id)
    assert re.fullmatch(r"([A-Z2-7]{4}-){7}[A-Z2-7]{4}", pub.fingerprint)
    expected = base64.b32encode(hashlib.sha256(b"sifnet-fingerprint-v1" + pub.raw).digest()[:20]).decode()
    assert pub.fingerprint.replace("-", "") == expected


def test_sign_and_verify() -> None:
    key = SigningKey.from_seed(SEED)
    sig = key.sign(b"hello")
    assert sig == key.sign(b"hello")  # deterministic
    assert key.public_key.verify(sig, b"hello")
    assert not key.public_key.verify(sig, b"hellO")
    assert not key.public_key.verify(sig[:-1], b"hello")
    other = SigningKey.from_seed(bytes(32))
    assert not other.public_key.verify(sig, b"hello")


def test_seed_is_not_in_repr() -> None:
    key = SigningKey.from_seed(SEED)
    assert SEED.hex() not in repr(key) and repr(SEED) not in repr(key)
    assert key.key_id in repr(key)


def test_keys_compare_by_value() -> None:
    assert SigningKey.from_seed(SEED) == SigningKey.from_seed(SEED)
    assert SigningKey.from_seed(SEED).public_key == SigningKey.from_seed(SEED).public_key
    assert len({SigningKey.from_seed(SEED).public_key, SigningKey.from_seed(SEED).public_key}) == 1


@pytest.mark.parametrize(
    "text",
    [
        "AAAA=",  # padding
        "AA==",
        "AB+/",  # standard alphabet
        "A B",
        "A",  # impossible length
        "AB",  # non-zero trailing bits: canonical spelling is "AA"
        "AAB",  # likewise, "AAA"
        "é",
    ],
)
def test_b64url_decode_is_strict(text: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        b64url_decode(text)
    assert info.value.code == "bad_base64"


@pytest.mark.parametrize("data", [b"", b"\x00", b"\xff\xfe", b"abc", bytes(range(256))])
def test_b64url_round_trip(data: bytes) -> None:
    text = b64url_encode(data)
    assert "=" not in text and b64url_decode(text) == data


@pytest.mark.parametrize(
    ("text", "code"),
    [("AAAA", "bad_public_key"), ("A" * 42 + "=", "bad_base64"), ("A" * 42 + "B", "bad_base64")],
)
def test_public_key_from_b64_refusals(text: str, code: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        PublicKey.from_b64(text, where="body.keys[0].public")
    assert (info.value.code, info.value.where) == (code, "body.keys[0].public")


def test_public_key_needs_32_bytes() -> None:
    with pytest.raises(LocalProtocolError):
        PublicKey(b"short")
