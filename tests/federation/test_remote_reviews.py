"""Cross-border reviews: the foreign-reviewer rule in process; between real node processes: invite, accept,
review, pay and rate; decline and expiry with replacement; withdrawal with refund; time-out."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from federation.reviews import reviewer_side
from federation.tables import ChannelEntry, Peer, PoolReviewer
from node.errors import ValidationError
from node.services import proposals as proposals_service
from node.tables import Member
from tests.node.test_web import csrf, login

from .conftest import check_books, peer_state, wait_until
from .reviewnet import (
    REVIEW,
    advance_all,
    db_bytes_contain,
    db_rows,
    drained,
    incoming,
    invitation_states,
    pool_of,
    proposal,
    propose,
    reviewer,
    start_nodes,
    wait_in_pool,
    wait_incoming,
)

MARKER = "FULLTEXT-7f3a9c-only-after-acceptance"
BODY = {
    "title": "Laptops for the library",
    "summary": "Lent by libraries.",
    "full_text": "The plan.",
    "tags": ["education", "digital-inclusion"],
    "language": "en",
    "stage": "pilot",
    "reviews_wanted": 1,
    "bounty": 2,
}


def _invitees(ctx, proposal_id: int) -> list[str]:
    with ctx.db.read() as s:
        return [
            f"{i.remote_handle}@{i.remote_node}" if i.remote_node else s.get(Member, i.reviewer_id).handle
            for i in proposals_service.invitations_of(s, proposal_id)
        ]


def _create(ctx, author, **changes) -> int:
    with ctx.db.write() as s:
        return proposals_service.create_proposal(
            s,
            ctx.settings,
            author=s.get(Member, author.id),
            data={**BODY, **changes},
            now=ctx.now(),
            remote=ctx.remote_reviews,
        ).id


def test_min_foreign_reviewers_puts_the_best_foreign_candidate_first(ctx, make_member):
    author = make_member("anna")  # a member of this node lives in its country (BE) unless they say otherwise
    make_member("bert", is_reviewer=True, languages=["en"], expertise=["education", "digital-inclusion"])
    make_member("noor", is_reviewer=True, languages=["en"], expertise=["education"], country="NL")
    assert _invitees(ctx, _create(ctx, author)) == ["bert"]  # without the rule the better match wins
    assert _invitees(ctx, _create(ctx, author, min_foreign_reviewers=1)) == ["noor"]
    assert _invitees(ctx, _create(ctx, author, reviews_wanted=2, min_foreign_reviewers=1)) == ["bert", "noor"]
    with pytest.raises(ValidationError) as refused:
        _create(ctx, author, min_foreign_reviewers=2)  # more foreign reviewers than reviews wanted
    assert refused.value.code == "out_of_range"


def test_a_peer_of_the_same_country_is_not_foreign(ctx, make_member):
    author = make_member("anna")
    with ctx.db.write() as s:
        for node_id, country in (("be-wa", "BE"), ("hu", "HU")):
            s.add(
                Peer(
                    node_id=node_id,
                    base_url="http://127.0.0.1:9",
                    country=country,
                    fingerprint="x",
                    status="active",
                    created_at=ctx.now(),
                )
            )
            s.flush()
        s.add(
            PoolReviewer(
                peer_id="be-wa",
                handle="rev-wallonia",
                expertise=["education", "digital-inclusion"],
                languages=["en"],
                open_slots=2,
                updated_at=ctx.now(),
            )
        )
        s.add(
            PoolReviewer(
                peer_id="hu",
                handle="rev-budapest",
                expertise=["education"],
                languages=["en"],
                open_slots=2,
                updated_at=ctx.now(),
            )
        )
    assert _invitees(ctx, _create(ctx, author)) == ["rev-wallonia@be-wa"]
    assert _invitees(ctx, _create(ctx, author, min_foreign_reviewers=1)) == ["rev-budapest@hu"]
    with ctx.db.write() as s:
        s.get(Peer, "hu").status = "suspended"
    # Nobody foreign is left to invite: the slot goes to the best candidate there is rather than wait.
    assert _invitees(ctx, _create(ctx, author, min_foreign_reviewers=1)) == ["rev-wallonia@be-wa"]


def _apply(app, handler, body: dict) -> None:
    """Apply an entry from the peer 'it' as the inbox would (the handler in the receiver's transaction)."""
    ctx, fed = app.extensions["sifnet"], app.extensions["sifnet_federation"]
    with ctx.db.write() as s:
        handler(s, fed, s.get(Peer, "it"), SimpleNamespace(body=body), ctx.now())


def _sent(ctx) -> list[str]:
    with ctx.db.read() as s:
        return [
            e.type for e in s.query(ChannelEntry).filter(ChannelEntry.direction == "out").order_by(ChannelEntry.seq)
        ]


def test_reviewer_pages_for_an_invitation_from_abroad(app, ctx, make_member):
    make_member("zsofia", is_reviewer=True, pool_consent=True, expertise=["education"], languages=["en"])
    make_member("coord", role="coordinator")
    with ctx.db.write() as s:
        s.add(
            Peer(
                node_id="it",
                name="SIF Italy",
                base_url="http://127.0.0.1:9",
                country="IT",
                fingerprint="x",
                status="active",
                created_at=ctx.now(),
            )
        )
        pseudonym = s.query(Member).filter(Member.handle == "zsofia").one().pseudonym
    _apply(
        app,
        reviewer_side.apply_invite,
        {
            "invite_id": "inv1",
            "proposal_ref": "7",
            "reviewer_handle": pseudonym,
            "title": "<b>Laptops</b>",
            "summary": "Lent by libraries.",
            "tags": ["education"],
            "language": "en",
            "bounty": 3,
            "accept_by": "2026-03-05T09:00:00Z",
            "due_by": "2026-03-19T09:00:00Z",
        },
    )
    browser = app.test_client()
    login(browser, "zsofia@example.org")
    assert "&lt;b&gt;Laptops&lt;/b&gt;" in browser.get("/dashboard").get_data(as_text=True)
    page = browser.get("/reviews").get_data(as_text=True)
    incoming_id = int(re.search(r"/reviews/abroad/(\d+)", page).group(1))
    page = browser.get(f"/reviews/abroad/{incoming_id}").get_data(as_text=True)
    assert "Lent by libraries." in page and "SIF Italy" in page and 'id="full-text"' not in page
    r = browser.post(f"/reviews/abroad/{incoming_id}/accept", data={"csrf_token": csrf(browser, "/reviews")})
    assert r.status_code == 303 and _sent(ctx) == ["review_accept"]
    _apply(
        app,
        reviewer_side.apply_share,
        {
            "invite_id": "inv1",
            "proposal_ref": "7",
            "title": "<b>Laptops</b>",
            "summary": "Lent by libraries.",
            "full_text": "<i>The whole plan</i>",
            "tags": ["education"],
            "language": "en",
            "stage": "pilot",
        },
    )
    page = browser.get(f"/reviews/abroad/{incoming_id}").get_data(as_text=True)
    assert "&lt;i&gt;The whole plan&lt;/i&gt;" in page and "<i>The whole plan" not in page

    coordinator = app.test_client()
    login(coordinator, "coord@example.org")
    assert coordinator.get(f"/reviews/abroad/{incoming_id}").status_code == 404  # the reviewer's alone
    page = coordinator.get("/coordinator/peers/reviews").get_data(as_text=True)
    assert "&lt;b&gt;Laptops&lt;/b&gt;" in page and "zsofia" in page and "accepted" in page
    form = {
        "csrf_token": csrf(browser, "/reviews"),
        "shared_value": "4",
        "social_transformation": "5",
        "impact": "3",
        "confidence": "2",
        "feedback": "Talk to the libraries first.",
    }
    assert browser.post(f"/reviews/abroad/{incoming_id}/review", data=form).status_code == 303
    assert _sent(ctx) == ["review_accept", "review_submit"]
    assert "Talk to the libraries first." in browser.get(f"/reviews/abroad/{incoming_id}").get_data(as_text=True)
    assert browser.post(f"/reviews/abroad/{incoming_id}/review", data=form).status_code == 303  # refused: flash
    assert _sent(ctx) == ["review_accept", "review_submit"]


@pytest.mark.slow
def test_invite_accept_review_pay_and_rate(node_process):
    nodes = start_nodes(node_process, "it", "hu")
    it, hu = nodes["it"], nodes["hu"]
    zsofia, profile = reviewer(hu, "zsofia", ["education", "digital-inclusion"])
    giulia = it.new_member("giulia")
    wait_in_pool(it, "hu", profile["pseudonym"])

    created = propose(giulia, tags=["education"], full_text=f"Budget and partners. {MARKER}")
    address = f"{profile['pseudonym']}@hu"
    assert [(i["reviewer"], i["status"]) for i in created["invitations"]] == [(address, "invited")]
    assert created["escrow"] == 3 and giulia.balance() == 7
    invite = wait_incoming(zsofia)
    assert invite["title"] == "Laptops for the library" and invite["bounty"] == 3 and invite["peer_country"] == "IT"
    assert "full_text" not in invite

    # Before acceptance the reviewer's node holds no full text, not even in its channel log.
    assert db_rows(hu, "SELECT count(*) FROM fed_channel_entries WHERE type = 'proposal_share'") == [(0,)]
    assert db_rows(hu, "SELECT count(*) FROM fed_incoming_invitations WHERE full_text IS NOT NULL") == [(0,)]
    assert not db_bytes_contain(hu, MARKER)

    zsofia.call("POST", f"/remote-invitations/{invite['id']}/accept", expect=200)
    wait_until(
        lambda: zsofia.call("GET", f"/remote-invitations/{invite['id']}", expect=200).json().get("full_text"),
        what="the full text after acceptance",
    )
    assert db_bytes_contain(hu, MARKER)  # the check above could fail: the text is there now
    assert invitation_states(giulia, created["id"]) == [(address, "accepted")]
    # Nobody but the invited member sees it on the reviewer's node, not even the coordinator.
    assert hu.coordinator().call("GET", f"/remote-invitations/{invite['id']}").status_code == 404

    zsofia.call("POST", f"/remote-invitations/{invite['id']}/review", REVIEW, expect=201)
    wait_until(lambda: proposal(giulia, created["id"])["status"] == "completed", what="the review arrives")
    review = proposal(giulia, created["id"])["reviews"][0]
    assert review["reviewer"] == address and review["feedback"] == REVIEW["feedback"] and review["impact"] == 5
    wait_until(lambda: zsofia.balance() == 13, what="the bounty credited at home")
    assert giulia.balance() == 7 and proposal(giulia, created["id"])["escrow"] == 0
    drained(it, hu)
    assert peer_state(it, "hu")["position"] == 3 and peer_state(hu, "it")["position"] == -3
    assert giulia.call("GET", "/me/cross-border", expect=200).json()["transfers"][0]["status"] == "completed"
    assert incoming(zsofia)[0]["payment"] == "completed"

    giulia.call("POST", f"/reviews/{review['id']}/rate", {"helpfulness": 5}, expect=200)
    wait_until(lambda: incoming(zsofia)[0]["review"]["helpfulness"] == 5, what="the rating travels back")
    wait_until(
        lambda: (
            pool_of(it, "hu")[profile["pseudonym"]]["reviews_done"] == 1
            and pool_of(it, "hu")[profile["pseudonym"]]["helpfulness"] == 100
        ),
        what="the pool shows the record",
    )

    figures = {p["peer"]: p for p in it.coordinator().call("GET", "/federation/reviews", expect=200).json()["peers"]}
    assert figures["hu"]["reviews_received"] == 1 and figures["hu"]["bounties_paid"] == 3
    figures = {p["peer"]: p for p in hu.coordinator().call("GET", "/federation/reviews", expect=200).json()["peers"]}
    assert figures["it"]["reviews_given"] == 1 and figures["it"]["bounties_earned"] == 3
    check_books(it)
    check_books(hu)


@pytest.mark.slow
def test_decline_and_expiry_are_replaced_across_borders(node_process):
    nodes = start_nodes(node_process, "it", "hu", "at")
    it, hu, at = nodes["it"], nodes["hu"], nodes["at"]
    zsofia, z = reviewer(hu, "zsofia", ["education", "digital-inclusion", "social-inclusion"])
    peter, p = reviewer(hu, "peter", ["education"])
    lena, lp = reviewer(at, "lena", ["education", "social-inclusion"])
    giulia = it.new_member("giulia")
    for node_id, pseudonym in (("hu", z["pseudonym"]), ("hu", p["pseudonym"]), ("at", lp["pseudonym"])):
        wait_in_pool(it, node_id, pseudonym)

    created = propose(giulia, tags=["education", "digital-inclusion", "social-inclusion"], full_text=f"Plan. {MARKER}")
    zs, ls, ps = f"{z['pseudonym']}@hu", f"{lp['pseudonym']}@at", f"{p['pseudonym']}@hu"
    assert invitation_states(giulia, created["id"]) == [(zs, "invited")]  # the best match first
    invite = wait_incoming(zsofia)
    zsofia.call("POST", f"/remote-invitations/{invite['id']}/decline", {"reason": "Travelling"}, expect=200)
    wait_until(
        lambda: invitation_states(giulia, created["id"]) == [(zs, "declined"), (ls, "invited")],
        what="the next candidate invited in Austria",
    )
    wait_incoming(lena)

    advance_all(nodes.values(), 73 * 3600)  # past the 72 hours to accept, on every node
    wait_until(
        lambda: invitation_states(giulia, created["id"])[1:] == [(ls, "expired"), (ps, "invited")],
        what="expiry, then the third candidate invited",
    )
    wait_until(lambda: incoming(lena)[0]["status"] == "expired", what="the expiry reaches Austria")
    assert incoming(lena)[0]["end_reason"] == "expired"
    late = lena.call("POST", f"/remote-invitations/{incoming(lena)[0]['id']}/accept")
    assert late.status_code == 409, late.text
    wait_incoming(peter)
    assert proposal(giulia, created["id"])["escrow"] == 3  # still held for the one review wanted
    for node in (hu, at):  # neither the decliner's nor the lapsed reviewer's node ever saw the text
        assert not db_bytes_contain(node, MARKER)
    drained(it, hu, at)
    for node in nodes.values():
        check_books(node)


@pytest.mark.slow
def test_withdrawal_refunds_and_cancels_abroad(node_process):
    nodes = start_nodes(node_process, "it", "hu")
    it, hu = nodes["it"], nodes["hu"]
    zsofia, profile = reviewer(hu, "zsofia", ["education"])
    giulia = it.new_member("giulia")
    wait_in_pool(it, "hu", profile["pseudonym"])
    created = propose(giulia, tags=["education"], wanted=2, bounty=2)  # one reviewer exists: one slot waits
    assert giulia.balance() == 6 and proposal(giulia, created["id"])["open_slots"] == 1
    invite = wait_incoming(zsofia)
    zsofia.call("POST", f"/remote-invitations/{invite['id']}/accept", expect=200)
    wait_until(lambda: "full_text" in incoming(zsofia)[0], what="the full text shared")

    giulia.call("POST", f"/proposals/{created['id']}/withdraw", expect=200)
    assert giulia.balance() == 10 and proposal(giulia, created["id"])["escrow"] == 0
    wait_until(lambda: incoming(zsofia)[0]["status"] == "cancelled", what="the withdrawal reaches Hungary")
    row = incoming(zsofia)[0]
    assert row["end_reason"] == "proposal_withdrawn" and "full_text" not in row
    assert db_rows(hu, "SELECT count(*) FROM fed_incoming_invitations WHERE full_text IS NOT NULL") == [(0,)]
    refused = zsofia.call("POST", f"/remote-invitations/{invite['id']}/review", REVIEW)
    assert refused.status_code == 409, refused.text
    drained(it, hu)
    assert peer_state(it, "hu")["position"] == 0 and peer_state(hu, "it")["position"] == 0
    assert zsofia.balance() == 10
    check_books(it)
    check_books(hu)


@pytest.mark.slow
def test_accepted_review_times_out_and_the_slot_is_offered_again(node_process):
    nodes = start_nodes(node_process, "it", "hu")
    it, hu = nodes["it"], nodes["hu"]
    zsofia, z = reviewer(hu, "zsofia", ["education", "digital-inclusion"])
    peter, p = reviewer(hu, "peter", ["education"])
    giulia = it.new_member("giulia")
    wait_in_pool(it, "hu", z["pseudonym"])
    wait_in_pool(it, "hu", p["pseudonym"])
    created = propose(giulia, tags=["education", "digital-inclusion"])
    invite = wait_incoming(zsofia)
    zsofia.call("POST", f"/remote-invitations/{invite['id']}/accept", expect=200)
    wait_until(lambda: "full_text" in incoming(zsofia)[0], what="the full text shared")

    advance_all(nodes.values(), 17 * 86400 + 3600)  # past the due date (72 h to accept + 14 days)
    zs, ps = f"{z['pseudonym']}@hu", f"{p['pseudonym']}@hu"
    wait_until(
        lambda: invitation_states(giulia, created["id"]) == [(zs, "timed_out"), (ps, "invited")],
        what="time-out, then the next reviewer invited",
    )
    wait_until(lambda: incoming(zsofia)[0]["status"] == "timed_out", what="the time-out reaches Hungary")
    assert zsofia.call("POST", f"/remote-invitations/{invite['id']}/review", REVIEW).status_code == 409
    wait_incoming(peter)
    drained(it, hu)
    assert zsofia.balance() == 10 and proposal(giulia, created["id"])["escrow"] == 3
    check_books(it)
    check_books(hu)


@pytest.mark.slow
def test_a_bounced_bounty_returns_to_the_author(node_process):
    nodes = start_nodes(node_process, "it", "hu", trust={("hu", "it"): 2})  # Italy may owe Hungary only 2
    it, hu = nodes["it"], nodes["hu"]
    zsofia, profile = reviewer(hu, "zsofia", ["education"])
    giulia = it.new_member("giulia")
    wait_in_pool(it, "hu", profile["pseudonym"])
    created = propose(giulia, tags=["education"], bounty=3)
    invite = wait_incoming(zsofia)
    zsofia.call("POST", f"/remote-invitations/{invite['id']}/accept", expect=200)
    wait_until(lambda: "full_text" in incoming(zsofia)[0], what="the full text shared")
    zsofia.call("POST", f"/remote-invitations/{invite['id']}/review", REVIEW, expect=201)

    wait_until(lambda: incoming(zsofia)[0]["payment"] == "bounced", what="Hungary refuses the bounty")
    xfer = wait_until(
        lambda: next(
            (
                t
                for t in giulia.call("GET", "/me/cross-border", expect=200).json()["transfers"]
                if t["status"] == "bounced"
            ),
            None,
        ),
        what="the bounce back in Italy",
    )
    assert xfer["reason_code"] == "trust_limit_exceeded"
    # The review stays delivered; its bounty, out of the escrow already, goes back to the author (not the escrow).
    assert proposal(giulia, created["id"])["status"] == "completed" and giulia.balance() == 10
    assert proposal(giulia, created["id"])["escrow"] == 0 and zsofia.balance() == 10
    drained(it, hu)
    assert peer_state(it, "hu")["position"] == 0 and peer_state(hu, "it")["position"] == 0
    check_books(it)
    check_books(hu)
