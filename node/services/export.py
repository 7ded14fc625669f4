"""A member's data export: everything the node holds about them, in named parts.

Each part says which references to a member it exports (`covers`: "table.column" of a foreign key to
members.id). The node registers its parts at start-up (`register_parts`) and federation adds the ones
about bookings, payments and reviews abroad, so the export reads one registry. Every foreign key to a
member is either covered by a part or listed in NOT_EXPORTED with the reason (tests/node/test_export.py
enumerates them), so a new table about members cannot be left out of the export unnoticed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlmodel import SQLModel, col

from ..registry import Registry
from ..tables import (
    AdviceBooking,
    AdviceFeedback,
    AdviceListing,
    ApiToken,
    AuditEntry,
    Bid,
    Conflict,
    FundingLead,
    FundingReminder,
    MailPreference,
    Member,
    Notification,
    Proposal,
    RemoteConflict,
    Review,
    ReviewInvitation,
    TopicFollow,
    table_of,
)
from . import ledger, messages
from .members import PROFILE_FIELDS

Reader = Callable[[Session, int], Any]


@dataclass(frozen=True)
class ExportPart:
    """One part of the export: what `read(session, member_id)` returns, and the references it covers."""

    read: Reader
    covers: tuple[str, ...]


# Foreign keys to a member that no part exports, and why (the test of the export holds this list to the schema).
NOT_EXPORTED: dict[str, str] = {
    "accounts.member_id": "the account is exported as the balance and the statement",
    "ledger_txns.actor_id": "the statement lists every transaction of the member's account",
    "audit_log.actor_id": "what a coordinator did to others' records; the entries about the member are exported",
    "member_events.member_id": "copies of balance changes and notifications for open pages, kept for a day",
    "member_search_terms.member_id": "words taken from the exported profile, to find members",
    "conflicts.other_member_id": "a conflict another member declared is theirs",
    "member_blocks.blocked_id": "that another member blocked this one is the blocker's",
    "message_thread_members.other_id": "the other party's side of a thread whose own side is exported",
    "message_reports.reported_id": "a report names its reporter, whom the coordinators protect",
    "message_reports.handled_by": "a coordinator's handling of other members' reports",
    "review_rounds.created_by": "a coordinator's work on the node's review rounds",
    "review_round_items.added_by": "a coordinator's work on the node's review rounds",
}


def rows(model: type[SQLModel], *columns: str, omit: Iterable[str] = ()) -> ExportPart:
    """A part of every row of a table that names the member in any of `columns` (both parties of a booking),
    without the `omit` columns."""
    table = table_of(model)
    shown = [c for c in table.columns if c.name not in set(omit)]

    def read(session: Session, member_id: int) -> list[dict]:
        naming = or_(*(table.c[column] == member_id for column in columns))
        query = select(*shown).where(naming).order_by(*table.primary_key.columns)
        return [dict(row) for row in session.execute(query).mappings()]

    return ExportPart(read, tuple(f"{table.name}.{column}" for column in columns))


def member_data(session: Session, parts: Registry[ExportPart], member: Member) -> dict:
    """Everything the node holds about a member, as JSON-ready data: one key per registered part."""
    assert member.id is not None  # a stored member
    return {name: part.read(session, member.id) for name, part in parts.items()}


def register_parts(parts: Registry[ExportPart]) -> None:
    """The node's own parts (federation adds its own at start-up)."""
    parts.add("profile", ExportPart(_profile, ()))
    parts.add("balance", ExportPart(lambda s, m: ledger.member_account(s, m).balance, ()))
    parts.add("statement", ExportPart(_statement, ()))
    parts.add("audit", ExportPart(_audit, ()))
    parts.add("api_tokens", rows(ApiToken, "member_id", omit=("token_hash",)))  # never the token's hash
    parts.add("mail_preferences", rows(MailPreference, "member_id"))
    parts.add("notifications", rows(Notification, "member_id"))
    parts.add("proposals", rows(Proposal, "author_id"))
    parts.add("review_invitations", rows(ReviewInvitation, "reviewer_id"))
    parts.add("reviews", ExportPart(_reviews, ()))  # the reviews written on those invitations
    parts.add("review_bids", rows(Bid, "member_id"))
    parts.add("conflicts", rows(Conflict, "member_id"))
    parts.add("conflicts_abroad", rows(RemoteConflict, "member_id"))
    parts.add("advice_listings", rows(AdviceListing, "member_id"))
    parts.add("advice_bookings", rows(AdviceBooking, "provider_id", "receiver_id"))
    parts.add("advice_feedback", rows(AdviceFeedback, "author_id", "about_id"))
    parts.add("funding_leads", rows(FundingLead, "poster_id"))
    parts.add("topics_followed", rows(TopicFollow, "member_id"))
    parts.add("funding_reminders", rows(FundingReminder, "member_id"))
    parts.add(
        "messages",
        ExportPart(
            messages.export_for,
            (
                "message_threads.started_by",
                "message_thread_members.member_id",
                "messages.sender_id",
                "message_reports.reporter_id",
                "member_blocks.member_id",
            ),
        ),
    )


def _profile(session: Session, member_id: int) -> dict:
    member = session.get_one(Member, member_id)
    fields = ("email", "handle", "pseudonym", "role", "status", *PROFILE_FIELDS, "created_at", "approved_at")
    return {name: getattr(member, name) for name in fields}


def _statement(session: Session, member_id: int) -> list:
    return ledger.statement(session, ledger.member_account(session, member_id), limit=100000)


def _audit(session: Session, member_id: int) -> list[dict]:
    about = session.scalars(select(AuditEntry).where(col(AuditEntry.subject) == f"member:{member_id}"))
    return [entry.model_dump() for entry in about]


def _reviews(session: Session, member_id: int) -> list[dict]:
    written = session.scalars(
        select(Review)
        .join(ReviewInvitation, col(ReviewInvitation.id) == col(Review.invitation_id))
        .where(col(ReviewInvitation.reviewer_id) == member_id)
        .order_by(col(Review.id))
    )
    return [review.model_dump() for review in written]
