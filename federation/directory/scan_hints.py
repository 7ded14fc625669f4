"""Why a quick scan found nothing, and which tags in use are nearest to one nobody holds.

Nearest means: at most one or two edits away (a letter added, dropped, changed, or two swapped; one edit
for tags of up to four letters), or one tag beginning the other, or one being a word of the other
("economy" and "circular-economy"). When no tag is near, the tags most initiatives hold are offered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .scan import TAG_FIELDS, Item, Match, Query, Vocabulary, candidates, rank

SUGGESTIONS = 5


@dataclass(frozen=True)
class Unknown:
    """A tag of the query that no listed initiative holds, with tags in use to try instead."""

    field: str
    tag: str
    suggestions: tuple[str, ...]
    near: bool  # False: nothing is near, the suggestions are the tags held most
    other_field: str = ""  # the field in which listed initiatives do hold this very tag


@dataclass(frozen=True)
class Hint:
    """Why the scan found nothing (``reason``, empty when it found something) and its unknown tags."""

    reason: str  # "", nothing_listed, unknown_tags, only_same_country, nothing_shared
    unknown: tuple[Unknown, ...] = ()
    same_country: int = 0  # matches in the initiative's own country, left out on request


def hint(query: Query, items: list[Item], vocab: Vocabulary, matches: list[Match], *, other_countries: bool) -> Hint:
    """What the reader should know about a scan's answer."""
    unknown = tuple(
        _unknown(f, tag, vocab) for f in TAG_FIELDS for tag in sorted(query.tags(f)) if not vocab.held_by(f, tag)
    )
    if matches:
        return Hint("", unknown)
    if not vocab.size or not candidates(query, items, other_countries=False):
        return Hint("nothing_listed", unknown)
    given = [(f, t) for f in TAG_FIELDS for t in query.tags(f)]
    if given and not any(vocab.held_by(f, t) for f, t in given):
        return Hint("unknown_tags", unknown)
    if other_countries and query.country:
        everywhere = rank(query, items, vocab, limit=len(items), other_countries=False)
        if everywhere:
            return Hint("only_same_country", unknown, len(everywhere))
    return Hint("nothing_shared", unknown)


def _unknown(field_name: str, tag: str, vocab: Vocabulary) -> Unknown:
    other = next(f for f in TAG_FIELDS if f != field_name)
    if vocab.held_by(other, tag):
        return Unknown(field_name, tag, (tag,), True, other)
    return Unknown(field_name, tag, *nearest(tag, vocab.counts[field_name]))


def nearest(tag: str, counts: Mapping[str, int]) -> tuple[tuple[str, ...], bool]:
    """Up to five tags in use near ``tag``, nearest and most held first; else the five held most."""
    found = []
    for known, held in counts.items():
        distance = edit_distance(tag, known)
        if distance <= (1 if min(len(tag), len(known)) <= 4 else 2):
            found.append((0, distance, -held, known))
        elif _contains(tag, known) or _contains(known, tag):
            found.append((1, abs(len(known) - len(tag)), -held, known))
    if found:
        return tuple(k for *_, k in sorted(found)[:SUGGESTIONS]), True
    common = sorted(counts.items(), key=lambda c: (-c[1], c[0]))
    return tuple(k for k, _ in common[:SUGGESTIONS]), False


def _contains(short: str, long: str) -> bool:
    """``short`` begins ``long`` or is one of its dash-separated words (three letters or more)."""
    return len(short) >= 3 and (long.startswith(short) or short in long.split("-"))


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps."""
    before, row = list(range(len(b) + 1)), [0] * (len(b) + 1)
    older: list[int] = []
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(before[j] + 1, row[j - 1] + 1, before[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], older[j - 2] + 1)
        older, before = before, row
    return before[len(b)]
