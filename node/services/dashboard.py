"""The coordinator's view of the books: balances, flags, totals and the live invariant."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from ..settings import Settings
from ..tables import Account, Member
from . import ledger


def overview(session: Session, settings: Settings, now: datetime) -> dict:
    """Balances of every member, flagged accounts, totals per account kind and the invariant."""
    inactive_before = now - timedelta(days=settings.inactive_days)
    rows = session.execute(
        select(Member, Account).join(Account, col(Account.member_id) == col(Member.id)).order_by(col(Member.id))
    ).all()
    members_out, flagged = [], []
    for member, account in rows:
        flags = []
        if account.min_balance is not None and account.balance <= account.min_balance:
            flags.append("at_lower_limit")
        if account.max_balance is not None and account.balance >= account.max_balance:
            flags.append("at_cap")
        last = member.last_active_at or member.approved_at or member.created_at
        if member.status == "active" and last < inactive_before:
            flags.append("inactive")
        entry = {
            "id": member.id,
            "handle": member.handle,
            "display_name": member.display_name,
            "status": member.status,
            "role": member.role,
            "balance": account.balance,
            "min_balance": account.min_balance,
            "max_balance": account.max_balance,
            "last_active_at": last,
            "flags": flags,
        }
        members_out.append(entry)
        if flags:
            flagged.append(entry)
    totals: dict[str, int] = {}
    for account in session.scalars(select(Account)).all():
        totals[account.kind] = totals.get(account.kind, 0) + account.balance
    books = ledger.check_books(session)
    return {
        "members": members_out,
        "flagged": flagged,
        "totals": totals,
        "issued": -totals.get("issuance", 0),
        "invariant": {
            "ok": books.ok,
            "sum_of_balances": books.total_balance,
            "unbalanced_txns": books.unbalanced_txns,
            "drifted_accounts": books.drifted_accounts,
            "accounts": books.accounts,
            "txns": books.txns,
        },
        "pending": [
            {
                "id": m.id,
                "handle": m.handle,
                "display_name": m.display_name,
                "email": m.email,
                "created_at": m.created_at,
            }
            for m, _ in rows
            if m.status == "pending"
        ],
    }
