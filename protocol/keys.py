"""Ed25519 keys, their key ids and their read-aloud fingerprints."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .encoding import b64url_decode, b64url_encode
from .errors import LocalProtocolError, RemoteProtocolError

__all__ = ["PublicKey", "SigningKey", "b64url_decode", "b64url_encode", "key_id_of"]

KEY_ID_PREFIX = "ed25519:"
FINGERPRINT_DOMAIN = b"sifnet-fingerprint-v1"


def key_id_of(raw: bytes) -> str:
    """Key id of a raw public key: "ed25519:" + first 22 chars of b64url(sha256(raw))."""
    return KEY_ID_PREFIX + b64url_encode(hashlib.sha256(raw).digest())[:22]


def fingerprint_of(raw: bytes) -> str:
    """Fingerprint: base32 of the first 20 bytes of sha256(domain + raw), in 8 groups of 4."""
    digest = hashlib.sha256(FINGERPRINT_DOMAIN + raw).digest()[:20]
    text = base64.b32encode(digest).decode("ascii")  # 20 bytes -> 32 chars, no padding
    return "-".join(text[i : i + 4] for i in range(0, 32, 4))


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 public key, as its 32 raw bytes."""

    raw: bytes
    # Loading the key costs about as much as a verify; keep the loaded object.
    _loaded: Ed25519PublicKey = field(init=False, repr=False, compare=False)
    key_id: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.raw, bytes) or len(self.raw) != 32:
            raise LocalProtocolError("bad_argument", "a public key is exactly 32 bytes")
        try:
            loaded = Ed25519PublicKey.from_public_bytes(self.raw)
        except ValueError:
            raise LocalProtocolError("bad_argument", "not an Ed25519 public key") from None
        object.__setattr__(self, "_loaded", loaded)
        object.__setattr__(self, "key_id", key_id_of(self.raw))

    @classmethod
    def from_b64(cls, text: str, *, where: str | None = None) -> PublicKey:
        """Read a public key from unpadded base64url of its 32 raw bytes.

        Raises:
            RemoteProtocolError: code ``bad_base64`` or ``bad_public_key``.
        """
        try:
            raw = b64url_decode(text)
        except RemoteProtocolError as exc:
            raise RemoteProtocolError(exc.code, exc.message, where=where) from None
        if len(raw) != 32:
            raise RemoteProtocolError("bad_public_key", "a public key is exactly 32 bytes", where=where)
        try:
            return cls(raw)
        except LocalProtocolError:
            raise RemoteProtocolError("bad_public_key", "not an Ed25519 public key", where=where) from None

    @property
    def b64(self) -> str:
        """The key as unpadded base64url."""
        return b64url_encode(self.raw)

    @property
    def fingerprint(self) -> str:
        """A string a coordinator can read aloud to pin this key."""
        return fingerprint_of(self.raw)

    def verify(self, signature: bytes, data: bytes) -> bool:
        """Return whether ``signature`` is a valid Ed25519 signature of ``data``."""
        try:
            self._loaded.verify(signature, data)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, repr=False)
class SigningKey:
    """An Ed25519 private key, held as its 32-byte RFC 8032 seed."""

    seed: bytes
    _private: Ed25519PrivateKey = field(init=False, compare=False)
    public_key: PublicKey = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.seed, bytes) or len(self.seed) != 32:
            raise LocalProtocolError("bad_seed", "a seed is exactly 32 bytes")
        private = Ed25519PrivateKey.from_private_bytes(self.seed)
        raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        object.__setattr__(self, "_private", private)
        object.__setattr__(self, "public_key", PublicKey(raw))

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        """Build the key whose seed is ``seed``.

        Raises:
            LocalProtocolError: code ``bad_seed`` unless ``seed`` is exactly 32 bytes.
        """
        return cls(seed)

    @property
    def key_id(self) -> str:
        """Key id of the public half."""
        return self.public_key.key_id

    def sign(self, data: bytes) -> bytes:
        """Sign ``data``; Ed25519 is deterministic, so equal input gives equal output."""
        return self._private.sign(data)

    def __repr__(self) -> str:
        # Never show the seed, not even in a traceback.
        return f"SigningKey(key_id={self.key_id!r})"
