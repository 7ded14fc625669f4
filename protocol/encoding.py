"""Strict unpadded base64url, the only binary-to-text encoding on the wire."""

from __future__ import annotations

import base64
import binascii
import re

from .errors import RemoteProtocolError

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url_encode(data: bytes) -> str:
    """Encode bytes as base64url without padding (RFC 4648 section 5)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url, refusing anything but its one canonical spelling.

    Raises:
        RemoteProtocolError: code ``bad_base64`` for padding, characters outside
            the alphabet, an impossible length, or non-zero trailing bits (which
            would let two strings stand for the same bytes).
    """
    if not isinstance(text, str) or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise RemoteProtocolError("bad_base64", "not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):  # pragma: no cover - the regex already excludes these
        raise RemoteProtocolError("bad_base64", "not unpadded base64url") from None
    if b64url_encode(data) != text:
        raise RemoteProtocolError("bad_base64", "base64url with non-zero trailing bits")
    return data
