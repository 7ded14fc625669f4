"""Signing envelopes and the receiver's checks, in their documented order."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime, timedelta

from .canonical import canonical_json
from .encoding import b64url_decode, b64url_encode
from .envelope import Envelope, Signature, check_form
from .errors import (
    LocalProtocolError,
    RemoteProtocolError,
    ReplayWindowError,
    SignatureError,
)
from .keyring import KeyInfo, Keyring
from .keys import SigningKey
from .timefmt import parse_time, require_aware
from .wire import BROADCAST

ALGORITHM = "ed25519"


def signing_input(env: Envelope, kid: str | None = None) -> bytes:
    """The bytes an envelope's signature covers.

    That is the canonical JSON of the envelope with ``sig`` reduced to
    ``{"alg": "ed25519", "kid": kid}``: everything but ``sig.value``, so the
    key id is signed too.

    Args:
        kid: the signing key's id; defaults to ``env.sig.kid``.

    Raises:
        LocalProtocolError: ``bad_argument`` if there is no kid to bind.
    """
    if kid is None:
        if env.sig is None:
            raise LocalProtocolError("bad_argument", "an unsigned envelope needs the kid to sign with")
        kid, alg = env.sig.kid, env.sig.alg
    else:
        alg = ALGORITHM
    data = env.to_dict()
    data["sig"] = {"alg": alg, "kid": kid}
    return canonical_json(data)


def sign_envelope(env: Envelope, key: SigningKey) -> Envelope:
    """Return ``env`` signed by ``key`` (any previous signature is replaced)."""
    kid = key.key_id
    value = b64url_encode(key.sign(signing_input(env, kid)))
    return dataclasses.replace(env, sig=Signature(ALGORITHM, kid, value))


def envelope_hash(env: Envelope) -> str:
    """Unpadded base64url of SHA-256 over the canonical JSON of the whole envelope, sig included."""
    return b64url_encode(hashlib.sha256(canonical_json(env.to_dict())).digest())


def check_signature(env: Envelope, keyring: Keyring, created_at: datetime) -> KeyInfo:
    """Receiver steps 5-10: a valid ed25519 signature by a key of ``from``, valid at ``created``.

    Returns:
        The KeyInfo of the signing key.

    Raises:
        SignatureError: ``signature_missing``, ``unsupported_algorithm``,
            ``unknown_key``, ``key_not_of_sender``, ``key_not_yet_valid``,
            ``key_expired`` or ``bad_signature``, checked in that order.
    """
    sig = env.sig
    if sig is None:
        raise SignatureError("signature_missing", "the envelope is not signed", where="sig")
    if sig.alg != ALGORITHM:
        raise SignatureError("unsupported_algorithm", f"{sig.alg!r} is not ed25519", where="sig.alg")
    info = keyring.get(sig.kid)
    if info is None:
        raise SignatureError("unknown_key", f"no key {sig.kid} in the keyring", where="sig.kid")
    if info.node_id != env.from_:
        raise SignatureError("key_not_of_sender", f"key {sig.kid} belongs to {info.node_id}", where="sig.kid")
    if info.not_before is not None and created_at < info.not_before:
        raise SignatureError("key_not_yet_valid", f"key {sig.kid} was not valid yet", where="created")
    if info.not_after is not None and created_at >= info.not_after:
        raise SignatureError("key_expired", f"key {sig.kid} was retired", where="created")
    try:
        raw = b64url_decode(sig.value)
    except RemoteProtocolError:
        raise SignatureError("bad_signature", "signature is not base64url", where="sig.value") from None
    if len(raw) != 64 or not info.public_key.verify(raw, signing_input(env)):
        raise SignatureError("bad_signature", "signature does not verify", where="sig.value")
    return info


def check_created(created: str | datetime, now: datetime, max_skew: timedelta, max_age: timedelta) -> datetime:
    """The acceptance window: ``now - max_age <= created <= now + max_skew``.

    Returns:
        ``created`` as an aware datetime.

    Raises:
        ReplayWindowError: ``envelope_future`` or ``envelope_expired``.
        RemoteProtocolError: ``bad_time`` if ``created`` is a malformed string.
    """
    require_aware(now, "now")
    if max_skew < timedelta(0) or max_age < timedelta(0):
        raise LocalProtocolError("bad_argument", "max_skew and max_age are not negative")
    when = parse_time(created, where="created") if isinstance(created, str) else created
    require_aware(when, "created")
    if when > now + max_skew:
        raise ReplayWindowError("envelope_future", "created too far in the future", where="created")
    if when < now - max_age:
        raise ReplayWindowError("envelope_expired", "created too long ago", where="created")
    return when


def verify_envelope(
    env: Envelope,
    *,
    keyring: Keyring,
    expected_to: str,
    now: datetime,
    max_skew: timedelta,
    max_age: timedelta,
) -> Envelope:
    """Run every receiver check, in the order SPEC.md gives, and return ``env``.

    Replay of an already seen id is stateful and left to the caller (code
    ``replayed``). Channel entries are checked with ``check_chain`` instead,
    which applies no acceptance window.

    Raises:
        RemoteProtocolError: the first check that fails, with its code.
    """
    require_aware(now, "now")
    mt = check_form(env)
    allowed_to = BROADCAST if mt.broadcast else expected_to
    if env.to != allowed_to:
        raise RemoteProtocolError("wrong_recipient", f"addressed to {env.to!r}, not {allowed_to!r}", where="to")
    created_at = parse_time(env.created, where="created")
    check_signature(env, keyring, created_at)
    check_created(created_at, now, max_skew, max_age)
    return env
