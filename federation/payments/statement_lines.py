"""Cross-border lines of a member's statement: the payment's other side by address, its country, its state; the
escrow of an advice session booked abroad.

The ledger sees the position account towards a peer (`position:hu`); a member sees "Cross-border:
Hungary" (the peer's country in the reader's language) and whom they paid. A payment abroad is
pending until the peer's node confirms it, then completed or returned. A review bounty from abroad
names the proposal's title from the invitation, never the wire's payer: the review is blind, and the
proposer's node never sent who wrote the proposal.
"""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select, tuple_

from node import i18n
from node.registry import Registry
from node.services.statement import Describer, Line

from .advice_money import TRANSFER_PREFIX as ADVICE_PREFIX
from .remote_reviews import TRANSFER_PREFIX
from .tables import CrossBorderTransfer, IncomingInvitation, Peer, RemoteBooking

TRANSFER_STATUS = {"pending": "pending", "completed": "completed", "bounced": "returned"}
# A booking abroad's escrow line follows the booking, as a local session's does.
BOOKING_STATUS = {
    "booked": "held",
    "accepted": "held",
    "claimed": "held",
    "disputed": "held",
    "confirmed": "paid",
    "paid": "paid",
    "refunded": "refunded",
    "cancelled": "refunded",
    "declined": "refunded",
    "split": "split",
}


def register_describers(describers: Registry[Describer]) -> None:
    for kind in ("cross_border_out", "cross_border_in", "cross_border_bounce"):
        describers.add(kind, describe_transfers)
    for kind in ("advice_abroad_hold", "advice_abroad_refund", "advice_abroad_split", "advice_abroad_pay"):
        describers.add(kind, describe_advice_abroad)


def _transfer_key(line: Line) -> tuple[str, str] | None:
    """(transfer id, direction of its row) from the transaction's ref `xfer:<id>:out|in|bounce`."""
    prefix, _sep, rest = (line.ref or "").partition(":")
    tid, _sep, step = rest.rpartition(":")
    if prefix != "xfer" or not tid:
        return None
    return tid, "in" if step == "in" else "out"


def describe_transfers(session, lines: list[Line]) -> None:
    keys = {key for key in map(_transfer_key, lines) if key is not None}
    rows = session.scalars(
        select(CrossBorderTransfer).where(
            tuple_(CrossBorderTransfer.transfer_id, CrossBorderTransfer.direction).in_(list(keys))
        )
    ).all()
    transfers = {(r.transfer_id, r.direction): r for r in rows}
    peers = {p.node_id: p for p in session.scalars(select(Peer).where(Peer.node_id.in_({r.peer_id for r in rows})))}
    titles = _bounty_titles(session, [r for r in rows if r.direction == "in"])
    titles.update(_session_titles(session, [r for r in rows if r.direction == "in"]))
    for line in lines:
        row = transfers.get(_transfer_key(line))
        if row is None:
            continue
        peer = peers.get(row.peer_id)
        country = i18n.country_name(peer.country) if peer is not None and peer.country else row.peer_id
        line.counterparty = _("Cross-border: %(country)s", country=country)
        _word(line, row, titles.get((row.peer_id, row.transfer_id)))


def _word(line: Line, row: CrossBorderTransfer, bounty_title: str | None) -> None:
    address = f"{row.remote_handle}@{row.peer_id}"
    if line.kind == "cross_border_out":
        line.description = _("Payment to %(address)s", address=address)
        line.status, line.note = TRANSFER_STATUS.get(row.status, row.status), row.memo
    elif line.kind == "cross_border_bounce":
        line.description = _("Payment to %(address)s returned", address=address)
        line.status = "returned"
    elif row.transfer_id.startswith(ADVICE_PREFIX):
        line.description = _("Advice session “%(title)s”", title=bounty_title or "?")
    elif row.transfer_id.startswith(TRANSFER_PREFIX):
        line.description = (
            _("Review bounty for “%(title)s”", title=bounty_title) if bounty_title else _("Review bounty from abroad")
        )
    else:
        line.description = _("Payment from %(address)s", address=address)
        line.note = row.memo


def _bounty_titles(session, rows: list[CrossBorderTransfer]) -> dict[tuple[str, str], str]:
    """The proposal title of each review bounty from abroad, from the invitation it pays (by invite id)."""
    invites = {
        (r.peer_id, r.transfer_id[len(TRANSFER_PREFIX) :]) for r in rows if r.transfer_id.startswith(TRANSFER_PREFIX)
    }
    if not invites:
        return {}
    found = session.execute(
        select(IncomingInvitation.peer_id, IncomingInvitation.invite_id, IncomingInvitation.title).where(
            tuple_(IncomingInvitation.peer_id, IncomingInvitation.invite_id).in_(list(invites))
        )
    ).all()
    return {(peer, TRANSFER_PREFIX + invite): title for peer, invite, title in found}


def _session_titles(session, rows: list[CrossBorderTransfer]) -> dict[tuple[str, str], str]:
    """The offer's title of each payment for an advice session from abroad, from the booking it pays."""
    refs = {(r.peer_id, r.transfer_id[len(ADVICE_PREFIX) :]) for r in rows if r.transfer_id.startswith(ADVICE_PREFIX)}
    if not refs:
        return {}
    found = session.execute(
        select(RemoteBooking.peer_id, RemoteBooking.booking_ref, RemoteBooking.title).where(
            tuple_(RemoteBooking.peer_id, RemoteBooking.booking_ref).in_(list(refs))
        )
    ).all()
    return {(peer, ADVICE_PREFIX + ref): title for peer, ref, title in found}


def describe_advice_abroad(session, lines: list[Line]) -> None:
    """The escrow of a session booked abroad, named by the offer and the adviser's country; its state follows it."""
    ids = {i for i in (_escrow_id(line) for line in lines) if i is not None}
    rows = {r.id: r for r in session.scalars(select(RemoteBooking).where(RemoteBooking.id.in_(ids))).all()}
    peers = {
        p.node_id: p for p in session.scalars(select(Peer).where(Peer.node_id.in_({r.peer_id for r in rows.values()})))
    }
    for line in lines:
        row = rows.get(_escrow_id(line))
        if row is None:
            continue
        peer = peers.get(row.peer_id)
        country = i18n.country_name(peer.country) if peer is not None and peer.country else row.peer_id
        line.counterparty = _("Escrow for an advice session in %(country)s", country=country)
        line.description = {
            "advice_abroad_hold": _("Paid into escrow for “%(title)s”, booked abroad", title=row.title),
            "advice_abroad_refund": _("“%(title)s”, booked abroad: refunded", title=row.title),
            "advice_abroad_split": _("“%(title)s”, booked abroad: your part back after a dispute", title=row.title),
        }.get(line.kind, _("“%(title)s”, booked abroad", title=row.title))
        if line.kind == "advice_abroad_hold":
            line.status = BOOKING_STATUS.get(row.status, "completed")


def _escrow_id(line: Line) -> int | None:
    prefix = "escrow:xadvice:"
    for other in line.others:
        if other.ref.startswith(prefix) and other.ref[len(prefix) :].isdigit():
            return int(other.ref[len(prefix) :])
    return None
