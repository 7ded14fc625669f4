"""Federation tables: keys, peers, channel logs, cross-border transfers, checkpoints and disputes.

Envelopes are stored verbatim (their exact JSON text) so anyone can later prove what was said.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column, Index, Table, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class LocalKey(SQLModel, table=True):
    """This node's signing keys, current and retired (public part; the seed lives in the data folder)."""

    __tablename__ = "fed_local_keys"

    kid: str = Field(primary_key=True, max_length=64)
    public: str = Field(max_length=64)
    not_before: datetime
    not_after: datetime | None = None


class Peer(SQLModel, table=True):
    """Another national node this node federates with."""

    __tablename__ = "fed_peers"

    node_id: str = Field(primary_key=True, max_length=32)
    base_url: str = Field(max_length=300)
    name: str = Field(default="", max_length=120)
    country: str = Field(default="", max_length=2)
    fingerprint: str = Field(max_length=64)  # of the key seen when the peer was added
    status: str = Field(default="pending", max_length=16)  # pending | active | suspended
    status_reason: str = Field(default="", max_length=500)
    trust_limit: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    document: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime
    last_contact_at: datetime | None = None
    last_error: str = Field(default="", max_length=500)
    failures: int = Field(default=0)
    next_attempt_at: datetime | None = None


class PeerKey(SQLModel, table=True):
    """A peer's public key, pinned at peering or learned from a signed rotation."""

    __tablename__ = "fed_peer_keys"

    kid: str = Field(primary_key=True, max_length=64)
    peer_id: str = Field(foreign_key="fed_peers.node_id", index=True, max_length=32)
    public: str = Field(max_length=64)
    not_before: datetime | None = None
    not_after: datetime | None = None


class ChannelEntry(SQLModel, table=True):
    """One entry of a hash-chained channel log, in either direction, stored verbatim."""

    __tablename__ = "fed_channel_entries"
    # The unacknowledged entries of a peer, in seq order, without walking its whole history: read by every
    # delivery and every answer that hands entries back, and by every acknowledgement.
    __table_args__ = (
        UniqueConstraint("peer_id", "direction", "seq"),
        Index("ix_fed_channel_entries_unacked", "peer_id", "direction", "acked_at", "seq"),
    )

    id: int | None = Field(default=None, primary_key=True)
    peer_id: str = Field(foreign_key="fed_peers.node_id", index=True, max_length=32)
    direction: str = Field(max_length=3)  # out: we sent it | in: we received and applied it
    seq: int
    type: str = Field(max_length=40)
    envelope_id: str = Field(max_length=64)
    entry_hash: str = Field(max_length=64)
    envelope: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime
    acked_at: datetime | None = None  # out: when the peer confirmed it applied it


class CrossBorderTransfer(SQLModel, table=True):
    """A payment between a member here and a member of a peer node; one final state on both sides."""

    __tablename__ = "fed_transfers"
    __table_args__ = (UniqueConstraint("transfer_id", "direction"),)

    id: int | None = Field(default=None, primary_key=True)
    transfer_id: str = Field(index=True, max_length=64)
    direction: str = Field(max_length=3)  # out | in
    peer_id: str = Field(foreign_key="fed_peers.node_id", index=True, max_length=32)
    local_member_id: int | None = Field(default=None, foreign_key="members.id", index=True)
    local_handle: str = Field(max_length=64)
    remote_handle: str = Field(max_length=64)
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    memo: str = Field(default="", max_length=280)
    status: str = Field(max_length=16)  # out: pending|completed|bounced; in: completed|bounced
    reason_code: str = Field(default="", max_length=40)
    reason: str = Field(default="", max_length=280)
    created_at: datetime
    finished_at: datetime | None = None


class Checkpoint(SQLModel, table=True):
    """A signed checkpoint received from a peer, and how it compared with our books."""

    __tablename__ = "fed_checkpoints"

    id: int | None = Field(default=None, primary_key=True)
    peer_id: str = Field(foreign_key="fed_peers.node_id", index=True, max_length=32)
    envelope: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime
    agrees: bool
    detail: str = Field(default="", max_length=2000)


class Dispute(SQLModel, table=True):
    """A disagreement with a peer found by a checkpoint; never repaired silently."""

    __tablename__ = "fed_disputes"

    id: int | None = Field(default=None, primary_key=True)
    peer_id: str = Field(foreign_key="fed_peers.node_id", index=True, max_length=32)
    kind: str = Field(max_length=32)  # position_mismatch | chain_mismatch
    detail: str = Field(max_length=2000)
    status: str = Field(default="open", max_length=16)  # open | resolved
    opened_at: datetime
    resolved_at: datetime | None = None
    resolution: str = Field(default="", max_length=1000)


class SeenNonce(SQLModel, table=True):
    """Nonces of accepted signed HTTP requests, to refuse a replayed request."""

    __tablename__ = "fed_seen_nonces"

    nonce: str = Field(primary_key=True, max_length=80)
    peer_id: str = Field(max_length=32)
    seen_at: datetime = Field(index=True)


class SettlementRound(SQLModel, table=True):
    """A clearing round this node coordinates: statements in, proposal and certificate out (verbatim)."""

    __tablename__ = "fed_settlement_rounds"

    round_id: str = Field(primary_key=True, max_length=64)
    state: str = Field(max_length=16, index=True)  # collecting|computed|proposed|certified|settled|empty|abandoned
    participants: str = Field(sa_column=Column(Text, nullable=False))  # JSON list of node ids
    deadline: datetime
    auto_propose: bool = Field(default=True)
    statements: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))  # node -> envelope
    excluded: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))  # pairs left out, why
    plan: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))  # before, after, cleared
    proposal: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    proposal_hash: str = Field(default="", max_length=64)
    acceptances: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))  # node -> envelope
    certificate: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    delivered: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))  # node -> outcome
    total_before: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    total_after: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    reason: str = Field(default="", max_length=1000)
    created_at: datetime
    finished_at: datetime | None = None


class SettlementPart(SQLModel, table=True):
    """A clearing round this node takes part in: what it stated, answered and applied (verbatim)."""

    __tablename__ = "fed_settlement_parts"

    round_id: str = Field(primary_key=True, max_length=64)
    coordinator: str = Field(max_length=32)
    state: str = Field(max_length=16, index=True)  # stated | accepted | refused | applied | lapsed
    statement: str = Field(sa_column=Column(Text, nullable=False))
    applied_before: int = Field(default=0)  # settlements this node had applied when it stated
    deadline: datetime | None = None
    proposal: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    proposal_hash: str = Field(default="", max_length=64)
    acceptance: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    reason: str = Field(default="", max_length=280)
    certificate: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    changes: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))  # peer -> position change
    created_at: datetime
    applied_at: datetime | None = None


class DirectoryKey(SQLModel, table=True):
    """A key of the network directory this node applied to, pinned once its coordinator confirmed the fingerprint.

    With it the node accepts the directory's clearing-round messages (statement requests,
    proposals, certificates) as it does an active peer's.
    """

    __tablename__ = "fed_directory_keys"

    kid: str = Field(primary_key=True, max_length=64)
    directory_id: str = Field(max_length=32, index=True)
    public: str = Field(max_length=64)
    base_url: str = Field(max_length=300)
    fingerprint: str = Field(max_length=64)
    pinned_at: datetime


class SettledPair(SQLModel, table=True):
    """Per peer: the sum of settlement changes applied to our position towards it, and how many there were."""

    __tablename__ = "fed_settled_pairs"

    peer_id: str = Field(primary_key=True, max_length=32)
    settled: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    settlements: int = Field(default=0)


class Initiative(SQLModel, table=True):
    """An initiative this node incubates; listed in the network directory only while it consents."""

    __tablename__ = "fed_initiatives"

    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(index=True, unique=True, max_length=64)  # stable public id, e.g. i-3f9a0c12
    name: str = Field(max_length=200)
    summary: str = Field(default="", max_length=500)
    interests: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False, default=list))
    sectors: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False, default=list))
    stage: str = Field(max_length=16)  # idea | planning | pilot | scaling
    city: str = Field(default="", max_length=100)
    contact_member_id: int | None = Field(default=None, foreign_key="members.id")  # gets contact messages
    consent_at: datetime | None = None  # None: not listed (never agreed, or withdrew)
    consent_note: str = Field(default="", max_length=300)  # how the initiative agreed, for the record
    created_at: datetime
    updated_at: datetime


# --- shared reviewer pools and cross-border reviews (federation/reviews/) ---


class PoolShare(SQLModel, table=True):
    """What this node last sent a peer of its reviewer pool, so the next delta is the difference."""

    __tablename__ = "fed_pool_shares"

    peer_id: str = Field(primary_key=True, max_length=32)
    records: dict = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict)
    )  # handle -> reviewer
    snapshot_at: datetime
    sent_at: datetime


class FundingShare(SQLModel, table=True):
    """What this node last sent a peer of its network-wide funding leads, so the next delta is the difference."""

    __tablename__ = "fed_funding_shares"

    peer_id: str = Field(primary_key=True, max_length=32)
    records: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))  # ref -> lead
    snapshot_at: datetime
    sent_at: datetime


class PoolReviewer(SQLModel, table=True):
    """A reviewer a peer shares with us, under their pseudonymous handle; nothing personal."""

    __tablename__ = "fed_pool_reviewers"
    __table_args__ = (UniqueConstraint("peer_id", "handle"),)

    id: int | None = Field(default=None, primary_key=True)
    peer_id: str = Field(foreign_key="fed_peers.node_id", index=True, max_length=32)
    handle: str = Field(max_length=64)
    expertise: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False, default=list))
    languages: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False, default=list))
    open_slots: int = Field(default=0)
    turnaround_days: int = Field(default=0)
    reviews_done: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    helpfulness: int | None = None  # 0..100, None until rated
    updated_at: datetime


class ReviewLink(SQLModel, table=True):
    """Proposer's side: a review invitation sent to a reviewer on a peer node, under its invite id."""

    __tablename__ = "fed_review_links"

    invitation_id: int = Field(primary_key=True, foreign_key="review_invitations.id")
    invite_id: str = Field(index=True, unique=True, max_length=64)
    peer_id: str = Field(foreign_key="fed_peers.node_id", index=True, max_length=32)
    due_by: datetime  # fixed when invited, so both nodes agree on it
    created_at: datetime
    shared_at: datetime | None = None  # when the full text went out (only after acceptance)
    transfer_id: str = Field(default="", max_length=64)  # the bounty's cross-border transfer
    end_sent: str = Field(default="", max_length=64)  # reason code of the review_cancel sent, if any
    rated_at: datetime | None = None


class IncomingInvitation(SQLModel, table=True):
    """Reviewer's side: a peer invited one of our members; the full text arrives only after acceptance."""

    __tablename__ = "fed_incoming_invitations"
    __table_args__ = (UniqueConstraint("peer_id", "invite_id"),)

    id: int | None = Field(default=None, primary_key=True)
    peer_id: str = Field(foreign_key="fed_peers.node_id", index=True, max_length=32)
    invite_id: str = Field(max_length=64)
    member_id: int = Field(foreign_key="members.id", index=True)
    proposal_ref: str = Field(max_length=64)
    title: str = Field(max_length=200)
    summary: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    tags: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False, default=list))
    language: str = Field(max_length=3)
    bounty: int = Field(sa_column=Column(BigInteger, nullable=False))
    accept_by: datetime
    due_by: datetime
    status: str = Field(default="invited", max_length=16, index=True)  # see reviews.reviewer_side.INCOMING
    received_at: datetime
    responded_at: datetime | None = None
    decline_reason: str = Field(default="", max_length=280)
    end_reason: str = Field(default="", max_length=64)  # review_cancel reason code from the proposer's node
    full_text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # proposal_share
    stage: str = Field(default="", max_length=16)
    shared_at: datetime | None = None
    scores: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))
    confidence: int | None = None
    feedback: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    submitted_at: datetime | None = None
    helpfulness: int | None = None  # 1..5, from review_rating
    rated_at: datetime | None = None


# --- advice across borders (federation/advice/) ---


class AdviceOfferShare(SQLModel, table=True):
    """What this node last sent a peer of its network-wide advice offers, so the next delta is the difference."""

    __tablename__ = "fed_advice_offer_shares"

    peer_id: str = Field(primary_key=True, max_length=32)
    records: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))  # ref -> offer
    snapshot_at: datetime
    sent_at: datetime


class RemoteBooking(SQLModel, table=True):
    """An advice session booked across a border, on either node: `side` booker (our member booked a peer's offer:
    the escrow is here and this node decides) or adviser (a peer's member booked our member's offer)."""

    __tablename__ = "fed_remote_bookings"
    __table_args__ = (UniqueConstraint("peer_id", "booking_ref"),)

    id: int | None = Field(default=None, primary_key=True)
    side: str = Field(max_length=8)  # booker | adviser
    peer_id: str = Field(foreign_key="fed_peers.node_id", index=True, max_length=32)
    booking_ref: str = Field(max_length=64)  # the booker's node's id for it (on the wire)
    member_id: int = Field(foreign_key="members.id", index=True)  # the booker here, or the adviser here
    offer_ref: str = Field(max_length=64)
    title: str = Field(max_length=160)
    adviser: str = Field(max_length=64)  # the adviser's pseudonym
    adviser_name: str = Field(default="", max_length=120)  # booker side: told once the adviser accepted
    booker_name: str = Field(default="", max_length=120)  # adviser side: told by the booking
    hours: int
    rate: int = Field(sa_column=Column(BigInteger, nullable=False))
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    scheduled_for: datetime | None = None
    note: str = Field(default="", max_length=1000)
    status: str = Field(max_length=16, index=True)  # booker_side.BOOKER_SIDE | adviser_side.ADVISER_SIDE
    created_at: datetime
    accepted_at: datetime | None = None
    claimed_at: datetime | None = None
    dispute_by: datetime | None = None  # booker side: when an unchallenged claim is paid
    dispute_reason: str = Field(default="", max_length=1000)
    resolution: str = Field(default="", max_length=1000)
    settled_at: datetime | None = None
    provider_amount: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    transfer_id: str = Field(default="", max_length=64)  # booker side: the payment's cross-border transfer


def table_of(model: type[SQLModel]) -> Table:
    """A table model's Core table, for Core statements (SQLModel does not declare `__table__` to type checkers)."""
    return model.metadata.tables[str(model.__tablename__)]


class RemoteFeedback(SQLModel, table=True):
    """A party's feedback on a session booked across a border, kept on both nodes: the one our member gave (sent
    to the peer) and the one the other party gave there (received); `author` is that party's side."""

    __tablename__ = "fed_remote_feedback"
    __table_args__ = (UniqueConstraint("booking_id", "author"),)

    id: int | None = Field(default=None, primary_key=True)
    booking_id: int = Field(foreign_key="fed_remote_bookings.id")  # the unique (booking_id, author) indexes it
    author: str = Field(max_length=8)  # booker | adviser
    rating: int  # 1 to 5
    comment: str = Field(default="", max_length=500)
    created_at: datetime
