"""Reviewer matching as pure functions: candidate records in, a ranked and explained list out.

Nothing here touches the database or the clock, so federation can add remote
candidates (from peers' reviewer pools) to the same ranking later.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

# Weights of the four parts of the score; they sum to 1.0 so a score is at most 1000.
WEIGHTS = {"expertise": 0.5, "language": 0.2, "load": 0.15, "helpfulness": 0.15}
# A reviewer nobody has rated yet is neither rewarded nor punished.
NEUTRAL_HELPFULNESS = 0.5
# Bids: a reviewer's own interest in a tag. Each level of the average bid over the proposal's tags
# moves the score by INTEREST_POINTS (eager +120, not interested -60); the score stays within 0..1000.
BID_LEVELS = {-1: "not interested", 0: "neutral", 1: "interested", 2: "eager"}
INTEREST_POINTS = 60


@dataclass(frozen=True)
class Candidate:
    """A reviewer who might be invited: local (member_id) or on a peer node (remote_node, remote_handle)."""

    label: str
    expertise: tuple[str, ...]
    languages: tuple[str, ...]
    capacity: int
    load: int
    member_id: int | None = None
    remote_node: str | None = None
    remote_handle: str | None = None
    organisation: str = ""
    helpfulness_avg: float | None = None
    rated_reviews: int = 0
    country: str = ""  # ISO code; "" means the node's own country (see proposals.fill_slots)
    bids: tuple[tuple[str, int], ...] = ()  # (tag, level) the reviewer stated; unlisted tags are neutral

    @property
    def key(self) -> str:
        """Identity across local and remote candidates (used to skip those already invited)."""
        if self.member_id is not None:
            return f"local:{self.member_id}"
        return f"remote:{self.remote_node}:{self.remote_handle}"


@dataclass(frozen=True)
class ConflictRecord:
    """A declared or pinned conflict: member vs another member, or member vs an organisation."""

    member_id: int
    other_member_id: int | None = None
    organisation: str = ""
    source: str = "member"
    remote: str = ""  # handle@node of a reviewer on a peer node (then other_member_id and organisation are empty)


@dataclass(frozen=True)
class Need:
    """What matching needs to know about a proposal and its author."""

    author_id: int
    author_organisation: str
    tags: tuple[str, ...]
    language: str
    already_invited: frozenset[str] = frozenset()
    conflicts: tuple[ConflictRecord, ...] = ()


@dataclass(frozen=True)
class Ranked:
    """A candidate with their rank, score (x1000), score parts and a readable explanation."""

    candidate: Candidate
    rank: int
    score: int
    parts: dict = field(hash=False)
    explanation: tuple[str, ...]


@dataclass(frozen=True)
class Excluded:
    """A candidate left out, with a machine-readable reason."""

    candidate: Candidate
    reason: str


def _same_org(a: str, b: str) -> bool:
    return bool(a.strip()) and a.strip().casefold() == b.strip().casefold()


def exclusion_reason(need: Need, cand: Candidate) -> str | None:
    """Why this candidate may not review this proposal, or None if they may."""
    if cand.member_id is not None and cand.member_id == need.author_id:
        return "proposer"
    if cand.key in need.already_invited:
        return "already_invited"
    if _same_org(need.author_organisation, cand.organisation):
        return "same_organisation"
    for c in need.conflicts:
        if _conflicts(need, cand, c):
            return "conflict_pinned" if c.source == "coordinator" else "conflict_declared"
    if cand.load >= cand.capacity:
        return "no_capacity"
    return None


def _conflicts(need: Need, cand: Candidate, c: ConflictRecord) -> bool:
    """True if the conflict ties this candidate to the author (in either direction)."""
    cand_id, author = cand.member_id, need.author_id
    if c.remote:
        return c.member_id == author and cand.member_id is None and c.remote == remote_address(cand)
    if c.other_member_id is not None:
        pair = {c.member_id, c.other_member_id}
        return cand_id is not None and pair == {author, cand_id}
    if c.member_id == author:
        return _same_org(c.organisation, cand.organisation)
    if cand_id is not None and c.member_id == cand_id:
        return _same_org(c.organisation, need.author_organisation)
    return False


def remote_address(cand: Candidate) -> str:
    """handle@node of a remote candidate, as coordinators pin conflicts with it."""
    return f"{cand.remote_handle}@{cand.remote_node}"


def interest(need: Need, cand: Candidate) -> float | None:
    """The reviewer's average bid over the proposal's tags they bid on; None when they bid on none."""
    bids = dict(cand.bids)
    levels = [bids[t] for t in sorted(set(need.tags)) if t in bids]
    return sum(levels) / len(levels) if levels else None


def score_parts(need: Need, cand: Candidate) -> dict[str, float]:
    """The four parts of the score, each between 0 and 1."""
    tags = set(need.tags)
    expertise = len(tags & set(cand.expertise)) / len(tags) if tags else 0.0
    language = 1.0 if need.language in cand.languages else 0.0
    load = max(0.0, 1.0 - cand.load / cand.capacity) if cand.capacity > 0 else 0.0
    if cand.helpfulness_avg is None:
        helpfulness = NEUTRAL_HELPFULNESS
    else:
        helpfulness = min(1.0, max(0.0, (cand.helpfulness_avg - 1) / 4))
    return {"expertise": expertise, "language": language, "load": load, "helpfulness": helpfulness}


def explain(need: Need, cand: Candidate) -> tuple[str, ...]:
    """One sentence per score part, for the author and the coordinator."""
    shared = sorted(set(need.tags) & set(cand.expertise))
    lines = [f"expertise: {len(shared)} of {len(set(need.tags))} tags" + (f" ({', '.join(shared)})" if shared else "")]
    lines.append(f"language: {'speaks' if need.language in cand.languages else 'does not list'} {need.language}")
    lines.append(f"load: {cand.load} of {cand.capacity} reviews open")
    if cand.helpfulness_avg is None:
        lines.append("helpfulness: not rated yet (neutral)")
    else:
        lines.append(f"helpfulness: {cand.helpfulness_avg:.1f} of 5 over {cand.rated_reviews} rated reviews")
    level = interest(need, cand)
    if level is not None:
        bids = dict(cand.bids)
        said = ", ".join(f"{t} {BID_LEVELS.get(bids[t], bids[t])}" for t in sorted(set(need.tags)) if t in bids)
        lines.append(f"interest: {said} ({round(INTEREST_POINTS * level):+d} points)")
    return tuple(lines)


def score(parts: dict[str, float]) -> int:
    """The weighted sum of the parts, x1000, as an integer."""
    return round(1000 * sum(WEIGHTS[name] * value for name, value in parts.items()))


def affinity(need: Need, cand: Candidate, parts: dict[str, float] | None = None) -> int:
    """The score with the reviewer's bids applied, within 0..1000 (what rankings and rounds use)."""
    base = score(parts if parts is not None else score_parts(need, cand))
    level = interest(need, cand)
    if level is None:
        return base
    return max(0, min(1000, base + round(INTEREST_POINTS * level)))


def _stable(cand: Candidate) -> tuple:
    """A fixed order among equals: local members by id, then remote reviewers by node and handle."""
    return (cand.member_id is None, cand.member_id or 0, cand.remote_node or "", cand.remote_handle or "")


def rank_candidates(need: Need, candidates: Iterable[Candidate]) -> tuple[list[Ranked], list[Excluded]]:
    """Rank eligible candidates best first; ties go to the lighter load, then a stable key."""
    scored, excluded = [], []
    for cand in candidates:
        reason = exclusion_reason(need, cand)
        if reason is not None:
            excluded.append(Excluded(cand, reason))
            continue
        parts = score_parts(need, cand)
        scored.append((affinity(need, cand, parts), parts, cand))
    scored.sort(key=lambda t: (-t[0], t[2].load, *_stable(t[2])))
    ranked = [
        Ranked(cand, i, total, {k: round(v * 1000) for k, v in parts.items()}, explain(need, cand))
        for i, (total, parts, cand) in enumerate(scored, start=1)
    ]
    return ranked, excluded
