"""Advice across borders between two real node processes (Austria books Italy): an offer shared network-wide is
booked, accepted and confirmed, paid across the border once; a decline and cancels refund at home once; every entry
delivered again changes nothing; both nodes' books balance and their positions mirror."""

from __future__ import annotations

import json

import pytest

from tests.procs import NodeClient, NodeProcess

from .conftest import check_books, peer_state, wait_until
from .forge import Forger, db_digest, node_key, now_utc
from .reviewnet import db_rows, drained, start_nodes

pytestmark = pytest.mark.slow

OFFER = {
    "kind": "offer",
    "title": "Crowdfunding for a repair café",
    "description": "Two campaigns on our own platform.",
    "tags": ["funding-and-finance"],
    "rate": 2,
    "network_wide": True,
}


def market(client: NodeClient) -> list[dict]:
    return client.call("GET", "/advice/listings", expect=200).json()["listings"]


def abroad(client: NodeClient) -> list[dict]:
    return client.call("GET", "/advice/abroad", expect=200).json()["bookings"]


def one(client: NodeClient, booking_id: int) -> dict:
    return client.call("GET", f"/advice/abroad/{booking_id}", expect=200).json()


def wait_abroad(client: NodeClient, status: str, what: str) -> dict:
    """The adviser's (or booker's) newest booking abroad once it is in `status`."""
    return wait_until(lambda: next((b for b in abroad(client) if b["status"] == status), None), what=what)


def mail_subjects(node: NodeProcess, email: str) -> list[str]:
    """Subjects of the mails a node's mail sweep wrote to its development mail folder for one address."""
    from email import message_from_bytes, policy

    out = []
    for path in sorted((node.data_dir / "mail").glob("*.eml")):
        mail = message_from_bytes(path.read_bytes(), policy=policy.default)
        if str(mail["To"]).lower() == email:
            out.append(str(mail["Subject"]))
    return out


def count(node: NodeProcess, sql: str, *args) -> int:
    return db_rows(node, sql, *args)[0][0]


def offer_on(node: NodeProcess, client: NodeClient) -> dict:
    return wait_until(
        lambda: next((x for x in market(client) if x["abroad"]), None), what=f"the offer on {node.node_id}"
    )


@pytest.fixture
def net(node_process):
    nodes = start_nodes(node_process, "at", "it")
    at, it = nodes["at"], nodes["it"]
    giulia, lena = it.new_member("giulia"), at.new_member("lena")
    giulia.call("PATCH", "/me", {"display_name": "Giulia Rossi", "language": "it"}, expect=200)
    lena.call("PATCH", "/me", {"display_name": "Lena Huber"}, expect=200)
    return at, it, giulia, lena


def test_book_accept_confirm_across_the_border_pays_once_and_positions_mirror(net):
    at, it, giulia, lena = net
    posted = giulia.call("POST", "/advice/listings", OFFER, expect=201).json()
    giulia.call("POST", "/advice/listings", {**OFFER, "title": "Only for Italy", "network_wide": False}, expect=201)
    pseudonym = giulia.me()["pseudonym"]

    seen = offer_on(at, lena)
    assert [x["title"] for x in market(lena)] == [OFFER["title"]]  # only what was shared
    assert (seen["author"], seen["author_name"], seen["abroad"]) == (
        pseudonym,
        pseudonym,
        {"node": "it", "country": "IT"},
    )
    raw = " ".join(e for (e,) in db_rows(at, "SELECT envelope FROM fed_channel_entries WHERE direction = 'in'"))
    for personal in ("giulia", "Giulia", "Rossi", "example.org", "Only for Italy"):
        assert personal not in raw
    assert lena.call("GET", "/advice/listings?q=crowd", expect=200).json()["listings"][0]["id"] == seen["id"]
    assert (
        lena.call("GET", "/advice/listings?tag=funding-and-finance", expect=200).json()["listings"][0]["id"]
        == seen["id"]
    )

    booked = lena.call("POST", f"/advice/listings/{seen['id']}/book", {"hours": 2, "note": "Our campaign"}, expect=201)
    booking = booked.json()
    assert (booking["abroad"]["node"], booking["amount"], booking["status"]) == ("it", 4, "booked")
    assert booking["provider_name"] == pseudonym  # no name before the adviser accepts
    assert lena.balance() == 6

    incoming = wait_abroad(giulia, "booked", "the booking on the adviser's node")
    assert (incoming["receiver_name"], incoming["my_role"], incoming["actions"]) == (
        "Lena Huber",
        "provider",
        ["accept", "decline"],
    )
    assert (incoming["listing_id"], incoming["amount"], incoming["note"]) == (posted["id"], 4, "Our campaign")
    # Mailed to the adviser in their own language, with the booker's name and country in it.
    wait_until(
        lambda: any(
            subject.endswith("Sessione prenotata da Lena Huber (Austria)")
            for subject in mail_subjects(it, "giulia@example.org")
        ),
        what="the adviser's mail in Italian",
    )
    giulia.call("POST", f"/advice/abroad/{incoming['id']}/accept", expect=200)
    wait_until(lambda: one(lena, booking["id"])["provider_name"] == "Giulia Rossi", what="the adviser's name")
    assert one(lena, booking["id"])["actions"] == ["confirm", "cancel"]

    lena.call("POST", f"/advice/abroad/{booking['id']}/confirm", expect=200)
    wait_until(lambda: one(giulia, incoming["id"])["status"] == "confirmed", what="confirmed on the adviser's node")
    wait_until(lambda: giulia.balance() == 14, what="the adviser paid at home")
    drained(at, it)
    assert lena.balance() == 6 and one(lena, booking["id"])["abroad"]["payment"] == "completed"
    assert peer_state(at, "it")["position"] == 4 and peer_state(it, "at")["position"] == -4
    check_books(at)
    check_books(it)
    # Each SIF moved once: held once, paid once, credited once.
    assert count(at, "SELECT count(*) FROM ledger_txns WHERE ref LIKE 'xadvice:%'") == 2
    assert count(it, "SELECT count(*) FROM fed_transfers WHERE direction = 'in' AND status = 'completed'") == 1

    # Every entry either node ever sent the other, delivered again: acknowledged, and nothing changes.
    for sender, receiver in ((at, it), (it, at)):
        before = db_digest(receiver.data_dir / "node.db", skip=("apscheduler_jobs", "fed_seen_nonces", "fed_peers"))
        sent = [
            json.loads(e)
            for (e,) in db_rows(
                sender,
                "SELECT envelope FROM fed_channel_entries WHERE direction = 'out' AND peer_id = ? ORDER BY seq",
                receiver.node_id,
            )
        ]
        forger = Forger(node_key(sender.data_dir), sender.node_id, receiver.node_id, receiver.url)
        answer = forger.post(sent, created=now_utc())
        assert answer.status_code == 200, answer.text
        assert answer.json()["received_through"] == len(sent)
        after = db_digest(receiver.data_dir / "node.db", skip=("apscheduler_jobs", "fed_seen_nonces", "fed_peers"))
        assert after == before
    assert giulia.balance() == 14 and lena.balance() == 6


def test_a_decline_and_cancels_refund_at_home_once_and_both_sides_agree(net):
    at, it, giulia, lena = net
    giulia.call("POST", "/advice/listings", OFFER, expect=201)
    seen = offer_on(at, lena)

    def book() -> tuple[dict, dict]:
        mine = lena.call("POST", f"/advice/listings/{seen['id']}/book", {"hours": 1}, expect=201).json()
        theirs = wait_until(
            lambda: next((b for b in abroad(giulia) if b["status"] == "booked" and b["accepted_at"] is None), None),
            what="the booking on the adviser's node",
        )
        return mine, theirs

    declined, theirs = book()
    giulia.call("POST", f"/advice/abroad/{theirs['id']}/decline", {"reason": "Travelling that week"}, expect=200)
    wait_until(lambda: one(lena, declined["id"])["status"] == "declined", what="the decline at home")
    assert lena.balance() == 10

    by_booker, theirs = book()
    giulia.call("POST", f"/advice/abroad/{theirs['id']}/accept", expect=200)
    lena.call("POST", f"/advice/abroad/{by_booker['id']}/cancel", {"reason": "Found help nearer"}, expect=200)
    assert lena.balance() == 10  # refunded at home at once
    wait_until(lambda: one(giulia, theirs["id"])["status"] == "cancelled", what="the cancel on the adviser's node")

    by_adviser, theirs = book()
    giulia.call("POST", f"/advice/abroad/{theirs['id']}/accept", expect=200)
    giulia.call("POST", f"/advice/abroad/{theirs['id']}/cancel", {"reason": "Ill"}, expect=200)
    wait_until(lambda: one(lena, by_adviser["id"])["status"] == "cancelled", what="the adviser's cancel at home")

    drained(at, it)
    assert lena.balance() == 10 and giulia.balance() == 10
    assert [b["status"] for b in abroad(lena)] == ["cancelled", "cancelled", "declined"]
    assert [b["status"] for b in abroad(giulia)] == ["cancelled", "cancelled", "declined"]
    assert count(at, "SELECT count(*) FROM ledger_txns WHERE ref LIKE 'xadvice:%:refund'") == 3
    assert peer_state(at, "it")["position"] == 0 and peer_state(it, "at")["position"] == 0
    check_books(at)
    check_books(it)
