"""Feedback on sessions abroad and closing an account with sessions abroad, in process.

Entries are applied with the handlers the inbox calls, as in test_advice_abroad_units.py (whose
helpers these tests reuse); between real processes: test_advice_feedback_abroad.py.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from federation.advice import adviser_side, booker_side
from federation.advice import feedback as remote_feedback
from federation.advice import offers as advice_offers
from federation.advice import sessions as advice_abroad
from federation.tables import RemoteFeedback
from node import notices
from node.errors import ConflictError, NotFoundError, ValidationError
from node.services import advice_feedback, members
from node.tables import Member, Notification
from tests.conftest import balance_of

from .test_advice_abroad_units import OFFER, _book, _booking, _incoming, _offer, apply, peers, sent  # noqa: F401


def _give(ctx, member, session_id: int, **data):
    with ctx.db.write() as s:
        return remote_feedback.give(
            s, ctx.federation, member=s.get(Member, member.id), session_id=session_id, data=data, now=ctx.now()
        )


def _stored(ctx) -> int:
    with ctx.db.read() as s:
        return s.scalar(select(func.count()).select_from(RemoteFeedback))


def _held_booking(ctx, lena):
    """Lena booked the Italian offer; the adviser accepted and claimed; Lena confirmed (the adviser is paid)."""
    apply(ctx, advice_offers.apply_snapshot, "advice_offer_snapshot", {"offers": [OFFER]})
    row = _book(ctx, lena)
    apply(ctx, booker_side.apply_accept, "advice_accept", {"booking_id": row.booking_ref, "adviser_name": "Giulia"})
    return row


def test_the_booker_gives_feedback_once_after_the_session_and_it_travels(ctx, peers, make_member, books):
    lena = make_member("lena")
    row = _held_booking(ctx, lena)
    with pytest.raises(ConflictError) as early:
        _give(ctx, lena, row.id, rating=5)
    assert early.value.code == "session_not_held"
    with ctx.db.write() as s:
        booker_side.confirm(s, ctx.federation, member=s.get(Member, lena.id), session_id=row.id, now=ctx.now())

    # Bad input is refused with a code, and changes nothing (nothing kept, nothing sent).
    for data, code in (
        ({"rating": 0}, "out_of_range"),
        ({"rating": "five"}, None),
        ({}, None),
        ({"rating": 4, "comment": "x" * 501}, "too_long"),
    ):
        with pytest.raises(ValidationError) as refused:
            _give(ctx, lena, row.id, **data)
        assert refused.value.status == 422 and (code is None or refused.value.code == code), refused.value.to_dict()
    stranger = make_member("stranger")
    with pytest.raises(NotFoundError):
        _give(ctx, stranger, row.id, rating=1)
    assert _stored(ctx) == 0 and sent(ctx, "advice_feedback") == []

    _give(ctx, lena, row.id, rating=5, comment="Clear and practical")
    with pytest.raises(ConflictError) as again:
        _give(ctx, lena, row.id, rating=1)
    assert again.value.code == "feedback_given"
    assert sent(ctx, "advice_feedback") == [
        {"booking_id": row.booking_ref, "rating": 5, "comment": "Clear and practical"}
    ]

    # The adviser's feedback about Lena arrives twice: kept once, shown to her as received.
    theirs = {"booking_id": row.booking_ref, "rating": 4, "comment": "Well prepared"}
    apply(ctx, remote_feedback.apply_feedback, "advice_feedback", theirs)
    apply(ctx, remote_feedback.apply_feedback, "advice_feedback", {**theirs, "rating": 1})
    with ctx.db.read() as s:
        view = remote_feedback.of_session(s, booker_side.find_booking(s, "it", row.booking_ref, "booker"))
    assert (view["can_give"], view["given"]["rating"], view["received"]["rating"]) == (False, 5, 4)
    assert view["received"]["comment"] == "Well prepared"
    assert balance_of(ctx, lena) == 6
    books()


def test_feedback_from_abroad_counts_in_the_advisers_rating_once_and_only_after_the_session(
    app, ctx, peers, make_member
):
    from tests.node.test_web import csrf, login

    giulia = make_member("giulia")
    listing_id = _offer(ctx, giulia)
    with ctx.db.read() as s:
        pseudonym = s.get(Member, giulia.id).pseudonym
    _booking(ctx, listing_id, pseudonym, "f-1")
    feedback = {"booking_id": "f-1", "rating": 2, "comment": "Too early"}
    apply(ctx, remote_feedback.apply_feedback, "advice_feedback", feedback)  # not held here: ignored
    apply(ctx, remote_feedback.apply_feedback, "advice_feedback", {**feedback, "booking_id": "unknown"})
    assert _stored(ctx) == 0

    with ctx.db.write() as s:
        adviser_side.accept(
            s, ctx.federation, member=s.get(Member, giulia.id), session_id=_incoming(ctx, "f-1").id, now=ctx.now()
        )
    settle = {"booking_id": "f-1", "outcome": "confirmed", "adviser_amount": 4, "note": "confirmed by the receiver"}
    apply(ctx, adviser_side.apply_settle, "advice_settle", settle)
    feedback = {"booking_id": "f-1", "rating": 4, "comment": "Helped us plan the campaign"}
    apply(ctx, remote_feedback.apply_feedback, "advice_feedback", feedback)
    apply(ctx, remote_feedback.apply_feedback, "advice_feedback", feedback)  # delivered twice: once
    assert _stored(ctx) == 1
    with ctx.db.read() as s:  # Giulia is told once, under the booker's name, as for feedback from here
        (told,) = s.scalars(
            select(Notification).where(Notification.member_id == giulia.id, Notification.kind == "advice_feedback")
        ).all()
    _, body = notices.render("advice_feedback", told.params, language="it", time_zone="UTC", settings=ctx.settings)
    assert body.startswith("Lena Huber ha valutato la sessione 4/5.") and body.endswith("Helped us plan the campaign")
    with ctx.db.read() as s:
        rating = advice_feedback.as_adviser(s, giulia.id, remote=ctx.remote_advice)
        assert advice_feedback.as_adviser(s, giulia.id)["count"] == 0  # without federation: local feedback only
    assert (rating["count"], rating["average"]) == (1, 4.0)
    assert [(f["rating"], f["by"], f["comment"]) for f in rating["latest"]] == [
        (4, "Lena Huber", "Helped us plan the campaign")
    ]

    # Giulia's profile and her offer show it, like local feedback.
    with ctx.db.write() as s:
        s.get(Member, giulia.id).in_directory = True
    browser = app.test_client()
    login(browser, "giulia@example.org")
    profile = browser.get("/members/giulia").get_data(as_text=True)
    assert "Helped us plan the campaign" in profile and "Lena Huber" in profile
    offer = browser.get(f"/advice/listings/{listing_id}").get_data(as_text=True)
    assert 'id="adviser-rating"' in offer and "4" in offer

    # The adviser answers with feedback about the booker, once; it travels to the booker's node.
    row = _incoming(ctx, "f-1")
    page = browser.get("/advice/sessions").get_data(as_text=True)
    form = f"/advice/abroad/{row.id}/feedback"
    assert f'action="{form}"' in page and f'id="rating-abroad-{row.id}"' in page
    refused = browser.post(form, data={"csrf_token": csrf(browser, "/advice/sessions"), "rating": "9"})
    assert refused.status_code == 303 and _stored(ctx) == 1  # back to the form, nothing kept
    given = browser.post(
        form, data={"csrf_token": csrf(browser, "/advice/sessions"), "rating": "5", "comment": "A pleasure"}
    )
    assert given.status_code == 303 and _stored(ctx) == 2
    page = browser.get("/advice/sessions").get_data(as_text=True)
    assert "A pleasure" in page and f'action="{form}"' not in page
    with pytest.raises(ConflictError):
        _give(ctx, giulia, row.id, rating=5)
    assert sent(ctx, "advice_feedback") == [{"booking_id": "f-1", "rating": 5, "comment": "A pleasure"}]
    assert balance_of(ctx, giulia) == 10  # feedback moves no SIF (the payment follows as a transfer)


def test_an_account_with_sessions_abroad_open_on_either_side_cannot_close(app, ctx, peers, make_member, books):
    lena, giulia = make_member("lena"), make_member("giulia")
    row = _held_booking(ctx, lena)  # Lena's SIF are in escrow here
    listing_id = _offer(ctx, giulia)
    with ctx.db.read() as s:
        pseudonym = s.get(Member, giulia.id).pseudonym
    _booking(ctx, listing_id, pseudonym, "c-1")  # Giulia is to be paid by the booker's node

    for member, title in ((lena, OFFER["title"]), (giulia, "Impact measurement")):
        with app.test_request_context(), ctx.db.write() as s:
            with pytest.raises(ConflictError) as refused:
                members.close_account(s, member=s.get(Member, member.id), now=ctx.now(), remote=ctx.remote_advice)
        assert refused.value.code == "open_sessions_abroad"
        assert title in refused.value.message and "Italy" in refused.value.message
    assert balance_of(ctx, lena) == 6 and balance_of(ctx, giulia) == 10

    with ctx.db.write() as s:
        booker_side.cancel(
            s, ctx.federation, member=s.get(Member, lena.id), session_id=row.id, reason="", now=ctx.now()
        )
    apply(ctx, advice_abroad.apply_cancel, "advice_cancel", {"booking_id": "c-1", "reason": "Other plans"})
    for member in (lena, giulia):
        with ctx.db.write() as s:
            closed = members.close_account(s, member=s.get(Member, member.id), now=ctx.now(), remote=ctx.remote_advice)
            assert closed.status == "closed"
    assert balance_of(ctx, lena) == 0
    books()
