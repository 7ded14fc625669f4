"""The adviser accepts or declines a booking; SIF stay in escrow until the session has taken place;
each party leaves feedback once, which the adviser's profile and offers show."""

from __future__ import annotations

from datetime import timedelta

from node import notices
from node.api.advice import BOOKING
from node.clock import iso
from tests.conftest import balance_of
from tests.node.test_advice import (  # noqa: F401  (people is a fixture)
    act,
    book,
    check_escrows,
    conforms,
    escrow_of,
    notes,
    people,
    post_listing,
    txn_refs,
)
from tests.node.test_web import csrf, login

API = "/api/v1"


def refused(client, headers, booking_id: int, action: str, body=None) -> tuple[int, str]:
    r = client.post(f"{API}/advice/bookings/{booking_id}/{action}", headers=headers, json=body or {})
    return r.status_code, r.json["error"]["code"]


def test_the_adviser_accepts_a_booking_and_only_then_it_goes_on(client, ctx, people, books):
    (anna, a), (bert, b) = people["anna"], people["bert"]
    booking = book(client, b, post_listing(client, a, rate=2), hours=2)
    assert (booking["status"], booking["accepted_at"]) == ("booked", None)
    assert (balance_of(ctx, bert), escrow_of(ctx, booking["id"])) == (6, 4)  # held at once: the booker's consent
    [note] = notes(ctx, anna, "advice_booked")
    _, body = notices.text_of(note, language="en", time_zone="UTC", settings=ctx.settings)
    assert "First accept the booking" in body
    mine = client.get(f"{API}/advice/bookings/{booking['id']}", headers=a).json
    assert mine["actions"] == ["accept", "decline"]  # no claim before the adviser said yes
    assert refused(client, b, booking["id"], "decline", {"reason": "changed my mind"}) == (409, "cannot_decline")
    accepted = act(client, a, booking["id"], "accept")
    conforms(accepted, BOOKING)
    assert accepted["accepted_at"] == iso(ctx.now()) and accepted["actions"] == ["claim", "cancel"]
    assert notes(ctx, bert, "advice_accepted")
    assert refused(client, a, booking["id"], "accept") == (409, "already_accepted")  # once
    assert refused(client, a, booking["id"], "decline", {"reason": "too late"}) == (409, "cannot_decline")
    assert (balance_of(ctx, bert), escrow_of(ctx, booking["id"]), balance_of(ctx, anna)) == (6, 4, 10)
    act(client, a, booking["id"], "claim")
    act(client, b, booking["id"], "confirm")
    assert (balance_of(ctx, bert), escrow_of(ctx, booking["id"]), balance_of(ctx, anna)) == (6, 0, 14)
    check_escrows(ctx)
    books()


def test_the_adviser_declines_with_a_reason_and_the_sif_go_back_once(client, ctx, people, books):
    (anna, a), (bert, b) = people["anna"], people["bert"]
    booking = book(client, b, post_listing(client, a, rate=3), hours=2)
    assert balance_of(ctx, bert) == 4
    assert refused(client, a, booking["id"], "decline", {"reason": ""}) == (422, "missing_field")
    assert refused(client, a, booking["id"], "decline") == (422, "missing_field")
    assert balance_of(ctx, bert) == 4  # a refused decline changed nothing
    done = act(client, a, booking["id"], "decline", {"reason": "I am away that week"})
    assert (done["status"], done["actions"], done["provider_amount"]) == ("declined", [], 0)
    assert done["resolution"] == "declined by anna: I am away that week"
    assert (balance_of(ctx, bert), escrow_of(ctx, booking["id"]), balance_of(ctx, anna)) == (10, 0, 10)
    [note] = notes(ctx, bert, "advice_declined")
    _, body = notices.text_of(note, language="nl", time_zone="UTC", settings=ctx.settings)
    assert "I am away that week" in body and "declined" not in body  # in the reader's language
    assert refused(client, a, booking["id"], "decline", {"reason": "again"}) == (409, "cannot_decline")
    assert refused(client, b, booking["id"], "cancel") == (409, "illegal_transition")
    assert txn_refs(ctx, booking["id"]) == [f"advice:{booking['id']}:hold", f"advice:{booking['id']}:refund"]
    check_escrows(ctx)
    books()


def test_the_receiver_declines_a_helpers_proposal_and_nothing_moves(client, ctx, people, books):
    (anna, a), (bert, b) = people["anna"], people["bert"]
    proposal = book(client, a, post_listing(client, b, kind="request", title="Our statutes"), hours=2)
    assert client.get(f"{API}/advice/bookings/{proposal['id']}", headers=b).json["actions"] == ["accept", "decline"]
    assert refused(client, a, proposal["id"], "decline", {"reason": "no"}) == (409, "cannot_decline")  # own proposal
    done = act(client, b, proposal["id"], "decline", {"reason": "We found a notary"})
    assert done["status"] == "declined" and notes(ctx, anna, "advice_declined")
    assert (balance_of(ctx, anna), balance_of(ctx, bert), escrow_of(ctx, proposal["id"])) == (10, 10, None)
    assert txn_refs(ctx, proposal["id"]) == []
    books()


def test_sif_stay_in_escrow_until_the_planned_time(client, ctx, clock, people, books):
    (anna, a), (_bert, b) = people["anna"], people["bert"]
    when = ctx.now() + timedelta(days=2)
    booking = book(client, b, post_listing(client, a), hours=1, scheduled_for=iso(when))
    act(client, a, booking["id"], "accept")
    mine = client.get(f"{API}/advice/bookings/{booking['id']}", headers=b).json
    assert mine["actions"] == ["cancel"]  # no "confirm" before the session
    assert refused(client, b, booking["id"], "confirm") == (409, "session_not_held_yet")
    assert (balance_of(ctx, anna), escrow_of(ctx, booking["id"])) == (10, 1)
    clock.advance(2 * 24 * 3600)
    assert client.get(f"{API}/advice/bookings/{booking['id']}", headers=b).json["actions"] == ["confirm", "cancel"]
    assert act(client, b, booking["id"], "confirm")["status"] == "confirmed"
    assert (balance_of(ctx, anna), escrow_of(ctx, booking["id"])) == (11, 0)
    books()


def test_feedback_once_per_party_after_the_session_and_on_the_advisers_profile(app, client, ctx, people):
    (anna, a), (_bert, b), (_carl, c) = people["anna"], people["bert"], people["carl"]
    listing_id = post_listing(client, a)
    booking = book(client, b, listing_id)
    url = f"{API}/advice/bookings/{booking['id']}/feedback"
    early = client.post(url, headers=b, json={"rating": 5})
    assert early.status_code == 409 and early.json["error"]["code"] == "session_not_held"
    act(client, a, booking["id"], "accept")
    act(client, b, booking["id"], "confirm")
    bad = client.post(url, headers=b, json={"rating": 6, "comment": "x" * 501})
    assert bad.status_code == 422 and {f["field"] for f in bad.json["error"]["fields"]} == {"rating", "comment"}
    assert client.post(url, headers=c, json={"rating": 1}).status_code == 404  # not a party
    given = client.post(url, headers=b, json={"rating": 4, "comment": "Clear and practical"})
    assert given.status_code == 201 and given.json["rating"] == 4
    again = client.post(url, headers=b, json={"rating": 1})
    assert again.status_code == 409 and again.json["error"]["code"] == "feedback_given"
    assert client.post(url, headers=a, json={"rating": 5, "comment": "Well prepared"}).status_code == 201
    # each party is told once what the other gave (a refused try told nobody), worded in the reader's language
    told = {
        who: [
            n
            for n in client.get(f"{API}/notifications", headers=h).json["notifications"]
            if n["kind"] == "advice_feedback"
        ]
        for who, h in (("anna", a), ("bert", b), ("carl", c))
    }
    assert [len(told[who]) for who in ("anna", "bert", "carl")] == [1, 1, 0]
    assert told["anna"][0]["body"].startswith("Bert rated the session 4/5.")
    assert told["anna"][0]["body"].endswith("Their comment: Clear and practical")
    assert told["bert"][0]["params"]["rating"] == 5 and told["bert"][0]["subject"].startswith("Feedback on your advice")
    _, german = notices.render(
        "advice_feedback", told["anna"][0]["params"], language="de", time_zone="UTC", settings=ctx.settings
    )
    assert german.startswith("Bert hat das Gespräch mit 4/5 bewertet.") and german.endswith(
        "Kommentar: Clear and practical"
    )
    # the adviser's profile and offer show what the receiver wrote (anna is listed in the directory)
    with ctx.db.write() as s:
        s.get(type(anna), anna.id).in_directory = True
    web = app.test_client()
    login(web, "carl@example.org")
    profile = web.get("/members/anna").get_data(as_text=True)
    assert "Rated 4 of 5 after 1 session." in profile and "Clear and practical" in profile
    assert "Well prepared" not in profile  # that one is about bert, as receiver
    assert "Rated 4 of 5 after 1 session." in web.get(f"/advice/listings/{listing_id}").get_data(as_text=True)


def test_the_sessions_page_offers_accept_decline_and_feedback(app, client, ctx, people, books):
    (_anna, a), (bert, b) = people["anna"], people["bert"]
    booking = book(client, b, post_listing(client, a), hours=2)
    web = app.test_client()
    login(web, "anna@example.org")
    page = web.get("/advice/sessions").get_data(as_text=True)
    assert "Accept the booking" in page and 'aria-label="Reason for declining"' in page
    dashboard = web.get("/dashboard").get_data(as_text=True)
    assert "1 session waits for you." in dashboard and "needs you" in dashboard
    token = csrf(web, "/advice/sessions")
    no_reason = web.post(f"/advice/bookings/{booking['id']}/decline", data={"reason": "", "csrf_token": token})
    assert no_reason.status_code == 303 and balance_of(ctx, bert) == 8
    r = web.post(f"/advice/bookings/{booking['id']}/accept", data={"csrf_token": csrf(web, "/advice/sessions")})
    assert r.status_code == 303
    assert "Booking accepted" in web.get("/advice/sessions").get_data(as_text=True)
    act(client, a, booking["id"], "claim")
    act(client, b, booking["id"], "confirm")
    page = web.get("/advice/sessions").get_data(as_text=True)
    assert "How was the session with" in page
    r = web.post(
        f"/advice/bookings/{booking['id']}/feedback",
        data={"rating": "5", "comment": "On time", "csrf_token": csrf(web, "/advice/sessions")},
    )
    assert r.status_code == 303
    page = web.get("/advice/sessions").get_data(as_text=True)
    assert "Thank you: your feedback is saved." in page and "Your feedback: 5 of 5." in page
    assert "How was the session with" not in page
    books()
