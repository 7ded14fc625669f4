"""Cross-border payments: anna@be-vl pays zoltan@hu.

Sender: debit the payer, credit our position towards the peer, write the channel entry, all in
one transaction. Receiver: credit the payee and debit its position towards the sender, or
bounce with a reason; the sender then reverses. Every transfer ends completed or bounced on
both sides, and each ledger movement carries a ref so it happens once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session
from sqlmodel import col

from federation.labels import PEER_STATUS
from federation.tables import CrossBorderTransfer, Peer, table_of
from federation.transport import channels
from federation.transport.peers import peer_status, position_account
from node.errors import ConflictError, DomainError, LedgerError, NotFoundError, ValidationError
from node.lifecycle import lifecycle
from node.services import events, ledger, members
from node.services.notify import notify
from node.tables import Member
from protocol import Envelope

if TYPE_CHECKING:
    from federation.state import Federation

# A payment abroad is pending until the peer's node answers: a receipt completes it, a bounce
# returns it. The payee's node records its side once decided, already completed or bounced.
TRANSFER = lifecycle(
    "cross-border transfer",
    "pending",
    table=CrossBorderTransfer,
    pending="completed bounced",
    completed="",
    bounced="",
)


def parse_address(address: object) -> tuple[str, str]:
    """'anna@hu' -> ('anna', 'hu')."""
    text = str(address or "").strip().lower()
    handle, sep, node_id = text.partition("@")
    if not sep or not handle or not node_id:
        raise ValidationError(
            _("Give an address such as anna@hu: the member's handle, then @ and their node."),
            code="invalid_address",
            field="to",
        )
    return handle, node_id


def send_transfer(
    session: Session,
    fed: Federation,
    *,
    payer: Member | members.MemberRef,
    to: str,
    amount: object,
    memo: str,
    now: datetime,
) -> str:
    """Pay a member of a peer node (the transfer starts pending); refused at once if the payer's limit
    does not allow it. Returns the transfer id."""
    amount = ledger.require_amount(amount)
    handle, node_id = parse_address(to)
    status = peer_status(session, node_id)
    if status is None:
        raise NotFoundError(
            _("%(node)s is not a peer of this node.", node=node_id), code="unknown_peer_node", field="to"
        )
    if status != "active":
        raise ConflictError(
            _(
                "Payments to %(node)s are not possible now: that peer is %(state)s.",
                node=node_id,
                state=PEER_STATUS(status),
            ),
            code="peer_not_active",
        )
    if payer.status != "active":
        raise LedgerError(_("Your account is not active."), code="account_not_active")
    assert payer.id is not None, "a stored member has an id"
    transfer_id = uuid.uuid4().hex
    ledger.post(
        session,
        kind="cross_border_out",
        memo=f"to {handle}@{node_id}: {memo}"[:280],
        now=now,
        ref=f"xfer:{transfer_id}:out",
        actor_id=payer.id,
        legs=[
            ledger.Leg(ledger.member_account(session, payer.id), -amount),
            ledger.Leg(position_account(session, node_id, now), amount),
        ],
    )
    write_outgoing(
        session,
        fed,
        transfer_id=transfer_id,
        peer_id=node_id,
        member=payer,
        payer=payer.handle,
        payee=handle,
        amount=amount,
        memo=memo,
        now=now,
    )
    return transfer_id


def write_outgoing(
    session: Session,
    fed: Federation,
    *,
    transfer_id: str,
    peer_id: str,
    member: Member | members.MemberRef,
    payer: str,
    payee: str,
    amount: int,
    memo: str,
    now: datetime,
) -> None:
    """The row and `transfer` entry of a payment abroad whose ledger posting the caller made (from the member's
    account, or from an escrow, to our position towards the peer): the row names `member`, so a bounce returns
    the SIF to them; the wire names only `payer` (a handle, or a role such as a blind review's bounty payer)."""
    session.execute(
        _INSERT_TRANSFER,
        _transfer_values(
            transfer_id=transfer_id,
            direction="out",
            peer_id=peer_id,
            local_member_id=member.id,
            local_handle=member.handle,
            remote_handle=payee,
            amount=amount,
            memo=memo,
            status=TRANSFER.initial,
            created_at=now,
        ),
    )
    channels.append(
        session,
        fed,
        peer_id=peer_id,
        type_name="transfer",
        now=now,
        body={"transfer_id": transfer_id, "payer": payer, "payee": payee, "amount": amount, "memo": memo},
    )


# Payments write their row with one Core statement: an ORM insert is flushed by the unit of work,
# which costs several times the statement on this hot path.
_INSERT_TRANSFER = insert(table_of(CrossBorderTransfer))


def _transfer_values(**values) -> dict:
    return {"local_member_id": None, "reason_code": "", "reason": "", "finished_at": None, **values}


def apply_transfer(session: Session, fed: Federation, peer: Peer, env: Envelope, now: datetime) -> None:
    """Credit the payee and debit our position towards the sender, or bounce."""
    body = env.body
    tid = body["transfer_id"]
    first = session.execute(_INCOMING, {"tid": tid}).first()
    if first is not None:
        _answer_reused_id(session, fed, peer, env, first, now)
        return
    payee = _payee(session, fed, peer, body)
    row = _transfer_values(
        transfer_id=tid,
        direction="in",
        peer_id=peer.node_id,
        local_handle=body["payee"],
        remote_handle=body["payer"],
        amount=body["amount"],
        memo=body.get("memo", ""),
        status="completed",  # decided on arrival: born completed (or bounced below), never pending
        created_at=now,
        finished_at=now,
    )
    try:  # the reasons below travel to the payer's node in the bounce: English, as the protocol's data
        if payee is None or payee.id is None or payee.status != "active":  # a stored member has an id
            raise DomainError(f"no active member {body['payee']} here", code="unknown_payee")
        if peer.status != "active":
            raise DomainError("this peer is suspended", code="peer_suspended")
        ledger.post(
            session,
            kind="cross_border_in",
            now=now,
            ref=f"xfer:{tid}:in",
            memo=f"from {body['payer']}@{peer.node_id}: {body.get('memo', '')}"[:280],
            legs=[
                ledger.Leg(position_account(session, peer.node_id, now), -body["amount"]),
                ledger.Leg(ledger.member_account(session, payee.id), body["amount"]),
            ],
        )
    except DomainError as exc:
        code = {
            "limit_exceeded": "trust_limit_exceeded",
            "balance_cap_exceeded": "payee_cap_exceeded",
            "account_closed": "unknown_payee",
        }.get(exc.code, exc.code)
        session.execute(
            _INSERT_TRANSFER, {**row, "status": "bounced", "reason_code": code, "reason": exc.message[:280]}
        )
        channels.append(
            session,
            fed,
            peer_id=peer.node_id,
            type_name="transfer_bounce",
            now=now,
            body={"transfer_id": tid, "reason_code": code, "reason": exc.message[:280]},
        )
        return
    session.execute(_INSERT_TRANSFER, {**row, "local_member_id": payee.id})  # bounced rows name nobody
    paid = {"payer": f"{body['payer']}@{peer.node_id}", "amount": body["amount"], "memo": body.get("memo", "")}
    notify(session, member_id=payee.id, kind="payment", now=now, params=paid)
    events.record(session, member_id=payee.id, kind="payment", data=paid, now=now)
    channels.append(
        session, fed, peer_id=peer.node_id, type_name="transfer_receipt", now=now, body={"transfer_id": tid}
    )


_INCOMING = select(
    col(CrossBorderTransfer.remote_handle),
    col(CrossBorderTransfer.local_handle),
    col(CrossBorderTransfer.amount),
    col(CrossBorderTransfer.memo),
    col(CrossBorderTransfer.status),
    col(CrossBorderTransfer.reason_code),
    col(CrossBorderTransfer.reason),
).where(col(CrossBorderTransfer.transfer_id) == bindparam("tid"), col(CrossBorderTransfer.direction) == "in")


def _answer_reused_id(session: Session, fed: Federation, peer: Peer, env: Envelope, first, now: datetime) -> None:
    """A transfer id seen before: every transfer entry gets exactly one final answer, and money moves once.

    The same transfer again (same payer, payee, amount, memo) is answered as the first time, moving
    nothing (the sender moved its position once, under that id). A different transfer under the
    same id is bounced (`transfer_id_reused`), so a sender that did move its position for it
    reverses that: the two positions mirror either way.
    """
    body = env.body
    same = (first.remote_handle, first.local_handle, first.amount, first.memo) == (
        body["payer"],
        body["payee"],
        body["amount"],
        body.get("memo", ""),
    )
    if same and first.status == "completed":
        channels.append(
            session,
            fed,
            peer_id=peer.node_id,
            type_name="transfer_receipt",
            now=now,
            body={"transfer_id": body["transfer_id"]},
        )
        return
    if same:
        code, reason = first.reason_code, first.reason
    else:
        code, reason = "transfer_id_reused", "this transfer id was already used for another transfer"
    channels.append(
        session,
        fed,
        peer_id=peer.node_id,
        type_name="transfer_bounce",
        now=now,
        body={"transfer_id": body["transfer_id"], "reason_code": code, "reason": reason},
    )


# A payee resolver's answer for a transfer that is its own to resolve and pays nobody here (it is bounced).
NO_PAYEE = object()


def _payee(session: Session, fed: Federation, peer: Peer, body: dict) -> Member | members.MemberRef | None:
    for resolve in fed.payee_resolvers.values():
        member = resolve(session, peer, body)
        if member is NO_PAYEE:
            return None
        if member is not None:
            return member
    try:  # the light lookup also keeps the payee's account for the ledger
        return members.find_by_handle(session, body["payee"], light=True)
    except NotFoundError:
        return None


def _outgoing(session: Session, peer: Peer, tid: str) -> CrossBorderTransfer | None:
    return session.scalars(
        select(CrossBorderTransfer).where(
            col(CrossBorderTransfer.transfer_id) == tid,
            col(CrossBorderTransfer.direction) == "out",
            col(CrossBorderTransfer.peer_id) == peer.node_id,
        )
    ).first()


REUSE_MARK = "-reuse-"


def _pending_reuse(session: Session, peer: Peer, tid: str) -> CrossBorderTransfer | None:
    """The oldest pending later transfer sent under `tid` (recorded as `<tid>-reuse-<n>`).

    This node never reuses an id itself; only the chaos tests' careless-peer hook does
    (federation/test_hooks.py), and it records what it sent this way so a bounce reverses it.
    """
    return session.scalars(
        select(CrossBorderTransfer)
        .where(
            col(CrossBorderTransfer.transfer_id).startswith(tid + REUSE_MARK, autoescape=True),
            col(CrossBorderTransfer.direction) == "out",
            col(CrossBorderTransfer.peer_id) == peer.node_id,
            col(CrossBorderTransfer.status) == "pending",
        )
        .order_by(col(CrossBorderTransfer.id))
    ).first()


def apply_receipt(session: Session, fed: Federation, peer: Peer, env: Envelope, now: datetime) -> None:
    row = _outgoing(session, peer, env.body["transfer_id"])
    if row is not None and row.status == "pending":
        TRANSFER.move(row, "completed")
        row.finished_at = now


def apply_bounce(session: Session, fed: Federation, peer: Peer, env: Envelope, now: datetime) -> None:
    """The peer refused our payment: give the payer their SIF back, exactly once."""
    row = _outgoing(session, peer, env.body["transfer_id"])
    if env.body["reason_code"] == "transfer_id_reused":  # answers a later entry under the id, never the first
        row = _pending_reuse(session, peer, env.body["transfer_id"])
    if row is None or row.status != "pending":
        return
    assert row.local_member_id is not None, "an outgoing transfer names its payer"
    payer_account = ledger.member_account(session, row.local_member_id)
    # A reversal must not fail: if the payer closed their account meanwhile, the SIF retire to issuance.
    target = payer_account if not payer_account.closed else ledger.issuance_account(session, now)
    ledger.post(
        session,
        kind="cross_border_bounce",
        now=now,
        ref=f"xfer:{row.transfer_id}:bounce",
        memo=f"returned by {peer.node_id}: {env.body['reason']}"[:280],
        check_limits=False,
        legs=[ledger.Leg(position_account(session, peer.node_id, now), -row.amount), ledger.Leg(target, row.amount)],
    )
    TRANSFER.move(row, "bounced")
    row.finished_at, row.reason_code, row.reason = now, env.body["reason_code"], env.body["reason"]
    notify(
        session,
        member_id=row.local_member_id,
        kind="payment_bounced",
        now=now,
        params={
            "payee": f"{row.remote_handle}@{peer.node_id}",
            "peer": peer.node_id,
            "amount": row.amount,
            "reason": env.body["reason"],
            "reason_code": env.body["reason_code"],
        },
    )


def transfers_of(session: Session, member_id: int, limit: int | None = None) -> list[dict]:
    """The member's cross-border payments, newest first; the newest `limit` only when given."""
    return transfers_page(session, member_id, before=None, size=limit)[0]


def transfers_page(
    session: Session, member_id: int, *, before: int | None, size: int | None
) -> tuple[list[dict], int | None]:
    """A page of the member's cross-border payments, newest first, older than `before` (a row id), and the
    `before` of the next page (None on the last). Read on the index of (local_member_id, id), so a page costs
    the same however many payments the member made."""
    query = select(CrossBorderTransfer).where(col(CrossBorderTransfer.local_member_id) == member_id)
    if before is not None:
        query = query.where(col(CrossBorderTransfer.id) < before)
    rows = session.scalars(
        query.order_by(col(CrossBorderTransfer.id).desc()).limit(None if size is None else size + 1)
    ).all()
    more = size is not None and len(rows) > size
    rows = rows[:size] if more else rows
    return [_transfer_json(r) for r in rows], (rows[-1].id if more else None)


def _transfer_json(r: CrossBorderTransfer) -> dict:
    return {
        "transfer_id": r.transfer_id,
        "direction": r.direction,
        "peer": r.peer_id,
        "counterparty": f"{r.remote_handle}@{r.peer_id}",
        "amount": r.amount,
        "memo": r.memo,
        "status": r.status,
        "reason_code": r.reason_code,
        "reason": r.reason,
        "created_at": r.created_at,
        "finished_at": r.finished_at,
    }
