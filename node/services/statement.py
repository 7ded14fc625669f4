"""A member's statement: their postings a page at a time, newest first, with who is on the other side.

Lines are read by keyset (the transaction id of the last line shown), never by offset, on the index
(account_id, txn_id) of postings; a date filter first finds the first and last transaction of its
days on the index of ledger_txns.created_at, so a page costs the same among a million postings.
Transaction ids grow with time (one writer at a time assigns both), which is what lets the id range
stand in for the time range; the times are also checked exactly.

What a line means to the member (its description, counterparty, state) is written by the describer
registered for its transaction kind (node/services/counterparties.py; federation adds the
cross-border kinds), in the reader's language.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from sqlmodel import col

from .. import i18n
from ..errors import ValidationError
from ..registry import Registry
from ..tables import Account, LedgerTxn, Member, Posting

if TYPE_CHECKING:
    from .ledger import AccountRow

PAGE_SIZE = 50
MAX_PAGE = 200
CHART_DAYS = 90  # the chart's span without a date filter
CHART_POINTS = 31


@dataclass(frozen=True)
class OtherLeg:
    """Another account of a line's transaction: whose it is and how much it got."""

    ref: str
    kind: str
    member_id: int | None
    name: str | None  # the member's display name
    amount: int


@dataclass
class Line:
    """One posting on the member's account, and what it means to them (filled by its kind's describer)."""

    posting_id: int
    txn_id: int
    kind: str
    ref: str | None
    memo: str
    amount: int
    balance_after: int
    at: datetime
    owner_id: int | None = None  # the member whose statement this is
    others: list[OtherLeg] = field(default_factory=list)
    description: str = ""
    counterparty: str = ""
    status: str = "completed"  # a code of node.labels.LABELS["statement_status"]
    note: str = ""  # the member's own memo, when the line has one


# A describer fills in description, counterparty, status and note of the lines of its kind, in one go.
Describer = Callable[[Session, list[Line]], None]


@dataclass(frozen=True)
class Filters:
    """The statement's days: from `since` (inclusive) to `until` (exclusive), UTC; None: open-ended."""

    since: datetime | None = None
    until: datetime | None = None


def filters_from(args: Mapping[str, object]) -> Filters:
    """`from` and `to`: days in the reader's time zone, both included; a bad day or range is refused."""
    since = i18n.parse_local_date(args.get("from"), "from")
    until = i18n.parse_local_date(args.get("to"), "to", end=True)
    if since is not None and until is not None and since >= until:
        raise ValidationError(_("The first day comes after the last one."), code="invalid_range", field="from")
    return Filters(since, until)


def cursor(value: object) -> int | None:
    """A page's `before` (the last transaction id shown); refused when it is not one."""
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not value.isdigit() or len(value) > 15:
        raise ValidationError(_("This is not a page of the statement."), code="invalid_cursor", field="before")
    return int(value)


_FIRST_TXN = (
    select(col(LedgerTxn.id))
    .where(LedgerTxn.created_at >= bindparam("t"))
    .order_by(col(LedgerTxn.created_at), col(LedgerTxn.id))
    .limit(1)
)
_LAST_TXN = (
    select(col(LedgerTxn.id))
    .where(LedgerTxn.created_at < bindparam("t"))
    .order_by(col(LedgerTxn.created_at).desc(), col(LedgerTxn.id).desc())
    .limit(1)
)


def _txn_range(session: Session, filters: Filters) -> tuple[int | None, int | None] | None:
    """The first and last transaction id of the filter's days; None when no transaction falls in them."""
    low = high = None
    if filters.since is not None:
        low = session.execute(_FIRST_TXN, {"t": filters.since}).scalar()
        if low is None:
            return None
    if filters.until is not None:
        high = session.execute(_LAST_TXN, {"t": filters.until}).scalar()
        if high is None:
            return None
    return low, high


def page(
    session: Session,
    describers: Registry[Describer],
    account_id: int,
    filters: Filters = Filters(),
    *,
    before: int | None = None,
    size: int = PAGE_SIZE,
) -> tuple[list[Line], int | None]:
    """One page of the statement, newest first, described; and the cursor of the next older page, or None."""
    found = _txn_range(session, filters)
    if found is None:
        return [], None
    stmt = (
        select(col(Posting.id), col(Posting.txn_id), col(LedgerTxn.kind), col(LedgerTxn.ref), col(LedgerTxn.memo))
        .add_columns(col(Posting.amount), col(Posting.balance_after), col(LedgerTxn.created_at))
        .join(LedgerTxn, col(LedgerTxn.id) == col(Posting.txn_id))
        .where(col(Posting.account_id) == account_id)
        .order_by(col(Posting.txn_id).desc())
        .limit(size + 1)
    )
    low, high = found
    for bound in (
        col(Posting.txn_id) >= low if low is not None else None,
        col(Posting.txn_id) <= high if high is not None else None,
        col(Posting.txn_id) < before if before is not None else None,
        col(LedgerTxn.created_at) >= filters.since if filters.since is not None else None,
        col(LedgerTxn.created_at) < filters.until if filters.until is not None else None,
    ):
        if bound is not None:
            stmt = stmt.where(bound)
    lines = [Line(*row) for row in session.execute(stmt).all()]
    more = len(lines) > size
    lines = lines[:size]
    describe(session, describers, account_id, lines)
    return lines, (lines[-1].txn_id if more else None)


def every(
    session: Session, describers: Registry[Describer], account_id: int, filters: Filters, chunk: int = 500
) -> Iterator[Line]:
    """Every line the filters keep, newest first, a chunk at a time (the CSV export)."""
    before = None
    while True:
        lines, before = page(session, describers, account_id, filters, before=before, size=chunk)
        yield from lines
        if before is None:
            return


def describe(session: Session, describers: Registry[Describer], account_id: int, lines: list[Line]) -> None:
    """Give each line its other legs, then let each kind's describer word them (a kind without one: its names)."""
    if not lines:
        return
    rows = session.execute(
        select(
            col(Posting.txn_id),
            col(Account.ref),
            col(Account.kind),
            col(Account.member_id),
            col(Member.display_name),
            col(Posting.amount),
        )
        .join(Account, col(Account.id) == col(Posting.account_id))
        .outerjoin(Member, col(Member.id) == col(Account.member_id))
        .where(col(Posting.txn_id).in_([line.txn_id for line in lines]), col(Posting.account_id) != account_id)
    ).all()
    by_txn: dict[int, list[OtherLeg]] = {}
    for txn_id, *leg in rows:
        by_txn.setdefault(txn_id, []).append(OtherLeg(*leg))
    owner = session.execute(select(col(Account.member_id)).where(col(Account.id) == account_id)).scalar()
    kinds: dict[str, list[Line]] = {}
    for line in lines:
        line.owner_id, line.others = owner, by_txn.get(line.txn_id, [])
        kinds.setdefault(line.kind, []).append(line)
    for kind, of_kind in kinds.items():
        describer = describers.get(kind)
        if describer is not None:
            describer(session, of_kind)
        else:
            for line in of_kind:
                line.counterparty = ", ".join(o.name or o.ref for o in line.others)


_BALANCE_AT = (
    select(col(Posting.balance_after))
    .where(
        col(Posting.account_id) == bindparam("account_id"),
        Posting.txn_id <= _LAST_TXN.scalar_subquery(),
    )
    .order_by(col(Posting.txn_id).desc())
    .limit(1)
)


def balance_points(
    session: Session, account: Account | AccountRow, filters: Filters, now: datetime, count: int = CHART_POINTS
) -> list[tuple[datetime, int]]:
    """The balance at `count` moments spread over the filter's days (else the last 90 days), up to now."""
    end = min(filters.until or now, now)
    start = max(filters.since or end - timedelta(days=CHART_DAYS), account.created_at)
    assert account.id is not None
    last = account.balance if end == now else _balance_at(session, account.id, end)  # up to now: what it is
    if start >= end:
        return [(end, last)]
    step = (end - start) / (count - 1)
    points = [(start + step * i, _balance_at(session, account.id, start + step * i)) for i in range(count - 1)]
    return [*points, (end, last)]


def _balance_at(session: Session, account_id: int, moment: datetime) -> int:
    """The balance after the account's last posting before `moment` (0 before its first)."""
    found = session.execute(_BALANCE_AT, {"account_id": account_id, "t": moment}).scalar()
    return int(found or 0)
