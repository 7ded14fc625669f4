"""Advice across borders, booker's side: a member here books an offer a peer shared (the peer is the adviser's node).

This node holds the money and decides every movement of it, as node/services/advice.py does for a
local session: booking moves hours x rate from the booker into an escrow account at once and sends
`advice_book` in the same transaction. The adviser's node answers with `advice_accept` (the
adviser's name arrives only now), `advice_decline` (refunded here, once), `advice_claim` (the
dispute period starts here) or `advice_cancel`. The booker cancels before a claim (refunded),
confirms after the planned time, or disputes a claim in time; a coordinator here settles a dispute;
a sweep pays an unchallenged claim at `dispute_by`. Each end that moves money travels as
`advice_settle`, and a payment to the adviser as a `transfer` on the same channel, from one ledger
posting that moves the escrow to our position towards the adviser's node (ref
xadvice:<id>:pay|split, so never twice), like a review bounty. A bounce returns the SIF to the
booker (transfers.apply_bounce, by the transfer's row).

Crossing answers resolve to this node's first decision: an answer that finds the booking ended or
moved otherwise here is ignored, and the adviser's node adopts what we sent it (adviser_side.py).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from federation.advice import money as advice_money
from federation.state import federation_in
from federation.tables import Peer, RemoteBooking
from federation.transport import channels
from node import labels
from node.errors import ConflictError, DomainError, ForbiddenError, NotFoundError
from node.lifecycle import Timeout, lifecycle
from node.services import advice, audit, ledger, members
from node.services.advice_listings import whole
from node.services.notify import notify
from node.services.validate import clean_choice, clean_text
from node.tables import AdviceListing, Member
from protocol import Envelope, format_time

if TYPE_CHECKING:
    from federation.state import Federation
    from node.context import NodeContext

log = logging.getLogger(__name__)

# This node decides: the adviser's answers move a booking only from the state they answer.
BOOKER_SIDE = lifecycle(
    "booking",
    "booked",
    table=RemoteBooking,
    timeouts=(Timeout("claimed", "paid", at="dispute_by"),),
    booked="accepted declined cancelled",
    accepted="claimed confirmed cancelled",
    claimed="confirmed disputed paid",
    disputed="paid refunded split",
    declined="",
    cancelled="",
    confirmed="",
    paid="",
    refunded="",
    split="",
)
OUTCOME_STATES = {"pay_provider": "paid", "refund_receiver": "refunded", "split": "split"}


def find_booking(session: Session, peer_id: str, booking_ref: str, side: str) -> RemoteBooking | None:
    """Our row of a booking named on the wire, if it is of that side (a peer names only what it was sent)."""
    row = session.scalars(
        select(RemoteBooking).where(
            col(RemoteBooking.peer_id) == peer_id, col(RemoteBooking.booking_ref) == booking_ref
        )
    ).first()
    return row if row is not None and row.side == side else None


# --- booking --------------------------------------------------------------------------------------------


def book_offer(
    session: Session, fed: Federation, *, member: Member, listing: AdviceListing, data: dict, now: datetime
) -> RemoteBooking:
    """Book a peer's offer: the fee into escrow here, and `advice_book` to the adviser's node, in one transaction."""
    members.require_active(member)
    assert member.id is not None, "a stored member has an id"
    peer = session.get(Peer, listing.origin_node)
    if peer is None or peer.status != "active" or listing.status != "open" or listing.origin_ref is None:
        raise NotFoundError(_("There is no such listing."), code="listing_not_found")
    hours = whole(data.get("hours"), "hours", 1, advice.MAX_HOURS, advice.HOURS_RULE)
    amount = ledger.require_amount(hours * listing.rate)
    row = RemoteBooking(
        side="booker",
        peer_id=peer.node_id,
        booking_ref=uuid.uuid4().hex,
        member_id=member.id,
        offer_ref=listing.origin_ref,
        title=listing.title,
        adviser=listing.origin_adviser,
        hours=hours,
        rate=listing.rate,
        amount=amount,
        scheduled_for=advice.clean_schedule(data.get("scheduled_for"), now),
        note=clean_text(data.get("note"), "note", max_len=1000),
        status=BOOKER_SIDE.initial,
        created_at=now,
    )
    session.add(row)
    session.flush()
    ledger.post(
        session,
        kind="advice_abroad_hold",
        memo=labels.english(labels.ADVICE_HELD, booking_id=row.id),
        now=now,
        legs=[
            ledger.Leg(ledger.member_account(session, member.id), -amount),
            ledger.Leg(advice_money.escrow(session, row, now), amount),
        ],
        ref=f"xadvice:{row.id}:hold",
        actor_id=member.id,
    )
    body = {
        "booking_id": row.booking_ref,
        "offer_ref": row.offer_ref,
        "adviser": row.adviser,
        "booker_name": member.display_name[:120] or member.handle,
        "hours": hours,
        "rate": row.rate,
        "amount": amount,
        "note": row.note,
    }
    if row.scheduled_for is not None:
        body["scheduled_for"] = format_time(row.scheduled_for)
    channels.append(session, fed, peer_id=peer.node_id, type_name="advice_book", now=now, body=body)
    member.last_active_at = now
    return row


# --- the booker and the coordinator act ------------------------------------------------------------------


def own_booking(session: Session, member: Member, session_id: int) -> RemoteBooking:
    """A booking abroad the member made (404 for anyone else)."""
    row = session.get(RemoteBooking, session_id)
    if row is None or row.side != "booker" or row.member_id != member.id:
        raise NotFoundError(_("There is no such session."), code="booking_not_found")
    members.require_active(member)
    return row


def cancel(
    session: Session, fed: Federation, *, member: Member, session_id: int, reason: object, now: datetime
) -> RemoteBooking:
    """The booker cancels before a claim: refunded here at once; the adviser's node is told."""
    row = own_booking(session, member, session_id)
    reason = clean_text(reason, "reason", max_len=900)
    BOOKER_SIDE.move(row, "cancelled")
    advice_money.release(session, fed, row, 0, now=now, actor_id=member.id)
    advice_money.end(
        row,
        labels.english(
            labels.CANCELLED_BY_WITH_REASON if reason else labels.CANCELLED_BY, handle=member.handle, reason=reason
        ),
        now,
    )
    body = {"booking_id": row.booking_ref, "reason": reason}
    channels.append(session, fed, peer_id=row.peer_id, type_name="advice_cancel", now=now, body=body)
    return row


def confirm(session: Session, fed: Federation, *, member: Member, session_id: int, now: datetime) -> RemoteBooking:
    """The booker confirms the session took place (not before its planned time): the adviser is paid at once."""
    row = own_booking(session, member, session_id)
    if row.status == "booked":
        raise ConflictError(_("The adviser has not accepted this session yet."), code="not_accepted")
    if row.status == "accepted" and row.scheduled_for is not None and now < row.scheduled_for:
        raise ConflictError(
            _("The session is planned for later; confirm it after it took place."), code="session_not_held_yet"
        )
    settle(session, fed, row, "confirmed", row.amount, now=now, note=labels.CONFIRMED_BY_RECEIVER)
    return row


def dispute(
    session: Session, fed: Federation, *, member: Member, session_id: int, reason: object, now: datetime
) -> RemoteBooking:
    """The booker objects to the adviser's claim before its deadline; a coordinator here settles it."""
    row = own_booking(session, member, session_id)
    reason = clean_text(reason, "reason", max_len=1000, required=True)
    BOOKER_SIDE.move(row, "disputed")
    if row.dispute_by is None or now >= row.dispute_by:
        raise ConflictError(_("The time to dispute this session has passed."), code="dispute_window_closed")
    row.dispute_reason = reason
    channels.append(
        session,
        fed,
        peer_id=row.peer_id,
        type_name="advice_dispute",
        now=now,
        body={"booking_id": row.booking_ref, "reason": reason},
    )
    params = {"booking_id": row.id, "amount": row.amount, "reason": reason}
    for coordinator_id in session.scalars(
        select(col(Member.id)).where(
            col(Member.role) == "coordinator", col(Member.status) == "active", col(Member.id) != row.member_id
        )
    ):
        assert coordinator_id is not None, "stored members have ids"
        notify(session, member_id=coordinator_id, kind="advice_disputed", params=params, now=now)
    return row


def resolve(
    session: Session,
    fed: Federation,
    *,
    coordinator: Member,
    session_id: int,
    outcome: object,
    note: object,
    provider_amount: object = None,
    now: datetime,
) -> RemoteBooking:
    """A coordinator here settles a disputed booking abroad: pay the adviser, refund the booker, or split."""
    members.require_coordinator(coordinator)
    row = session.get(RemoteBooking, session_id)
    if row is None or row.side != "booker":
        raise NotFoundError(_("There is no such session."), code="booking_not_found")
    if coordinator.id == row.member_id:
        raise ForbiddenError(
            _("You are a party to this session: another coordinator settles its dispute."), code="party_cannot_resolve"
        )
    if row.status != "disputed":
        raise ConflictError(
            _("This session is not disputed (it is %(state)s).", state=labels.label(row.status, "booking_status")),
            code="not_disputed",
        )
    outcome = clean_choice(outcome, "outcome", advice.OUTCOMES)
    note = clean_text(note, "note", max_len=900, required=True)
    share = advice.provider_share(outcome, row.amount, provider_amount)
    settle(
        session,
        fed,
        row,
        OUTCOME_STATES[outcome],
        share,
        now=now,
        note=f"{coordinator.handle}: {note}",
        actor_id=coordinator.id,
    )
    detail = {"outcome": outcome, "provider_amount": share, "amount": row.amount, "note": note, "peer": row.peer_id}
    audit.record(session, coordinator.id, "advice_dispute_resolved", f"booking-abroad:{row.id}", detail, now)
    return row


# --- money -------------------------------------------------------------------------------------------------


def settle(
    session: Session,
    fed: Federation,
    row: RemoteBooking,
    target: str,
    share: int,
    *,
    now: datetime,
    note: str,
    actor_id: int | None = None,
) -> None:
    """End the booking with money moving: `advice_settle` first, then the payment's `transfer`, then notify."""
    BOOKER_SIDE.move(row, target)
    channels.append(
        session,
        fed,
        peer_id=row.peer_id,
        type_name="advice_settle",
        now=now,
        body={"booking_id": row.booking_ref, "outcome": target, "adviser_amount": share, "note": note[:1000]},
    )
    advice_money.release(session, fed, row, share, now=now, actor_id=actor_id)
    advice_money.end(row, note, now)
    params = {"booking_id": row.id, "share": share, "refunded": row.amount - share, "note": note}
    notify(session, member_id=row.member_id, kind=f"advice_{target}", params=params, now=now)


def pay_unchallenged_claims(ctx: NodeContext) -> int:
    """Pay claimed bookings abroad whose dispute period passed (BOOKER_SIDE's timeout); each once, in its own
    transaction."""
    fed, now, payment = federation_in(ctx), ctx.now(), BOOKER_SIDE.timeout("claimed")
    with ctx.db.read() as s:
        due = s.scalars(
            select(col(RemoteBooking.id)).where(
                col(RemoteBooking.side) == "booker", BOOKER_SIDE.overdue(payment.source, now)
            )
        ).all()
    paid = 0
    for row_id in due:
        try:
            with ctx.db.write() as s:
                row = s.get(RemoteBooking, row_id)
                if row is not None and BOOKER_SIDE.is_overdue(
                    row, payment.source, now
                ):  # a confirm or dispute may have won the race
                    settle(s, fed, row, payment.target, row.amount, now=now, note=labels.PAID_AFTER_DISPUTE_PERIOD)
                    paid += 1
        except DomainError:
            log.exception("auto-payment of advice session abroad %s refused", row_id)
    return paid


# --- the adviser's node answers -----------------------------------------------------------------------


def _answered(session: Session, peer: Peer, env: Envelope, state: str) -> RemoteBooking | None:
    """Our booking the answer is about, if it is still in the state the answer moves it from."""
    row = find_booking(session, peer.node_id, env.body["booking_id"], "booker")
    if row is None:
        log.warning("%s answered a booking %s it was never sent", peer.node_id, env.body["booking_id"])
        return None
    return row if row.status == state else None  # we decided otherwise first; the peer follows what we sent


def apply_accept(session: Session, fed: Federation, peer: Peer, env: Envelope, now: datetime) -> None:
    """The adviser accepted: the booker learns their name."""
    row = _answered(session, peer, env, "booked")
    if row is None:
        return
    BOOKER_SIDE.move(row, "accepted")
    row.accepted_at, row.adviser_name = now, env.body["adviser_name"]
    notify(
        session,
        member_id=row.member_id,
        kind="advice_accepted",
        now=now,
        params={"booking_id": row.id, "provider": row.adviser_name, "scheduled_for": row.scheduled_for},
    )


def apply_decline(session: Session, fed: Federation, peer: Peer, env: Envelope, now: datetime) -> None:
    """The adviser (or their node, on arrival) declined: the booker's SIF go back, once."""
    row = _answered(session, peer, env, "booked")
    if row is None:
        return
    BOOKER_SIDE.move(row, "declined")
    advice_money.release(session, fed, row, 0, now=now, actor_id=None)
    reason = env.body["reason"] or env.body["reason_code"]
    advice_money.end(row, labels.english(labels.DECLINED_BY, handle=row.adviser, reason=reason), now)
    notify(
        session,
        member_id=row.member_id,
        kind="advice_declined",
        now=now,
        params={"booking_id": row.id, "by": row.adviser, "reason": reason},
    )


def apply_claim(session: Session, fed: Federation, peer: Peer, env: Envelope, now: datetime) -> None:
    """The adviser says the session took place: the booker may confirm or dispute until dispute_by here."""
    row = _answered(session, peer, env, "accepted")
    if row is None:
        return
    BOOKER_SIDE.move(row, "claimed")
    row.claimed_at = now
    row.dispute_by = now + timedelta(days=fed.ctx.settings.dispute_days)
    notify(
        session,
        member_id=row.member_id,
        kind="advice_claimed",
        now=now,
        params={
            "provider": row.adviser_name or row.adviser,
            "hours": row.hours,
            "amount": row.amount,
            "dispute_by": row.dispute_by,
        },
    )


def cancelled_by_adviser(session: Session, fed: Federation, row: RemoteBooking, env: Envelope, now: datetime) -> None:
    """The adviser cancelled before claiming: refunded here, unless we decided otherwise first."""
    if row.status not in ("booked", "accepted"):
        return
    BOOKER_SIDE.move(row, "cancelled")
    advice_money.release(session, fed, row, 0, now=now, actor_id=None)
    reason = env.body["reason"]
    by = row.adviser_name or row.adviser
    advice_money.end(
        row,
        labels.english(labels.CANCELLED_BY_WITH_REASON if reason else labels.CANCELLED_BY, handle=by, reason=reason),
        now,
    )
    notify(
        session,
        member_id=row.member_id,
        kind="advice_cancelled",
        now=now,
        params={"booking_id": row.id, "by": by, "reason": reason},
    )


def open_disputes(session: Session) -> list[RemoteBooking]:
    """Disputed bookings abroad waiting for a coordinator here, oldest first."""
    return list(
        session.scalars(
            select(RemoteBooking)
            .where(col(RemoteBooking.side) == "booker", col(RemoteBooking.status) == "disputed")
            .order_by(col(RemoteBooking.id))
        ).all()
    )
