"""A member's events: what their open pages and API streams are told, written with the change that causes it.

One row of member_events is one thing that happened to one member: their balance changed, a payment
arrived, a notification was written, a review invitation came, the full text of a proposal they accepted
arrived. It is inserted in the transaction of the change, so it exists exactly when the change does (a
refused or rolled-back change leaves none). Ids increase per node in commit order, because every writer
holds the one write lock (node/db.py): a stream that has sent every id up to n has missed nothing when it
asks for id > n next. The stream (node/live.py) reads the rows after the commit and words them for its
reader; `forget_old_events` sweeps rows older than `live_keep_hours`, always keeping the newest row, so
the oldest id kept tells whether a reconnecting stream may have missed some.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select
from sqlalchemy.orm import Session

from ..context import NodeContext
from ..db import notify_on_commit
from ..tables import MemberEvent, table_of

KINDS = frozenset({"balance", "payment", "notification", "invitation", "text"})
# session.info key: the members this transaction wrote events for (their streams are woken after the commit).
WRITTEN = "member_events"
# The PostgreSQL channel on which a commit that wrote events wakes the other processes' watchers (node/live.py).
CHANNEL = "sifnet_member_events"
SWEEP_BATCH = 5000

_INSERT = insert(table_of(MemberEvent))
_TABLE = table_of(MemberEvent)
_AFTER = (
    select(_TABLE.c.id, _TABLE.c.kind, _TABLE.c.data, _TABLE.c.created_at)
    .where(_TABLE.c.member_id == bindparam("member_id"), _TABLE.c.id > bindparam("after"))
    .order_by(_TABLE.c.id)
    .limit(bindparam("limit"))
)
_SINCE = (
    select(_TABLE.c.id, _TABLE.c.member_id)
    .where(_TABLE.c.id > bindparam("after"))
    .order_by(_TABLE.c.id)
    .limit(bindparam("limit"))
)
_NEWEST = select(func.max(_TABLE.c.id))
_RANGE = select(func.min(_TABLE.c.id), func.max(_TABLE.c.id))
_OLDEST = select(_TABLE.c.id, _TABLE.c.created_at).order_by(_TABLE.c.id)


@dataclass(frozen=True, slots=True)
class Event:
    """One stored event of a member, as a stream reads it."""

    id: int
    kind: str
    data: dict
    created_at: datetime


def record(session: Session, *, member_id: int, kind: str, data: Mapping[str, Any], now: datetime) -> None:
    """Write one event for a member in the current transaction."""
    record_many(session, [(member_id, kind, data)], now=now)


def record_many(session: Session, events: list[tuple[int, str, Mapping[str, Any]]], *, now: datetime) -> None:
    """Write several events (member id, kind, data) with one statement, in the current transaction."""
    if not events:
        return
    for _member_id, kind, _data in events:
        if kind not in KINDS:
            raise ValueError(f"no member event kind {kind!r}")
    session.execute(
        _INSERT,
        [{"member_id": m, "kind": kind, "data": dict(data), "created_at": now} for m, kind, data in events],
    )
    if WRITTEN not in session.info:  # once per transaction
        notify_on_commit(session, CHANNEL)
    session.info.setdefault(WRITTEN, set()).update(m for m, _kind, _data in events)


def written_for(session: Session) -> set[int]:
    """The members the committed transaction wrote events for (taken: asked once per transaction)."""
    return session.info.pop(WRITTEN, set())


def events_after(session: Session, member_id: int, after: int, limit: int = 100) -> list[Event]:
    """The member's events with an id above `after`, oldest first, at most `limit`."""
    rows = session.execute(_AFTER, {"member_id": member_id, "after": after, "limit": limit}).all()
    return [Event(*row) for row in rows]


def written_since(session: Session, after: int, limit: int = 1000) -> list[tuple[int, int]]:
    """(id, member id) of every event above `after`, oldest first: how a process learns of other processes' events."""
    return [(row[0], row[1]) for row in session.execute(_SINCE, {"after": after, "limit": limit}).all()]


def newest_id(session: Session) -> int:
    """The node's newest event id (0 before the first): a new stream starts after it."""
    return int(session.execute(_NEWEST).scalar() or 0)


def kept_range(session: Session) -> tuple[int, int]:
    """The oldest and newest event ids still kept ((0, 0) before the first event)."""
    low, high = session.execute(_RANGE).one()
    return int(low or 0), int(high or 0)


def forget_old_events(ctx: NodeContext) -> int:
    """Sweep: delete events older than live_keep_hours, oldest first, in batches; the newest row always stays."""
    cutoff = ctx.now() - timedelta(hours=ctx.settings.live_keep_hours)
    with ctx.db.read() as session:  # most runs find nothing: they need not take the write lock
        oldest = session.execute(_OLDEST).first()
    if oldest is None or oldest.created_at >= cutoff:
        return 0
    forgotten = 0
    while True:
        with ctx.db.write() as session:
            newest = newest_id(session)
            rows = session.execute(_OLDEST.limit(SWEEP_BATCH)).all()
            # Ids follow time: the old rows are a prefix, up to the first one still young enough.
            old = [row.id for row in itertools.takewhile(lambda row: row.created_at < cutoff, rows) if row.id < newest]
            if old:
                session.execute(delete(MemberEvent).where(_TABLE.c.id <= old[-1], _TABLE.c.id < newest))
        forgotten += len(old)
        if len(old) < SWEEP_BATCH:
            return forgotten
