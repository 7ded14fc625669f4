"""The request signature of SPEC, built without a general RFC 9421 library: checked against the RFC's test vector
and against an independent implementation, in both directions, and refused with SPEC's codes when altered."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from federation.transport.httpsig import COVERED, sign_request, signature_base, verify_request
from federation.transport.refusal import Refusal
from protocol import SigningKey
from tests.conftest import START

from .independent_httpsig import library_headers, library_verifies

URL = "https://hu.example.org/federation/v1/inbox"
BODY = b'{"entries":[]}'
KEY = SigningKey.from_seed(b"\x07" * 32)
WINDOW = {"max_skew": timedelta(seconds=300), "max_age": timedelta(seconds=300)}

# RFC 9421, appendix B.1.4 (test-key-ed25519) and B.2.6 (signing a request with it).
RFC_KEY = b"""-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF
-----END PRIVATE KEY-----
"""
RFC_SIGNATURE = "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw=="


def test_the_signature_base_reproduces_the_rfc_9421_ed25519_example():
    components = [
        ("date", "Tue, 20 Apr 2021 02:07:55 GMT"),
        ("@method", "POST"),
        ("@path", "/foo"),
        ("@authority", "example.com"),
        ("content-type", "application/json"),
        ("content-length", "18"),
    ]
    params = (
        '("date" "@method" "@path" "@authority" "content-type" "content-length")'
        ';created=1618884473;keyid="test-key-ed25519"'
    )
    key = load_pem_private_key(RFC_KEY, password=None)
    signature = key.sign(signature_base(components, params))  # type: ignore[call-arg]  # Ed25519: no padding
    assert base64.b64encode(signature).decode() == RFC_SIGNATURE


def test_our_signature_verifies_with_the_independent_implementation():
    headers = sign_request(method="POST", url=URL, body=BODY, from_node="be-vl", to_node="hu", key=KEY, now=START)
    covered = library_verifies("POST", URL, headers, BODY, KEY.public_key, tag="sifnet")
    assert (covered['"sifnet-from"'], covered['"sifnet-to"'], covered['"@target-uri"']) == ("be-vl", "hu", URL)


def test_the_independent_implementations_signature_verifies_here():
    headers = library_headers(
        KEY, url=URL, body=BODY, from_node="be-vl", to_node="hu", created=START, nonce="n" * 24, covered=COVERED
    )
    signed = verify_request(
        method="post", url=URL, headers=headers, body=BODY, public_key=KEY.public_key, now=START, **WINDOW
    )
    assert (signed.from_node, signed.to_node, signed.nonce, signed.created) == ("be-vl", "hu", "n" * 24, START)


def _digest(name: str, body: bytes) -> str:
    return f"{name}=:" + base64.b64encode(hashlib.new(name.replace("-", ""), body).digest()).decode() + ":"


def _signed(**change) -> dict:
    return {
        **sign_request(method="POST", url=URL, body=BODY, from_node="be-vl", to_node="hu", key=KEY, now=START),
        **change,
    }


def _verify(headers: dict, *, body: bytes = BODY, url: str = URL):
    return verify_request(
        method="POST", url=url, headers=headers, body=body, public_key=KEY.public_key, now=START, **WINDOW
    )


@pytest.mark.parametrize(
    ("headers", "body", "url", "code"),
    [
        pytest.param(_signed(), b'{"entries":[1]}', URL, "digest_mismatch", id="body-altered"),
        pytest.param(_signed(), BODY, URL.replace("hu.", "nl."), "bad_request_signature", id="signed-for-another-url"),
        pytest.param(_signed(**{"Sifnet-To": "nl"}), BODY, URL, "bad_request_signature", id="routing-header-altered"),
        pytest.param(_signed(**{"Content-Type": "text/plain"}), BODY, URL, "bad_request_signature", id="type-altered"),
        pytest.param(
            {k: v for k, v in _signed().items() if k != "Content-Type"},
            BODY,
            URL,
            "bad_request_signature",
            id="no-type",
        ),
        pytest.param(
            _signed(Signature="sifnet=:" + "A" * 86 + "==:"), BODY, URL, "bad_request_signature", id="wrong-sig"
        ),
        pytest.param(_signed(Signature='sifnet="text"'), BODY, URL, "bad_request_signature", id="sig-not-bytes"),
        pytest.param(
            _signed(**{"Content-Digest": _digest("sha-256", BODY) + ", " + _digest("sha-512", b"other")}),
            BODY,
            URL,
            "bad_request_signature",  # the signed digest field was changed after signing
            id="digest-field-altered",
        ),
        pytest.param(_signed(**{"Content-Digest": ""}), BODY, URL, "unsupported_digest", id="no-digest"),
    ],
)
def test_an_altered_request_is_refused_with_its_code(headers, body, url, code):
    with pytest.raises(Refusal) as refused:
        _verify(headers, body=body, url=url)
    assert refused.value.code == code


def _signed_with_digest(digest_field: str) -> dict:
    """SPEC's headers with this Content-Digest field, signed as it is (the digest rules are tested here)."""
    covered = "(" + " ".join(f'"{c}"' for c in COVERED) + ")"
    params = f'{covered};created={int(START.timestamp())};keyid="{KEY.key_id}";alg="ed25519";nonce="{"n" * 24}"'
    params += ';tag="sifnet"'
    values = ("POST", URL, digest_field, "application/json", "be-vl", "hu")
    signature = base64.b64encode(KEY.sign(signature_base(zip(COVERED, values), params))).decode()
    return {
        "Content-Type": "application/json",
        "Sifnet-From": "be-vl",
        "Sifnet-To": "hu",
        "Content-Digest": digest_field,
        "Signature-Input": f"sifnet={params}",
        "Signature": f"sifnet=:{signature}:",
    }


@pytest.mark.parametrize(
    ("digest_field", "code"),
    [
        (_digest("sha-256", BODY) + ", " + _digest("sha-512", BODY), None),  # both match: accepted
        (_digest("sha-256", BODY) + ", " + _digest("sha-512", b"other"), "digest_mismatch"),
        (_digest("sha-256", b"other"), "digest_mismatch"),
        (_digest("sha-256", BODY) + ", md5=:AAAAAAAAAAAAAAAAAAAAAA==:", "digest_mismatch"),
        (_digest("sha-256", BODY) + ", " + _digest("sha-256", BODY), "digest_mismatch"),  # one algorithm twice
        ("sha-256=:AAAA:", "digest_mismatch"),  # not 32 bytes
        (_digest("sha-512", BODY), "unsupported_digest"),
    ],
)
def test_every_content_digest_given_must_match(digest_field, code):
    headers = _signed_with_digest(digest_field)
    if code is None:
        assert _verify(headers).from_node == "be-vl"
        return
    with pytest.raises(Refusal) as refused:
        _verify(headers)
    assert refused.value.code == code
