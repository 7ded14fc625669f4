"""Small groups of initiatives that could join forces, formed from the strongest pairs of the quick scan.

The rule (greedy complete linkage with a cap): pairs that reach the threshold are links. Going through the
links between initiatives of different nodes, strongest first, two groups (or lone initiatives) merge when
the result has at most ``MAX_GROUP`` initiatives, at most ``MAX_PER_NODE`` of one node, and every two of
its initiatives are linked. So no group grows by a chain of weak resemblances into one giant component,
and a node's initiatives that share the node's favourite tag do not end up together on their own: they can
meet through their node, and a link inside one node never starts or joins a group.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import combinations

from .scan import Item, Pair, Vocabulary

MAX_GROUP = 4
MAX_PER_NODE = 2


@dataclass(frozen=True)
class Group:
    """Initiatives of two or more nodes, every two of them linked; with the links and what they share."""

    items: tuple[Item, ...]
    links: tuple[Pair, ...]  # every two of the group, strongest first
    common: tuple[tuple[str, int], ...]  # interests two or more hold (not the network's common ones), and how many

    @property
    def countries(self) -> tuple[str, ...]:
        return tuple(sorted({i.country for i in self.items}))

    @property
    def mean(self) -> float:
        return sum(p.match.exact for p in self.links) / len(self.links)


def groups(pairs: list[Pair], vocab: Vocabulary, threshold: int) -> list[Group]:
    """Groups of two to ``MAX_GROUP`` initiatives (module docstring); the most alike first."""
    links = {p.keys: p for p in pairs if p.match.score >= threshold}
    group_of: dict[str, tuple[Item, ...]] = {}
    for pair in sorted(links.values(), key=lambda p: (-p.match.exact, p.keys)):
        if not pair.cross_node:
            continue
        left, right = group_of.get(pair.a.key, (pair.a,)), group_of.get(pair.b.key, (pair.b,))
        if left is right:
            continue
        merged = left + right
        if _allowed(merged, links):
            for item in merged:
                group_of[item.key] = merged
    found = {id(g): g for g in group_of.values()}.values()
    out = [_group(g, links, vocab) for g in found]
    out.sort(key=lambda g: (-g.mean, g.items[0].key))
    return out


def _allowed(members: tuple[Item, ...], links: dict[tuple[str, str], Pair]) -> bool:
    if len(members) > MAX_GROUP or max(Counter(i.node_id for i in members).values()) > MAX_PER_NODE:
        return False
    return all(_key(a, b) in links for a, b in combinations(members, 2))


def _key(a: Item, b: Item) -> tuple[str, str]:
    return (a.key, b.key) if a.key < b.key else (b.key, a.key)


def _group(members: tuple[Item, ...], links: dict[tuple[str, str], Pair], vocab: Vocabulary) -> Group:
    ordered = tuple(sorted(members, key=lambda i: (i.country, i.name, i.key)))
    mine = sorted((links[_key(a, b)] for a, b in combinations(ordered, 2)), key=lambda p: (-p.match.exact, p.keys))
    held = Counter(tag for i in ordered for tag in i.interests if vocab.rarity("interests", tag) != "common")
    common = sorted(
        ((tag, n) for tag, n in held.items() if n >= 2), key=lambda c: (-c[1], -vocab.weight("interests", c[0]), c[0])
    )
    return Group(ordered, tuple(mine), tuple(common))
