"""The node's tables. Services write them; web handlers never do.

Times are timezone-aware UTC datetimes. Amounts are integers (whole SIF).
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy import inspect as sa_inspect
from sqlmodel import Field, SQLModel


def _json_list() -> Column:
    return Column(JSON, nullable=False, default=list)


def bytewise(length: int) -> String:
    """A string compared byte by byte (code point order) on both databases: SQLite's BINARY, PostgreSQL's "C".

    The search terms' prefix ranges (term >= 'w:vri' AND term < 'w:vrj') and keyset pages rely on it; a
    linguistic collation would order 'w:vri...' apart and keep a B-tree from serving the range.
    """
    return String(length).with_variant(String(length, collation="C"), "postgresql")


def table_of(model: type[SQLModel]) -> Table:
    """The Core table a table model maps, for statements without the ORM (SQLModel sets ``__table__`` without
    declaring it to type checkers; the mapper's local table is the same object)."""
    mapper = sa_inspect(model)
    assert mapper is not None
    return cast(Table, mapper.local_table)


# --- members -----------------------------------------------------------------


class Member(SQLModel, table=True):
    """A person on this node: member, reviewer (opt-in) and/or coordinator."""

    __tablename__ = "members"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(index=True, unique=True, max_length=254)
    handle: str = Field(index=True, unique=True, max_length=32)  # local part of anna@hu
    pseudonym: str = Field(index=True, unique=True, max_length=32)  # shown to other nodes
    password_hash: str = Field(default="")
    display_name: str = Field(max_length=120)
    organisation: str = Field(default="", max_length=120)
    expertise: list = Field(default_factory=list, sa_column=_json_list())
    languages: list = Field(default_factory=list, sa_column=_json_list())
    country: str = Field(default="", max_length=2)
    bio: str = Field(default="", max_length=2000)
    language: str = Field(default="", max_length=8)  # of pages and mails (node.i18n.LANGUAGES); "" = not chosen
    time_zone: str = Field(default="", max_length=64)  # IANA name; "" = the node's time_zone setting
    role: str = Field(default="member", max_length=16)  # member | coordinator
    is_reviewer: bool = Field(default=False)
    pool_consent: bool = Field(default=False)
    review_capacity: int = Field(default=3)
    status: str = Field(default="pending", max_length=16)  # pending|active|refused|closed
    # The member directory (node.services.directory): listed only by choice, and then only the parts chosen.
    in_directory: bool = Field(default=False)
    show_organisation: bool = Field(default=False)
    show_bio: bool = Field(default=False)
    show_expertise: bool = Field(default=True)
    show_languages: bool = Field(default=True)
    show_country: bool = Field(default=True)
    session_version: int = Field(default=1)
    created_at: datetime
    approved_at: datetime | None = None
    last_active_at: datetime | None = None
    closed_at: datetime | None = None


class AuditEntry(SQLModel, table=True):
    """One coordinator's or the system's action, with who, when and what (node/services/audit.py).

    Written by the service that acts, in the same transaction; never changed afterwards.
    """

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    actor_id: int | None = Field(default=None, foreign_key="members.id", index=True)  # None: the operator or a sweep
    action: str = Field(max_length=40, index=True)  # a code of node.labels.LABELS["audit_action"]
    subject: str = Field(default="", max_length=120)  # what it concerns: "member:7", "peer:hu", "round:<id>", ...
    detail: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))


class ApiToken(SQLModel, table=True):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="members.id", index=True)
    token_hash: str = Field(index=True, unique=True, max_length=64)
    name: str = Field(default="api", max_length=80)
    created_at: datetime
    last_used_at: datetime | None = None
    revoked: bool = Field(default=False)


class LoginThrottle(SQLModel, table=True):
    """Recent failed logins of one client address or one account email (node/services/logins.py).

    An account's row also holds its unlock link: only the link token's SHA-256, and when it expires.
    """

    __tablename__ = "login_throttles"

    key: str = Field(primary_key=True, max_length=300)  # "address:203.0.113.7" or "account:anna@example.org"
    failures: int = Field(default=0)
    last_failure_at: datetime = Field(index=True)
    blocked_until: datetime | None = None
    mailed_at: datetime | None = None  # when the owner was last sent an unlock link
    unlock_hash: str | None = Field(default=None, index=True, unique=True, max_length=64)
    unlock_expires_at: datetime | None = None


class SignupRequest(SQLModel, table=True):
    """A sign-up waiting for its mailed link (node/services/signups.py): the member exists only once it is opened.

    Only the link token's SHA-256 is kept; the password only as its argon2 hash. One request per address:
    asking again replaces it. A sweep removes requests whose link expired.
    """

    __tablename__ = "signup_requests"

    email: str = Field(primary_key=True, max_length=254)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    password_hash: str = Field(max_length=255)
    display_name: str = Field(max_length=120)
    handle: str = Field(default="", max_length=32)  # the one asked for; empty: made from the email at the end
    language: str = Field(default="", max_length=8)
    created_at: datetime
    expires_at: datetime = Field(index=True)


class FormEcho(SQLModel, table=True):
    """What a refused web form held, for the page it goes back to (node/web/form_echo.py): read once, then gone.

    Kept here rather than in the session cookie, which is too small for a proposal's full text; the key
    lives only in that browser's session. Passwords are never kept. A sweep removes what was not read.
    """

    __tablename__ = "form_echoes"

    key: str = Field(primary_key=True, max_length=32)
    created_at: datetime = Field(index=True)
    action: str = Field(max_length=500)  # the path the form was sent to
    typed: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))  # {name: [values]}
    errors: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))


class IdempotentRequest(SQLModel, table=True):
    """A request made with an idempotency key (API header or a form's one-time token) and its first answer.

    Written in the same transaction as the request's change (node/idempotency.py), so the key is
    known exactly when the change is; the answer follows right after the commit.
    """

    __tablename__ = "idempotent_requests"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=80)  # whose key: "token:<sha-256>", "member:<id>" or "session:<sha-256>"
    key: str = Field(max_length=128)
    request_hash: str = Field(max_length=64)  # method, path and body: the same key for another request is refused
    status: int | None = None  # the first answer; None until it is stored
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    location: str = Field(default="", max_length=2000)
    created_at: datetime = Field(index=True)


class Conflict(SQLModel, table=True):
    """A declared conflict of interest between a member and another member or an organisation."""

    __tablename__ = "conflicts"

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="members.id", index=True)
    other_member_id: int | None = Field(default=None, foreign_key="members.id", index=True)
    organisation: str = Field(default="", max_length=120)
    source: str = Field(default="member", max_length=16)  # member | coordinator
    reason: str = Field(default="", max_length=500)
    created_at: datetime


class MemberSearchTerm(SQLModel, table=True):
    """A word or facet a listed member is found by (node.services.search); rows exist only for active members who
    chose to be in the directory, and only for the parts they show. sort_name orders the directory."""

    __tablename__ = "member_search_terms"
    __table_args__ = (Index("ix_member_search_terms_order", "term", "sort_name", "member_id"),)

    member_id: int = Field(sa_column=Column(Integer, ForeignKey("members.id"), primary_key=True))
    term: str = Field(sa_column=Column(bytewise(64), primary_key=True))
    sort_name: str = Field(sa_column=Column(bytewise(120), nullable=False))


class MemberBlock(SQLModel, table=True):
    """A member who blocked another: no messages either way between them until they unblock."""

    __tablename__ = "member_blocks"

    member_id: int = Field(foreign_key="members.id", primary_key=True)
    blocked_id: int = Field(foreign_key="members.id", primary_key=True, index=True)
    created_at: datetime


# --- ledger ------------------------------------------------------------------


class Account(SQLModel, table=True):
    """A ledger account. Kinds: member, issuance, escrow, position (one per peer), retired."""

    __tablename__ = "accounts"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16, index=True)
    ref: str = Field(max_length=64, unique=True)  # member:7, issuance, escrow:proposal:3, position:hu
    member_id: int | None = Field(default=None, foreign_key="members.id", index=True)
    balance: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    min_balance: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    max_balance: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    closed: bool = Field(default=False)
    created_at: datetime


class LedgerTxn(SQLModel, table=True):
    """One balanced transaction; its postings sum to zero."""

    __tablename__ = "ledger_txns"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32, index=True)
    memo: str = Field(default="", max_length=280)
    ref: str | None = Field(default=None, max_length=96, unique=True)  # idempotency key
    actor_id: int | None = Field(default=None, foreign_key="members.id")
    created_at: datetime = Field(index=True)  # a statement's date filter finds its first and last transaction here


class Posting(SQLModel, table=True):
    """One leg of a transaction, with the account's balance right after it."""

    __tablename__ = "postings"
    __table_args__ = (Index("ix_postings_account_txn", "account_id", "txn_id"),)

    id: int | None = Field(default=None, primary_key=True)
    txn_id: int = Field(foreign_key="ledger_txns.id", index=True)
    account_id: int = Field(foreign_key="accounts.id")
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    balance_after: int = Field(sa_column=Column(BigInteger, nullable=False))


# --- advice exchange -----------------------------------------------------------


class AdviceListing(SQLModel, table=True):
    """An offer ("I can advise on crowdfunding") or a request for advice: posted by a member here, or an offer a
    peer node shared network-wide (origin_node set, no member here; read-only, replaced by what the peer sends)."""

    __tablename__ = "advice_listings"
    __table_args__ = (UniqueConstraint("origin_node", "origin_ref", name="uq_advice_listings_origin"),)

    id: int | None = Field(default=None, primary_key=True)
    member_id: int | None = Field(default=None, foreign_key="members.id", index=True)  # None: a peer's offer
    kind: str = Field(max_length=8)  # offer | request
    title: str = Field(max_length=160)
    description: str = Field(default="", max_length=4000)
    tags: list = Field(default_factory=list, sa_column=_json_list())
    rate: int = Field(default=1)  # SIF per hour
    status: str = Field(default="open", max_length=16)  # open | closed
    created_at: datetime
    network_wide: bool = Field(default=False)  # the author consents to sharing this offer with peer nodes
    origin_node: str | None = Field(default=None, max_length=32)  # the peer that shared it; None: posted here
    origin_ref: str | None = Field(default=None, max_length=64)  # the peer's name for it (on the wire)
    origin_country: str = Field(default="", max_length=2)
    origin_adviser: str = Field(default="", max_length=64)  # the adviser's pseudonym on the peer


class ListingSearchTerm(SQLModel, table=True):
    """A word, kind or tag an open listing of an active member is found by (node.services.search)."""

    __tablename__ = "listing_search_terms"
    __table_args__ = (Index("ix_listing_search_terms_order", "term", "listing_id"),)

    listing_id: int = Field(sa_column=Column(Integer, ForeignKey("advice_listings.id"), primary_key=True))
    term: str = Field(sa_column=Column(bytewise(64), primary_key=True))


class AdviceBooking(SQLModel, table=True):
    """A session booked on a listing; the receiver's SIF wait in escrow until it is settled."""

    __tablename__ = "advice_bookings"

    id: int | None = Field(default=None, primary_key=True)
    listing_id: int = Field(foreign_key="advice_listings.id", index=True)
    provider_id: int = Field(foreign_key="members.id", index=True)
    receiver_id: int = Field(foreign_key="members.id", index=True)
    hours: int
    amount: int
    scheduled_for: datetime | None = None
    note: str = Field(default="", max_length=1000)
    status: str = Field(default="proposed", max_length=16)  # see node.lifecycle.BOOKING
    claimed_at: datetime | None = None
    dispute_by: datetime | None = None
    dispute_reason: str = Field(default="", max_length=1000)
    resolution: str = Field(default="", max_length=1000)
    created_at: datetime
    settled_at: datetime | None = None
    provider_amount: int | None = None  # SIF the provider got when settled; the rest went back
    accepted_at: datetime | None = None  # when the provider agreed (on a request: when they proposed)


class AdviceFeedback(SQLModel, table=True):
    """A party's short feedback on a session that took place: once per party, shown on the other's profile."""

    __tablename__ = "advice_feedback"
    __table_args__ = (UniqueConstraint("booking_id", "author_id"),)

    id: int | None = Field(default=None, primary_key=True)
    booking_id: int = Field(foreign_key="advice_bookings.id")
    author_id: int = Field(foreign_key="members.id")
    about_id: int = Field(foreign_key="members.id", index=True)
    about_role: str = Field(max_length=16)  # "provider" (the adviser) or "receiver"
    rating: int  # 1 to 5
    comment: str = Field(default="", max_length=500)
    created_at: datetime


# --- proposals and reviews -----------------------------------------------------


class Proposal(SQLModel, table=True):
    """A plan a member wants reviewed, with k reviews paid from escrow."""

    __tablename__ = "proposals"

    id: int | None = Field(default=None, primary_key=True)
    author_id: int = Field(foreign_key="members.id", index=True)
    title: str = Field(max_length=200)
    summary: str = Field(max_length=2000)
    full_text: str = Field(max_length=100000)
    tags: list = Field(default_factory=list, sa_column=_json_list())
    language: str = Field(max_length=8)
    stage: str = Field(max_length=32)
    reviews_wanted: int
    bounty: int
    min_foreign_reviewers: int = Field(default=0)
    status: str = Field(default="open", max_length=16)  # open | completed | withdrawn | closed
    created_at: datetime
    closed_at: datetime | None = None


class ReviewInvitation(SQLModel, table=True):
    """An invitation of one reviewer to review one proposal, local or (later) on a peer node."""

    __tablename__ = "review_invitations"
    __table_args__ = (UniqueConstraint("proposal_id", "reviewer_id", "remote_node", "remote_handle"),)

    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposals.id", index=True)
    reviewer_id: int | None = Field(default=None, foreign_key="members.id", index=True)
    remote_node: str | None = Field(default=None, max_length=32)
    remote_handle: str | None = Field(default=None, max_length=32)
    status: str = Field(default="invited", max_length=16)
    rank: int = Field(default=0)
    score: int = Field(default=0)  # matching affinity x 1000, for explanations
    bounty: int
    invited_at: datetime
    accept_by: datetime
    responded_at: datetime | None = None
    due_by: datetime | None = None
    reminded_at: datetime | None = None
    decline_reason: str = Field(default="", max_length=500)


class Review(SQLModel, table=True):
    """A submitted review on the three tenets of the Social Innovation Factory."""

    __tablename__ = "reviews"

    id: int | None = Field(default=None, primary_key=True)
    invitation_id: int = Field(foreign_key="review_invitations.id", unique=True)
    shared_value: int
    social_transformation: int
    impact: int
    confidence: int
    feedback: str = Field(max_length=20000)
    submitted_at: datetime
    helpfulness: int | None = None
    rated_at: datetime | None = None


# --- review rounds, bids, remote conflicts ---------------------------------------


class ReviewRound(SQLModel, table=True):
    """A batch of proposals assigned reviewers together at a deadline (node.services.rounds)."""

    __tablename__ = "review_rounds"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    status: str = Field(default="open", max_length=16)  # see node.services.rounds.ROUND
    deadline: datetime
    reviews_per_proposal: int
    min_load: int = Field(default=0)
    max_load: int
    need_foreign: bool = Field(default=False)  # every proposal needs a reviewer from another country
    double_blind: bool = Field(default=False)  # its reviewers and authors do not see each other's names
    created_by: int = Field(foreign_key="members.id")
    created_at: datetime
    solve_started_at: datetime | None = None
    solved_at: datetime | None = None
    progress: int = Field(default=0)  # per mille while solving; 1000 when solved
    progress_message: str = Field(default="", max_length=300)
    total_affinity: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    result: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))


class RoundItem(SQLModel, table=True):
    """A proposal in a review round (one round per proposal)."""

    __tablename__ = "review_round_items"

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="review_rounds.id", index=True)
    proposal_id: int = Field(foreign_key="proposals.id", unique=True)
    added_by: int = Field(foreign_key="members.id")
    added_at: datetime


class Bid(SQLModel, table=True):
    """A reviewer's interest in an expertise tag: -1 not interested, 0 neutral, 1 interested, 2 eager."""

    __tablename__ = "review_bids"
    __table_args__ = (UniqueConstraint("member_id", "tag"),)

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="members.id", index=True)
    tag: str = Field(max_length=64)
    level: int
    updated_at: datetime


class RemoteConflict(SQLModel, table=True):
    """A conflict of interest between a member here and a reviewer on a peer node (handle@node)."""

    __tablename__ = "remote_conflicts"
    __table_args__ = (UniqueConstraint("member_id", "remote_node", "remote_handle"),)

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="members.id", index=True)
    remote_node: str = Field(max_length=32)
    remote_handle: str = Field(max_length=64)
    source: str = Field(default="member", max_length=16)  # member | coordinator
    reason: str = Field(default="", max_length=500)
    created_at: datetime


# --- funding leads --------------------------------------------------------------


class FundingLead(SQLModel, table=True):
    """A grant call, fund or investor: posted by a member here, or shared network-wide by a peer node."""

    __tablename__ = "funding_leads"
    __table_args__ = (UniqueConstraint("origin_node", "ref"),)

    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(max_length=64)  # the origin node's name for it, stable (on the wire)
    origin_node: str = Field(default="", max_length=32)  # "" = posted on this node
    origin_country: str = Field(default="", max_length=2)  # of the peer node that shared it
    poster_id: int | None = Field(default=None, foreign_key="members.id", index=True)  # None: from a peer
    title: str = Field(max_length=200)
    url: str = Field(max_length=2048)
    deadline: datetime | None = Field(default=None, index=True)
    countries: list = Field(default_factory=list, sa_column=_json_list())  # ISO codes; empty = any
    topics: list = Field(default_factory=list, sa_column=_json_list())  # expertise tags
    description: str = Field(default="", max_length=1000)
    network_wide: bool = Field(default=False)  # a coordinator shares it with every peer and the directory
    status: str = Field(default="open", max_length=16)  # see node.lifecycle.FUNDING_LEAD
    created_at: datetime
    updated_at: datetime
    withdrawn_at: datetime | None = None


class TopicFollow(SQLModel, table=True):
    """A member follows an expertise tag: reminded before the deadlines of funding leads on it."""

    __tablename__ = "topic_follows"
    __table_args__ = (UniqueConstraint("member_id", "tag"),)

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="members.id", index=True)
    tag: str = Field(max_length=64)
    created_at: datetime


class FundingReminder(SQLModel, table=True):
    """A deadline reminder sent to a member for a lead; the unique row makes it once, whoever runs the sweep."""

    __tablename__ = "funding_reminders"
    __table_args__ = (UniqueConstraint("member_id", "origin_node", "lead_ref"),)

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="members.id", index=True)
    origin_node: str = Field(max_length=32)  # with lead_ref: the lead, also after a peer re-sent it
    lead_ref: str = Field(max_length=64)
    sent_at: datetime


# --- notifications -------------------------------------------------------------


class Notification(SQLModel, table=True):
    """A message to a member, stored as its kind and parameters; its text is rendered in the reader's language
    when shown or mailed (node.notices). Rows from before revision 0004 have no params, only the English
    subject and body they were written with."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_member_read", "member_id", "read_at"),)  # the unread count

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="members.id", index=True)
    kind: str = Field(max_length=32)
    params: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    subject: str = Field(default="", max_length=200)
    body: str = Field(default="", max_length=8000)
    created_at: datetime
    sent_at: datetime | None = None  # when the mail sweep handled it (mailed, or not wanted by mail)
    read_at: datetime | None = None


class MemberEvent(SQLModel, table=True):
    """Something that happened to a member, for their open pages and API streams (node/services/events.py).

    Its id increases in commit order (one writer at a time); on SQLite AUTOINCREMENT keeps a swept id from
    being used again, so a stream's resume point never points at a newer event.
    """

    __tablename__ = "member_events"
    __table_args__ = (
        Index("ix_member_events_member_id_id", "member_id", "id"),  # a member's events after a resume point
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    )
    member_id: int = Field(foreign_key="members.id")
    kind: str = Field(max_length=16)
    data: dict = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime


class MailPreference(SQLModel, table=True):
    """Whether a member wants a notification kind also by mail; no row: the kind's default (node.notices)."""

    __tablename__ = "mail_preferences"

    member_id: int = Field(foreign_key="members.id", primary_key=True)
    kind: str = Field(max_length=32, primary_key=True)
    mail: bool
    updated_at: datetime


# --- messages between members ----------------------------------------------------


class MessageThread(SQLModel, table=True):
    """The one conversation between two members of this node (node.services.messages)."""

    __tablename__ = "message_threads"
    __table_args__ = (Index("ix_message_threads_started_by_created_at", "started_by", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    started_by: int = Field(foreign_key="members.id")
    created_at: datetime
    last_message_id: int = Field(default=0)
    last_message_at: datetime | None = None


class ThreadMember(SQLModel, table=True):
    """One of the two members of a thread, with what they have read; (member, other) names the thread."""

    __tablename__ = "message_thread_members"
    __table_args__ = (UniqueConstraint("member_id", "other_id"),)

    thread_id: int = Field(foreign_key="message_threads.id", primary_key=True)
    member_id: int = Field(foreign_key="members.id", primary_key=True)
    other_id: int = Field(foreign_key="members.id")
    last_read_message_id: int = Field(default=0)


class Message(SQLModel, table=True):
    """One plain-text message in a thread."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_thread_id_id", "thread_id", "id"),
        Index("ix_messages_sender_id_created_at", "sender_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    thread_id: int = Field(foreign_key="message_threads.id")
    sender_id: int = Field(foreign_key="members.id")
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime


class MessageReport(SQLModel, table=True):
    """A member reports a message, or a thread, as abuse: coordinators see the reported member's messages in it
    (one message, or every one up to the report) and nothing else of the thread."""

    __tablename__ = "message_reports"
    __table_args__ = (Index("ix_message_reports_status_id", "status", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    thread_id: int = Field(foreign_key="message_threads.id", index=True)
    message_id: int | None = Field(default=None, foreign_key="messages.id")  # None: the whole thread
    up_to_message_id: int  # the thread's last message when it was reported
    reporter_id: int = Field(foreign_key="members.id")
    reported_id: int = Field(foreign_key="members.id")
    reason: str = Field(max_length=1000)
    status: str = Field(default="open", max_length=16)  # open | handled
    created_at: datetime
    handled_by: int | None = Field(default=None, foreign_key="members.id")
    handled_at: datetime | None = None
    note: str = Field(default="", max_length=1000)
