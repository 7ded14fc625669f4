"""RFC 9421 by an independent implementation (http-message-signatures), the cross-check of httpsig.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from http_message_signatures import HTTPMessageSigner, HTTPMessageVerifier, HTTPSignatureKeyResolver, algorithms
from http_message_signatures.exceptions import HTTPMessageSignaturesException
from requests.structures import CaseInsensitiveDict

from protocol import PublicKey, SigningKey


@dataclass
class Message:
    """The minimal request shape the library reads and writes."""

    method: str
    url: str
    headers: CaseInsensitiveDict


class OneKey(HTTPSignatureKeyResolver):
    def __init__(self, kid: str, private=None, public=None):
        self.kid, self.private, self.public = kid, private, public

    def resolve_private_key(self, key_id: str):
        return self.private

    def resolve_public_key(self, key_id: str):
        if key_id != self.kid:
            raise HTTPMessageSignaturesException("unexpected key id")
        return self.public


class _NoClock(HTTPMessageVerifier):
    def validate_created_and_expires(self, sig_input, max_age=None):
        return None  # the cross-check is about the signature; time windows are the node's own checks


def library_signer(key: SigningKey) -> HTTPMessageSigner:
    return HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519, key_resolver=OneKey(key.key_id, private=key._private)
    )


def library_verifies(method: str, url: str, headers: dict, body: bytes, public_key: PublicKey, tag: str) -> dict:
    """The covered components as the library verified them; raises when it does not verify."""
    verifier = _NoClock(
        signature_algorithm=algorithms.ED25519, key_resolver=OneKey(public_key.key_id, public=public_key._loaded)
    )
    message = Message(method, url, CaseInsensitiveDict(headers))
    results = verifier.verify(message, max_age=None, expect_tag=tag, body=body)
    return dict(results[0].covered_components)


def library_headers(
    key: SigningKey,
    *,
    url: str,
    body: bytes,
    from_node: str,
    to_node: str,
    created: datetime,
    nonce: str,
    covered: tuple[str, ...],
    label: str = "sifnet",
    tag: str | None = "sifnet",
    include_alg: bool = True,
    expires: datetime | None = None,
    digest: str | None = None,
) -> dict:
    """The request headers as the library signs them: SPEC's template, or another one as asked (a given
    Content-Digest is signed as it is, else the library adds the body's)."""
    headers = CaseInsensitiveDict({"Content-Type": "application/json", "Sifnet-From": from_node, "Sifnet-To": to_node})
    if digest is not None:
        headers["Content-Digest"] = digest
    message = Message("POST", url, headers)
    library_signer(key).sign(
        message,
        key_id=key.key_id,
        created=created,
        expires=expires,
        nonce=nonce,
        label=label,
        tag=tag,
        include_alg=include_alg,
        covered_component_ids=covered,
        body=body,
        use_existing_digest=digest is not None,
    )
    return dict(message.headers)
