"""The advice exchange (time bank): sessions, escrow, claims, disputes and auto-payment (listings: advice_listings).

Nobody is ever charged without their own action:

- On an OFFER ("I can advise on crowdfunding, 1 SIF an hour") the member who books is the
  receiver; booking is their consent, so their SIF move into the session's escrow account at
  once. The adviser then accepts the booking or declines it with a reason (full refund).
- On a REQUEST a member who wants to help *proposes* a session (state ``proposed``, no money
  moves). The request's author is the receiver; only when they accept do their SIF move into
  escrow; they may also decline with a reason. Either side may withdraw a proposal.

Then (states of node.lifecycle.BOOKING): the provider claims after the session, and the
receiver confirms (pays at once) or disputes within ``dispute_days``; unchallenged claims are
paid by the sweep. The receiver may also confirm without waiting for a claim, but not before the
planned time: SIF stay in escrow until the session has taken place. Either party may cancel
before a claim (full refund). A coordinator who is not a party settles a dispute: pay the
provider, refund the receiver, or split (one balanced posting). Escrow is empty in every final
state; ledger refs ``advice:<id>:hold|pay|refund|split`` make each movement exactly-once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, cast

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from .. import labels
from ..context import NodeContext
from ..errors import ConflictError, DomainError, ForbiddenError, NotFoundError, ValidationError
from ..lifecycle import BOOKING
from ..settings import Settings
from ..tables import AdviceBooking, AdviceListing, Member
from . import audit, ledger, members
from .advice_listings import RemoteAdvice, whole
from .notify import notify
from .validate import clean_choice, clean_datetime, clean_text

log = logging.getLogger(__name__)

MAX_HOURS = 40
MAX_SCHEDULE_DAYS = 366
OPEN_STATES = ("proposed", "booked", "claimed", "disputed")
OUTCOMES = ("pay_provider", "refund_receiver", "split")
ACTIONS = ("accept", "decline", "confirm", "claim", "dispute", "cancel", "resolve")
RELEASE_MEMOS = {"pay": labels.ADVICE_PAID, "refund": labels.ADVICE_REFUNDED, "split": labels.ADVICE_SPLIT}


# What a refused number should have been, for the numbers of a session.
HOURS_RULE = _l("A session lasts a whole number of hours, from %(low)s to %(high)s.")
SPLIT_RULE = _l("In a split the provider gets a whole number of %(unit)s, from %(low)s to %(high)s.")


# --- sessions: creating and accepting ----------------------------------------------


def book(
    session: Session,
    settings: Settings,
    *,
    member: Member,
    listing_id: int,
    data: dict,
    now: datetime,
    remote: RemoteAdvice | None = None,
) -> AdviceBooking | Any:
    """Book a session on an offer (pays into escrow at once) or propose one on a request.

    An offer a peer shared is booked through `remote` (federation): the escrow is held here all the
    same, and what comes back is federation's booking across the border, not an AdviceBooking.
    """
    members.require_active(member)
    listing = session.get(AdviceListing, listing_id)
    if listing is None:
        raise NotFoundError(_("There is no such listing."), code="listing_not_found")
    if listing.origin_node is not None:
        if remote is None or listing.origin_node not in remote.active_origins(session):
            raise NotFoundError(_("There is no such listing."), code="listing_not_found")
        return remote.book(session, member=member, listing=listing, data=data, now=now)
    if listing.status != "open":
        raise ConflictError(_("This listing is closed."), code="listing_closed")
    assert listing.member_id is not None  # a listing posted here has its author
    if listing.member_id == member.id:
        raise ConflictError(_("You cannot book your own listing."), code="own_listing")
    if session.get_one(Member, listing.member_id).status != "active":
        raise ConflictError(_("The author of this listing has left."), code="author_not_active")
    hours = whole(data.get("hours"), "hours", 1, MAX_HOURS, HOURS_RULE)
    amount = ledger.require_amount(hours * listing.rate)
    offer = listing.kind == "offer"
    assert listing.id is not None and member.id is not None
    if not offer and _has_open_proposal(session, listing.id, member.id):
        raise ConflictError(_("You already proposed a session on this request."), code="already_proposed")
    assert listing.id is not None
    booking = AdviceBooking(
        listing_id=listing.id,
        provider_id=listing.member_id if offer else member.id,
        receiver_id=member.id if offer else listing.member_id,
        hours=hours,
        amount=amount,
        scheduled_for=clean_schedule(data.get("scheduled_for"), now),
        note=clean_text(data.get("note"), "note", max_len=1000),
        status=BOOKING.initial,
        created_at=now,
    )
    session.add(booking)
    session.flush()
    member.last_active_at = now
    if offer:
        _start(session, booking, now)
    else:
        notify(
            session,
            member_id=booking.receiver_id,
            kind="advice_proposed",
            now=now,
            params={"helper": member.display_name, "title": listing.title, "hours": hours, "amount": amount},
        )
    return booking


def clean_schedule(value: object, now: datetime) -> datetime | None:
    """When a session is planned: None, or a time within the coming year."""
    if value in (None, ""):
        return None
    when = clean_datetime(value, "scheduled_for")
    if not now < when <= now + timedelta(days=MAX_SCHEDULE_DAYS):
        raise ValidationError(
            _("Please plan the session within the coming year."), code="invalid_schedule", field="scheduled_for"
        )
    return when


def _has_open_proposal(session: Session, listing_id: int, provider_id: int) -> bool:
    return (
        session.scalars(
            select(col(AdviceBooking.id)).where(
                col(AdviceBooking.listing_id) == listing_id,
                col(AdviceBooking.provider_id) == provider_id,
                col(AdviceBooking.status) == "proposed",
            )
        ).first()
        is not None
    )


def accept(session: Session, *, member: Member, booking_id: int, now: datetime) -> AdviceBooking:
    """Whoever was asked agrees: the receiver to a helper's proposal (their SIF move into escrow),
    or the adviser to a booking of their offer (the SIF are held already)."""
    booking = as_party(session, booking_id, member, role=None, now=now)
    if booking.status == "booked" and booking.accepted_at is None and member.id == booking.provider_id:
        booking.accepted_at = now
        notify(
            session,
            member_id=booking.receiver_id,
            kind="advice_accepted",
            now=now,
            params={"booking_id": booking.id, "provider": member.display_name, "scheduled_for": booking.scheduled_for},
        )
        return booking
    if member.id != booking.receiver_id:
        if booking.accepted_at is not None and booking.status != "proposed":
            raise ConflictError(_("You already accepted this session."), code="already_accepted")
        raise ForbiddenError(_("Only the receiver of the session can do this."), code="not_receiver")
    booking.accepted_at = now  # the helper proposed it: they agreed when they did
    _start(session, booking, now)
    return booking


def decline(session: Session, *, member: Member, booking_id: int, reason: object, now: datetime) -> AdviceBooking:
    """Whoever was asked says no, with a reason: the adviser to a booking they have not accepted
    (the held SIF go back), or the receiver to a helper's proposal (nothing was held)."""
    booking = as_party(session, booking_id, member, role=None, now=now)
    reason = clean_text(reason, "reason", max_len=900, required=True)
    asked = (booking.status == "booked" and booking.accepted_at is None and member.id == booking.provider_id) or (
        booking.status == "proposed" and member.id == booking.receiver_id
    )
    if not asked:
        raise ConflictError(
            _("Only the member asked to take part can decline, and only before they accepted."), code="cannot_decline"
        )
    held = booking.status == "booked"
    BOOKING.move(booking, "declined")
    if held:
        _release(session, booking, 0, now=now, actor_id=member.id)
    booking.settled_at = now
    booking.resolution = labels.english(labels.DECLINED_BY, handle=member.handle, reason=reason)
    other = booking.receiver_id if member.id == booking.provider_id else booking.provider_id
    notify(
        session,
        member_id=other,
        kind="advice_declined",
        now=now,
        params={"booking_id": booking.id, "by": member.display_name, "reason": reason},
    )
    return booking


def _start(session: Session, booking: AdviceBooking, now: datetime) -> None:
    """proposed -> booked: hold the receiver's SIF in the session's escrow account."""
    BOOKING.move(booking, "booked")
    provider = session.get(Member, booking.provider_id)
    assert provider is not None
    if provider.status != "active":
        raise ConflictError(_("The provider's account is not active."), code="provider_not_active")
    escrow = _escrow(session, booking, now)
    ledger.post(
        session,
        kind="advice_hold",
        memo=labels.english(labels.ADVICE_HELD, booking_id=booking.id),
        now=now,
        legs=[
            ledger.Leg(ledger.member_account(session, booking.receiver_id), -booking.amount),
            ledger.Leg(escrow, booking.amount),
        ],
        ref=f"advice:{booking.id}:hold",
        actor_id=booking.receiver_id,
    )
    receiver = session.get(Member, booking.receiver_id)
    assert receiver is not None
    notify(
        session,
        member_id=booking.provider_id,
        kind="advice_booked",
        now=now,
        params={
            "receiver": receiver.display_name,
            "hours": booking.hours,
            "amount": booking.amount,
            "scheduled_for": booking.scheduled_for,
            "ask": booking.accepted_at is None or None,  # a booking of an offer waits for the adviser
        },
    )


# --- sessions: after it took place ---------------------------------------------------


def claim(session: Session, settings: Settings, *, member: Member, booking_id: int, now: datetime) -> AdviceBooking:
    """The provider says the session took place; the receiver has dispute_days to object."""
    booking = as_party(session, booking_id, member, role="provider", now=now)
    BOOKING.move(booking, "claimed")
    if booking.scheduled_for is not None and now < booking.scheduled_for:
        raise ConflictError(
            _("The session is planned for later; claim it after it took place."), code="session_not_held_yet"
        )
    booking.accepted_at = booking.accepted_at or now  # holding the session is agreeing to it
    booking.claimed_at = now
    booking.dispute_by = now + timedelta(days=settings.dispute_days)
    notify(
        session,
        member_id=booking.receiver_id,
        kind="advice_claimed",
        now=now,
        params={
            "provider": member.display_name,
            "hours": booking.hours,
            "amount": booking.amount,
            "dispute_by": booking.dispute_by,
        },
    )
    return booking


def confirm(session: Session, *, member: Member, booking_id: int, now: datetime) -> AdviceBooking:
    """The receiver confirms the session; the escrow pays the provider at once."""
    booking = as_party(session, booking_id, member, role="receiver", now=now)
    if booking.status == "booked" and booking.scheduled_for is not None and now < booking.scheduled_for:
        # The SIF stay in escrow until the session has taken place.
        raise ConflictError(
            _("The session is planned for later; confirm it after it took place."), code="session_not_held_yet"
        )
    _settle(session, booking, "confirmed", booking.amount, now=now, note=labels.CONFIRMED_BY_RECEIVER)
    return booking


def dispute(session: Session, *, member: Member, booking_id: int, reason: object, now: datetime) -> AdviceBooking:
    """The receiver objects to a claim before its deadline; a coordinator will settle it."""
    booking = as_party(session, booking_id, member, role="receiver", now=now)
    reason = clean_text(reason, "reason", max_len=1000, required=True)
    BOOKING.move(booking, "disputed")
    assert booking.dispute_by is not None  # set when the session was claimed
    if now >= booking.dispute_by:
        raise ConflictError(_("The time to dispute this session has passed."), code="dispute_window_closed")
    booking.dispute_reason = reason
    params = {"booking_id": booking.id, "amount": booking.amount, "reason": reason}
    for member_id in [booking.provider_id, *_coordinator_ids(session, booking)]:
        notify(session, member_id=member_id, kind="advice_disputed", params=params, now=now)
    return booking


def cancel(session: Session, *, member: Member, booking_id: int, reason: object = None, now: datetime) -> AdviceBooking:
    """Either party cancels before a claim; held SIF go back to the receiver."""
    booking = as_party(session, booking_id, member, role=None, now=now)
    reason = clean_text(reason, "reason", max_len=900)
    held = booking.status == "booked"  # a proposed session holds no SIF yet
    BOOKING.move(booking, "cancelled")
    if held:
        _release(session, booking, 0, now=now, actor_id=member.id)
    booking.settled_at = now
    booking.resolution = (
        labels.english(labels.CANCELLED_BY_WITH_REASON, handle=member.handle, reason=reason)
        if reason
        else labels.english(labels.CANCELLED_BY, handle=member.handle)
    )
    other = booking.receiver_id if member.id == booking.provider_id else booking.provider_id
    notify(
        session,
        member_id=other,
        kind="advice_cancelled",
        now=now,
        params={"booking_id": booking.id, "by": member.display_name, "reason": reason},
    )
    return booking


def resolve(
    session: Session,
    *,
    coordinator: Member,
    booking_id: int,
    outcome: object,
    note: object,
    provider_amount: object = None,
    now: datetime,
) -> AdviceBooking:
    """A coordinator settles a disputed session: pay the provider, refund the receiver, or split."""
    members.require_coordinator(coordinator)
    booking = session.get(AdviceBooking, booking_id)
    if booking is None:
        raise NotFoundError(_("There is no such session."), code="booking_not_found")
    if coordinator.id in (booking.provider_id, booking.receiver_id):
        raise ForbiddenError(
            _("You are a party to this session: another coordinator settles its dispute."), code="party_cannot_resolve"
        )
    if booking.status != "disputed":
        raise ConflictError(
            _("This session is not disputed (it is %(state)s).", state=labels.label(booking.status, "booking_status")),
            code="not_disputed",
        )
    outcome = clean_choice(outcome, "outcome", OUTCOMES)
    note = clean_text(note, "note", max_len=900, required=True)
    share = provider_share(outcome, booking.amount, provider_amount)
    target = {"pay_provider": "paid", "refund_receiver": "refunded", "split": "split"}[outcome]
    _settle(session, booking, target, share, now=now, note=f"{coordinator.handle}: {note}", actor_id=coordinator.id)
    detail = {"outcome": outcome, "provider_amount": share, "amount": booking.amount, "note": note}
    audit.record(session, coordinator.id, "advice_dispute_resolved", f"booking:{booking.id}", detail, now)
    return booking


def provider_share(outcome: str, amount: int, provider_amount: object) -> int:
    """How many of the held SIF a resolution gives the provider."""
    if outcome != "split":
        if provider_amount is not None:
            raise ValidationError(
                _("An amount for the provider is given only for a split."),
                code="unexpected_field",
                field="provider_amount",
            )
        return amount if outcome == "pay_provider" else 0
    if amount < 2:
        raise ValidationError(
            _("A session of 1 %(unit)s cannot be split.", unit=labels.unit()),
            code="cannot_split",
            field="provider_amount",
        )
    return whole(provider_amount, "provider_amount", 1, amount - 1, SPLIT_RULE)


def _settle(
    session: Session,
    booking: AdviceBooking,
    target: str,
    share: int,
    *,
    now: datetime,
    note: str,
    actor_id: int | None = None,
) -> None:
    """Move a session to a final state, emptying its escrow, and tell both parties."""
    BOOKING.move(booking, target)
    _release(session, booking, share, now=now, actor_id=actor_id)
    booking.settled_at = now
    booking.resolution = note
    params = {"booking_id": booking.id, "share": share, "refunded": booking.amount - share, "note": note}
    for member_id in (booking.provider_id, booking.receiver_id):
        notify(session, member_id=member_id, kind=f"advice_{target}", params=params, now=now)


def _release(session: Session, booking: AdviceBooking, share: int, *, now: datetime, actor_id: int | None) -> None:
    """Empty the escrow in one balanced posting: ``share`` to the provider, the rest to the receiver."""
    rest = booking.amount - share
    legs = [ledger.Leg(_escrow(session, booking, now), -booking.amount)]
    if share:
        legs.append(ledger.Leg(ledger.member_account(session, booking.provider_id), share))
    if rest:
        legs.append(ledger.Leg(ledger.member_account(session, booking.receiver_id), rest))
    step = "pay" if not rest else "refund" if not share else "split"
    # Money held in escrow must always be able to leave it: a payee's cap cannot strand it there.
    ledger.post(
        session,
        kind=f"advice_{step}",
        legs=legs,
        now=now,
        ref=f"advice:{booking.id}:{step}",
        memo=labels.english(RELEASE_MEMOS[step], booking_id=booking.id),
        actor_id=actor_id,
        check_limits=False,
    )
    booking.provider_amount = share


def _escrow(session: Session, booking: AdviceBooking, now: datetime):
    return ledger.open_account(session, kind="escrow", ref=f"escrow:advice:{booking.id}", now=now, min_balance=0)


def pay_unchallenged_claims(ctx: NodeContext) -> int:
    """Pay claimed sessions whose dispute deadline passed (BOOKING's timeout); each in its own transaction, once."""
    now, payment = ctx.now(), BOOKING.timeout("claimed")
    with ctx.db.read() as s:
        due = s.scalars(select(col(AdviceBooking.id)).where(BOOKING.overdue(payment.source, now))).all()
    paid = 0
    for booking_id in due:
        try:
            with ctx.db.write() as s:
                booking = s.get(AdviceBooking, booking_id)
                # Re-read inside the write lock: a confirm or dispute may have won the race.
                if BOOKING.is_overdue(booking, payment.source, now):
                    note = labels.PAID_AFTER_DISPUTE_PERIOD
                    assert booking is not None
                    _settle(s, booking, payment.target, booking.amount, now=now, note=note)
                    paid += 1
        except DomainError:
            # E.g. the provider's balance cap: the session stays claimed and is retried next run.
            log.exception("auto-payment of advice session %s refused", booking_id)
    return paid


# --- access and views -----------------------------------------------------------------


def as_party(session: Session, booking_id: int, member: Member, *, role: str | None, now: datetime) -> AdviceBooking:
    """The booking if member is a party (404 otherwise) in the given role (403 otherwise)."""
    members.require_active(member)
    booking = get_booking(session, booking_id, member)
    if role == "receiver" and booking.receiver_id != member.id:
        raise ForbiddenError(_("Only the receiver of the session can do this."), code="not_receiver")
    if role == "provider" and booking.provider_id != member.id:
        raise ForbiddenError(_("Only the provider of the session can do this."), code="not_provider")
    member.last_active_at = now
    return booking


def get_booking(session: Session, booking_id: int, viewer: Member) -> AdviceBooking:
    """A booking its viewer is a party to; others get not-found (they need not know it exists)."""
    booking = session.get(AdviceBooking, booking_id)
    if booking is None or viewer.id not in (booking.provider_id, booking.receiver_id):
        raise NotFoundError(_("There is no such session."), code="booking_not_found")
    return booking


def my_bookings(session: Session, member_id: int, *, open_only: bool = False) -> list[AdviceBooking]:
    """Sessions the member gives or receives, newest first."""
    stmt = select(AdviceBooking).where(
        (col(AdviceBooking.provider_id) == member_id) | (col(AdviceBooking.receiver_id) == member_id)
    )
    if open_only:
        stmt = stmt.where(col(AdviceBooking.status).in_(OPEN_STATES))
    return list(session.scalars(stmt.order_by(col(AdviceBooking.id).desc()).limit(500)))


def open_disputes(session: Session) -> list[AdviceBooking]:
    """Disputed sessions waiting for a coordinator, oldest first."""
    return list(
        session.scalars(
            select(AdviceBooking).where(col(AdviceBooking.status) == "disputed").order_by(col(AdviceBooking.id))
        )
    )


def _coordinator_ids(session: Session, booking: AdviceBooking) -> list[int]:
    ids = session.scalars(
        select(col(Member.id)).where(col(Member.role) == "coordinator", col(Member.status) == "active")
    )
    return [i for i in cast(Iterable[int], ids) if i not in (booking.provider_id, booking.receiver_id)]  # stored ids


def actions_for(booking: AdviceBooking, role: str, now: datetime) -> list[str]:
    """What the viewer may do with the session now (drives the buttons and the API's hints)."""
    key = (booking.status, role)
    early = booking.scheduled_for is not None and now < booking.scheduled_for
    if key == ("booked", "provider"):
        if booking.accepted_at is None:
            return ["accept", "decline"]
        return ["cancel"] if early else ["claim", "cancel"]
    if key == ("booked", "receiver"):
        return ["cancel"] if early else ["confirm", "cancel"]
    if key == ("claimed", "receiver"):
        assert booking.dispute_by is not None  # set when the session was claimed
        return ["confirm", "dispute"] if now < booking.dispute_by else ["confirm"]
    return {
        ("proposed", "receiver"): ["accept", "decline"],
        ("proposed", "provider"): ["cancel"],
        ("disputed", "coordinator"): ["resolve"],
    }.get(key, [])


def booking_view(session: Session, booking: AdviceBooking, viewer: Member, now: datetime) -> dict:
    """A session as its parties (or a settling coordinator) see it."""
    listing = session.get(AdviceListing, booking.listing_id)
    provider, receiver = session.get_one(Member, booking.provider_id), session.get_one(Member, booking.receiver_id)
    role = "provider" if viewer.id == provider.id else "receiver" if viewer.id == receiver.id else "coordinator"
    refunded = None if booking.provider_amount is None else booking.amount - booking.provider_amount
    assert listing is not None
    assert provider is not None
    assert receiver is not None
    return {
        "id": booking.id,
        "listing_id": listing.id,
        "listing_title": listing.title,
        "listing_kind": listing.kind,
        "provider": provider.handle,
        "provider_name": provider.display_name,
        "receiver": receiver.handle,
        "receiver_name": receiver.display_name,
        "hours": booking.hours,
        "rate": booking.amount // booking.hours,
        "amount": booking.amount,
        "scheduled_for": booking.scheduled_for,
        "note": booking.note,
        "status": booking.status,
        "claimed_at": booking.claimed_at,
        "dispute_by": booking.dispute_by,
        "dispute_reason": booking.dispute_reason,
        "resolution": booking.resolution,
        "created_at": booking.created_at,
        "settled_at": booking.settled_at,
        "provider_amount": booking.provider_amount,
        "refunded_amount": refunded,
        "accepted_at": booking.accepted_at,
        "my_role": role,
        "actions": actions_for(booking, role, now),
        "abroad": None,
    }
