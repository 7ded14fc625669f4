"""Advice sessions across a border as members see them, whichever side they are on, and node's hooks for them.

A booking abroad is shown in the shape of a local session (node.services.advice.booking_view), so
the sessions page, the dashboard and the API treat both alike; `abroad` names the peer and its
country. The booker's view names the adviser by pseudonym until they accepted, then by name; the
adviser's view names the booker by the display name their node sent. Internally "accepted" is a
state of its own; it is shown as a local session shows it: booked, with `accepted_at` set.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from node.errors import ForbiddenError
from node.tables import AdviceListing, Member
from protocol import Envelope

from . import advice_money, advice_offers, incoming_advice, remote_advice
from .tables import CrossBorderTransfer, Peer, RemoteBooking

OPEN = ("booked", "accepted", "claimed", "disputed")
TRANSFER_STATUS = {"pending": "pending", "completed": "completed", "bounced": "returned"}


class RemoteAdviceHooks:
    """node.services.advice_listings.RemoteAdvice for one node."""

    def __init__(self, fed) -> None:
        self.fed = fed

    def active_origins(self, session) -> set[str]:
        return advice_offers.active_origins(session)

    def book(self, session, *, member: Member, listing: AdviceListing, data: dict, now: datetime) -> Any:
        return remote_advice.book_offer(session, self.fed, member=member, listing=listing, data=data, now=now)

    def view(self, session, booking: Any, viewer: Member, now: datetime) -> dict:
        return session_view(session, booking, viewer, now)


def apply_cancel(session, fed, peer: Peer, env: Envelope, now: datetime) -> None:
    """`advice_cancel` travels both ways: the side of our row says who cancelled."""
    row = session.scalars(
        select(RemoteBooking).where(
            RemoteBooking.peer_id == peer.node_id, RemoteBooking.booking_ref == env.body["booking_id"]
        )
    ).first()
    if row is None:
        return  # e.g. a booking the adviser's node declined on arrival, cancelled meanwhile by its booker
    if row.side == "booker":
        remote_advice.cancelled_by_adviser(session, fed, row, env, now)
    else:
        incoming_advice.cancelled_by_booker(session, fed, row, env, now)


def actions_for(row: RemoteBooking, role: str, now: datetime) -> list[str]:
    """What the viewer may do now (the buttons and the API's hints), by side, state and planned time."""
    early = row.scheduled_for is not None and now < row.scheduled_for
    if role == "receiver":
        if row.status == "booked":
            return ["cancel"]
        if row.status == "accepted":
            return ["cancel"] if early else ["confirm", "cancel"]
        if row.status == "claimed":
            return ["confirm", "dispute"] if row.dispute_by is not None and now < row.dispute_by else ["confirm"]
    if role == "provider":
        if row.status == "booked":
            return ["accept", "decline"]
        if row.status == "accepted":
            return ["cancel"] if early else ["claim", "cancel"]
    if role == "coordinator" and row.side == "booker" and row.status == "disputed":
        return ["resolve"]
    return []


def session_view(session, row: RemoteBooking, viewer: Member, now: datetime) -> dict:
    """A booking abroad in the shape of advice.booking_view, with `abroad` set."""
    peer = session.get(Peer, row.peer_id)
    member = session.get(Member, row.member_id)
    booker_side = row.side == "booker"
    role = ("receiver" if booker_side else "provider") if viewer.id == row.member_id else "coordinator"
    if booker_side:
        provider, provider_name = row.adviser, row.adviser_name or row.adviser
        receiver, receiver_name = member.handle, member.display_name
    else:
        provider, provider_name = member.handle, member.display_name
        receiver, receiver_name = "", row.booker_name
    refunded = None if row.provider_amount is None else row.amount - row.provider_amount
    return {
        "id": row.id,
        "listing_id": _listing_id(session, row),
        "listing_title": row.title,
        "listing_kind": "offer",
        "provider": provider,
        "provider_name": provider_name,
        "receiver": receiver,
        "receiver_name": receiver_name,
        "hours": row.hours,
        "rate": row.rate,
        "amount": row.amount,
        "scheduled_for": row.scheduled_for,
        "note": row.note,
        "status": "booked" if row.status == "accepted" else row.status,
        "claimed_at": row.claimed_at,
        "dispute_by": row.dispute_by,
        "dispute_reason": row.dispute_reason,
        "resolution": row.resolution,
        "created_at": row.created_at,
        "settled_at": row.settled_at,
        "provider_amount": row.provider_amount,
        "refunded_amount": refunded,
        "accepted_at": row.accepted_at,
        "my_role": role,
        "actions": actions_for(row, role, now),
        "abroad": {"node": row.peer_id, "country": peer.country, "payment": _payment(session, row)},
    }


def _listing_id(session, row: RemoteBooking) -> int | None:
    """The market's listing of the offer, while it is listed here (a peer's offer leaves when it is unshared)."""
    if row.side == "adviser":
        return int(row.offer_ref)
    return session.scalars(
        select(AdviceListing.id).where(
            AdviceListing.origin_node == row.peer_id, AdviceListing.origin_ref == row.offer_ref
        )
    ).first()


def _payment(session, row: RemoteBooking) -> str | None:
    """What became of the payment to the adviser: pending, completed or returned (None before any)."""
    direction = "out" if row.side == "booker" else "in"
    status = session.scalars(
        select(CrossBorderTransfer.status).where(
            CrossBorderTransfer.transfer_id == advice_money.payment_transfer_id(row.booking_ref),
            CrossBorderTransfer.direction == direction,
            CrossBorderTransfer.peer_id == row.peer_id,
        )
    ).first()
    return TRANSFER_STATUS.get(status) if status is not None else None


def sessions_of(session, member: Member, now: datetime, *, open_only: bool = False) -> list[dict]:
    """The member's bookings abroad on either side, newest first."""
    stmt = select(RemoteBooking).where(RemoteBooking.member_id == member.id)
    if open_only:
        stmt = stmt.where(RemoteBooking.status.in_(OPEN))
    rows = session.scalars(stmt.order_by(RemoteBooking.id.desc()).limit(500)).all()
    return [session_view(session, row, member, now) for row in rows]


def own_session(session, member: Member, session_id: int) -> RemoteBooking:
    """One of the member's bookings abroad, on either side (404 otherwise)."""
    row = session.get(RemoteBooking, session_id)
    if row is not None and row.side == "booker":
        return remote_advice.own_booking(session, member, session_id)
    return incoming_advice.own_booking(session, member, session_id)


# Who does what, by the side of the member's row: the booker's actions decide here, the adviser's travel.
BOOKER_ACTIONS = {"cancel", "confirm", "dispute"}
ADVISER_ACTIONS = {"accept", "decline", "claim", "cancel"}


def act(session, fed, *, member: Member, session_id: int, action: str, reason: object, now: datetime) -> RemoteBooking:
    """One party action on a booking abroad; an action the member's side does not have is a 404, like a stranger's."""
    row = own_session(session, member, session_id)
    kwargs: dict = {"member": member, "session_id": session_id, "now": now}
    if action in ("cancel", "decline", "dispute"):
        kwargs["reason"] = reason
    module, allowed = (remote_advice, BOOKER_ACTIONS) if row.side == "booker" else (incoming_advice, ADVISER_ACTIONS)
    if action not in allowed:
        if row.side == "adviser":
            raise ForbiddenError(_("Only the receiver of the session can do this."), code="not_receiver")
        raise ForbiddenError(_("Only the provider of the session can do this."), code="not_provider")
    return getattr(module, action)(session, fed, **kwargs)


def disputes(session, coordinator: Member, now: datetime) -> list[dict]:
    """Disputed bookings abroad a coordinator here settles (the booker is ours)."""
    return [session_view(session, row, coordinator, now) for row in remote_advice.open_disputes(session)]
