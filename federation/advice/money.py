"""The money of a booking abroad on the booker's node: its escrow, and emptying it in one posting that pays the adviser
across the border (a `transfer` entry in the same transaction) and gives the rest back to the booker.

The booker's node alone moves this money (booker_side.py decides when); ledger refs
xadvice:<id>:hold|pay|refund|split make each movement happen once. The payment's transfer row names the
booker, so a bounce (transfers.apply_bounce) returns the SIF to them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from federation.payments import transfers
from federation.tables import RemoteBooking
from federation.transport.peers import position_account
from node import labels
from node.services import advice, ledger, members

if TYPE_CHECKING:
    from federation.state import Federation

TRANSFER_PREFIX = "advice-"
PAYER = "advice-session"  # the `payer` of every payment for a session: the booker's handle stays here


def payment_transfer_id(booking_ref: str) -> str:
    """The transfer id of the payment for a booking: one per booking, so it is never paid twice."""
    return f"{TRANSFER_PREFIX}{booking_ref}"


def escrow(session: Session, row: RemoteBooking, now: datetime):
    """The booking's escrow account (never below zero), opened when the fee is held."""
    return ledger.open_account(session, kind="escrow", ref=f"escrow:xadvice:{row.id}", now=now, min_balance=0)


def end(row: RemoteBooking, resolution: str, now: datetime) -> None:
    """Record when and how the booking ended (English, shown through |written)."""
    row.settled_at, row.resolution = now, resolution[:1000]


def release(
    session: Session, fed: Federation, row: RemoteBooking, share: int, *, now: datetime, actor_id: int | None
) -> None:
    """Empty the escrow in one posting: `share` to our position towards the adviser's node, the rest back."""
    rest = row.amount - share
    legs = [ledger.Leg(escrow(session, row, now), -row.amount)]
    if share:
        legs.append(ledger.Leg(position_account(session, row.peer_id, now), share))
    if rest:
        booker = ledger.member_account(session, row.member_id)
        # A refund must not fail: if the booker closed their account meanwhile, the SIF retire to issuance.
        legs.append(ledger.Leg(booker if not booker.closed else ledger.issuance_account(session, now), rest))
    step = "pay" if not rest else "refund" if not share else "split"
    ledger.post(
        session,
        kind=f"advice_abroad_{step}",
        legs=legs,
        now=now,
        ref=f"xadvice:{row.id}:{step}",
        memo=labels.english(advice.RELEASE_MEMOS[step], booking_id=row.id),
        actor_id=actor_id,
        check_limits=False,  # escrowed SIF must always be able to leave escrow
    )
    row.provider_amount = share
    if share:
        pay_adviser(session, fed, row, share, now)


def pay_adviser(session: Session, fed: Federation, row: RemoteBooking, share: int, now: datetime) -> None:
    """The `transfer` that credits the adviser on their node; its row returns the SIF to the booker on a bounce."""
    row.transfer_id = payment_transfer_id(row.booking_ref)
    transfers.write_outgoing(
        session,
        fed,
        transfer_id=row.transfer_id,
        peer_id=row.peer_id,
        member=members.get_member(session, row.member_id),
        payer=PAYER,
        payee=row.adviser,
        amount=share,
        memo=f"Advice session: {row.title}"[:280],
        now=now,
    )
