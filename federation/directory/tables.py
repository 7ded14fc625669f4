"""The directory's own tables, in its own database.

They hang off a separate SQLAlchemy registry (``DirectoryModel``), so they are not part of
``SQLModel.metadata``: a node's Alembic migrations never see them and the directory never
creates node tables. The schema is created with ``create_all`` when the directory opens its
database; until the first release a changed table means a fresh directory database (the
directory keeps no state that cannot be polled again, except listings: re-approve them).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index, Text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class DirectoryModel(SQLModel, registry=registry()):
    """Base of the directory's tables (own metadata, own registry)."""


def _json(default) -> Column:
    return Column(JSON, nullable=True if default is None else False, default=default)


class Listing(DirectoryModel, table=True):
    """A node that applied to be listed; polled once the working group approved it and pinned its key."""

    __tablename__ = "listings"

    node_id: str = Field(primary_key=True, max_length=32)
    name: str = Field(default="", max_length=200)
    country: str = Field(default="", max_length=2)
    base_url: str = Field(max_length=300)
    summary_url: str = Field(max_length=400)
    status: str = Field(default="pending", max_length=16)  # pending | listed | delisted
    fingerprint: str = Field(default="", max_length=64)  # of the pinned key; "" until approved
    keys: list = Field(default_factory=list, sa_column=_json(list))  # key entries pinned at approval
    candidate: dict | None = Field(default=None, sa_column=_json(None))  # document fields awaiting approval
    applied_at: datetime
    approved_at: datetime | None = None
    delisted_at: datetime | None = None
    # The last poll, for the status table.
    health: str = Field(default="new", max_length=16)  # new | up | slow | unreachable | refused
    last_poll_at: datetime | None = None
    last_ok_at: datetime | None = None
    down_since: datetime | None = None  # first failed poll after the last good one
    latency_ms: int | None = None
    last_code: str = Field(default="", max_length=64)
    last_error: str = Field(default="", max_length=500)
    summary: dict | None = Field(default=None, sa_column=_json(None))  # body of the last accepted summary
    summary_created: datetime | None = None
    initiatives_hash: str = Field(default="", max_length=64)


class PollRecord(DirectoryModel, table=True):
    """One poll of one node: how it went and how long it took (uptime and latency history)."""

    __tablename__ = "polls"
    __table_args__ = (Index("ix_polls_node_at", "node_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    node_id: str = Field(max_length=32)
    at: datetime = Field(index=True)
    outcome: str = Field(max_length=16)  # up | slow | unreachable | refused
    latency_ms: int | None = None
    code: str = Field(default="", max_length=64)


class SummaryRecord(DirectoryModel, table=True):
    """An accepted summary envelope, stored verbatim when its figures changed (figures over time)."""

    __tablename__ = "summaries"
    __table_args__ = (Index("ix_summaries_node_at", "node_id", "received_at"),)

    id: int | None = Field(default=None, primary_key=True)
    node_id: str = Field(max_length=32)
    received_at: datetime
    envelope: str = Field(sa_column=Column(Text, nullable=False))


class InitiativeRecord(DirectoryModel, table=True):
    """An initiative a listed node publishes, as of its last verified directory_initiatives."""

    __tablename__ = "initiatives"

    node_id: str = Field(primary_key=True, max_length=32)
    ref: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    summary: str = Field(default="", max_length=500)
    interests: list = Field(default_factory=list, sa_column=_json(list))
    sectors: list = Field(default_factory=list, sa_column=_json(list))
    stage: str = Field(max_length=16)
    city: str = Field(default="", max_length=100)
    contact: str = Field(max_length=2048)
    updated_at: datetime


class FundingRecord(DirectoryModel, table=True):
    """A funding lead a listed node shares with the network, as of its last verified directory_funding."""

    __tablename__ = "funding_leads"

    node_id: str = Field(primary_key=True, max_length=32)
    ref: str = Field(primary_key=True, max_length=64)
    title: str = Field(max_length=200)
    url: str = Field(max_length=2048)
    deadline: datetime | None = None
    countries: list = Field(default_factory=list, sa_column=_json(list))
    topics: list = Field(default_factory=list, sa_column=_json(list))
    description: str = Field(default="", max_length=1000)
    updated_at: datetime


class FundingSource(DirectoryModel, table=True):
    """The funding_hash of a node's leads the directory holds (a table of its own: create_all adds a new table
    to an existing directory database, not a column)."""

    __tablename__ = "funding_sources"

    node_id: str = Field(primary_key=True, max_length=32)
    funding_hash: str = Field(default="", max_length=64)
    updated_at: datetime


class Refusal(DirectoryModel, table=True):
    """A summary the directory refused (bad signature, unlisted node, wrong recipient, ...), kept to be shown."""

    __tablename__ = "refusals"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    node_id: str = Field(max_length=64)  # who it claimed to be from, or the listing polled
    source: str = Field(max_length=8)  # poll | push
    code: str = Field(max_length=64)
    message: str = Field(default="", max_length=500)


class AdminAccount(DirectoryModel, table=True):
    """A member of the working group who may approve, refuse and delist nodes in the web admin."""

    __tablename__ = "admin_accounts"

    username: str = Field(primary_key=True, max_length=64)
    password_hash: str = Field(max_length=200)  # argon2id
    created_at: datetime
    last_login_at: datetime | None = None
    session_version: int = Field(default=1)  # raised on a new password: older sessions end


class AdminAction(DirectoryModel, table=True):
    """The audit trail: who approved, refused or delisted which node, when, and why."""

    __tablename__ = "admin_actions"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    username: str = Field(max_length=64)
    action: str = Field(max_length=16)  # approve | refuse | delist | login | logout | add-admin
    node_id: str = Field(default="", max_length=32)
    fingerprint: str = Field(default="", max_length=64)  # the key pinned or refused
    reason: str = Field(default="", max_length=500)
