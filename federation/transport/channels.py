"""Channels: per peer and direction, an ordered hash-chained log applied exactly once, in order.

Sending: `append` writes a signed entry in the caller's transaction (the transactional
outbox); delivery happens after the commit. Receiving: `receive_entries` checks each entry
against the chain and applies it together with the stored copy (one savepoint per entry, a
commit per run of entries), so an entry is applied once or not at all. A domain "no" is an
answering entry, never an error here.

Answering entries ride back: the inbox hands the requesting peer our unacknowledged entries towards it in
its answer (`offer`), the peer applies them as if delivered and acknowledges them in its next request
(`check_ack`); entries it does not acknowledge in time are delivered to its inbox as usual.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, cast

from flask_babel import force_locale
from sqlalchemy import CursorResult, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from federation.tables import ChannelEntry, Peer, table_of
from federation.transport.identity import new_envelope_id
from federation.transport.known_keys import KnownKeys, known_keys
from federation.transport.peers import peer_as_read
from federation.transport.refusal import Refusal
from node.i18n import SOURCE_LANGUAGE
from protocol import (
    ChainError,
    ChannelRef,
    Envelope,
    SigningKey,
    canonical_json,
    check_chain,
    entry_hash,
    genesis_hash,
    make_envelope,
    parse_time,
    sign_envelope,
)

if TYPE_CHECKING:
    from federation.state import Federation

log = logging.getLogger(__name__)

# Entries applied per write transaction: a commit (an fsync) per run instead of per entry, while
# the write lock is still released often enough for the node's other writers.
APPLY_RUN = 25
# An answer hands back our entries only when they are few and small (a payment's answer, not a backlog):
# a receipt stays small, and a backlog is delivered as usual, beside the peer's next batch.
OFFER_ENTRIES = 20
OFFER_BYTES = 256 * 1024
MAX_BATCH = 500
# Statements on the table (Core, not the model's attributes, which add the ORM's compile and result steps):
# every payment's request runs these.
_ENTRIES = table_of(ChannelEntry)
# The newest (seq, hash) of a channel direction, without loading the stored envelope.
_CHAIN_POINT = (
    select(_ENTRIES.c.seq, _ENTRIES.c.entry_hash)
    .where(_ENTRIES.c.peer_id == bindparam("peer_id"), _ENTRIES.c.direction == bindparam("direction"))
    .order_by(_ENTRIES.c.seq.desc())
    .limit(1)
)
_INSERT_ENTRY = insert(_ENTRIES)
# A peer's unacknowledged entries in seq order (the index ix_fed_channel_entries_unacked finds them).
# ("for_peer": an UPDATE keeps each column's own name for its SET values.)
_UNACKED_WHERE = (
    _ENTRIES.c.peer_id == bindparam("for_peer"),
    _ENTRIES.c.direction == "out",
    _ENTRIES.c.acked_at.is_(None),
)
_UNACKED = select(_ENTRIES).where(*_UNACKED_WHERE).order_by(_ENTRIES.c.seq).limit(bindparam("limit"))
_UNACKED_RAW = _UNACKED.with_only_columns(_ENTRIES.c.envelope)  # the stored envelopes, handed back as they are
# Our oldest unacknowledged entry of one type (a key rotation the peer has not applied), as stored.
_FIRST_UNACKED_OF_TYPE = _UNACKED_RAW.where(_ENTRIES.c.type == bindparam("type"))
_MARK_ACKED = (
    update(_ENTRIES).where(*_UNACKED_WHERE, _ENTRIES.c.seq <= bindparam("through")).values(acked_at=bindparam("now"))
)
_ENTRY_HASH = select(_ENTRIES.c.entry_hash).where(
    _ENTRIES.c.peer_id == bindparam("peer_id"),
    _ENTRIES.c.direction == bindparam("direction"),
    _ENTRIES.c.seq == bindparam("seq"),
)


@dataclass(frozen=True)
class Receipt:
    """The answer to a delivery: everything up to `through` is applied; `resend_from` asks for a gap.

    `entries` are our own unacknowledged entries towards the sender (stored canonical JSON), handed back.
    """

    through: int
    last_hash: str
    resend_from: int | None = None
    entries: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        out: dict = {"received_through": self.through, "last_hash": self.last_hash}
        if self.resend_from is not None:
            out["resend_from"] = self.resend_from
        return out

    def to_json(self) -> bytes:
        """The answer's body; stored entries are joined as they are instead of being parsed again."""
        head = json.dumps(self.to_dict(), separators=(",", ":")).encode()
        if not self.entries:
            return head
        return head[:-1] + b',"entries":[' + ",".join(self.entries).encode() + b"]}"


def chain_point(session: Session, own_id: str, peer_id: str, direction: str) -> tuple[int, str]:
    """(seq, hash) of the newest entry of a direction; (0, genesis) when it is empty."""
    row = session.execute(_CHAIN_POINT, {"peer_id": peer_id, "direction": direction}).first()
    if row is not None:
        return row[0], row[1]
    sender, receiver = (own_id, peer_id) if direction == "out" else (peer_id, own_id)
    return 0, genesis_hash(sender, receiver)


def append(
    session: Session,
    fed: Federation,
    *,
    peer_id: str,
    type_name: str,
    body: dict,
    now: datetime,
    key: SigningKey | None = None,
) -> int:
    """Add a signed entry to our channel towards a peer, in the caller's transaction; returns its seq."""
    own = fed.node_id
    seq, prev = chain_point(session, own, peer_id, "out")
    env = make_envelope(
        type=type_name,
        from_=own,
        to=peer_id,
        created=now,
        body=body,
        id=new_envelope_id(),
        channel=ChannelRef(seq + 1, prev),
    )
    env = sign_envelope(env, key or fed.identity.current_key())
    # The unique (peer, direction, seq) index makes a concurrent append fail here, not fork.
    # One Core statement (no ORM object, no flush): entries are written on every payment's hot path.
    session.execute(
        _INSERT_ENTRY,
        {
            "peer_id": peer_id,
            "direction": "out",
            "seq": seq + 1,
            "type": type_name,
            "envelope_id": env.id,
            "entry_hash": entry_hash(env),
            "envelope": canonical_json(env.to_dict()).decode(),
            "created_at": now,
        },
    )
    fed.after_commit(session, peer_id)
    return seq + 1


def batch_of(raw: object, peer_id: str, own_id: str) -> list[Envelope]:
    """A run of channel entries from a peer, as sent: each from that peer, to us, in rising seq."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_BATCH:
        raise Refusal("invalid_batch", f"send 1 to {MAX_BATCH} entries in a list")
    out = []
    for item in raw:
        env = Envelope.from_dict(item)
        if env.from_ != peer_id:
            raise Refusal("origin_mismatch", f"an entry from {env.from_} came in {peer_id}'s request")
        if env.to != own_id:
            raise Refusal("wrong_recipient", f"an entry is addressed to {env.to}")
        channel_of(env)
        out.append(env)
    seqs = [channel_of(e).seq for e in out]
    if seqs != sorted(seqs) or len(set(seqs)) != len(seqs):
        raise Refusal("batch_out_of_order", "entries in a batch must be in rising order")
    return out


def check_ack(session: Session, peer_id: str, ack: object) -> int:
    """Read-only: the seq a peer acknowledges having applied of our entries (an inbox request's `ack`)."""
    if (
        not isinstance(ack, dict)
        or set(ack) != {"received_through", "last_hash"}
        or type(ack["received_through"]) is not int
        or ack["received_through"] < 1
        or not isinstance(ack["last_hash"], str)
    ):
        raise Refusal("invalid_batch", 'an ack is {"received_through": <seq from 1>, "last_hash": "<entry hash>"}')
    through = ack["received_through"]
    stored = session.execute(_ENTRY_HASH, {"peer_id": peer_id, "direction": "out", "seq": through}).scalar()
    if stored != ack["last_hash"]:
        raise Refusal("ack_mismatch", f"this node sent {peer_id} no entry {through} with that hash")
    return through


def offer(session: Session, peer_id: str) -> tuple[str, ...]:
    """All our unacknowledged entries towards a peer when they fit in an answer; none when they do not."""
    rows = session.execute(_UNACKED_RAW, {"for_peer": peer_id, "limit": OFFER_ENTRIES + 1}).scalars().all()
    if len(rows) > OFFER_ENTRIES or sum(len(raw) for raw in rows) > OFFER_BYTES:
        return ()
    return tuple(rows)


def check_entries(
    session: Session,
    fed: Federation,
    peer_id: str,
    envelopes: list[Envelope],
    now: datetime,
    *,
    keys: KnownKeys | None = None,
) -> list[Envelope]:
    """Read-only: refuse a batch that breaks the chain or carries a bad signature; return the new entries.

    Entries we already applied must be byte-identical (a re-delivery); the rest must continue
    our copy of the chain (`protocol.check_chain`, with every key this node knows and the
    peer's keys its rotations retired: `keys` when the caller read them in this session). A gap
    ends the run: the caller asks for a resend.
    """
    seq, last_hash = chain_point(session, fed.node_id, peer_id, "in")
    run: list[Envelope] = []
    for env in envelopes:
        ref = channel_of(env)
        if ref.seq <= seq and not run:
            _check_duplicate(session, peer_id, env)
            continue
        if ref.seq != seq + len(run) + 1:
            break  # a gap (or a repeat after new entries): the rest waits for a resend
        if parse_time(env.created) > now + fed.max_skew:  # entries may arrive days late, never from the future
            raise Refusal(
                "envelope_future",
                f"entry {ref.seq} is dated in the future",
                where=f"entry seq {ref.seq}",
            )
        run.append(env)
    if run:
        keys = keys or known_keys(session, fed.node_id)
        try:
            check_chain(
                run,
                sender=peer_id,
                receiver=fed.node_id,
                keyring=keys.network,
                after_seq=seq,
                after_hash=last_hash,
                retired=keys.retired_of(peer_id),
            )
        except ChainError as exc:
            raise Refusal.of(exc, f"entry {exc.seq}: ") from None
    return run


def receive_entries(
    fed: Federation,
    peer_id: str,
    envelopes: list[Envelope],
    now: datetime,
    *,
    first: Callable[[Session], object] | None = None,
    last: Callable[[Session], object] | None = None,
) -> Receipt:
    """Apply checked entries in order, each exactly once, each stored and applied together.

    Entries are applied in runs of APPLY_RUN per transaction, each entry in a savepoint of its
    own: an entry that fails leaves no trace, the entries before it commit, then its error is
    raised, as if every entry had had its own transaction. `first(session)` runs at the start
    of the first transaction (the inbox records the request's nonce there), `last(session)` at the
    end of the last one (the inbox reads what it hands back there).
    """
    pending, point = list(envelopes), None
    while pending or first is not None:
        with fed.ctx.db.write() as session:
            if first is not None:
                first(session)
                first = None
            run, pending = pending[:APPLY_RUN], pending[APPLY_RUN:]
            point, stopped, failure = _apply_run(session, fed, peer_id, run, now)
            if last is not None and failure is None and (stopped or not pending):
                last(session)
        if failure is not None:
            raise failure
        if stopped:
            break
    if point is None:
        with fed.ctx.db.read() as session:
            point = chain_point(session, fed.node_id, peer_id, "in")
    return Receipt(*point)


def _apply_run(session: Session, fed: Federation, peer_id: str, run: list[Envelope], now: datetime):
    """Apply a run of entries in the caller's transaction; returns ((seq, hash), stopped, error)."""
    # The transaction holds the write lock, so the chain point read here cannot move under us.
    seq, last_hash = chain_point(session, fed.node_id, peer_id, "in")
    peer = peer_as_read(session, peer_id)  # handlers read the peer, never change it
    for env in run:
        ref = channel_of(env)
        if ref.seq <= seq:  # a concurrent delivery applied it first
            try:
                _check_duplicate(session, peer_id, env)
            except Refusal as exc:
                return (seq, last_hash), True, exc
            continue
        if ref.seq != seq + 1 or ref.prev != last_hash:
            return (seq, last_hash), True, None
        digest = entry_hash(env)
        try:
            with session.begin_nested():
                _store_and_apply(session, fed, peer, env, digest, now)
        except Exception as exc:
            return (seq, last_hash), True, exc
        seq, last_hash = ref.seq, digest
    return (seq, last_hash), False, None


def _store_and_apply(session: Session, fed: Federation, peer: Peer, env: Envelope, digest: str, now: datetime) -> None:
    session.execute(
        _INSERT_ENTRY,
        {
            "peer_id": peer.node_id,
            "direction": "in",
            "seq": channel_of(env).seq,
            "type": env.type,
            "envelope_id": env.id,
            "entry_hash": digest,
            "envelope": canonical_json(env.to_dict()).decode(),
            "created_at": now,
        },
    )
    handler = fed.channel_handlers.get(env.type)
    if handler is None:
        log.warning("no handler for %s from %s; stored, not applied", env.type, peer.node_id)
    else:
        # In English whatever the request's language: a handler's "no" (a bounce's reason, a refusal from the
        # ledger) travels back to the peer in an answering entry, and the wire speaks English.
        with force_locale(SOURCE_LANGUAGE):
            handler(session, fed, peer, env, now)
    session.flush()  # inside this entry's savepoint: a write that fails is this entry's failure


def _check_duplicate(session: Session, peer_id: str, env: Envelope) -> None:
    seq = channel_of(env).seq
    stored = session.execute(_ENTRY_HASH, {"peer_id": peer_id, "direction": "in", "seq": seq}).scalar_one()
    if stored != entry_hash(env):
        raise Refusal("seq_conflict", f"entry {seq} differs from the one already applied", where=f"entry seq {seq}")


def channel_of(env: Envelope) -> ChannelRef:
    """An inbox entry's channel position (the inbox refuses entries without one before they get here)."""
    if env.channel is None:
        raise Refusal("not_a_channel_entry", "inbox entries need a channel reference")
    return env.channel


def mark_acked(session: Session, peer_id: str, through: int, now: datetime) -> int:
    """Record that the peer applied our entries up to `through`."""
    result = session.execute(_MARK_ACKED, {"for_peer": peer_id, "through": through, "now": now})
    return cast(CursorResult, result).rowcount or 0  # an UPDATE answers with a cursor result, which counts its rows


def unacked(session: Session, peer_id: str, limit: int) -> list[ChannelEntry]:
    """Our oldest entries the peer has not acknowledged, as rows (read them, do not change them)."""
    return cast(list[ChannelEntry], session.execute(_UNACKED, {"for_peer": peer_id, "limit": limit}).all())


def first_unacked(session: Session, peer_id: str, type_name: str) -> str | None:
    """Our oldest entry of this type the peer has not acknowledged (its stored envelope), or None."""
    return session.execute(_FIRST_UNACKED_OF_TYPE, {"for_peer": peer_id, "type": type_name, "limit": 1}).scalar()


def backlog(session: Session, peer_id: str, *, except_written: tuple[datetime, datetime] | None = None) -> int:
    """Our entries the peer has not acknowledged; with `except_written` (from, to), not those written then."""
    query = select(func.count()).select_from(_ENTRIES).where(*_UNACKED_WHERE)
    if except_written is not None:
        start, end = except_written
        query = query.where(or_(_ENTRIES.c.created_at < start, _ENTRIES.c.created_at > end))
    return session.execute(query, {"for_peer": peer_id}).scalar_one()
