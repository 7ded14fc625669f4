"""Federation tables: keys, peers, channel logs, cross-border transfers, checkpoints and disputes.

Envelopes are stored verbatim (their exact JSON text) so anyone can later prove what was said.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import BigInteger, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class LocalKey(SQLModel, table=True):
    """This node's signing keys, current and retired (public part; the seed lives in the data folder)."""

    __tablename__ = "fed_local_keys"

    kid: str = Field(primary_key=True, max_length=64)
    public: str = Field(max_length=64)
    not_before: datetime
    not_after: Optional[datetime] = None


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
    last_contact_at: Optional[datetime] = None
    last_error: str = Field(default="", max_length=500)
    failures: int = Field(default=0)
    next_attempt_at: Optional[datetime] = None


class PeerKey(SQLModel, table=True):
    """A peer's public key, pinned at peering or learned from a signed rotation."""

    __tablename__ = "fed_peer_keys"

    kid: str = Field(primary_key=True, max_length=64)
    peer_id: str = Field(foreign_key="fed_peers.node_id", index=True, max_length=32)
    public: str = Field(max_length=64)
    not_before: Optional[datetime] = None
    not_after: Optional[datetime] = None


class ChannelEntry(SQLModel, table=True):
    """One entry of a hash-chained channel log, in either direction, stored verbatim."""

    __tablename__ = "fed_channel_entries"
    __table_args__ = (UniqueConstraint("peer_id", "direction", "seq"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    peer_id: str = Field(foreign_key="fed_peers.node_id", index=True, max_length=32)
    direction: str = Field(max_length=3)  # out: we sent it | in: we received and applied it
    seq: int
    type: str = Field(max_length=40)
    envelope_id: str = Field(max_length=64)
    entry_hash: str = Field(max_length=64)
    envelope: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime
    acked_at: Optional[datetime] = None  # out: when the peer confirmed it applied it


class CrossBorderTransfer(SQLModel, table=True):
    """A payment between a member here and a member of a peer node; one final state on both sides."""

    __tablename__ = "fed_transfers"
    __table_args__ = (UniqueConstraint("transfer_id", "direction"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    transfer_id: str = Field(index=True, max_length=64)
    direction: str = Field(max_length=3)  # out | in
    peer_id: str = Field(foreign_key="fed_peers.node_id", index=True, max_length=32)
    local_member_id: Optional[int] = Field(default=None, foreign_key="members.id", index=True)
    local_handle: str = Field(max_length=64)
    remote_handle: str = Field(max_length=64)
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    memo: str = Field(default="", max_length=280)
    status: str = Field(max_length=16)  # out: pending|completed|bounced; in: completed|bounced
    reason_code: str = Field(default="", max_length=40)
    reason: str = Field(default="", max_length=280)
    created_at: datetime
    finished_at: Optional[datetime] = None


class Checkpoint(SQLModel, table=True):
    """A signed checkpoint received from a peer, and how it compared with our books."""

    __tablename__ = "fed_checkpoints"

    id: Optional[int] = Field(default=None, primary_key=True)
    peer_id: str = Field(foreign_key="fed_peers.node_id", index=True, max_length=32)
    envelope: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime
    agrees: bool
    detail: str = Field(default="", max_length=2000)


class Dispute(SQLModel, table=True):
    """A disagreement with a peer found by a checkpoint; never repaired silently."""

    __tablename__ = "fed_disputes"

    id: Optional[int] = Field(default=None, primary_key=True)
    peer_id: str = Field(foreign_key="fed_peers.node_id", index=True, max_length=32)
    kind: str = Field(max_length=32)  # position_mismatch | chain_mismatch
    detail: str = Field(max_length=2000)
    status: str = Field(default="open", max_length=16)  # open | resolved
    opened_at: datetime
    resolved_at: Optional[datetime] = None
    resolution: str = Field(default="", max_length=1000)


class SeenNonce(SQLModel, table=True):
    """Nonces of accepted signed HTTP requests, to refuse a replayed request."""

    __tablename__ = "fed_seen_nonces"

    nonce: str = Field(primary_key=True, max_length=80)
    peer_id: str = Field(max_length=32)
    seen_at: datetime = Field(index=True)
