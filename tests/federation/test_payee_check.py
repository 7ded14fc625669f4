"""The payee check: a peer asks whether a handle takes payments (signed GET); only peers get an answer."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from federation.payments.payee_check import PayeeAnswer
from federation.tables import CrossBorderTransfer
from federation.transport.httpsig import sign_request
from node.context import node_ctx
from node.services import payments
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


def keep_answer(net, node_id: str, handle: str, accepts: bool) -> None:
    """As if this node had asked the payee's node a moment ago."""
    payees = node_ctx(net.app).remote_payments.payees
    payees._answers[(node_id, handle)] = (time.monotonic(), PayeeAnswer(accepts))


def test_a_payee_kept_as_payable_is_not_asked_again(net):
    settings, remote = net.ctx.settings, node_ctx(net.app).remote_payments
    assert payments.must_ask(settings, "zoltan@hu", remote)  # never asked
    keep_answer(net, "hu", "zoltan", True)
    keep_answer(net, "hu", "nobody", False)
    assert not payments.must_ask(settings, "Zoltan@HU", remote)  # the payment goes straight to its transaction
    assert payments.must_ask(settings, "nobody@hu", remote)  # a refusal is told only after the caller is known
    assert payments.must_ask(settings, "@hu", remote)  # no handle: refused with its message after the caller is known
    assert not payments.must_ask(settings, "anna", remote)  # a local payee is nobody else's to check


def test_paying_a_kept_payee_still_authenticates_the_payer(net):
    keep_answer(net, "hu", "zoltan", True)
    response = net.app.test_client().post(
        "/api/v1/transfers", json={"to": "zoltan@hu", "amount": 1}, headers={"Authorization": "Bearer not-a-token"}
    )
    assert response.status_code == 401, response.json
    with net.ctx.db.read() as session:
        assert session.scalars(select(CrossBorderTransfer)).all() == []
