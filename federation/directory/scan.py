"""The quick scan: which initiatives across the network are alike, and why, part by part.

Pure functions over initiative records. Two initiatives A and B score (0-100) the sum of four parts:

    interests  55 x overlap(interests of A, interests of B)
    sectors    20 x overlap(sectors of A, sectors of B)
    stage      15 for the same stage, 7.5 for neighbouring stages, else 0
    border     10 when the two are in different countries, else 0

    overlap(A, B) = S / sqrt(W(A) x W(B)) x min(1, S / w2)

where a tag held by n of the N listed initiatives weighs w = ln((N + 1) / n) (its inverse document
frequency), W(X) adds the weights of X's tags, S those of the tags both hold, and w2 = ln((N + 1) / 2) is
what a tag only two initiatives hold weighs. The first factor is the Ochiai coefficient with weights: a
long list of interests is not punished, and a tag nearly every initiative holds (the network's favourite)
barely counts. The second asks for enough evidence: two initiatives whose only shared tag is a common one
are not alike merely because neither said more. It applies only between two initiatives; a scan by typed
interests ranks by the first factor alone (the reader chose the tags), on the parts it gives (interests,
sectors, stage; no border), scaled to 100. A typed tag no listed initiative holds weighs nothing: it is
left out of the scan and named in its hint (scan_hints.py).

A different country adds: the working group looks for partners across borders, while initiatives of one
country can already meet through their nodes. Ten points decide between pairs about as alike; they never
make a pair out of nothing, since a match must share an interest or a sector.

The score is rounded from the exact sum; each part's points are rounded on their own. The score of A like
B is the score of B like A.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from protocol.messages import STAGES as STAGES  # re-exported: the scan's pages and API check stages with it

WEIGHTS = {"interests": 55, "sectors": 20, "stage": 15, "border": 10}
TAG_FIELDS = ("interests", "sectors")


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

    def tags(self, field_name: str) -> frozenset[str]:
        return self.interests if field_name == "interests" else self.sectors

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> Item:
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
class Vocabulary:
    """How many listed initiatives hold each tag, per field: what a tag weighs and whether it is rare."""

    size: int
    counts: Mapping[str, Mapping[str, int]]

    @classmethod
    def of(cls, items: Iterable[Item]) -> Vocabulary:
        listed = list(items)
        counts = {f: Counter(tag for i in listed for tag in i.tags(f)) for f in TAG_FIELDS}
        return cls(len(listed), counts)

    def held_by(self, field_name: str, tag: str) -> int:
        return self.counts[field_name].get(tag, 0)

    def weight(self, field_name: str, tag: str) -> float:
        """ln((N + 1) / n): a tag only one holds weighs most, one every initiative holds almost nothing."""
        n = self.held_by(field_name, tag)
        return math.log((self.size + 1) / n) if n else 0.0

    def rarity(self, field_name: str, tag: str) -> str:
        """Rare: held by at most two, or a tenth of the initiatives; common: weighs under half of w2."""
        n = self.held_by(field_name, tag)
        if n <= max(2, self.size // 10):
            return "rare"
        return "common" if self.weight(field_name, tag) < self.pair_weight / 2 else ""

    @property
    def pair_weight(self) -> float:
        """w2 = ln((N + 1) / 2), what a tag only two initiatives hold weighs."""
        return math.log((max(self.size, 2) + 1) / 2)


@dataclass(frozen=True)
class Shared:
    """A tag both sides hold, with how many initiatives hold it and what it weighs."""

    tag: str
    held_by: int
    weight: float
    rarity: str


@dataclass(frozen=True)
class Part:
    """One part of a score: its fraction (0-1), what was shared, and the two sides' stages or countries."""

    name: str
    fraction: float
    shared: tuple[Shared, ...] = ()
    sides: tuple[str, str] = ("", "")
    same_node: bool = False

    @property
    def of(self) -> int:
        return WEIGHTS[self.name]

    @property
    def points(self) -> int:
        return round(self.fraction * self.of)


@dataclass(frozen=True)
class Query:
    """What to compare with: an initiative (every part), or interests with optional sectors and stage."""

    interests: frozenset[str]
    sectors: frozenset[str] = frozenset()
    stage: str | None = None
    exclude: str | None = None  # the key of the initiative asked about
    country: str | None = None  # its country: the border part, and "other countries only"
    node_id: str | None = None
    parts: tuple[str, ...] = field(default=())
    evidence: bool = False  # two initiatives compared: ask for enough shared weight (module docstring)

    def __post_init__(self) -> None:
        if not self.parts:
            given = ("interests" if self.interests else "", "sectors" if self.sectors else "")
            tags = tuple(p for p in given if p) or ("interests",)
            object.__setattr__(self, "parts", tags + (("stage",) if self.stage else ()))

    def tags(self, field_name: str) -> frozenset[str]:
        return self.interests if field_name == "interests" else self.sectors

    def known(self, vocab: Vocabulary) -> Query:
        """Without the tags no listed initiative holds (a hint names them); a part they alone made goes."""
        kept = {f: frozenset(t for t in self.tags(f) if vocab.held_by(f, t)) for f in TAG_FIELDS}
        parts = tuple(p for p in self.parts if p not in TAG_FIELDS or kept[p] or not self.tags(p))
        if not any(p in TAG_FIELDS for p in parts):
            parts = self.parts  # nothing is known: nothing will match, and the hint says why
        return replace(self, interests=kept["interests"], sectors=kept["sectors"], parts=parts)

    @classmethod
    def like(cls, item: Item) -> Query:
        """Every part counts, so that the score of A like B is the score of B like A."""
        return cls(item.interests, item.sectors, item.stage, item.key, item.country, item.node_id, tuple(WEIGHTS), True)


@dataclass(frozen=True)
class Match:
    """A scored initiative: its score (0-100, rounded), the exact sum it comes from, and each part."""

    item: Item
    score: int
    exact: float
    parts: tuple[Part, ...]

    @property
    def points(self) -> dict[str, int]:
        return {p.name: p.points for p in self.parts}

    def shared(self, field_name: str) -> tuple[Shared, ...]:
        return next((p.shared for p in self.parts if p.name == field_name), ())

    @property
    def shares_a_tag(self) -> bool:
        return any(p.shared for p in self.parts)


def overlap(field_name: str, a: frozenset[str], b: frozenset[str], vocab: Vocabulary, evidence: bool) -> Part:
    """The weighted Ochiai coefficient of two tag sets, times the evidence factor when asked (module docstring)."""
    w = {t: vocab.weight(field_name, t) for t in a | b}
    shared = sorted(a & b, key=lambda t: (-w[t], t))
    s, wa, wb = sum(w[t] for t in shared), sum(w[t] for t in a), sum(w[t] for t in b)
    fraction = _fraction(s, wa, wb, vocab.pair_weight if evidence else 0.0)
    found = tuple(
        Shared(t, vocab.held_by(field_name, t), w[t], vocab.rarity(field_name, t)) for t in shared if w[t] > 0
    )
    return Part(field_name, fraction, found)


def _fraction(s: float, wa: float, wb: float, w2: float) -> float:
    """S / sqrt(W(A) W(B)), times min(1, S / w2) unless w2 is 0."""
    if s <= 0 or wa <= 0 or wb <= 0:
        return 0.0
    return min(1.0, s / math.sqrt(wa * wb)) * (min(1.0, s / w2) if w2 else 1.0)


def stage_part(a: str, b: str) -> Part:
    """1 for the same stage, 0.5 for neighbouring stages, else 0."""
    if a not in STAGES or b not in STAGES:
        return Part("stage", 0.0, sides=(a, b))
    gap = abs(STAGES.index(a) - STAGES.index(b))
    return Part("stage", {0: 1.0, 1: 0.5}.get(gap, 0.0), sides=(a, b))


def border_part(query: Query, item: Item) -> Part:
    crosses = bool(query.country and item.country and query.country != item.country)
    return Part(
        "border", float(crosses), sides=(query.country or "", item.country), same_node=query.node_id == item.node_id
    )


def score(query: Query, item: Item, vocab: Vocabulary) -> Match:
    """Score one initiative against the query; only the query's parts count, scaled to 100."""
    parts = []
    for name in query.parts:
        if name in TAG_FIELDS:
            parts.append(overlap(name, query.tags(name), item.tags(name), vocab, query.evidence))
        elif name == "stage":
            parts.append(stage_part(query.stage or "", item.stage))
        else:
            parts.append(border_part(query, item))
    total = sum(p.fraction * p.of for p in parts)
    exact = total * 100 / sum(p.of for p in parts)
    return Match(item, round(exact), exact, tuple(parts))


def rank(
    query: Query, items: list[Item], vocab: Vocabulary, *, limit: int = 10, other_countries: bool = False
) -> list[Match]:
    """The most similar initiatives, best first; ties by name. Nothing that shares no interest or sector."""
    matches = []
    for item in candidates(query, items, other_countries=other_countries):
        match = score(query, item, vocab)
        if match.shares_a_tag:
            matches.append(match)
    matches.sort(key=lambda m: (-m.exact, m.item.name, m.item.key))
    return matches[:limit]


def candidates(query: Query, items: list[Item], *, other_countries: bool) -> list[Item]:
    """The initiatives a scan looks at: not the one asked about, and only abroad when asked so."""
    return [
        i
        for i in items
        if i.key != query.exclude and not (other_countries and query.country and i.country == query.country)
    ]


@dataclass(frozen=True)
class Pair:
    """Two initiatives (in key order) and how alike they are; the score is symmetric."""

    a: Item
    b: Item
    match: Match

    @property
    def keys(self) -> tuple[str, str]:
        return self.a.key, self.b.key

    @property
    def cross_node(self) -> bool:
        return self.a.node_id != self.b.node_id


def pairs(items: list[Item], vocab: Vocabulary, minimum: float = 0) -> list[Pair]:
    """Every pair of initiatives that shares an interest or a sector and scores ``minimum`` or more (rounded),
    strongest first.

    The shared weights of every pair are summed tag by tag first, so that a pair is scored in full only when
    it is kept: a tag every initiative holds makes every pair share something, and most score little.
    """
    ordered = sorted(items, key=lambda i: i.key)
    sums: dict[tuple[int, int], list[float]] = {}
    for k, f in enumerate(TAG_FIELDS):
        holders: dict[str, list[int]] = {}
        for n, item in enumerate(ordered):
            for tag in item.tags(f):
                holders.setdefault(tag, []).append(n)
        for tag, found in holders.items():
            w = vocab.weight(f, tag)
            for x, i in enumerate(found):
                for j in found[x + 1 :]:
                    sums.setdefault((i, j), [0.0, 0.0])[k] += w
    totals = [[sum(vocab.weight(f, t) for t in item.tags(f)) for f in TAG_FIELDS] for item in ordered]
    out = []
    for (i, j), shared in sums.items():
        a, b = ordered[i], ordered[j]
        tags = sum(
            WEIGHTS[f] * _fraction(shared[k], totals[i][k], totals[j][k], vocab.pair_weight)
            for k, f in enumerate(TAG_FIELDS)
        )
        crosses = bool(a.country and b.country and a.country != b.country)
        rest = WEIGHTS["stage"] * stage_part(a.stage, b.stage).fraction + WEIGHTS["border"] * crosses
        if tags + rest >= minimum - 0.5:
            out.append(Pair(a, b, score(Query.like(a), b, vocab)))
    out.sort(key=lambda p: (-p.match.exact, p.keys))
    return [p for p in out if p.match.score >= minimum]
