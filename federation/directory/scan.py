"""The quick scan: which initiatives across the network are alike, and which could join forces.

Pure functions over initiative records. A score (0-100) adds three parts, each explained:
shared interests (up to 60 points), shared sectors (up to 25) and how close the stages are
(up to 15). Overlap is measured with the Ochiai coefficient |A∩B| / sqrt(|A|·|B|), which, unlike
Jaccard, does not punish an initiative for having many interests. A query that leaves a part
out (only interests, say) is scored on the parts it gives, scaled to 100.

Groups: initiatives of different countries that share an interest are linked when their score
reaches a threshold; each connected group of two or more is a set that might join forces.
Links inside one country are left out on purpose: the working group looks for cross-border
partners.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from protocol.messages import STAGES

WEIGHTS = {"interests": 60, "sectors": 25, "stage": 15}


@dataclass(frozen=True)
class Item:
    """One initiative as the scan sees it."""

    node_id: str
    ref: str
    country: str
    name: str
    interests: frozenset[str]
    sectors: frozenset[str]
    stage: str
    city: str = ""
    contact: str = ""

    @property
    def key(self) -> str:
        return f"{self.node_id}:{self.ref}"

    @classmethod
    def of(cls, record: dict) -> Item:
        return cls(
            record["node_id"],
            record["ref"],
            record.get("country", ""),
            record["name"],
            frozenset(record.get("interests") or ()),
            frozenset(record.get("sectors") or ()),
            record.get("stage", ""),
            record.get("city", ""),
            record.get("contact", ""),
        )


@dataclass(frozen=True)
class Query:
    """What to compare with: an initiative's fields, or just a set of interests."""

    interests: frozenset[str]
    sectors: frozenset[str] = frozenset()
    stage: str | None = None
    exclude: str | None = None  # the key of the initiative asked about
    country: str | None = None  # its country, for "other countries only"

    @classmethod
    def like(cls, item: Item) -> Query:
        return cls(item.interests, item.sectors, item.stage or None, item.key, item.country)


@dataclass(frozen=True)
class Match:
    """A scored initiative and why: the points of each part and what was shared."""

    item: Item
    score: int
    points: dict
    shared_interests: tuple[str, ...]
    shared_sectors: tuple[str, ...]
    stage_note: str

    def explanation(self) -> str:
        parts = []
        if "interests" in self.points:
            shared = ", ".join(self.shared_interests) or "none"
            parts.append(f"interests shared: {shared} ({self.points['interests']}/{WEIGHTS['interests']})")
        if "sectors" in self.points:
            shared = ", ".join(self.shared_sectors) or "none"
            parts.append(f"sectors shared: {shared} ({self.points['sectors']}/{WEIGHTS['sectors']})")
        if "stage" in self.points:
            parts.append(f"{self.stage_note} ({self.points['stage']}/{WEIGHTS['stage']})")
        return "; ".join(parts)


def overlap(a: frozenset, b: frozenset) -> float:
    """Ochiai coefficient: 1 for equal sets, 0 when nothing is shared or a set is empty."""
    if not a or not b:
        return 0.0
    return len(a & b) / math.sqrt(len(a) * len(b))


def stage_closeness(a: str, b: str) -> tuple[float, str]:
    """1 for the same stage, 0.5 for neighbouring stages, else 0; with words for the explanation."""
    if a not in STAGES or b not in STAGES:
        return 0.0, "stage unknown"
    gap = abs(STAGES.index(a) - STAGES.index(b))
    if gap == 0:
        return 1.0, f"same stage ({a})"
    if gap == 1:
        return 0.5, f"neighbouring stages ({a} and {b})"
    return 0.0, f"stages far apart ({a} and {b})"


def score(query: Query, item: Item) -> Match:
    """Score one initiative against the query; only the parts the query gives count."""
    fractions: dict[str, float] = {"interests": overlap(query.interests, item.interests)}
    if query.sectors:
        fractions["sectors"] = overlap(query.sectors, item.sectors)
    note = ""
    if query.stage:
        fractions["stage"], note = stage_closeness(query.stage, item.stage)
    points = {part: round(WEIGHTS[part] * value) for part, value in fractions.items()}
    total = sum(WEIGHTS[part] * value for part, value in fractions.items())
    scale = 100 / sum(WEIGHTS[part] for part in fractions)
    return Match(
        item,
        round(total * scale),
        points,
        tuple(sorted(query.interests & item.interests)),
        tuple(sorted(query.sectors & item.sectors)),
        note,
    )


def rank(query: Query, items: list[Item], *, limit: int = 10, other_countries: bool = False) -> list[Match]:
    """The most similar initiatives, best first; ties by name. Nothing that shares no interest or sector."""
    matches = []
    for item in items:
        if item.key == query.exclude or (other_countries and query.country and item.country == query.country):
            continue
        match = score(query, item)
        if match.shared_interests or match.shared_sectors:
            matches.append(match)
    matches.sort(key=lambda m: (-m.score, m.item.name, m.item.key))
    return matches[:limit]


@dataclass(frozen=True)
class Group:
    """Initiatives in two or more countries linked by similar interests."""

    items: tuple[Item, ...]
    links: tuple[tuple[str, str, int], ...]  # (key, key, score), strongest first
    common_interests: tuple[str, ...]  # held by initiatives of at least two countries

    @property
    def countries(self) -> tuple[str, ...]:
        return tuple(sorted({i.country for i in self.items}))


def groups(items: list[Item], threshold: int) -> list[Group]:
    """Connected groups of cross-country links scoring at least ``threshold``; largest first."""
    parent = {i.key: i.key for i in items}

    def root(key: str) -> str:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    links = []
    for a, b in _pairs_sharing_an_interest(items):
        value = score(Query.like(a), b).score
        if value >= threshold:
            links.append((*sorted((a.key, b.key)), value))  # the score is symmetric
            parent[root(a.key)] = root(b.key)
    members: dict[str, list[Item]] = {}
    for item in items:
        members.setdefault(root(item.key), []).append(item)
    out = []
    for found in members.values():
        if len(found) < 2 or len({i.country for i in found}) < 2:
            continue
        keys = {i.key for i in found}
        mine = sorted((link for link in links if link[0] in keys), key=lambda link: (-link[2], link[0], link[1]))
        out.append(Group(tuple(sorted(found, key=lambda i: (i.country, i.name))), tuple(mine), _common(found)))
    out.sort(key=lambda g: (-len(g.items), -max(link[2] for link in g.links), g.items[0].key))
    return out


def _pairs_sharing_an_interest(items: list[Item]) -> list[tuple[Item, Item]]:
    """Pairs of initiatives of different countries with at least one interest in common, each once."""
    by_interest: dict[str, list[int]] = {}
    for n, item in enumerate(items):
        for tag in item.interests:
            by_interest.setdefault(tag, []).append(n)
    seen = set()
    for indices in by_interest.values():
        for x, i in enumerate(indices):
            for j in indices[x + 1 :]:
                if items[i].country != items[j].country:
                    seen.add((i, j))
    return [(items[i], items[j]) for i, j in sorted(seen)]


def _common(items: list[Item]) -> tuple[str, ...]:
    countries_of: dict[str, set[str]] = {}
    for item in items:
        for tag in item.interests:
            countries_of.setdefault(tag, set()).add(item.country)
    return tuple(sorted(tag for tag, countries in countries_of.items() if len(countries) >= 2))
