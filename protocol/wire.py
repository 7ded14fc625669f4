"""The JSON shape of an envelope and the string patterns shared across messages."""

from __future__ import annotations

from .schema import B64, MAX_AMOUNT, AnyObject, Int, Obj, Optional, Str, Time

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = frozenset({PROTOCOL_VERSION})
BROADCAST = "*"

NODE_ID_PATTERN = r"[a-z][a-z0-9-]{1,31}"
ENVELOPE_ID_PATTERN = r"[A-Za-z0-9_-]{1,64}"
TYPE_PATTERN = r"[a-z][a-z0-9_]{0,63}"
# Unpadded base64url of a SHA-256 digest or an Ed25519 public key: 32 bytes, 43 chars.
B64_32_PATTERN = r"[A-Za-z0-9_-]{43}"
KID_PATTERN = r"ed25519:[A-Za-z0-9_-]{22}"

NODE_ID = Str(32, pattern=NODE_ID_PATTERN)
HASH = Str(43, pattern=B64_32_PATTERN)

CHANNEL_SHAPE = Obj({"seq": Int(1, MAX_AMOUNT), "prev": HASH})
# kid and alg are only loosely shaped here: a key id or algorithm this node does
# not know is refused later, by the receiver checks, with a precise code.
SIG_SHAPE = Obj(
    {
        "alg": Str(32, min_len=1, pattern=r"[a-z0-9-]+"),
        "kid": Str(128, min_len=1, pattern=r"[\x21-\x7e]+"),
        "value": B64(256),
    }
)
ENVELOPE_SHAPE = Obj(
    {
        "v": Int(1, 2**31 - 1),
        "id": Str(64, pattern=ENVELOPE_ID_PATTERN),
        "type": Str(64, pattern=TYPE_PATTERN),
        "from": NODE_ID,
        "to": Str(32, pattern=rf"{NODE_ID_PATTERN}|\*"),
        "created": Time(),
        "body": AnyObject(),
        "channel": Optional(CHANNEL_SHAPE),
        "sig": Optional(SIG_SHAPE),
    }
)
