"""The advice exchange refuses with a code and changes nothing; only the parties see and act."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from node.tables import Account, AdviceBooking, AdviceListing, LedgerTxn, Notification
from tests.conftest import START, balance_of
from tests.node.test_advice import API, DAY, act, book, check_escrows, people, post_listing  # noqa: F401 (fixture)


def snapshot(ctx) -> tuple:
    """Everything a refusal must leave untouched: balances, postings, sessions, listings, notifications."""
    with ctx.db.read() as s:
        balances = tuple(s.execute(select(Account.ref, Account.balance).order_by(Account.id)).all())
        bookings = tuple(
            s.execute(
                select(
                    AdviceBooking.id, AdviceBooking.status, AdviceBooking.dispute_reason, AdviceBooking.claimed_at
                ).order_by(AdviceBooking.id)
            ).all()
        )
        listings = tuple(s.execute(select(AdviceListing.id, AdviceListing.status)).all())
        counts = tuple(s.execute(select(func.count()).select_from(t)).scalar_one() for t in (LedgerTxn, Notification))
    return balances, bookings, listings, counts


def refused(client, ctx, method, path, headers, body, status, code):
    """Send a request that must be refused with status and code, and check nothing changed."""
    before = snapshot(ctx)
    r = client.open(path, method=method, headers=headers, json=body)
    assert (r.status_code, r.json["error"]["code"]) == (status, code), (path, body, r.json)
    assert snapshot(ctx) == before, (path, body)


def test_booking_refusals_change_nothing(client, ctx, people, books, make_member, token_for):
    (_anna, a), (bert, b) = people["anna"], people["bert"]
    offer = post_listing(client, a, rate=2)
    url = f"{API}/advice/listings/{offer}/book"
    pending = make_member("paula", approve=False)
    cases = [
        (a, {"hours": 1}, 409, "own_listing"),
        (b, {"hours": 0}, 422, "out_of_range"),
        (b, {"hours": 41}, 422, "out_of_range"),
        (b, {"hours": 1.5}, 422, "not_an_integer"),
        (b, {"hours": 2.0}, 422, "not_an_integer"),
        (b, {"hours": "2"}, 422, "not_an_integer"),
        (b, {"hours": True}, 422, "not_an_integer"),
        (b, {}, 422, "missing_field"),
        (b, {"hours": None}, 422, "missing_field"),
        (b, {"hours": 8}, 422, "insufficient_funds"),  # 16 SIF: below the -5 limit
        (b, {"hours": 1, "price": 0}, 422, "unknown_field"),
        (b, {"hours": 1, "scheduled_for": "2026-03-01T10:00:00Z"}, 422, "invalid_schedule"),
        (b, {"hours": 1, "scheduled_for": "2028-03-01T10:00:00Z"}, 422, "invalid_schedule"),
        (b, {"hours": 1, "scheduled_for": "2026-03-04T10:00:00"}, 422, "invalid_time"),
        (b, {"hours": 1, "note": "x" * 1001}, 422, "too_long"),
        (token_for(pending), {"hours": 1}, 403, "account_pending"),
    ]
    for headers, body, status, code in cases:
        refused(client, ctx, "POST", url, headers, body, status, code)
    refused(client, ctx, "POST", f"{API}/advice/listings/999/book", b, {"hours": 1}, 404, "listing_not_found")
    r = client.post(url, headers=b, data="hours=1", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415
    assert book(client, b, offer, hours=7)["amount"] == 14  # exactly down to the limit is allowed
    assert balance_of(ctx, bert) == -4
    client.post(f"{API}/advice/listings/{offer}/close", headers=a)
    refused(client, ctx, "POST", url, people["carl"][1], {"hours": 1}, 409, "listing_closed")
    books()


def test_listing_refusals_change_nothing(client, ctx, people, make_member, token_for):
    b = people["bert"][1]
    pending = token_for(make_member("paula", approve=False))
    url = f"{API}/advice/listings"
    ok = {"kind": "offer", "title": "Advice"}
    cases = [
        (b, {**ok, "kind": "gift"}, 422, "bad_choice"),
        (b, {**ok, "title": "   "}, 422, "missing_field"),
        (b, {"kind": "offer"}, 422, "missing_field"),
        (b, {**ok, "title": 5}, 422, "wrong_type"),
        (b, {**ok, "tags": ["astrology"]}, 422, "unknown_tag"),
        (b, {**ok, "rate": 0}, 422, "out_of_range"),
        (b, {**ok, "rate": 101}, 422, "out_of_range"),
        (b, {**ok, "rate": 1.0}, 422, "not_an_integer"),
        (b, {**ok, "rate": "1"}, 422, "not_an_integer"),
        (b, {**ok, "status": "closed"}, 422, "unknown_field"),
        (pending, ok, 403, "account_pending"),
        ({}, ok, 401, "token_missing"),
    ]
    for headers, body, status, code in cases:
        refused(client, ctx, "POST", url, headers, body, status, code)


@pytest.fixture
def claimed(client, people):
    """A 3 SIF session anna gave bert, claimed by anna."""
    booking = book(client, people["bert"][1], post_listing(client, people["anna"][1]), hours=3)
    act(client, people["anna"][1], booking["id"], "claim")
    return booking["id"]


def test_wrong_party_and_wrong_state_are_refused(client, ctx, people, claimed, books):
    (anna, a), (bert, b) = people["anna"], people["bert"]
    base = f"{API}/advice/bookings/{claimed}"
    refused(client, ctx, "POST", f"{base}/confirm", a, {}, 403, "not_receiver")
    refused(client, ctx, "POST", f"{base}/dispute", a, {"reason": "no"}, 403, "not_receiver")
    refused(client, ctx, "POST", f"{base}/accept", a, {}, 409, "already_accepted")  # claiming it was agreeing
    refused(client, ctx, "POST", f"{base}/claim", b, {}, 403, "not_provider")
    refused(client, ctx, "POST", f"{base}/claim", a, {}, 409, "illegal_transition")
    refused(client, ctx, "POST", f"{base}/cancel", b, {}, 409, "illegal_transition")
    refused(client, ctx, "POST", f"{base}/cancel", a, {}, 409, "illegal_transition")
    refused(client, ctx, "POST", f"{base}/accept", b, {}, 409, "illegal_transition")
    refused(client, ctx, "POST", f"{base}/dispute", b, {}, 422, "missing_field")
    refused(client, ctx, "POST", f"{base}/dispute", b, {"reason": " "}, 422, "missing_field")
    refused(client, ctx, "POST", f"{base}/confirm", b, {"tip": 1}, 422, "unknown_field")
    refused(
        client,
        ctx,
        "POST",
        f"{API}/coordinator/bookings/{claimed}/resolve",
        people["cora"][1],
        {"outcome": "pay_provider", "note": "early"},
        409,
        "not_disputed",
    )
    act(client, b, claimed, "confirm")
    refused(client, ctx, "POST", f"{base}/confirm", b, {}, 409, "illegal_transition")
    refused(client, ctx, "POST", f"{base}/dispute", b, {"reason": "late"}, 409, "illegal_transition")
    assert (balance_of(ctx, anna), balance_of(ctx, bert)) == (13, 7)
    check_escrows(ctx)
    books()


def test_dispute_after_the_deadline_is_refused(client, ctx, clock, people, claimed):
    b = people["bert"][1]
    clock.advance(3 * DAY)
    r = client.get(f"{API}/advice/bookings/{claimed}", headers=b)
    assert r.json["actions"] == ["confirm"]
    refused(
        client,
        ctx,
        "POST",
        f"{API}/advice/bookings/{claimed}/dispute",
        b,
        {"reason": "too late"},
        409,
        "dispute_window_closed",
    )


def test_dispute_before_a_claim_is_refused(client, ctx, people):
    booking = book(client, people["bert"][1], post_listing(client, people["anna"][1]))
    refused(
        client,
        ctx,
        "POST",
        f"{API}/advice/bookings/{booking['id']}/dispute",
        people["bert"][1],
        {"reason": "no"},
        409,
        "illegal_transition",
    )


def test_provider_claims_only_after_the_scheduled_time(client, ctx, clock, people):
    (_anna, a), (_bert, b) = people["anna"], people["bert"]
    when = (START + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    booking = book(client, b, post_listing(client, a), scheduled_for=when)
    assert booking["scheduled_for"] == when
    act(client, a, booking["id"], "accept")
    assert client.get(f"{API}/advice/bookings/{booking['id']}", headers=a).json["actions"] == ["cancel"]
    refused(client, ctx, "POST", f"{API}/advice/bookings/{booking['id']}/claim", a, {}, 409, "session_not_held_yet")
    clock.advance(2 * DAY)
    assert act(client, a, booking["id"], "claim")["status"] == "claimed"


def test_a_third_member_cannot_see_or_act_on_a_session(client, ctx, people, claimed):
    c = people["carl"][1]
    assert client.get(f"{API}/advice/bookings/{claimed}", headers=c).status_code == 404
    assert client.get(f"{API}/advice/bookings", headers=c).json["bookings"] == []
    for action, body in (("accept", {}), ("confirm", {}), ("claim", {}), ("dispute", {"reason": "x"}), ("cancel", {})):
        refused(client, ctx, "POST", f"{API}/advice/bookings/{claimed}/{action}", c, body, 404, "booking_not_found")
    refused(client, ctx, "POST", f"{API}/advice/bookings/999/confirm", c, {}, 404, "booking_not_found")


def test_only_an_uninvolved_coordinator_settles_a_dispute(client, ctx, people, make_member, token_for, books):
    (_anna, a), (_bert, b), (_cora, c) = people["anna"], people["bert"], people["cora"]
    booking = book(client, b, post_listing(client, a), hours=4)
    act(client, a, booking["id"], "claim")
    act(client, b, booking["id"], "dispute", {"reason": "half of it"})
    url = f"{API}/coordinator/bookings/{booking['id']}/resolve"
    ok = {"outcome": "pay_provider", "note": "fine"}
    refused(client, ctx, "POST", url, people["carl"][1], ok, 403, "coordinator_only")
    refused(client, ctx, "POST", url, b, {**ok, "outcome": "refund_receiver"}, 403, "coordinator_only")
    r = client.get(f"{API}/coordinator/disputes", headers=people["carl"][1])
    assert r.status_code == 403 and r.json["error"]["code"] == "coordinator_only"
    for body, code in [
        ({"outcome": "keep_it", "note": "x"}, "bad_choice"),
        ({"outcome": "pay_provider"}, "missing_field"),
        ({"outcome": "split", "note": "x"}, "missing_field"),
        ({"outcome": "split", "note": "x", "provider_amount": 4}, "out_of_range"),
        ({"outcome": "split", "note": "x", "provider_amount": 0}, "out_of_range"),
        ({"outcome": "split", "note": "x", "provider_amount": 1.5}, "not_an_integer"),
        ({"outcome": "pay_provider", "note": "x", "provider_amount": 2}, "unexpected_field"),
        ({**ok, "extra": 1}, "unknown_field"),
    ]:
        refused(client, ctx, "POST", url, c, body, 422, code)
    refused(client, ctx, "POST", f"{API}/coordinator/bookings/999/resolve", c, ok, 404, "booking_not_found")
    # a coordinator who is a party (here the provider of another session) cannot settle it
    dora = make_member("dora", role="coordinator")
    d = token_for(dora)
    own = book(client, d, post_listing(client, a, title="Second offer"), hours=1)
    act(client, a, own["id"], "claim")
    act(client, d, own["id"], "dispute", {"reason": "nope"})
    refused(client, ctx, "POST", f"{API}/coordinator/bookings/{own['id']}/resolve", d, ok, 403, "party_cannot_resolve")
    assert [x["actions"] for x in client.get(f"{API}/coordinator/disputes", headers=d).json["bookings"]] == [
        ["resolve"],
        [],
    ]
    assert client.post(url, headers=c, json=ok).json["status"] == "paid"
    refused(client, ctx, "POST", url, c, {**ok, "outcome": "refund_receiver"}, 409, "not_disputed")
    check_escrows(ctx)
    books()


def test_a_one_sif_session_cannot_be_split(client, ctx, people):
    (_anna, a), (_bert, b) = people["anna"], people["bert"]
    booking = book(client, b, post_listing(client, a), hours=1)
    act(client, a, booking["id"], "claim")
    act(client, b, booking["id"], "dispute", {"reason": "meh"})
    refused(
        client,
        ctx,
        "POST",
        f"{API}/coordinator/bookings/{booking['id']}/resolve",
        people["cora"][1],
        {"outcome": "split", "note": "x", "provider_amount": 1},
        422,
        "cannot_split",
    )


def test_a_proposal_cannot_be_accepted_once_its_helper_left(client, ctx, people):
    (anna, a), (_bert, b) = people["anna"], people["bert"]
    offer = post_listing(client, a, title="Anna's offer")
    proposal = book(client, a, post_listing(client, b, kind="request"))
    with ctx.db.write() as s:  # anna's account is closed meanwhile (nothing is held, so she may)
        from node.services import members
        from node.tables import Member

        members.close_account(s, member=s.get(Member, anna.id), now=START)
    refused(client, ctx, "POST", f"{API}/advice/bookings/{proposal['id']}/accept", b, {}, 409, "provider_not_active")
    # her open offer is no longer in the market, nor bookable
    listings = client.get(f"{API}/advice/listings", headers=b).json["listings"]
    assert [x["author"] for x in listings] == ["bert"]
    refused(client, ctx, "POST", f"{API}/advice/listings/{offer}/book", b, {"hours": 1}, 409, "author_not_active")


def test_refused_hold_leaves_no_session_and_no_escrow(client, ctx, people):
    (_anna, a), (_bert, b) = people["anna"], people["bert"]
    proposal = book(client, a, post_listing(client, b, kind="request", rate=20))
    refused(client, ctx, "POST", f"{API}/advice/bookings/{proposal['id']}/accept", b, {}, 422, "insufficient_funds")
    with ctx.db.read() as s:
        assert s.scalars(select(Account).where(Account.kind == "escrow")).all() == []
