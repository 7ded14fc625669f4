"""Advice across borders, adviser's side: a member of a peer node booked one of our members' shared offers.

Each `advice_book` becomes a RemoteBooking (side adviser) that only the adviser sees (their sessions
page, the dashboard, a notification and mail in their language, with the booker's display name).
A booking of an offer we no longer share, at another rate, or with amounts that do not add up is
declined at once by an `advice_decline` with its reason code and kept nowhere (a domain "no" is an
answering message). The adviser accepts (their name travels now), declines with a reason, claims
after the planned time, or cancels before a claim; each travels to the booker's node as an entry.

The booker's node holds the SIF and decides: its `advice_cancel`, `advice_dispute` and
`advice_settle` are applied here whatever the adviser said last, so both nodes end in the same
state. That is why ADVISER_SIDE has two moves out of an end the adviser chose: a decline or
cancel that crossed the booker's cancel ends as cancelled, a cancel that crossed the booker's
confirmation ends as confirmed (and is paid). The payment arrives as an ordinary `transfer` to the
adviser's pseudonym, resolved here by its transfer id to this booking's adviser alone.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from federation.advice.booker_side import find_booking
from federation.advice.money import TRANSFER_PREFIX
from federation.payments.transfers import NO_PAYEE
from federation.tables import Peer, RemoteBooking
from federation.transport import channels
from federation.transport.peers import require_reachable
from node.errors import ConflictError, IllegalTransitionError, NotFoundError
from node.lifecycle import lifecycle
from node.services import advice, members
from node.services.notify import notify
from node.services.validate import clean_text
from node.tables import AdviceListing, Member
from protocol import Envelope, parse_time

if TYPE_CHECKING:
    from federation.state import Federation

log = logging.getLogger(__name__)

# The booker's node decides; a state here is the adviser's last word until that node's word arrives.
ADVISER_SIDE = lifecycle(
    "booking",
    "booked",
    table=RemoteBooking,
    booked="accepted declined cancelled",
    accepted="claimed cancelled confirmed",
    claimed="confirmed disputed paid cancelled",
    disputed="paid refunded split",
    declined="cancelled",
    cancelled="confirmed",
    confirmed="",
    paid="",
    refunded="",
    split="",
)
PAID_STATES = ("confirmed", "paid", "split")


# --- entries from the booker's node ----------------------------------------------------------------------


def apply_book(session: Session, fed: Federation, peer: Peer, env: Envelope, now: datetime) -> None:
    """Keep the booking for the adviser and notify them, or decline at once with the reason it cannot stand."""
    body = env.body
    if session.scalars(
        select(col(RemoteBooking.id)).where(
            col(RemoteBooking.peer_id) == peer.node_id, RemoteBooking.booking_ref == body["booking_id"]
        )
    ).first():
        return  # the same booking twice: handled the first time
    listing, adviser = _offer(session, body)
    refusal = _refusal(listing, adviser, body, now)
    if refusal is not None:
        code, reason = refusal
        channels.append(
            session,
            fed,
            peer_id=peer.node_id,
            type_name="advice_decline",
            now=now,
            body={"booking_id": body["booking_id"], "reason_code": code, "reason": reason},
        )
        return
    assert listing is not None and adviser is not None and adviser.id is not None, "_refusal refuses them missing"
    row = RemoteBooking(
        side="adviser",
        peer_id=peer.node_id,
        booking_ref=body["booking_id"],
        member_id=adviser.id,
        offer_ref=body["offer_ref"],
        title=listing.title,
        adviser=adviser.pseudonym,
        booker_name=body["booker_name"],
        hours=body["hours"],
        rate=body["rate"],
        amount=body["amount"],
        scheduled_for=parse_time(body["scheduled_for"]) if "scheduled_for" in body else None,
        note=body["note"],
        status=ADVISER_SIDE.initial,
        created_at=now,
    )
    session.add(row)
    session.flush()
    notify(
        session,
        member_id=adviser.id,
        kind="advice_booked_abroad",
        now=now,
        params={
            "receiver": row.booker_name,
            "country": peer.country,
            "title": row.title,
            "hours": row.hours,
            "amount": row.amount,
            "scheduled_for": row.scheduled_for,
        },
    )


def _offer(session: Session, body: dict) -> tuple[AdviceListing | None, Member | None]:
    ref = body["offer_ref"]
    listing = session.get(AdviceListing, int(ref)) if ref.isdigit() and len(ref) < 16 else None
    if listing is None or listing.origin_node is not None:
        return None, None
    return listing, session.get(Member, listing.member_id)


def _refusal(
    listing: AdviceListing | None, adviser: Member | None, body: dict, now: datetime
) -> tuple[str, str] | None:
    """Why this node cannot take the booking (code, reason for people), None if it can: in SPEC's order."""
    shared = listing is not None and listing.kind == "offer" and listing.status == "open" and listing.network_wide
    if (
        listing is None
        or not shared
        or adviser is None
        or adviser.status != "active"
        or adviser.pseudonym != body["adviser"]
    ):
        return "not_available", "this offer is no longer shared by this node"
    if body["rate"] != listing.rate:
        return "offer_changed", f"the rate of this offer is now {listing.rate} per hour"
    if body["hours"] > advice.MAX_HOURS or body["amount"] != body["hours"] * body["rate"]:
        return "bad_amount", f"a session lasts 1 to {advice.MAX_HOURS} hours and costs hours x rate"
    if "scheduled_for" in body and parse_time(body["scheduled_for"]) > now + timedelta(days=advice.MAX_SCHEDULE_DAYS):
        return "bad_schedule", "a session is planned within the coming year"
    return None


def _decided(session: Session, peer: Peer, env: Envelope) -> RemoteBooking | None:
    row = find_booking(session, peer.node_id, env.body["booking_id"], "adviser")
    if row is None:
        log.info("%s wrote about a booking %s this node does not hold", peer.node_id, env.body["booking_id"])
    return row


def _follow(row: RemoteBooking, target: str) -> bool:
    """Take the booker's node's decision if the graph leads there from here; False if it cannot (a confused peer)."""
    if row.status == target:
        return False
    if target not in ADVISER_SIDE.transitions[row.status]:
        log.warning("booking %s is %s here; the booker's node says %s", row.booking_ref, row.status, target)
        return False
    ADVISER_SIDE.move(row, target)
    return True


def cancelled_by_booker(session: Session, fed: Federation, row: RemoteBooking, env: Envelope, now: datetime) -> None:
    """The booker cancelled (and was refunded at home): cancelled here, whatever the adviser last said."""
    if not _follow(row, "cancelled"):
        return
    row.settled_at, row.resolution = now, env.body["reason"][:1000]
    notify(
        session,
        member_id=row.member_id,
        kind="advice_cancelled",
        now=now,
        params={"booking_id": row.id, "by": row.booker_name, "reason": env.body["reason"]},
    )


def apply_dispute(session: Session, fed: Federation, peer: Peer, env: Envelope, now: datetime) -> None:
    """The booker disputes the claim; a coordinator of their node settles it."""
    row = _decided(session, peer, env)
    if row is None or not _follow(row, "disputed"):
        return
    row.dispute_reason = env.body["reason"]
    notify(
        session,
        member_id=row.member_id,
        kind="advice_disputed",
        now=now,
        params={"booking_id": row.id, "amount": row.amount, "reason": row.dispute_reason},
    )


def apply_settle(session: Session, fed: Federation, peer: Peer, env: Envelope, now: datetime) -> None:
    """How the booking ended at the booker's node; the payment (if any) follows as a `transfer`."""
    row = _decided(session, peer, env)
    body = env.body
    if row is None or not _follow(row, body["outcome"]):
        return
    share = min(body["adviser_amount"], row.amount)
    row.settled_at, row.resolution, row.provider_amount = now, body["note"], share
    params = {"booking_id": row.id, "share": share, "refunded": row.amount - share, "note": body["note"]}
    notify(session, member_id=row.member_id, kind=f"advice_{body['outcome']}", params=params, now=now)


def advice_payee(session: Session, peer: Peer, body: dict) -> Member | object | None:
    """A session's payment is for the adviser of that booking alone; NO_PAYEE when it names no paid booking."""
    tid = body["transfer_id"]
    if not tid.startswith(TRANSFER_PREFIX):
        return None
    row = find_booking(session, peer.node_id, tid[len(TRANSFER_PREFIX) :], "adviser")
    if row is None or row.status not in PAID_STATES:
        return NO_PAYEE
    member = session.get(Member, row.member_id)
    return member if member is not None and member.pseudonym == body["payee"] else NO_PAYEE


# --- the adviser answers ------------------------------------------------------------------------------------


def own_booking(session: Session, member: Member, session_id: int) -> RemoteBooking:
    """A booking of the member's offer from abroad (404 for anyone else, coordinators too)."""
    row = session.get(RemoteBooking, session_id)
    if row is None or row.side != "adviser" or row.member_id != member.id:
        raise NotFoundError(_("There is no such session."), code="booking_not_found")
    members.require_active(member)
    return row


def accept(session: Session, fed: Federation, *, member: Member, session_id: int, now: datetime) -> RemoteBooking:
    """Accept the booking; the booker learns the adviser's name."""
    row = own_booking(session, member, session_id)
    ADVISER_SIDE.move(row, "accepted")
    require_reachable(session, row.peer_id)
    row.accepted_at = now
    body = {"booking_id": row.booking_ref, "adviser_name": member.display_name[:120] or member.handle}
    channels.append(session, fed, peer_id=row.peer_id, type_name="advice_accept", now=now, body=body)
    return row


def decline(
    session: Session, fed: Federation, *, member: Member, session_id: int, reason: object, now: datetime
) -> RemoteBooking:
    """Decline the booking with a reason; the booker's node gives their SIF back."""
    row = own_booking(session, member, session_id)
    reason = clean_text(reason, "reason", max_len=900, required=True)
    if row.status != "booked":
        raise ConflictError(
            _("Only the member asked to take part can decline, and only before they accepted."), code="cannot_decline"
        )
    ADVISER_SIDE.move(row, "declined")
    require_reachable(session, row.peer_id)
    row.settled_at, row.resolution = now, reason
    body = {"booking_id": row.booking_ref, "reason_code": "declined", "reason": reason}
    channels.append(session, fed, peer_id=row.peer_id, type_name="advice_decline", now=now, body=body)
    return row


def claim(session: Session, fed: Federation, *, member: Member, session_id: int, now: datetime) -> RemoteBooking:
    """Say the session took place (after its planned time); the booker's node pays after its dispute period."""
    row = own_booking(session, member, session_id)
    ADVISER_SIDE.move(row, "claimed")
    if row.scheduled_for is not None and now < row.scheduled_for:
        raise ConflictError(
            _("The session is planned for later; claim it after it took place."), code="session_not_held_yet"
        )
    require_reachable(session, row.peer_id)
    row.claimed_at = now
    channels.append(
        session, fed, peer_id=row.peer_id, type_name="advice_claim", now=now, body={"booking_id": row.booking_ref}
    )
    return row


def cancel(
    session: Session, fed: Federation, *, member: Member, session_id: int, reason: object, now: datetime
) -> RemoteBooking:
    """Cancel an accepted booking before claiming it; the booker's node refunds them."""
    row = own_booking(session, member, session_id)
    reason = clean_text(reason, "reason", max_len=900)
    if row.status == "booked":
        raise ConflictError(_("Decline a booking you have not accepted, with a reason."), code="cannot_cancel")
    if row.status != "accepted":  # the graph's other ways into cancelled are the booker's node's word
        raise IllegalTransitionError(ADVISER_SIDE.refusal(row.status))
    ADVISER_SIDE.move(row, "cancelled")
    require_reachable(session, row.peer_id)
    row.settled_at, row.resolution = now, reason
    body = {"booking_id": row.booking_ref, "reason": reason}
    channels.append(session, fed, peer_id=row.peer_id, type_name="advice_cancel", now=now, body=body)
    return row
