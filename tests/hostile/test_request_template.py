"""The RFC 9421 request signature is held to SPEC's template exactly, and framework answers on federation
paths are SPEC's JSON errors: every case refused with its code, nothing changed (signed with a peer's real key)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests

from federation.transport.httpsig import COVERED
from protocol import canonical_json
from tests.conftest import START
from tests.federation.forge import INBOX
from tests.federation.independent_httpsig import library_headers

from .conftest import BASE_URL, refused, unchanged
from .test_inbox import send, transfer

URL = BASE_URL + INBOX


def signed(
    f,
    *,
    label="sifnet",
    tag="sifnet",
    components=COVERED,
    include_alg=True,
    created=START,
    expires=None,
    digest=None,
    edit=None,
) -> requests.PreparedRequest:
    """A request from peer `f` signed with its real key, with the template changed as asked."""
    body = canonical_json({"entries": [transfer(f).to_dict()]})
    out = library_headers(
        f.key,
        url=URL,
        body=body,
        from_node=f.node_id,
        to_node=f.target_id,
        created=created,
        nonce=secrets.token_urlsafe(18),
        covered=components,
        label=label,
        tag=tag,
        include_alg=include_alg,
        expires=expires,
        digest=None if digest is None else digest(body),
    )
    if edit is not None:
        out["Signature-Input"] = edit(out["Signature-Input"])
    return requests.Request("POST", URL, data=body, headers=out).prepare()


def sha512_only(body: bytes) -> str:
    return "sha-512=:" + base64.b64encode(hashlib.sha512(body).digest()).decode() + ":"


def two_signatures(f):
    prepared = signed(f)
    prepared.headers["Signature-Input"] += ", " + prepared.headers["Signature-Input"].replace("sifnet=", "other=", 1)
    prepared.headers["Signature"] += ", " + prepared.headers["Signature"].replace("sifnet=", "other=", 1)
    return prepared


P = pytest.param
CASES = [
    P(lambda hu: signed(hu, label="sig1"), 401, "signature_params", id="other-label"),
    P(lambda hu: signed(hu, tag="other"), 401, "signature_params", id="other-tag"),
    P(lambda hu: signed(hu, tag=None), 401, "signature_params", id="no-tag"),
    P(lambda hu: signed(hu, include_alg=False), 401, "signature_params", id="no-alg"),
    P(lambda hu: signed(hu, components=COVERED[:-1]), 401, "signature_params", id="routing-header-not-covered"),
    P(lambda hu: signed(hu, components=(*COVERED, "@authority")), 401, "signature_params", id="extra-component"),
    P(
        lambda hu: signed(hu, components=(COVERED[1], COVERED[0], *COVERED[2:])),
        401,
        "signature_params",
        id="components-reordered",
    ),
    P(lambda hu: signed(hu, edit=lambda v: re.sub(r";created=\d+", "", v)), 401, "signature_params", id="no-created"),
    P(
        lambda hu: signed(hu, edit=lambda v: re.sub(r";created=\d+", ";created=1000000000000", v)),
        401,
        "signature_params",
        id="created-beyond-any-date",
    ),
    P(
        lambda hu: signed(hu, edit=lambda v: re.sub(r";created=\d+", ';created="1"', v)),
        401,
        "signature_params",
        id="created-not-an-integer",
    ),
    P(
        lambda hu: signed(hu, edit=lambda v: v + ';alg="hmac-sha256"'),
        401,
        "signature_params",
        id="alg-repeated-last-wins",
    ),
    P(
        lambda hu: signed(hu, edit=lambda v: v.replace('alg="ed25519"', 'alg="rsa-pss-sha512"')),
        401,
        "signature_params",
        id="other-alg",
    ),
    P(lambda hu: signed(hu, edit=lambda v: v + ';extra="1"'), 401, "signature_params", id="unknown-parameter"),
    P(two_signatures, 401, "signature_params", id="two-signatures"),
    P(lambda hu: signed(hu, digest=sha512_only), 401, "unsupported_digest", id="sha512-only-digest"),
    P(
        lambda hu: signed(hu, expires=START - timedelta(seconds=1), created=START - timedelta(seconds=60)),
        401,
        "request_expired",
        id="expired-by-its-expires",
    ),
    P(
        lambda hu: signed(hu, expires=START - timedelta(seconds=30)),
        401,
        "request_expired",
        id="expires-before-created",
    ),
]


@pytest.mark.parametrize(("build", "status", "code"), CASES)
def test_request_signature_outside_the_template_is_refused(world, build, status, code):
    prepared = build(world.peers["hu"][1])
    with unchanged(world.ctx):
        response = send(world, prepared)
    refused(response, status, code)


def test_a_request_within_its_expires_is_accepted_by_the_template(world):
    """Positive control: the same helper with SPEC's template (and an expires ahead) passes every template check."""
    prepared = signed(world.peers["hu"][1], expires=START + timedelta(seconds=60))
    prepared.headers["Sifnet-To"] = "nl"  # a later check refuses it, so the shared world stays unchanged
    with unchanged(world.ctx):
        response = send(world, prepared)
    assert response.status_code == 401 and response.json["error"]["code"] == "bad_request_signature"


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", INBOX, 405, "method_not_allowed"),
        ("PUT", "/federation/v1/messages", 405, "method_not_allowed"),
        ("POST", "/federation/v1/nothing-here", 404, "not_found"),
        ("GET", "/federation/v2/inbox", 404, "not_found"),
        ("POST", "/.well-known/sifnet-node", 405, "method_not_allowed"),
    ],
)
def test_framework_answers_on_federation_paths_are_spec_errors(world, method, path, status, code):
    with unchanged(world.ctx):
        response = world.client().open(path, method=method, data=b"{}", content_type="application/json")
    assert response.status_code == status and response.is_json, response.get_data(as_text=True)[:200]
    assert response.json["error"]["code"] == code and response.json["error"]["message"]


def test_oversize_body_is_the_spec_error_not_an_html_page(world):
    hu = world.peers["hu"][1]
    body = b'{"entries": [], "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    prepared = hu.request([], body=body, created=START)
    with unchanged(world.ctx):
        response = world.client().post(urlsplit(prepared.url).path, data=prepared.body, headers=dict(prepared.headers))
    assert (response.status_code, response.is_json, response.json["error"]["code"]) == (413, True, "too_large")
