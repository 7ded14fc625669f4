"""RFC 9421 HTTP message signatures (with RFC 9530 Content-Digest) for every federation request.

The signature covers the method, the full target URI, the body digest, the content
type and the two routing headers ``Sifnet-From`` / ``Sifnet-To``. The receiver
rebuilds the target URI from its own configured base URL, so a request signed for
another node's URL (or replayed there) does not verify. Time and nonce checks use
the node's clock, not the library's.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from http_message_signatures import HTTPMessageSigner, HTTPMessageVerifier, HTTPSignatureKeyResolver, algorithms
from http_message_signatures.exceptions import HTTPMessageSignaturesException
from requests.structures import CaseInsensitiveDict

from protocol import PublicKey, SigningKey

TAG = "sifnet"
COVERED = ("@method", "@target-uri", "content-digest", "content-type", "sifnet-from", "sifnet-to")


class RequestAuthError(Exception):
    """An inbound request failed authentication; code and status say why."""

    def __init__(self, code: str, message: str, status: int = 401):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


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


def sign_request(*, method: str, url: str, body: bytes, from_node: str, to_node: str, key: SigningKey,
                 now: datetime) -> dict[str, str]:
    """Return the headers that authenticate this request (Content-Digest, Signature-Input, Signature)."""
    headers = CaseInsensitiveDict({"Content-Type": "application/json", "Sifnet-From": from_node,
                                   "Sifnet-To": to_node})
    message = _Message(method.upper(), url, headers)
    resolver = _OneKey(key.key_id, private=key._private)
    HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=resolver).sign(
        message, key_id=key.key_id, created=now, nonce=secrets.token_urlsafe(18), label="sifnet", tag=TAG,
        covered_component_ids=COVERED, body=body,
    )
    return dict(message.headers)


@dataclass(frozen=True)
class SignedRequest:
    """What a verified request's signature says."""

    key_id: str
    from_node: str
    to_node: str
    created: datetime
    nonce: str


def claimed_key_id(headers) -> str:
    """The key id a request claims, read before verification to look the key up."""
    value = headers.get("Signature-Input", "")
    if not value or "Signature" not in headers:
        raise RequestAuthError("signature_missing", "the request carries no HTTP message signature")
    match = re.search(r';keyid="([^"]{1,64})"', value)
    if not match:
        raise RequestAuthError("bad_request_signature", "Signature-Input has no keyid")
    return match.group(1)


def verify_request(*, method: str, url: str, headers, body: bytes, public_key: PublicKey, now: datetime,
                   max_skew: timedelta, max_age: timedelta) -> SignedRequest:
    """Verify the request's signature over our own URL and its body; check its time window.

    Raises:
        RequestAuthError: bad_request_signature, digest_mismatch, request_future or request_expired.
    """
    message = _Message(method.upper(), url, CaseInsensitiveDict(headers))
    verifier = _Verifier(signature_algorithm=algorithms.ED25519,
                         key_resolver=_OneKey(public_key.key_id, public=public_key._loaded))
    try:
        results = verifier.verify(message, max_age=None, expect_tag=TAG, require_components=COVERED, body=body)
    except HTTPMessageSignaturesException as exc:
        code = "digest_mismatch" if "digest" in str(exc).lower() else "bad_request_signature"
        detail = str(exc) or "wrong key, altered request, or signed for another URL"
        raise RequestAuthError(code, f"the request signature does not verify: {detail}") from None
    params = results[0].parameters
    created = datetime.fromtimestamp(int(params["created"]), tz=timezone.utc)
    if created > now + max_skew:
        raise RequestAuthError("request_future", "the request is dated in the future")
    if created < now - max_age:
        raise RequestAuthError("request_expired", "the request is too old")
    nonce = params.get("nonce")
    if not isinstance(nonce, str) or not 8 <= len(nonce) <= 64:
        raise RequestAuthError("bad_request_signature", "the signature needs a nonce")
    covered = results[0].covered_components
    return SignedRequest(key_id=params["keyid"], from_node=covered.get('"sifnet-from"', ""),
                         to_node=covered.get('"sifnet-to"', ""), created=created, nonce=nonce)
