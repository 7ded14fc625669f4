"""The payee check: a peer asks whether a handle takes payments (signed GET); only peers get an answer."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from federation.transport.httpsig import sign_request
from protocol import SigningKey
from tests.conftest import START
from tests.hostile.conftest import BASE_URL
from tests.hostile.test_peer_hijack import net  # noqa: F401  (fixture: a fresh be-vl with peers hu and nl)


def ask(net, handle: str, *, peer: str = "hu", key: SigningKey | None = None):
    forger = net.chains[peer].forger
    url = BASE_URL + "/federation/v1/payees/" + handle
    headers = sign_request(
        method="GET", url=url, body=b"", from_node=peer, to_node="be-vl", key=key or forger.key, now=START
    )
    return net.app.test_client().get(urlsplit(url).path, headers=headers)


def test_a_peer_learns_whether_a_handle_takes_payments(net):
    assert ask(net, "anna").json == {"payee": "anna", "accepts": True}
    assert ask(net, "nobody").json == {"payee": "nobody", "accepts": False, "reason_code": "unknown_payee"}
    assert ask(net, "ANNA'--").json["accepts"] is False  # not a handle at all: the same answer, no error


@pytest.mark.parametrize(
    ("how", "status", "code"),
    [
        ("stranger-key", 401, "unknown_key"),
        ("unsigned", 401, "signature_missing"),
    ],
)
def test_only_an_authenticated_peer_is_answered(net, how, status, code):
    if how == "unsigned":
        response = net.app.test_client().get("/federation/v1/payees/anna", headers={"Sifnet-From": "hu"})
    else:
        response = ask(net, "anna", key=SigningKey.from_seed(b"\x09" * 32))
    assert (response.status_code, response.json["error"]["code"]) == (status, code)
