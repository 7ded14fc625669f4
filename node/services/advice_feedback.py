"""Feedback after an advice session: each party once, a rating of 1 to 5 and a short comment.

Only a session that took place (confirmed, paid after the dispute period, or split by a
coordinator) can get feedback; a cancelled, declined or refunded one cannot. Feedback is about
the other party in their role, and the adviser's profile shows what their receivers wrote.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from ..errors import ConflictError
from ..tables import AdviceBooking, AdviceFeedback, AdviceListing, Member
from .advice import as_party
from .advice_listings import RemoteAdvice
from .notify import notify
from .validate import Fields, clean_int, clean_text

HELD_STATES = ("confirmed", "paid", "split")  # the session took place
MAX_COMMENT = 500
RATING_RULE = _l("Please rate from 1 (poor) to 5 (excellent).")


def give(session: Session, *, member: Member, booking_id: int, data: dict, now: datetime) -> AdviceFeedback:
    """The member's feedback on a session they took part in, about the other party."""
    booking = as_party(session, booking_id, member, role=None, now=now)
    fields = Fields()
    rating = fields(clean_int, data.get("rating"), "rating", 1, 5, message=RATING_RULE)
    comment = fields(clean_text, data.get("comment"), "comment", MAX_COMMENT)
    fields.done()
    if booking.status not in HELD_STATES:
        raise ConflictError(
            _("Feedback can be given once the session has taken place and is paid."), code="session_not_held"
        )
    assert booking.id is not None
    assert member.id is not None
    if mine(session, booking.id, member.id) is not None:
        raise ConflictError(_("You already gave feedback on this session."), code="feedback_given")
    about_provider = member.id == booking.receiver_id
    row = AdviceFeedback(
        booking_id=booking.id,
        author_id=member.id,
        about_id=booking.provider_id if about_provider else booking.receiver_id,
        about_role="provider" if about_provider else "receiver",
        rating=rating,
        comment=comment,
        created_at=now,
    )
    session.add(row)
    session.flush()
    listing = session.get_one(AdviceListing, booking.listing_id)
    said = {"title": listing.title, "by": member.display_name, "rating": rating, "comment": comment}
    notify(session, member_id=row.about_id, kind="advice_feedback", now=now, params=said)
    return row


def mine(session: Session, booking_id: int, author_id: int) -> AdviceFeedback | None:
    return session.scalars(
        select(AdviceFeedback).where(
            col(AdviceFeedback.booking_id) == booking_id, col(AdviceFeedback.author_id) == author_id
        )
    ).first()


def of_booking(session: Session, booking: AdviceBooking, viewer: Member) -> dict:
    """What each party wrote on one session, as its parties see it ("given" by the viewer, "received")."""
    rows = session.scalars(select(AdviceFeedback).where(col(AdviceFeedback.booking_id) == booking.id)).all()
    given = next((r for r in rows if r.author_id == viewer.id), None)
    received = next((r for r in rows if r.about_id == viewer.id), None)
    return {
        "can_give": booking.status in HELD_STATES and given is None,
        "given": _view(given) if given else None,
        "received": _view(received) if received else None,
    }


def as_adviser(session: Session, member_id: int, *, limit: int = 20, remote: RemoteAdvice | None = None) -> dict:
    """What receivers wrote about a member as adviser, here and (through `remote`) abroad: the count, the average
    and the newest."""
    where = (col(AdviceFeedback.about_id) == member_id, col(AdviceFeedback.about_role) == "provider")
    count, total = session.execute(
        select(func.count(), func.coalesce(func.sum(col(AdviceFeedback.rating)), 0)).where(*where)
    ).one()
    rows = session.execute(
        select(AdviceFeedback, col(Member.display_name))
        .join(Member, col(Member.id) == col(AdviceFeedback.author_id))
        .where(*where)
        .order_by(col(AdviceFeedback.id).desc())
        .limit(limit)
    ).all()
    latest = [{**_view(row), "by": name} for row, name in rows]
    if remote is not None:
        abroad = remote.adviser_feedback(session, member_id, limit)
        count, total = count + abroad["count"], total + abroad["sum"]
        latest = sorted(latest + abroad["latest"], key=lambda f: f["created_at"], reverse=True)[:limit]
    return {
        "count": int(count),
        "average": round(float(total) / count, 1) if count else None,
        "latest": latest,
    }


def _view(row: AdviceFeedback) -> dict:
    return {"rating": row.rating, "comment": row.comment, "created_at": row.created_at}
