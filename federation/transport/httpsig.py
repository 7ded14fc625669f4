"""RFC 9421 HTTP message signatures (with RFC 9530 Content-Digest) for every federation request.

The signature covers the method, the full target URI, the body digest, the content
type and the two routing headers ``Sifnet-From`` / ``Sifnet-To``. The receiver
rebuilds the target URI from its own configured base URL, so a request signed for
another node's URL (or replayed there) does not verify. Time and nonce checks use
the node's clock.

SPEC fixes one template (six components in one order, five or six parameters, Ed25519),
so the signature base is built here directly instead of by a general RFC 9421 library: a
request is signed and verified in a fraction of the time (benchmarks/federation.py), and the
tests check the result against the RFC's own test vector and against an independent
implementation (http-message-signatures) in both directions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

import http_sf
from requests.structures import CaseInsensitiveDict

from federation.transport.refusal import Refusal
from protocol import PublicKey, SigningKey

TAG = LABEL = "sifnet"
COVERED = ("@method", "@target-uri", "content-digest", "content-type", "sifnet-from", "sifnet-to")
REQUIRED_PARAMS = frozenset({"created", "keyid", "alg", "nonce", "tag"})
ALLOWED_PARAMS = REQUIRED_PARAMS | {"expires"}
CONTENT_TYPE = "application/json"
_COVERED_LIST = "(" + " ".join(f'"{c}"' for c in COVERED) + ")"
_DIGESTS = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}  # RFC 9530's two active algorithms


def signature_base(components: Iterable[tuple[str, str]], signature_params: str) -> bytes:
    """RFC 9421 section 2.5: one line per covered component, then the `@signature-params` line.

    `components` are (component id, value) pairs in the covered order; the value is the component's
    value as the message carries it (a header's value trimmed of surrounding whitespace)."""
    lines = [f'"{name}": {value}' for name, value in components]
    lines.append(f'"@signature-params": {signature_params}')
    text = "\n".join(lines)
    if "\n" in "".join(value for _name, value in components) or not text.isascii():
        raise ValueError("a component value must be one line of ASCII")
    return text.encode("ascii")


def content_digest(body: bytes) -> str:
    """The Content-Digest field of a body (RFC 9530), sha-256."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


def sign_request(
    *, method: str, url: str, body: bytes, from_node: str, to_node: str, key: SigningKey, now: datetime
) -> dict[str, str]:
    """Return the headers that authenticate this request (Content-Digest, Signature-Input, Signature)."""
    digest = content_digest(body)
    created = int(now.timestamp())
    params = (
        f'{_COVERED_LIST};created={created};keyid="{key.key_id}";alg="ed25519"'
        f';nonce="{secrets.token_urlsafe(18)}";tag="{TAG}"'
    )
    values = (method.upper(), url, digest, CONTENT_TYPE, from_node, to_node)
    signature = key.sign(signature_base(zip(COVERED, values), params))
    return {
        "Content-Type": CONTENT_TYPE,
        "Sifnet-From": from_node,
        "Sifnet-To": to_node,
        "Content-Digest": digest,
        "Signature-Input": f"{LABEL}={params}",
        "Signature": f"{LABEL}=:{base64.b64encode(signature).decode()}:",
    }


@dataclass(frozen=True)
class SignedRequest:
    """What a request's signature says (read from its Signature-Input, then verified)."""

    key_id: str
    from_node: str
    to_node: str
    created: datetime
    nonce: str
    expires: datetime | None = None


def read_signature_input(headers) -> SignedRequest:
    """Parse the request's signature parameters, held to SPEC's template exactly (before any key lookup).

    Raises:
        Refusal: signature_missing, bad_request_signature (not structured fields), signature_params
            (another label, more than one signature, other components or parameters, alg or tag).
    """
    return _read_signature(headers)[0]


def _read_signature(headers) -> tuple[SignedRequest, Any, Any]:
    """The signature's parameters, its Signature-Input member as parsed, and its Signature member."""
    raw_input, raw_signature = headers.get("Signature-Input", ""), headers.get("Signature", "")
    if not raw_input or not raw_signature:
        raise Refusal("signature_missing", "the request carries no HTTP message signature")
    try:
        inputs = http_sf.parse(raw_input.encode("latin-1"), tltype="dictionary")
        signatures = http_sf.parse(raw_signature.encode("latin-1"), tltype="dictionary")
    except (ValueError, UnicodeError) as exc:
        raise Refusal("bad_request_signature", f"Signature-Input or Signature does not parse: {exc}") from None
    # tltype="dictionary" parses to a dict whose members are (value, parameters) pairs.
    if not isinstance(inputs, dict) or not isinstance(signatures, dict):
        raise Refusal("bad_request_signature", "Signature-Input and Signature must be dictionaries")
    if list(inputs) != [LABEL] or list(signatures) != [LABEL]:
        raise Refusal("signature_params", f"send exactly one signature, labelled {LABEL!r}")
    member = inputs[LABEL]
    if not isinstance(member, tuple):
        raise Refusal("bad_request_signature", "the signature's member has no parameters")
    items, params = member
    pairs = [item for item in items if isinstance(item, tuple)] if isinstance(items, list) else []
    if not isinstance(items, list) or tuple(p[0] for p in pairs) != COVERED or any(p[1] for p in pairs):
        raise Refusal("signature_params", f"the signature must cover exactly {' '.join(COVERED)}, in that order")
    if not REQUIRED_PARAMS <= set(params) <= ALLOWED_PARAMS:
        raise Refusal("signature_params", "the parameters are created, keyid, alg, nonce, tag and optionally expires")
    if params["alg"] != "ed25519" or params["tag"] != TAG:
        raise Refusal("signature_params", f'the signature needs alg="ed25519" and tag="{TAG}"')
    created, expires = params["created"], params.get("expires")
    if not _unix_seconds(created) or not (expires is None or _unix_seconds(expires)):
        raise Refusal("signature_params", "created and expires are unix seconds")
    key_id, nonce = params["keyid"], params["nonce"]
    if not isinstance(key_id, str) or not 1 <= len(key_id) <= 64:
        raise Refusal("signature_params", "keyid is a key id string")
    if not isinstance(nonce, str) or not 8 <= len(nonce) <= 64:
        raise Refusal("signature_params", "the nonce is a string of 8 to 64 characters")
    signed = SignedRequest(
        key_id=key_id,
        from_node=headers.get("Sifnet-From", ""),
        to_node=headers.get("Sifnet-To", ""),
        nonce=nonce,
        created=datetime.fromtimestamp(created, tz=UTC),
        expires=None if expires is None else datetime.fromtimestamp(expires, tz=UTC),
    )
    return signed, member, signatures[LABEL]


def _unix_seconds(value: object) -> TypeGuard[int]:
    return not isinstance(value, bool) and isinstance(value, int) and 0 <= value < 2**37


def check_request_time(signed: SignedRequest, *, now: datetime, max_skew: timedelta, max_age: timedelta) -> None:
    """The request's window on the receiver's clock: created within [now - max_age, now + max_skew], expires ahead."""
    if signed.created > now + max_skew:
        raise Refusal("request_future", "the request is dated in the future")
    if signed.created < now - max_age:
        raise Refusal("request_expired", "the request is too old")
    if signed.expires is not None and (signed.expires <= signed.created or now >= signed.expires):
        raise Refusal("request_expired", "the request's signature has expired")


def _digests(headers) -> dict[str, bytes]:
    """The Content-Digest members by algorithm; a sha-256 one is required (RFC 9530)."""
    twice: list[str] = []
    try:
        parsed = http_sf.parse(
            headers.get("Content-Digest", "").encode("latin-1"),
            tltype="dictionary",
            on_duplicate_key=lambda name, context: twice.append(name),
        )
    except (ValueError, UnicodeError):
        parsed = {}
    if not isinstance(parsed, dict) or "sha-256" not in parsed:
        raise Refusal("unsupported_digest", "Content-Digest must carry a sha-256 digest of the body")
    if twice:
        raise Refusal("digest_mismatch", f"the content digest algorithm {twice[0]!r} is given twice")
    out = {}
    for algorithm, member in parsed.items():
        value = member[0] if isinstance(member, tuple) else member  # a member is (value, parameters)
        if algorithm not in _DIGESTS:
            raise Refusal("digest_mismatch", f"the content digest algorithm {algorithm!r} is not supported")
        if not isinstance(value, bytes) or len(value) != _DIGESTS[algorithm]().digest_size:
            raise Refusal("digest_mismatch", f"the {algorithm} content digest is not a digest of that algorithm")
        out[algorithm] = value
    return out


def verify_request(
    *,
    method: str,
    url: str,
    headers,
    body: bytes,
    public_key: PublicKey,
    now: datetime,
    max_skew: timedelta,
    max_age: timedelta,
) -> SignedRequest:
    """Verify the request's signature over our own URL and its body; check its template and time window.

    Raises:
        Refusal: a code of read_signature_input, unsupported_digest, bad_request_signature, digest_mismatch,
            request_future or request_expired.
    """
    headers = CaseInsensitiveDict(headers)
    signed, member, signature = _read_signature(headers)
    digests = _digests(headers)
    values = [method.upper(), url]
    for name in COVERED[2:]:
        value = headers.get(name)
        if value is None:
            raise Refusal("bad_request_signature", f"the signed header {name} is missing")
        values.append(value.strip(" \t"))
    try:
        params = http_sf.ser({LABEL: member})[len(LABEL) + 1 :]
        base = signature_base(zip(COVERED, values), params)
    except ValueError as exc:
        raise Refusal("bad_request_signature", f"the request signature does not verify: {exc}") from None
    if not isinstance(signature[0], bytes) or not public_key.verify(signature[0], base):
        raise Refusal(
            "bad_request_signature",
            "the request signature does not verify: wrong key, altered request, or signed for another URL",
        )
    for algorithm, digest in digests.items():
        if not hmac.compare_digest(digest, _DIGESTS[algorithm](body).digest()):
            raise Refusal(
                "digest_mismatch", "the request signature does not verify: Content-Digest does not match the body"
            )
    from_node, to_node = values[-2:]  # the routing headers as signed (the last two of COVERED)
    signed = SignedRequest(
        key_id=signed.key_id,
        from_node=from_node,
        to_node=to_node,
        created=signed.created,
        nonce=signed.nonce,
        expires=signed.expires,
    )
    check_request_time(signed, now=now, max_skew=max_skew, max_age=max_age)
    return signed
