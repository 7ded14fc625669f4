"""The advice exchange in the browser UI: forms with CSRF tokens, buttons per state, the two panels."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from node.tables import AdviceBooking, AdviceListing
from tests.conftest import balance_of
from tests.node.test_advice import DAY, check_escrows, escrow_of
from tests.node.test_web import csrf, login


def _booking(ctx, booking_id=None) -> AdviceBooking:
    with ctx.db.read() as s:
        stmt = select(AdviceBooking).order_by(AdviceBooking.id.desc())
        return s.get(AdviceBooking, booking_id) if booking_id else s.scalars(stmt).first()


def _listing_id(ctx) -> int:
    with ctx.db.read() as s:
        return s.scalars(select(AdviceListing.id).order_by(AdviceListing.id.desc())).first()


def test_offer_book_claim_dispute_settle_through_the_forms(app, ctx, clock, make_member, books):
    anna, bert, cora = make_member("anna"), make_member("bert"), make_member("cora", role="coordinator")
    web_a, web_b, web_c = app.test_client(), app.test_client(), app.test_client()
    for web, who in ((web_a, anna), (web_b, bert), (web_c, cora)):
        login(web, who.email)
    market = web_a.get("/advice").get_data(as_text=True)
    assert 'href="/advice"' in market and "Advice market" in market
    r = web_a.post(
        "/advice/listings",
        data={
            "kind": "offer",
            "title": "Crowdfunding <b>basics</b>",
            "description": "Campaign planning",
            "tags": ["education", "food"],
            "rate": "2",
            "csrf_token": csrf(web_a, "/advice"),
        },
    )
    assert r.status_code == 303
    listing_id = _listing_id(ctx)
    page = web_b.get(f"/advice/listings/{listing_id}").get_data(as_text=True)
    assert "Crowdfunding &lt;b&gt;basics&lt;/b&gt;" in page and "<b>basics" not in page
    assert 'id="book"' in page
    assert 'id="book"' not in web_a.get(f"/advice/listings/{listing_id}").get_data(as_text=True)
    filtered = web_b.get("/advice?kind=offer&tag=food").get_data(as_text=True)
    assert f"/advice/listings/{listing_id}" in filtered
    assert f"/advice/listings/{listing_id}" not in web_b.get("/advice?kind=request").get_data(as_text=True)
    r = web_b.post(
        f"/advice/listings/{listing_id}/book",
        data={
            "hours": "3",
            "scheduled_for": "2026-03-03T14:00",
            "note": "our co-op",
            "csrf_token": csrf(web_b, f"/advice/listings/{listing_id}"),
        },
    )
    assert r.status_code == 303 and r.headers["Location"].endswith("/advice/sessions")
    booking = _booking(ctx)
    assert (booking.status, booking.amount, booking.scheduled_for.isoformat()) == (
        "booked",
        6,
        "2026-03-03T14:00:00+00:00",
    )
    assert (balance_of(ctx, bert), escrow_of(ctx, booking.id)) == (4, 6)
    # the adviser accepts the booking first
    r = web_a.post(f"/advice/bookings/{booking.id}/accept", data={"csrf_token": csrf(web_a, "/advice/sessions")})
    assert r.status_code == 303 and _booking(ctx, booking.id).accepted_at is not None
    # the provider sees only Cancel until the session's time, then Claim (dashboard panel too)
    claim_url = f"/advice/bookings/{booking.id}/claim"
    assert claim_url not in web_a.get("/advice/sessions").get_data(as_text=True)
    clock.advance(DAY + 6 * 3600)
    dashboard = web_a.get("/dashboard").get_data(as_text=True)
    assert "Advice sessions" in dashboard and claim_url in dashboard
    r = web_a.post(claim_url, data={"csrf_token": csrf(web_a, "/advice/sessions")})
    assert r.status_code == 303 and _booking(ctx, booking.id).status == "claimed"
    sessions_b = web_b.get("/advice/sessions").get_data(as_text=True)
    assert (
        f"/advice/bookings/{booking.id}/confirm" in sessions_b and "dispute by Mar 6, 2026, 3:00\u202fPM" in sessions_b
    )
    r = web_b.post(
        f"/advice/bookings/{booking.id}/dispute",
        data={"reason": "only one hour", "csrf_token": csrf(web_b, "/advice/sessions")},
    )
    assert r.status_code == 303 and _booking(ctx, booking.id).status == "disputed"
    panel = web_c.get("/coordinator/").get_data(as_text=True)
    assert "Disputed advice sessions" in panel and "only one hour" in panel
    assert f"/coordinator/advice/bookings/{booking.id}/resolve" in panel
    r = web_c.post(
        f"/coordinator/advice/bookings/{booking.id}/resolve",
        data={
            "outcome": "split",
            "provider_amount": "2",
            "note": "one hour held",
            "csrf_token": csrf(web_c, "/coordinator/"),
        },
    )
    assert r.status_code == 303
    assert _booking(ctx, booking.id).status == "split"
    assert (balance_of(ctx, anna), balance_of(ctx, bert), escrow_of(ctx, booking.id)) == (12, 8, 0)
    assert "No disputes." in web_c.get("/coordinator/").get_data(as_text=True)
    assert "2\xa0SIF to the provider, 4\xa0SIF back" in web_b.get("/advice/sessions").get_data(as_text=True)
    check_escrows(ctx)
    books()


def test_request_proposal_and_acceptance_through_the_forms(app, ctx, make_member, books):
    anna, bert = make_member("anna"), make_member("bert")
    web_a, web_b = app.test_client(), app.test_client()
    login(web_a, anna.email)
    login(web_b, bert.email)
    web_b.post(
        "/advice/listings",
        data={"kind": "request", "title": "Statutes for a co-op", "rate": "1", "csrf_token": csrf(web_b, "/advice")},
    )
    listing_id = _listing_id(ctx)
    assert "Propose a session" in web_a.get(f"/advice/listings/{listing_id}").get_data(as_text=True)
    web_a.post(
        f"/advice/listings/{listing_id}/book",
        data={"hours": "2", "csrf_token": csrf(web_a, f"/advice/listings/{listing_id}")},
    )
    booking = _booking(ctx)
    assert booking.status == "proposed" and balance_of(ctx, bert) == 10
    accept_url = f"/advice/bookings/{booking.id}/accept"
    assert accept_url in web_b.get("/dashboard").get_data(as_text=True)
    assert accept_url not in web_a.get("/advice/sessions").get_data(as_text=True)
    web_b.post(accept_url, data={"csrf_token": csrf(web_b, "/advice/sessions")})
    assert _booking(ctx, booking.id).status == "booked" and balance_of(ctx, bert) == 8
    web_b.post(f"/advice/bookings/{booking.id}/confirm", data={"csrf_token": csrf(web_b, "/advice/sessions")})
    assert (balance_of(ctx, anna), balance_of(ctx, bert)) == (12, 8)
    books()


def test_refused_forms_show_the_code_and_change_nothing(app, ctx, make_member, books):
    anna, bert, carl = make_member("anna"), make_member("bert"), make_member("carl")
    web_a, web_b, web_c = app.test_client(), app.test_client(), app.test_client()
    for web, who in ((web_a, anna), (web_b, bert), (web_c, carl)):
        login(web, who.email)
    web_a.post(
        "/advice/listings", data={"kind": "offer", "title": "Advice", "rate": "5", "csrf_token": csrf(web_a, "/advice")}
    )
    listing_id = _listing_id(ctx)
    page = f"/advice/listings/{listing_id}"
    # without a CSRF token nothing is booked
    r = web_b.post(f"{page}/book", data={"hours": "1"})
    assert r.status_code == 400
    # too expensive: 4 h x 5 SIF = 20 > 10 + 5 overdraft
    r = web_b.post(
        f"{page}/book",
        data={"hours": "4", "csrf_token": csrf(web_b, page)},
        headers={"Referer": f"http://localhost{page}"},
    )
    assert r.status_code == 303 and r.headers["Location"].endswith(page)
    assert "insufficient_funds" in web_b.get(page).get_data(as_text=True)
    r = web_b.post(f"{page}/book", data={"hours": "1.5", "csrf_token": csrf(web_b, page)})
    assert "not_an_integer" in web_b.get("/advice").get_data(as_text=True)
    with ctx.db.read() as s:
        assert s.execute(select(func.count()).select_from(AdviceBooking)).scalar_one() == 0
    assert balance_of(ctx, bert) == 10
    web_b.post(f"{page}/book", data={"hours": "1", "csrf_token": csrf(web_b, page)})
    booking = _booking(ctx)
    # a third member's forged action is refused and changes nothing
    r = web_c.post(f"/advice/bookings/{booking.id}/cancel", data={"csrf_token": csrf(web_c, "/advice/sessions")})
    assert r.status_code == 303
    assert "booking_not_found" in web_c.get("/advice/sessions").get_data(as_text=True)
    assert _booking(ctx, booking.id).status == "booked" and balance_of(ctx, bert) == 5
    r = web_b.post(f"/advice/bookings/{booking.id}/resolve", data={"csrf_token": csrf(web_b, "/advice/sessions")})
    assert r.status_code == 404
    r = web_b.post(
        f"/coordinator/advice/bookings/{booking.id}/resolve",
        data={"outcome": "refund_receiver", "note": "me", "csrf_token": csrf(web_b, "/advice/sessions")},
    )
    assert r.status_code == 403 and _booking(ctx, booking.id).status == "booked"
    assert web_c.get(f"/advice/listings/{listing_id}").status_code == 200
    web_a.post(f"{page}/close", data={"csrf_token": csrf(web_a, page)})
    assert web_c.get(f"/advice/listings/{listing_id}").status_code == 404
    assert re.search(r"No sessions yet", web_c.get("/advice/sessions").get_data(as_text=True))
    books()
