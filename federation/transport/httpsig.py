"""RFC 9421 HTTP message signatures (with RFC 9530 Content-Digest) for every federation request.

The signature covers the method, the full target URI, the body digest, the content
type and the two routing headers ``Sifnet-From`` / ``Sifnet-To``. The receiver
rebuilds the target URI from its own configured base URL, so a request signed for
another node's URL (or replayed there) does not verify. Time and nonce checks use
the node's clock, not the library's.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import http_sf
from http_message_signatures import HTTPMessageSigner, HTTPMessageVerifier, HTTPSignatureKeyResolver, algorithms
from http_message_signatures.exceptions import HTTPMessageSignaturesException
from requests.structures import CaseInsensitiveDict

from protocol import PublicKey, SigningKey

from .refusal import Refusal

TAG = LABEL = "sifnet"
COVERED = ("@method", "@target-uri", "content-digest", "content-type", "sifnet-from", "sifnet-to")
REQUIRED_PARAMS = frozenset({"created", "keyid", "alg", "nonce", "tag"})
ALLOWED_PARAMS = REQUIRED_PARAMS | {"expires"}


@dataclass
class _Message:
    """The minimal request shape the signature library reads."""

    method: str
    url: str
    headers: CaseInsensitiveDict


class _OneKey(HTTPSignatureKeyResolver):
    def __init__(self, kid: str, private=None, public=None):
        self.kid, self.private, self.public = kid, private, public

    def resolve_private_key(self, key_id: str):
        return self.private

    def resolve_public_key(self, key_id: str):
        if key_id != self.kid:
            raise HTTPMessageSignaturesException("unexpected key id")
        return self.public


class _Verifier(HTTPMessageVerifier):
    # created/expires are checked against the node's own clock in verify_request.
    require_created = True

    def validate_created_and_expires(self, sig_input, max_age=None):
        return None


def sign_request(
    *, method: str, url: str, body: bytes, from_node: str, to_node: str, key: SigningKey, now: datetime
) -> dict[str, str]:
    """Return the headers that authenticate this request (Content-Digest, Signature-Input, Signature)."""
    headers = CaseInsensitiveDict({"Content-Type": "application/json", "Sifnet-From": from_node, "Sifnet-To": to_node})
    message = _Message(method.upper(), url, headers)
    resolver = _OneKey(key.key_id, private=key._private)
    HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=resolver).sign(
        message,
        key_id=key.key_id,
        created=now,
        nonce=secrets.token_urlsafe(18),
        label="sifnet",
        tag=TAG,
        covered_component_ids=COVERED,
        body=body,
    )
    return dict(message.headers)


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
    raw_input, raw_signature = headers.get("Signature-Input", ""), headers.get("Signature", "")
    if not raw_input or not raw_signature:
        raise Refusal("signature_missing", "the request carries no HTTP message signature")
    try:
        inputs = http_sf.parse(raw_input.encode("latin-1"), tltype="dictionary")
        signatures = http_sf.parse(raw_signature.encode("latin-1"), tltype="dictionary")
    except (ValueError, UnicodeError) as exc:
        raise Refusal("bad_request_signature", f"Signature-Input or Signature does not parse: {exc}") from None
    if list(inputs) != [LABEL] or list(signatures) != [LABEL]:
        raise Refusal("signature_params", f"send exactly one signature, labelled {LABEL!r}")
    items, params = inputs[LABEL]
    if not isinstance(items, list) or tuple(item[0] for item in items) != COVERED or any(i[1] for i in items):
        raise Refusal("signature_params", f"the signature must cover exactly {' '.join(COVERED)}, in that order")
    if not REQUIRED_PARAMS <= set(params) <= ALLOWED_PARAMS:
        raise Refusal("signature_params", "the parameters are created, keyid, alg, nonce, tag and optionally expires")
    if params["alg"] != "ed25519" or params["tag"] != TAG:
        raise Refusal("signature_params", f'the signature needs alg="ed25519" and tag="{TAG}"')
    stamps = [params["created"], params.get("expires", 0)]
    if any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**37 for v in stamps):
        raise Refusal("signature_params", "created and expires are unix seconds")
    if not isinstance(params["keyid"], str) or not 1 <= len(params["keyid"]) <= 64:
        raise Refusal("signature_params", "keyid is a key id string")
    if not isinstance(params["nonce"], str) or not 8 <= len(params["nonce"]) <= 64:
        raise Refusal("signature_params", "the nonce is a string of 8 to 64 characters")
    expires = params.get("expires")
    return SignedRequest(
        key_id=params["keyid"],
        from_node=headers.get("Sifnet-From", ""),
        to_node=headers.get("Sifnet-To", ""),
        nonce=params["nonce"],
        created=datetime.fromtimestamp(params["created"], tz=UTC),
        expires=None if expires is None else datetime.fromtimestamp(expires, tz=UTC),
    )


def check_request_time(signed: SignedRequest, *, now: datetime, max_skew: timedelta, max_age: timedelta) -> None:
    """The request's window on the receiver's clock: created within [now - max_age, now + max_skew], expires ahead."""
    if signed.created > now + max_skew:
        raise Refusal("request_future", "the request is dated in the future")
    if signed.created < now - max_age:
        raise Refusal("request_expired", "the request is too old")
    if signed.expires is not None and (signed.expires <= signed.created or now >= signed.expires):
        raise Refusal("request_expired", "the request's signature has expired")


def _check_digest_algorithm(headers) -> None:
    try:
        digests = http_sf.parse(headers.get("Content-Digest", "").encode("latin-1"), tltype="dictionary")
    except (ValueError, UnicodeError):
        digests = {}
    if "sha-256" not in digests:
        raise Refusal("unsupported_digest", "Content-Digest must carry a sha-256 digest of the body")


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
    signed = read_signature_input(headers)
    _check_digest_algorithm(headers)
    message = _Message(method.upper(), url, headers)
    verifier = _Verifier(
        signature_algorithm=algorithms.ED25519, key_resolver=_OneKey(public_key.key_id, public=public_key._loaded)
    )
    try:
        results = verifier.verify(message, max_age=None, expect_tag=TAG, require_components=COVERED, body=body)
    except HTTPMessageSignaturesException as exc:
        code = "digest_mismatch" if "digest" in str(exc).lower() else "bad_request_signature"
        detail = str(exc) or "wrong key, altered request, or signed for another URL"
        raise Refusal(code, f"the request signature does not verify: {detail}") from None
    covered = results[0].covered_components
    # The routing headers as signed (the library read them from the covered components).
    signed = SignedRequest(
        key_id=signed.key_id,
        from_node=covered.get('"sifnet-from"', ""),
        to_node=covered.get('"sifnet-to"', ""),
        created=signed.created,
        nonce=signed.nonce,
        expires=signed.expires,
    )
    check_request_time(signed, now=now, max_skew=max_skew, max_age=max_age)
    return signed
