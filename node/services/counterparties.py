"""What a statement line means to the member, by transaction kind: its description, the other side, its state.

The ledger knows accounts (`escrow:advice:2`, `issuance`); a member knows people and things ("Escrow
for advice session with Anna", "Welcome grant"). Each describer reads what its lines point at in one
query (the bookings, the proposals), and writes in the reader's language. A review bounty names the
proposal, never its author. Federation registers the cross-border kinds (federation/payments/statement_lines.py).
"""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from ..registry import Registry
from ..tables import AdviceBooking, Member, Proposal
from .statement import Describer, Line

# A session's escrow line follows the session: held while it runs, then what became of it.
BOOKING_STATUS = {
    "proposed": "held",
    "booked": "held",
    "claimed": "held",
    "disputed": "held",
    "confirmed": "paid",
    "paid": "paid",
    "refunded": "refunded",
    "cancelled": "refunded",
    "split": "split",
}


def register_describers(describers: Registry[Describer]) -> None:
    """The node's own transaction kinds (federation adds the cross-border ones at start-up)."""
    describers.add("welcome_grant", _welcome_grant)
    describers.add("account_closed", _account_closed)
    describers.add("transfer", _transfer)
    for kind in ("advice_hold", "advice_pay", "advice_refund", "advice_split"):
        describers.add(kind, _advice)
    for kind in ("review_escrow", "review_refund", "review_bounty"):
        describers.add(kind, _review)


def _welcome_grant(session, lines: list[Line]) -> None:
    for line in lines:
        line.description = line.counterparty = _("Welcome grant")


def _account_closed(session, lines: list[Line]) -> None:
    for line in lines:
        line.description, line.counterparty = _("Balance retired on closing"), _("this node")


def _transfer(session, lines: list[Line]) -> None:
    for line in lines:
        name = _member_names(line)
        line.counterparty = name
        line.description = (
            _("Payment to %(name)s", name=name) if line.amount < 0 else _("Payment from %(name)s", name=name)
        )
        line.note = line.memo


def _member_names(line: Line) -> str:
    return ", ".join(o.name or "?" for o in line.others if o.kind == "member") or _("a former member")


def _escrow_id(line: Line, prefix: str) -> int | None:
    for other in line.others:
        if other.ref.startswith(prefix) and other.ref[len(prefix) :].isdigit():
            return int(other.ref[len(prefix) :])
    return None


def _advice(session, lines: list[Line]) -> None:
    """The session's escrow, named after the other party; the state follows the session."""
    ids = {i for i in (_escrow_id(line, "escrow:advice:") for line in lines) if i is not None}
    rows = session.execute(
        select(AdviceBooking.id, AdviceBooking.status, AdviceBooking.provider_id, AdviceBooking.receiver_id).where(
            AdviceBooking.id.in_(ids)
        )
    ).all()
    bookings = {r.id: r for r in rows}
    people = {r.provider_id for r in rows} | {r.receiver_id for r in rows}
    names = dict(session.execute(select(Member.id, Member.display_name).where(Member.id.in_(people))).all())
    for line in lines:
        booking = bookings.get(_escrow_id(line, "escrow:advice:"))
        if booking is None:
            continue
        me_provider = line.owner_id == booking.provider_id
        _word_advice(line, names.get(booking.provider_id, "?"), names.get(booking.receiver_id, "?"), me_provider)
        if line.kind == "advice_hold":
            line.status = BOOKING_STATUS.get(booking.status, "completed")


def _word_advice(line: Line, provider: str, receiver: str, me_provider: bool) -> None:
    if me_provider:
        line.counterparty = receiver
        line.description = _("Advice session with %(name)s: paid to you", name=receiver)
        if line.kind == "advice_split":
            line.description = _("Advice session with %(name)s: your part after a dispute", name=receiver)
        return
    line.counterparty = _("Escrow for advice session with %(name)s", name=provider)
    line.description = {
        "advice_hold": _("Paid into escrow for an advice session with %(name)s", name=provider),
        "advice_refund": _("Advice session with %(name)s: refunded", name=provider),
        "advice_split": _("Advice session with %(name)s: your part back after a dispute", name=provider),
    }.get(line.kind, _("Advice session with %(name)s", name=provider))


def _review(session, lines: list[Line]) -> None:
    """A proposal's escrow, named by the proposal's title (never its author: a reviewer sees the work, not who)."""
    ids = {i for i in (_escrow_id(line, "escrow:proposal:") for line in lines) if i is not None}
    rows = session.execute(select(Proposal.id, Proposal.title, Proposal.status).where(Proposal.id.in_(ids))).all()
    proposals = {r.id: r for r in rows}
    for line in lines:
        proposal = proposals.get(_escrow_id(line, "escrow:proposal:"))
        if proposal is None:
            continue
        title = proposal.title
        if line.kind == "review_bounty":
            line.counterparty = _("Review bounty for “%(title)s”", title=title)
            line.description = _("Your review of “%(title)s”", title=title)
            continue
        line.counterparty = _("Escrow for reviews of “%(title)s”", title=title)
        if line.kind == "review_escrow":
            line.description = _("Review bounties held for “%(title)s”", title=title)
            line.status = "held" if proposal.status == "open" else "completed"
        else:
            line.description = _("Unused review bounties returned for “%(title)s”", title=title)
