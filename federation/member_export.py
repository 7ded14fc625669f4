"""The parts of a member's data export about other nodes (node/services/export.py reads them with its own)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from federation.tables import (
    CrossBorderTransfer,
    IncomingInvitation,
    Initiative,
    PoolShare,
    RemoteBooking,
    RemoteFeedback,
)
from node.registry import Registry
from node.services.export import ExportPart, rows
from node.tables import Member, table_of


def register_parts(parts: Registry[ExportPart]) -> None:
    parts.add("payments_abroad", rows(CrossBorderTransfer, "local_member_id"))
    parts.add("advice_abroad", ExportPart(_advice_abroad, ("fed_remote_bookings.member_id",)))
    parts.add("review_invitations_abroad", rows(IncomingInvitation, "member_id"))
    parts.add("initiatives", rows(Initiative, "contact_member_id"))
    parts.add("reviewer_pool_shared", ExportPart(_pool_shared, ()))


def _advice_abroad(session: Session, member_id: int) -> list[dict]:
    """The member's bookings abroad, as adviser or booker, each with the feedback either party gave on it."""
    bookings, feedback = table_of(RemoteBooking), table_of(RemoteFeedback)
    found = [
        dict(row)
        for row in session.execute(
            select(bookings).where(bookings.c.member_id == member_id).order_by(bookings.c.id)
        ).mappings()
    ]
    given: dict[int, list[dict]] = {}
    if found:
        ids = [row["id"] for row in found]
        for row in session.execute(
            select(feedback).where(feedback.c.booking_id.in_(ids)).order_by(feedback.c.id)
        ).mappings():
            given.setdefault(row["booking_id"], []).append(dict(row))
    return [{**row, "feedback": given.get(row["id"], [])} for row in found]


def _pool_shared(session: Session, member_id: int) -> list[dict]:
    """What each peer was last sent about the member as a reviewer (under their pseudonym), and when."""
    pseudonym = session.get_one(Member, member_id).pseudonym
    shares = session.scalars(select(PoolShare).order_by(col(PoolShare.peer_id)))
    return [
        {"peer_id": share.peer_id, "record": share.records[pseudonym], "sent_at": share.sent_at}
        for share in shares
        if pseudonym in share.records
    ]
