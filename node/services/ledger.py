"""The SIF ledger: the one write path for money.

Every movement is a balanced transaction of postings; balances are kept on the
accounts in the same database transaction, by conditional updates that refuse to
cross an account's limits, so two concurrent spends can never overdraw it.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _
from sqlalchemy import (
    CursorResult,
    Executable,
    String,
    and_,
    bindparam,
    cast,
    func,
    insert,
    inspect,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col

from ..errors import LedgerError, NotFoundError, ValidationError
from ..labels import N_, unit
from ..labels import amount as shown_amount
from ..tables import Account, LedgerTxn, Member, Posting, table_of
from . import events
from .validate import refusal

if TYPE_CHECKING:
    from .members import MemberRef

MAX_AMOUNT = 2**53 - 1
ISSUANCE_REF = "issuance"
NOT_AN_AMOUNT = (
    N_("%(field)s: please give a whole number of %(unit)s, at least 1."),
    N_("Please give a whole number of %(unit)s, at least 1."),
)
TOO_LARGE = N_("%(field)s: this is more than the ledger can hold."), N_("This is more than the ledger can hold.")

# Statements of the hot path are built once: building an expression costs more than running it.
_ACCOUNT_BY_REF = select(Account).where(col(Account.ref) == bindparam("ref"))
_ACCOUNTS_BY_REFS = select(Account).where(col(Account.ref).in_(bindparam("refs", expanding=True)))
_TXN_BY_REF = select(col(LedgerTxn.id), col(LedgerTxn.kind), col(LedgerTxn.ref), col(LedgerTxn.created_at)).where(
    col(LedgerTxn.ref) == bindparam("ref")
)
_INSERT_TXN = insert(table_of(LedgerTxn))
_INSERT_POSTINGS = insert(table_of(Posting))
ACCOUNT_COLUMNS = tuple(table_of(Account).c)


@dataclass(frozen=True, slots=True)
class AccountRow:
    """A member account read without the ORM, for the payment hot path (an ORM load costs 3x the query).

    Read-only: post() keeps `balance` in step; change an account through session.get(Account, id).
    """

    id: int
    kind: str
    ref: str
    member_id: int | None
    balance: int
    min_balance: int | None
    max_balance: int | None
    closed: bool
    created_at: datetime

    @classmethod
    def of(cls, row) -> AccountRow:
        """From a row that selected ACCOUNT_COLUMNS (in table order) at its end."""
        return cls(*row[-len(ACCOUNT_COLUMNS) :])


# A new account column needs its field above, in table order (checked at import, also under python -O).
if AccountRow.__slots__ != tuple(c.name for c in ACCOUNT_COLUMNS):
    raise RuntimeError("AccountRow is out of step with the accounts table")


@dataclass(frozen=True, slots=True)
class Posted:
    """What post() wrote (or found under the same ref)."""

    id: int
    kind: str
    ref: str | None
    created_at: datetime


@dataclass(frozen=True)
class Leg:
    """One side of a transaction: add ``amount`` (may be negative) to ``account``."""

    account: Account | AccountRow
    amount: int

    @property
    def account_id(self) -> int:
        """The account's id: a leg's account is one the database has, so it has its id."""
        account_id = self.account.id
        assert account_id is not None
        return account_id


@dataclass(frozen=True)
class BooksCheck:
    """The ledger invariant, computed live."""

    total_balance: int
    unbalanced_txns: int
    drifted_accounts: int
    accounts: int
    txns: int

    @property
    def ok(self) -> bool:
        return self.total_balance == 0 and self.unbalanced_txns == 0 and self.drifted_accounts == 0


def require_amount(value: object, field: str = "amount", *, label: object = None) -> int:
    """Return value if it is a positive whole number of SIF within range, else refuse."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(refusal(field, label, NOT_AN_AMOUNT, unit=unit()), code="amount_not_integer", field=field)
    if value <= 0:
        raise ValidationError(
            refusal(field, label, NOT_AN_AMOUNT, unit=unit()), code="amount_not_positive", field=field
        )
    if value > MAX_AMOUNT:
        raise ValidationError(refusal(field, label, TOO_LARGE), code="amount_too_large", field=field)
    return value


def open_account(
    session: Session,
    *,
    kind: str,
    ref: str,
    now: datetime,
    member_id: int | None = None,
    min_balance: int | None = None,
    max_balance: int | None = None,
) -> Account:
    """Return the account with this ref, creating it if it does not exist yet."""
    account = _account_by_ref(session, ref)
    if account is None:
        account = Account(
            kind=kind, ref=ref, member_id=member_id, min_balance=min_balance, max_balance=max_balance, created_at=now
        )
        session.add(account)
        session.flush()
        _remember(session, account)
    # An AccountRow is cached only for a member account read on the payment path, never before it is opened.
    return typing.cast(Account, account)


def issuance_account(session: Session, now: datetime) -> Account:
    """The node's issuance account: grants are debited here, so it goes negative."""
    return open_account(session, kind="issuance", ref=ISSUANCE_REF, now=now)


def member_account(session: Session, member_id: int) -> Account | AccountRow:
    """The ledger account of a member (an AccountRow if the hot path loaded it: read it, do not change it)."""
    account = _account_by_ref(session, f"member:{member_id}")
    if account is None:
        raise NotFoundError(_("This member has no account."), code="account_not_found")
    return account


def member_accounts(session: Session, *member_ids: int) -> list[Account | AccountRow]:
    """The ledger accounts of several members, in the order given, with at most one query."""
    refs = [f"member:{member_id}" for member_id in member_ids]
    missing = [ref for ref in refs if _cached_account(session, ref) is None]
    if missing:
        for account in session.scalars(_ACCOUNTS_BY_REFS, {"refs": missing}):
            _remember(session, account)
    out = [found for ref in refs if (found := _cached_account(session, ref)) is not None]
    if len(out) != len(refs):
        raise NotFoundError(_("This member has no account."), code="account_not_found")
    return out


def _account_by_ref(session: Session, ref: str) -> Account | AccountRow | None:
    account = _cached_account(session, ref)
    if account is None:
        account = session.scalars(_ACCOUNT_BY_REF, {"ref": ref}).first()
        if account is not None:
            _remember(session, account)
    return account


def _cached_account(session: Session, ref: str) -> Account | AccountRow | None:
    """An account this session already loaded: the same object its identity map would return.

    The session's identity map holds objects weakly, so a lookup by ref would query again;
    this strong per-session cache skips that. Post() keeps cached balances in step.
    """
    account = session.info.get("ledger_accounts", {}).get(ref)
    if account is None or isinstance(account, AccountRow):  # rows live as long as their session
        return account
    state = inspect(account)
    return account if state.persistent and state.session is session else None


def _remember(session: Session, account: Account | AccountRow) -> None:
    session.info.setdefault("ledger_accounts", {})[account.ref] = account


def keep_account(session: Session, account: Account | AccountRow) -> None:
    """Hand the ledger an account another query loaded in this session, so it is not queried again."""
    _remember(session, account)


def member_ref_of(member_id):
    """SQL expression of a member account's ref ('member:<id>'), to join members to their accounts."""
    return literal("member:").concat(cast(member_id, String))


def post(
    session: Session,
    *,
    kind: str,
    legs: Sequence[Leg],
    memo: str,
    now: datetime,
    ref: str | None = None,
    actor_id: int | None = None,
    check_limits: bool = True,
) -> Posted:
    """Write one balanced transaction; the only function that inserts postings.

    A transaction with the same ``ref`` is written once: a second call returns the
    first transaction unchanged (exactly-once for retried jobs and messages).
    ``check_limits=False`` is for reversals that must not fail (a bounced payment
    returning to its payer); closed accounts are refused all the same.

    Raises:
        LedgerError: unbalanced legs, a closed account or a crossed limit. Nothing
        is changed (a refused leg undoes the ones before it).
    """
    if ref is not None:
        existing = session.execute(_TXN_BY_REF, {"ref": ref}).first()
        if existing is not None:
            return Posted(*existing)
    _check_legs(legs)
    values = {"kind": kind, "memo": memo[:280], "ref": ref, "actor_id": actor_id, "created_at": now}
    # Pending ORM changes (a closed flag, a new limit) must reach the database before the checks below.
    session.flush()
    balances = _apply_legs(session, legs, check_limits)
    inserted = typing.cast(CursorResult[Any], session.execute(_INSERT_TXN, values))  # DML: a CursorResult
    key = inserted.inserted_primary_key
    assert key is not None  # a one-row INSERT has its key
    txn_id = key[0]
    session.execute(
        _INSERT_POSTINGS,
        [
            {
                "txn_id": txn_id,
                "account_id": leg.account_id,
                "amount": leg.amount,
                "balance_after": balances[leg.account_id],
            }
            for leg in legs
        ],
    )
    for leg in legs:
        # The database returned the new balance; keep the loaded object in step without a reload.
        if isinstance(leg.account, AccountRow):
            object.__setattr__(leg.account, "balance", balances[leg.account_id])
        else:
            set_committed_value(leg.account, "balance", balances[leg.account_id])
    # Each member whose balance changed is told, in this transaction (their open pages show it after the commit).
    changed: list[tuple[int, str, Mapping[str, Any]]] = [
        (leg.account.member_id, "balance", {"balance": balances[leg.account_id]})
        for leg in legs
        if leg.account.kind == "member" and leg.account.member_id is not None
    ]
    events.record_many(session, changed, now=now)
    return Posted(txn_id, kind, ref, now)


def _check_legs(legs: Sequence[Leg]) -> None:
    if len(legs) < 2:
        raise LedgerError(_("A payment moves money between at least two accounts."), code="unbalanced")
    if len({leg.account_id for leg in legs}) != len(legs):
        raise LedgerError(_("Money cannot move from an account to itself."), code="same_account")
    for leg in legs:
        if isinstance(leg.amount, bool) or not isinstance(leg.amount, int) or leg.amount == 0:
            raise LedgerError(
                _("Every amount is a whole number of %(unit)s other than zero.", unit=unit()), code="amount_not_integer"
            )
        if abs(leg.amount) > MAX_AMOUNT:
            raise LedgerError(_("This is more than the ledger can hold."), code="amount_too_large")
    if sum(leg.amount for leg in legs) != 0:
        raise LedgerError(_("What leaves the accounts must equal what arrives."), code="unbalanced")


def _leg_updates() -> dict[str, Executable]:
    """The conditional balance updates: unchecked, debit (floor) and credit (cap)."""
    table = table_of(Account)
    new_balance = table.c.balance + bindparam("leg_amount")
    base = (
        update(table)
        .where(table.c.id == bindparam("leg_account"), table.c.closed.is_(False))
        .values(balance=new_balance)
        .returning(table.c.balance)
    )
    return {
        "unchecked": base,
        "debit": base.where(or_(table.c.min_balance.is_(None), new_balance >= table.c.min_balance)),
        "credit": base.where(or_(table.c.max_balance.is_(None), new_balance <= table.c.max_balance)),
    }


_LEG_UPDATES = _leg_updates()


def _apply_legs(session: Session, legs: Sequence[Leg], check_limits: bool) -> dict[int, int]:
    """Apply every leg or none: {account id: new balance}, or a LedgerError with nothing changed.

    A refused leg undoes the legs applied before it. That is what a savepoint would do, at a
    fraction of its cost on the hot path, and it lets a caller catch the refusal and go on
    (a bounced payment) in the same transaction.
    """
    balances: dict[int, int] = {}
    # Fixed order of row updates avoids deadlocks between concurrent writers.
    ordered = sorted(legs, key=lambda leg: leg.account_id)
    for i, leg in enumerate(ordered):
        try:
            balances[leg.account_id] = _apply_leg(session, leg, check_limits)
        except LedgerError:
            for done in reversed(ordered[:i]):
                session.execute(_LEG_UPDATES["unchecked"], {"leg_amount": -done.amount, "leg_account": done.account_id})
            raise
    return balances


def _apply_leg(session: Session, leg: Leg, check_limits: bool = True) -> int:
    """Add leg.amount to the account's balance if it stays within limits; return the new balance."""
    which = "unchecked" if not check_limits else "debit" if leg.amount < 0 else "credit"
    row = session.execute(_LEG_UPDATES[which], {"leg_amount": leg.amount, "leg_account": leg.account_id}).first()
    if row is None:
        raise _refusal(session, leg)
    return row[0]


def _refusal(session: Session, leg: Leg) -> LedgerError:
    account = session.get(Account, leg.account_id)
    session.refresh(account)
    assert account is not None
    if account.closed:
        return LedgerError(_("The account is closed."), code="account_closed")
    # Not closed: a limit refused the leg, the floor a debit's, the cap a credit's.
    if leg.amount < 0 and account.kind == "member":
        assert account.min_balance is not None
        return LedgerError(
            _(
                "Not enough on the account: its balance may not go below %(limit)s.",
                limit=shown_amount(account.min_balance),
            ),
            code="insufficient_funds",
        )
    if leg.amount < 0:
        assert account.min_balance is not None
        return LedgerError(
            _(
                "This would take an account below its lowest allowed balance of %(limit)s.",
                limit=shown_amount(account.min_balance),
            ),
            code="limit_exceeded",
        )
    assert account.max_balance is not None
    return LedgerError(
        _("This would take the receiving account above its cap of %(cap)s.", cap=shown_amount(account.max_balance)),
        code="balance_cap_exceeded",
    )


def transfer(
    session: Session,
    *,
    payer: Member | MemberRef,
    payee: Member | MemberRef,
    amount: object,
    memo: str,
    now: datetime,
    kind: str = "transfer",
    ref: str | None = None,
) -> Posted:
    """Move SIF from one member to another on this node."""
    amount = require_amount(amount)
    if payer.id == payee.id:
        raise LedgerError(_("You cannot pay yourself."), code="self_transfer")
    for member, message in (
        (payer, N_("The payer's account is not active.")),
        (payee, N_("The payee's account is not active.")),
    ):
        if member.status != "active":
            raise LedgerError(_(message), code="account_closed" if member.status == "closed" else "account_not_active")
    assert payer.id is not None
    assert payee.id is not None
    payer_account, payee_account = member_accounts(session, payer.id, payee.id)
    legs = [Leg(payer_account, -amount), Leg(payee_account, amount)]
    return post(session, kind=kind, legs=legs, memo=memo, now=now, ref=ref, actor_id=payer.id)


def check_books(session: Session) -> BooksCheck:
    """Compute the ledger invariant: balances sum to zero and agree with the postings."""
    total = session.execute(select(func.coalesce(func.sum(Account.balance), 0))).scalar_one()
    unbalanced = session.execute(
        select(func.count()).select_from(
            select(col(Posting.txn_id))
            .group_by(col(Posting.txn_id))
            .having(func.sum(col(Posting.amount)) != 0)
            .subquery()
        )
    ).scalar_one()
    sums = (
        select(col(Posting.account_id), func.sum(col(Posting.amount)).label("s"))
        .group_by(col(Posting.account_id))
        .subquery()
    )
    drifted = session.execute(
        select(func.count())
        .select_from(Account)
        .outerjoin(sums, sums.c.account_id == Account.id)
        .where(col(Account.balance) != func.coalesce(sums.c.s, 0))
    ).scalar_one()
    accounts = session.execute(select(func.count()).select_from(Account)).scalar_one()
    txns = session.execute(select(func.count()).select_from(LedgerTxn)).scalar_one()
    return BooksCheck(int(total), int(unbalanced), int(drifted), int(accounts), int(txns))


def statement(
    session: Session, account: Account | AccountRow, limit: int = 200, before_id: int | None = None
) -> list[dict]:
    """The account's postings, newest first, with the running balance after each."""
    stmt = (
        select(Posting, LedgerTxn)
        .join(LedgerTxn, col(LedgerTxn.id) == col(Posting.txn_id))
        .where(col(Posting.account_id) == account.id)
        .order_by(col(Posting.id).desc())
        .limit(limit)
    )
    if before_id is not None:
        stmt = stmt.where(col(Posting.id) < before_id)
    rows = session.execute(stmt).all()
    out = []
    for posting, txn in rows:
        counter = session.execute(
            select(col(Account.ref), col(Member.handle))
            .join(Posting, col(Posting.account_id) == col(Account.id))
            .outerjoin(Member, col(Member.id) == col(Account.member_id))
            .where(and_(col(Posting.txn_id) == txn.id, col(Posting.account_id) != account.id))
        ).all()
        out.append(
            {
                "posting_id": posting.id,
                "txn_id": txn.id,
                "kind": txn.kind,
                "memo": txn.memo,
                "amount": posting.amount,
                "balance_after": posting.balance_after,
                "counterparty": [handle or ref for ref, handle in counter],
                "at": txn.created_at,
            }
        )
    return out
