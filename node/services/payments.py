"""Paying someone by address: a local handle directly, a remote address through federation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from ..errors import DomainError, ValidationError
from ..settings import Settings
from ..tables import Member
from . import events, ledger, members
from .notify import notify
from .validate import Fields, clean_text


def check_address(settings: Settings, *, to: object, remote: Callable | None) -> None:
    """Outside any transaction: a payee on another node is checked with that node first.

    The federation's handler asks the payee's node (briefly cached) and refuses at once when it
    says the handle cannot be paid; when it cannot be asked, the payment goes ahead (a bounce
    remains the fallback).
    """
    if is_remote(settings, to) and remote is not None and hasattr(remote, "check"):
        remote.check(str(to).strip().lower())


def must_ask(settings: Settings, to: object, remote: Callable | None) -> bool:
    """Whether paying `to` first asks the payee's node: a remote address whose answer is not kept as payable.

    A kept "payable" lets the payment go straight to its transaction, which authenticates the payer; any
    other remote address makes the caller authenticate before this node asks (or repeats a refusal)."""
    if not is_remote(settings, to) or remote is None or not hasattr(remote, "check"):
        return False
    known = getattr(remote, "known_payable", None)
    try:
        return not (known is not None and known(str(to).strip().lower()))
    except DomainError:  # not an address: check_address refuses it with its message
        return True


def is_remote(settings: Settings, to: object) -> bool:
    """Whether an address names a member of another node ('anna@hu' on be-vl)."""
    _handle, _at, node = str(to or "").strip().lower().partition("@")
    return bool(node) and node != settings.node_id


def pay(
    session: Session,
    settings: Settings,
    *,
    payer: Member | members.MemberRef,
    to: object,
    amount: object,
    memo: str,
    now: datetime,
    remote: Callable | None,
) -> dict:
    """Pay 'anna' or 'anna@<this node>' here; hand 'anna@<peer>' to the remote handler (federation)."""
    fields = Fields()
    text = fields(clean_text, to, "to", max_len=64, required=True)
    fields(ledger.require_amount, amount)
    fields.done()
    text = text.lower()
    handle, _at, node = text.partition("@")
    if node and node != settings.node_id:
        if remote is None:
            raise ValidationError(
                _("%(address)s is a member of another node, and this node cannot pay other nodes.", address=text),
                code="remote_payee_unsupported",
                field="to",
            )
        ledger.require_amount(amount)
        out = remote(session, payer=payer, to=text, amount=amount, memo=memo, now=now)
        return {"amount": amount, **out}
    payee = members.find_by_handle(session, handle, light=True)
    txn = ledger.transfer(session, payer=payer, payee=payee, amount=amount, memo=memo, now=now)
    # The payee hears of it as of a payment from abroad: on the page and, per their settings, by mail.
    params = {"payer": f"{payer.handle}@{settings.node_id}", "amount": amount, "memo": memo}
    assert payee.id is not None
    notify(session, member_id=payee.id, kind="payment", now=now, params=params)
    events.record(session, member_id=payee.id, kind="payment", data=params, now=now)
    return {"txn_id": txn.id, "amount": amount, "status": "completed"}
