"""Feedback on a session abroad, and closing an account with sessions abroad, between two real node processes
(Austria books Italy): each party's feedback once, the booker's counted in the adviser's rating at home; entries
delivered again change nothing; an account with an open booking abroad on either side cannot close; books balance
and positions mirror."""

from __future__ import annotations

import json

import pytest

from tests.procs import NodeClient, NodeProcess

from .conftest import check_books, peer_state, wait_until
from .forge import Forger, db_digest, node_key, now_utc
from .reviewnet import db_rows, drained, start_nodes
from .test_advice_abroad import OFFER, abroad, count, offer_on, one, wait_abroad

pytestmark = pytest.mark.slow

SKIP = ("apscheduler_jobs", "fed_seen_nonces", "fed_peers")


@pytest.fixture
def net(node_process):
    nodes = start_nodes(node_process, "at", "it")
    at, it = nodes["at"], nodes["it"]
    giulia, lena = it.new_member("giulia"), at.new_member("lena")
    giulia.call("PATCH", "/me", {"display_name": "Giulia Rossi"}, expect=200)
    lena.call("PATCH", "/me", {"display_name": "Lena Huber"}, expect=200)
    return at, it, giulia, lena


def feedback(client: NodeClient, session_id: int) -> dict:
    return client.call("GET", f"/advice/abroad/{session_id}/feedback", expect=200).json()


def book_and_accept(at: NodeProcess, lena: NodeClient, giulia: NodeClient, hours: int) -> tuple[dict, dict]:
    """Lena books Giulia's offer for `hours`; Giulia accepts; returns (Lena's booking, Giulia's)."""
    seen = offer_on(at, lena)
    mine = lena.call("POST", f"/advice/listings/{seen['id']}/book", {"hours": hours}, expect=201).json()
    theirs = wait_until(
        lambda: next((b for b in abroad(giulia) if b["status"] == "booked" and b["accepted_at"] is None), None),
        what="the booking on the adviser's node",
    )
    giulia.call("POST", f"/advice/abroad/{theirs['id']}/accept", expect=200)
    wait_until(lambda: one(lena, mine["id"])["accepted_at"] is not None, what="the acceptance at home")
    return mine, theirs


def redeliver_everything(sender: NodeProcess, receiver: NodeProcess) -> None:
    """Every entry the sender ever sent the receiver, delivered again: acknowledged, and nothing changes."""
    # The mail sweep marks each notification handled in the background: let it finish, so that the digest
    # compares only what the redelivery could change.
    wait_until(
        lambda: count(receiver, "SELECT count(*) FROM notifications WHERE sent_at IS NULL") == 0,
        what="the receiver's notifications handled by the mail sweep",
    )
    before = db_digest(receiver.data_dir / "node.db", skip=SKIP)
    sent = [
        json.loads(e)
        for (e,) in db_rows(
            sender,
            "SELECT envelope FROM fed_channel_entries WHERE direction = 'out' AND peer_id = ? ORDER BY seq",
            receiver.node_id,
        )
    ]
    answer = Forger(node_key(sender.data_dir), sender.node_id, receiver.node_id, receiver.url).post(
        sent, created=now_utc()
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["received_through"] == len(sent)
    assert db_digest(receiver.data_dir / "node.db", skip=SKIP) == before


def test_each_party_gives_feedback_once_and_the_bookers_reaches_the_advisers_rating(net):
    at, it, giulia, lena = net
    giulia.call("POST", "/advice/listings", OFFER, expect=201)
    mine, theirs = book_and_accept(at, lena, giulia, 2)

    early = lena.call("POST", f"/advice/abroad/{mine['id']}/feedback", {"rating": 5}, expect=409).json()
    assert early["error"]["code"] == "session_not_held"
    lena.call("POST", f"/advice/abroad/{mine['id']}/confirm", expect=200)
    wait_abroad(giulia, "confirmed", "confirmed on the adviser's node")
    wait_until(lambda: giulia.balance() == 14, what="the adviser paid at home")

    # Bad input: a 4xx with a code and a message, and nothing kept or sent.
    for body, status, code in (
        ({"rating": 6}, 422, None),
        ({"rating": 4, "comment": "x" * 501}, 422, None),
        ({"comment": "no rating"}, 422, None),
        ({"rating": 4, "stars": 4}, 422, "unknown_field"),
    ):
        error = lena.call("POST", f"/advice/abroad/{mine['id']}/feedback", body, expect=status).json()["error"]
        assert error["message"] and (code is None or error["code"] == code), error
    at.new_member("stranger").call("POST", f"/advice/abroad/{mine['id']}/feedback", {"rating": 5}, expect=404)
    assert count(at, "SELECT count(*) FROM fed_remote_feedback") == 0
    assert count(at, "SELECT count(*) FROM fed_channel_entries WHERE type = 'advice_feedback'") == 0

    given = lena.call(
        "POST", f"/advice/abroad/{mine['id']}/feedback", {"rating": 5, "comment": "Clear and practical"}, expect=201
    ).json()
    assert (given["rating"], given["comment"]) == (5, "Clear and practical")
    again = lena.call("POST", f"/advice/abroad/{mine['id']}/feedback", {"rating": 1}, expect=409).json()
    assert again["error"]["code"] == "feedback_given"

    received = wait_until(lambda: feedback(giulia, theirs["id"])["received"], what="the booker's feedback abroad")
    assert (received["rating"], received["comment"]) == (5, "Clear and practical")
    assert feedback(giulia, theirs["id"])["can_give"] is True
    answer = {"rating": 4, "comment": "Well prepared"}
    giulia.call("POST", f"/advice/abroad/{theirs['id']}/feedback", answer, expect=201)
    back = wait_until(lambda: feedback(lena, mine["id"])["received"], what="the adviser's feedback at home")
    assert (back["rating"], back["comment"]) == (4, "Well prepared")
    assert feedback(lena, mine["id"]) == {**feedback(lena, mine["id"]), "can_give": False}

    # Stored once on each node, about the right side.
    assert db_rows(it, "SELECT author, rating FROM fed_remote_feedback ORDER BY id") == [("booker", 5), ("adviser", 4)]
    assert db_rows(at, "SELECT author, rating FROM fed_remote_feedback ORDER BY id") == [("booker", 5), ("adviser", 4)]
    drained(at, it)
    for sender, receiver in ((at, it), (it, at)):
        redeliver_everything(sender, receiver)
    assert count(it, "SELECT count(*) FROM fed_remote_feedback") == 2
    # Each party was told once of the other's feedback, redelivered or not.
    for client, rating in ((giulia, 5), (lena, 4)):
        told = [
            n
            for n in client.call("GET", "/notifications", expect=200).json()["notifications"]
            if n["kind"] == "advice_feedback"
        ]
        assert [n["params"]["rating"] for n in told] == [rating]
    assert lena.balance() == 6 and giulia.balance() == 14
    assert peer_state(at, "it")["position"] == 4 and peer_state(it, "at")["position"] == -4
    check_books(at)
    check_books(it)


def test_an_open_booking_abroad_keeps_both_accounts_open_until_it_ends(net):
    at, it, giulia, lena = net
    giulia.call("POST", "/advice/listings", OFFER, expect=201)
    mine, theirs = book_and_accept(at, lena, giulia, 1)  # Lena's 2 SIF are in escrow at home

    for client in (lena, giulia):
        error = client.call("POST", "/me/close", expect=409).json()["error"]
        assert error["code"] == "open_sessions_abroad", error
        assert OFFER["title"] in error["message"], error
    assert lena.balance() == 8 and lena.me()["status"] == "active" and giulia.me()["status"] == "active"

    lena.call("POST", f"/advice/abroad/{mine['id']}/cancel", {"reason": "Moving away"}, expect=200)
    wait_until(lambda: one(giulia, theirs["id"])["status"] == "cancelled", what="the cancel on the adviser's node")
    assert lena.balance() == 10
    lena.call("POST", "/me/close", expect=200)
    giulia.call("POST", "/me/close", expect=200)
    drained(at, it)
    assert count(at, "SELECT count(*) FROM ledger_txns WHERE ref LIKE 'xadvice:%:refund'") == 1
    assert peer_state(at, "it")["position"] == 0 and peer_state(it, "at")["position"] == 0
    check_books(at)
    check_books(it)
