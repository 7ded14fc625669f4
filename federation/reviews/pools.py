"""Shared reviewer pools: our opted-in reviewers go to every active peer; peers' pools are kept for matching.

Sending: a sweep computes the pool (active members who review and consented to be shared) and
sends each active peer a `reviewer_pool_snapshot` the first time, then a `reviewer_pool_delta`
whenever the pool differs from what that peer was last sent (fed_pool_shares), at most every
pool_share_seconds, in the same transaction as the record of what was sent. A member who
withdraws consent is in the next delta's removals. Only the protocol's `reviewer` fields leave
the node: pseudonym, expertise, languages, open slots, typical turnaround, reviews done and
helpfulness; never a name, handle, organisation or country of residence.

Receiving: a snapshot replaces the peer's pool, a delta upserts and removes. Matching uses the
pools of active peers only, so a suspended peer's reviewers are left out (and the delivery of
our own entries to it waits, like every other entry, until it is resumed).
"""

from __future__ import annotations

import re
import statistics
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from node.services import matching
from node.services.proposals import OPEN_STATES
from node.tables import Member, Review, ReviewInvitation
from protocol import Envelope

from . import channels
from .tables import IncomingInvitation, Peer, PoolReviewer, PoolShare

# Reviewers per message: with 16 tags and 16 languages each, 1000 stay far under the 1 MiB limit.
CHUNK = 1000
REMOVALS_CHUNK = 5000
TAG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
LANGUAGE_RE = re.compile(r"[a-z]{2,3}")
INCOMING_OPEN = ("invited", "accepted")


# --- our pool ---------------------------------------------------------------------------------------


def reviewer_records(session, settings) -> dict[str, dict]:
    """Our shared pool now: pseudonym -> the protocol's `reviewer` object."""
    people = session.scalars(
        select(Member)
        .where(Member.status == "active", Member.is_reviewer.is_(True), Member.pool_consent.is_(True))
        .order_by(Member.id)
    ).all()
    if not people:
        return {}
    load = _counts(
        session,
        select(ReviewInvitation.reviewer_id, func.count())
        .where(ReviewInvitation.status.in_(OPEN_STATES), ReviewInvitation.reviewer_id.is_not(None))
        .group_by(ReviewInvitation.reviewer_id),
    )
    load_in = _counts(
        session,
        select(IncomingInvitation.member_id, func.count())
        .where(IncomingInvitation.status.in_(INCOMING_OPEN))
        .group_by(IncomingInvitation.member_id),
    )
    history = _history(session)
    return {
        m.pseudonym: _record(m, load.get(m.id, 0) + load_in.get(m.id, 0), history.get(m.id, []), settings)
        for m in people
    }


def _counts(session, stmt) -> dict[int, int]:
    return {key: n for key, n in session.execute(stmt).all()}


def _history(session) -> dict[int, list[tuple]]:
    """Per member, (days from acceptance to submission, helpfulness 1..5 or None) of every review given."""
    out: dict[int, list[tuple]] = {}
    local = session.execute(
        select(ReviewInvitation.reviewer_id, ReviewInvitation.responded_at, Review.submitted_at, Review.helpfulness)
        .join(Review, Review.invitation_id == ReviewInvitation.id)
        .where(ReviewInvitation.reviewer_id.is_not(None))
    ).all()
    abroad = session.execute(
        select(
            IncomingInvitation.member_id,
            IncomingInvitation.responded_at,
            IncomingInvitation.submitted_at,
            IncomingInvitation.helpfulness,
        ).where(IncomingInvitation.status == "submitted")
    ).all()
    for member_id, accepted, submitted, helpfulness in [*local, *abroad]:
        days = (submitted - accepted).total_seconds() / 86400 if accepted and submitted else None
        out.setdefault(member_id, []).append((days, helpfulness))
    return out


def _record(member: Member, load: int, history: list[tuple], settings) -> dict:
    days = [d for d, _ in history if d is not None]
    rated = [h for _, h in history if h is not None]
    # With no history yet, the time the node gives reviewers is the honest "typical" figure.
    turnaround = round(statistics.median(days)) if days else settings.review_due_days
    return {
        "handle": member.pseudonym,
        "expertise": [t for t in member.expertise if TAG_RE.fullmatch(t)][:16],
        "languages": [lang for lang in member.languages if LANGUAGE_RE.fullmatch(lang)][:16],
        "open_slots": max(0, min(1000, member.review_capacity - load)),
        "turnaround_days": max(0, min(365, turnaround)),
        "reviews_done": len(history),
        "helpfulness": round((statistics.fmean(rated) - 1) * 25) if rated else None,
    }


def share_pools(fed) -> int:
    """Send every active peer what changed in our pool (a snapshot the first time); returns entries sent."""
    ctx = fed.ctx
    now = ctx.now()
    every = timedelta(seconds=ctx.settings.pool_share_seconds)
    with ctx.db.read() as s:
        peers = list(s.scalars(select(Peer.node_id).where(Peer.status == "active")).all())
        if not peers:
            return 0
        current = reviewer_records(s, ctx.settings)
        shares = {row.peer_id: (row.records, row.sent_at) for row in s.scalars(select(PoolShare)).all()}
    due = [
        p
        for p in peers
        if (p not in shares and current) or (p in shares and shares[p][0] != current and shares[p][1] + every <= now)
    ]
    sent = 0
    for peer_id in due:
        with ctx.db.write() as s:  # re-read: another process may have sent it meanwhile
            sent += _share_with(s, fed, peer_id, current, now)
    return sent


def _share_with(session, fed, peer_id: str, current: dict[str, dict], now: datetime) -> int:
    peer = session.get(Peer, peer_id)
    if peer is None or peer.status != "active":
        return 0
    share = session.get(PoolShare, peer_id)
    records = list(current.values())
    if share is None and not records:
        return 0  # nothing to share yet: the first snapshot goes with the first reviewer who consents
    if share is None:
        first, rest = records[:CHUNK], records[CHUNK:]
        channels.append(
            session, fed, peer_id=peer_id, type_name="reviewer_pool_snapshot", now=now, body={"reviewers": first}
        )
        session.add(PoolShare(peer_id=peer_id, records=current, snapshot_at=now, sent_at=now))
        return 1 + _send_delta(session, fed, peer_id, rest, [], now)
    upserts = [r for handle, r in current.items() if share.records.get(handle) != r]
    removals = sorted(set(share.records) - set(current))
    if not upserts and not removals:
        return 0
    share.records, share.sent_at = current, now
    return _send_delta(session, fed, peer_id, upserts, removals, now)


def _send_delta(session, fed, peer_id: str, upserts: list, removals: list, now: datetime) -> int:
    sent = 0
    while upserts or removals:
        body = {"upserts": upserts[:CHUNK], "removals": removals[:REMOVALS_CHUNK]}
        upserts, removals = upserts[CHUNK:], removals[REMOVALS_CHUNK:]
        channels.append(session, fed, peer_id=peer_id, type_name="reviewer_pool_delta", now=now, body=body)
        sent += 1
    return sent


# --- peers' pools -------------------------------------------------------------------------------------


def apply_snapshot(session, fed, peer: Peer, env: Envelope, now: datetime) -> None:
    """The peer's whole pool: replaces what we kept."""
    session.execute(delete(PoolReviewer).where(PoolReviewer.peer_id == peer.node_id))
    by_handle = {r["handle"]: r for r in env.body["reviewers"]}  # a repeated handle: the last one counts
    for record in by_handle.values():
        session.add(PoolReviewer(peer_id=peer.node_id, updated_at=now, **record))


def apply_delta(session, fed, peer: Peer, env: Envelope, now: datetime) -> None:
    """Changes to the peer's pool: removals first, then additions and updates by handle."""
    removals = env.body["removals"]
    if removals:
        session.execute(
            delete(PoolReviewer).where(PoolReviewer.peer_id == peer.node_id, PoolReviewer.handle.in_(removals))
        )
    for record in {r["handle"]: r for r in env.body["upserts"]}.values():
        row = session.scalars(
            select(PoolReviewer).where(PoolReviewer.peer_id == peer.node_id, PoolReviewer.handle == record["handle"])
        ).first()
        if row is None:
            session.add(PoolReviewer(peer_id=peer.node_id, updated_at=now, **record))
            continue
        for name, value in record.items():
            setattr(row, name, value)
        row.updated_at = now


def remote_candidates(session) -> list[matching.Candidate]:
    """Every active peer's shared reviewers as matching candidates, with the peer's country.

    Organisation is unknown for them (never shared), so the same-organisation rule cannot apply.
    Capacity is the open slots the peer last told us; invitations we sent since then count as load.
    """
    rows = session.execute(
        select(PoolReviewer, Peer.country)
        .join(Peer, Peer.node_id == PoolReviewer.peer_id)
        .where(Peer.status == "active")
        .order_by(PoolReviewer.peer_id, PoolReviewer.handle)
    ).all()
    if not rows:
        return []
    recent: dict[tuple, list[datetime]] = {}
    for node, handle, at in session.execute(
        select(ReviewInvitation.remote_node, ReviewInvitation.remote_handle, ReviewInvitation.invited_at).where(
            ReviewInvitation.remote_node.is_not(None), ReviewInvitation.status.in_(OPEN_STATES)
        )
    ).all():
        recent.setdefault((node, handle), []).append(at)
    return [
        matching.Candidate(
            label=f"{r.handle}@{r.peer_id}",
            remote_node=r.peer_id,
            remote_handle=r.handle,
            expertise=tuple(r.expertise),
            languages=tuple(r.languages),
            capacity=r.open_slots,
            load=sum(at >= r.updated_at for at in recent.get((r.peer_id, r.handle), [])),
            helpfulness_avg=1 + r.helpfulness / 25 if r.helpfulness is not None else None,
            rated_reviews=r.reviews_done,
            country=country,
        )
        for r, country in rows
    ]


def pool_figures(session) -> dict[str, dict]:
    """Per peer: how many reviewers it shares with us and how many we share with it."""
    received = _counts(session, select(PoolReviewer.peer_id, func.count()).group_by(PoolReviewer.peer_id))
    shared = {row.peer_id: len(row.records) for row in session.scalars(select(PoolShare)).all()}
    return {
        peer: {"received": received.get(peer, 0), "shared": shared.get(peer, 0)}
        for peer in sorted(set(received) | set(shared))
    }


def peer_pool(session, peer_id: str) -> list[dict]:
    """The reviewers a peer shares with us, as they were sent."""
    rows = session.scalars(
        select(PoolReviewer).where(PoolReviewer.peer_id == peer_id).order_by(PoolReviewer.handle)
    ).all()
    return [
        {
            "handle": r.handle,
            "expertise": list(r.expertise),
            "languages": list(r.languages),
            "open_slots": r.open_slots,
            "turnaround_days": r.turnaround_days,
            "reviews_done": r.reviews_done,
            "helpfulness": r.helpfulness,
            "updated_at": r.updated_at,
        }
        for r in rows
    ]
