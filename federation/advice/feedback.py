"""Feedback on advice sessions booked across a border: given here by either party once, sent to the other node.

The rules are the local ones (node/services/advice_feedback.py): a rating of 1 to 5 and a comment of at
most 500 characters, once per party, only after the session took place. The member's feedback is kept
beside our row of the booking and travels as `advice_feedback`; the other party's arrives the same way
and is kept once per side. The booker's feedback about the adviser counts on the adviser's node with the
local feedback, in their profile's and offers' rating.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, cast

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from federation.advice import adviser_side, booker_side
from federation.tables import Peer, RemoteBooking, RemoteFeedback
from federation.transport import channels
from node.errors import ConflictError
from node.services import advice_feedback
from node.services.notify import notify
from node.services.validate import Fields, clean_int, clean_text
from node.tables import Member
from protocol import Envelope

if TYPE_CHECKING:
    from federation.state import Federation

log = logging.getLogger(__name__)

HELD_STATES = advice_feedback.HELD_STATES  # the session took place: confirmed, paid or split


def _other(side: str) -> str:
    return "adviser" if side == "booker" else "booker"


def _of(session: Session, row: RemoteBooking, author: str) -> RemoteFeedback | None:
    return session.scalars(
        select(RemoteFeedback).where(col(RemoteFeedback.booking_id) == row.id, col(RemoteFeedback.author) == author)
    ).first()


def own_session(session: Session, member: Member, session_id: int) -> RemoteBooking:
    """One of the member's bookings abroad, on either side (404 otherwise)."""
    row = session.get(RemoteBooking, session_id)
    module = booker_side if row is not None and row.side == "booker" else adviser_side
    return module.own_booking(session, member, session_id)


def give(
    session: Session, fed: Federation, *, member: Member, session_id: int, data: dict, now: datetime
) -> RemoteFeedback:
    """The member's feedback on a session abroad they took part in, about the other party; sent to their node."""
    row = own_session(session, member, session_id)
    fields = Fields()
    rating = fields(clean_int, data.get("rating"), "rating", 1, 5, message=advice_feedback.RATING_RULE)
    comment = fields(clean_text, data.get("comment"), "comment", advice_feedback.MAX_COMMENT)
    fields.done()
    if row.status not in HELD_STATES:
        raise ConflictError(
            _("Feedback can be given once the session has taken place and is paid."), code="session_not_held"
        )
    if _of(session, row, row.side) is not None:
        raise ConflictError(_("You already gave feedback on this session."), code="feedback_given")
    feedback = RemoteFeedback(
        booking_id=cast(int, row.id), author=row.side, rating=rating, comment=comment, created_at=now
    )
    session.add(feedback)
    session.flush()
    body = {"booking_id": row.booking_ref, "rating": rating, "comment": comment}
    channels.append(session, fed, peer_id=row.peer_id, type_name="advice_feedback", now=now, body=body)
    return feedback


def apply_feedback(session: Session, fed: Federation, peer: Peer, env: Envelope, now: datetime) -> None:
    """The other party's feedback: kept once per booking and side, only on a session that took place here."""
    row = session.scalars(
        select(RemoteBooking).where(
            col(RemoteBooking.peer_id) == peer.node_id, col(RemoteBooking.booking_ref) == env.body["booking_id"]
        )
    ).first()
    if row is None or row.status not in HELD_STATES:
        log.warning("%s sent feedback on booking %s, which has not taken place here", peer.node_id, env.body)
        return
    author = _other(row.side)
    if _of(session, row, author) is not None:
        return  # the party's feedback is kept already
    session.add(
        RemoteFeedback(
            booking_id=cast(int, row.id),
            author=author,
            rating=env.body["rating"],
            comment=env.body["comment"],
            created_at=now,
        )
    )
    # The other party as our member knows them: the booker's name, or the adviser's (their pseudonym until then).
    by = row.booker_name if author == "booker" else (row.adviser_name or row.adviser)
    said = {"title": row.title, "by": by, "rating": env.body["rating"], "comment": env.body["comment"]}
    notify(session, member_id=row.member_id, kind="advice_feedback", now=now, params=said)


def of_session(session: Session, row: RemoteBooking) -> dict:
    """What each party wrote on one session abroad, as our member sees it (the shape of advice_feedback.of_booking)."""
    rows = session.scalars(select(RemoteFeedback).where(col(RemoteFeedback.booking_id) == row.id)).all()
    given = next((r for r in rows if r.author == row.side), None)
    received = next((r for r in rows if r.author != row.side), None)
    return {
        "can_give": row.status in HELD_STATES and given is None,
        "given": _view(given) if given else None,
        "received": _view(received) if received else None,
    }


def about_adviser(session: Session, member_id: int, limit: int) -> dict:
    """What bookers abroad wrote about our member as adviser: the count, the sum of ratings and the newest."""
    where = (
        col(RemoteBooking.member_id) == member_id,
        col(RemoteBooking.side) == "adviser",
        col(RemoteFeedback.author) == "booker",
    )
    joined = select(func.count(), func.coalesce(func.sum(col(RemoteFeedback.rating)), 0)).join(
        RemoteBooking, col(RemoteBooking.id) == col(RemoteFeedback.booking_id)
    )
    count, total = session.execute(joined.where(*where)).one()
    rows = session.execute(
        select(RemoteFeedback, col(RemoteBooking.booker_name))
        .join(RemoteBooking, col(RemoteBooking.id) == col(RemoteFeedback.booking_id))
        .where(*where)
        .order_by(col(RemoteFeedback.id).desc())
        .limit(limit)
    ).all()
    return {"count": int(count), "sum": int(total), "latest": [{**_view(f), "by": name} for f, name in rows]}


def _view(row: RemoteFeedback) -> dict:
    return {"rating": row.rating, "comment": row.comment, "created_at": row.created_at}
