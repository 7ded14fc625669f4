"""Review rounds: a batch of proposals and a pool of reviewers assigned together, exactly (min-cost flow).

Pure: plain data in, an assignment out; no database, no clock, no Flask. Needs numpy.

    proposals = [RoundProposal(key, slots=3, country="IT", need_foreign=True), ...]
    reviewers = [RoundReviewer(key, max_load=3, min_load=0, country="HU"), ...]
    pairs = Pairs.from_triples([(proposal_key, reviewer_key, affinity), ...], proposals, reviewers)
    #    or Pairs.from_matrix(affinity[P, R], allowed=bool[P, R])    or Pairs(p_index, r_index, affinity)
    result = solve_round(proposals, reviewers, pairs, forbid_same_country=False, progress=fn)

Keys are any hashable identity chosen by the caller (e.g. "local:12", "remote:hu:kovacs"). Pairs list
the ALLOWED (proposal, reviewer) pairs with an integer affinity (matching.score); a forbidden pair
(the proposer, a conflict, same organisation, ...) is simply not listed. `forbid_same_country=True`
also drops listed pairs whose two countries are equal. Affinities may be any ints within +-10**6.

The result (RoundResult): `assignments` (Assignment(proposal, reviewer, affinity), best first per
proposal), `total_affinity`, `short` {proposal key: reviewers missing}, `loads` {reviewer key: load},
`unmet` (Unmet(kind, key, missing, reason), kind "min_load" | "foreign" | "slots"), `feasible`, and
`stats`. An unsatisfiable round does not raise: it is solved as well as possible and `unmet` says
which constraints could not be met and why. Malformed input raises RoundInputError (a ValueError)
with a machine-readable `code`. `progress(fraction, message)` is called about every 1% of the work;
an exception raised in it aborts the solve (use that to cancel).

The optimum is lexicographic: first the hard constraints (each reviewer's minimum load, and for a
proposal with `need_foreign` at least one reviewer whose country differs from the proposal's), then
as many filled slots as possible (exactly k_p where the round allows it), then the largest total
affinity. Each proposal gets at most `slots` distinct reviewers, each reviewer at most `max_load`.

Model: proposal p supplies `slots` units; arc p -> r per allowed pair (capacity 1, cost -affinity);
r -> sink with capacity max_load, its first min_load units rewarded; p -> sink "short" at a large
cost. A need_foreign proposal reaches its foreign reviewers only through its own hub node
(p -> hub -> r, the first unit rewarded), so no pair can be used twice. The weights are integers
large enough that each priority dominates everything below it.

Algorithm: successive shortest paths (Dijkstra with node potentials, one unit at a time) on a sparse
candidate set - the best few allowed reviewers of each proposal and hub, and the best proposals of each
reviewer with a minimum load - then a vectorised pricing check of EVERY allowed pair against the final
potentials. A left-out pair with negative reduced cost could improve the answer: it is added (saturated,
and the cycle it opens closed by one more shortest path) and the check runs again. When no pair is left
with negative reduced cost the potentials are a dual certificate of optimality on the full instance, so
the answer is exact however the candidates were chosen; they only decide the speed. 2,000 proposals x
3,000 reviewers with 4.8M allowed pairs take about 3 s of CPU (benchmarks/matching.py). `stats` says
how many pairs were candidates and how many pricing checks ran.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from heapq import heappop, heappush

import numpy as np

MAX_AFFINITY = 10**6  # keeps every potential well inside int64 for the numpy pricing check
# Candidates per proposal to start with: a few per slot; the pricing check adds any that were missed.
CANDIDATES_PER_SLOT = 3
CANDIDATES_EXTRA = 2
Progress = Callable[[float, str], None]


def N_(message: str) -> str:
    """Mark an English text for extraction: node.labels shows the stored progress and reasons translated."""
    return message


# What progress() reports and the reasons of unmet constraints, in English (node.labels.WRITTEN lists them).
SIZE = N_("%(proposals)s proposals, %(reviewers)s reviewers, %(pairs)s allowed pairs")
PLACED = N_("%(placed)s of %(slots)s review slots placed")
CHECKING = N_("checking all %(pairs)s pairs against the solution's prices")
SOLVED = N_("done: total affinity %(total)s, %(unmet)s constraints unmet")
FEW_PROPOSALS = N_("only %(allowed)s allowed proposals")
PROPOSALS_TAKEN = N_("its allowed proposals' slots are taken or needed elsewhere")
NO_FOREIGN = N_("no allowed reviewer from another country")
FOREIGN_FULL = N_("its allowed reviewers from other countries are full or needed elsewhere")
FEW_REVIEWERS = N_("only %(allowed)s allowed reviewers")
REVIEWERS_FULL = N_("its allowed reviewers are full or needed elsewhere")
WRITTEN = (
    SIZE,
    PLACED,
    CHECKING,
    SOLVED,
    FEW_PROPOSALS,
    PROPOSALS_TAKEN,
    NO_FOREIGN,
    FOREIGN_FULL,
    FEW_REVIEWERS,
    REVIEWERS_FULL,
)
# The counter each special residual arc moves when a unit crosses it.
COUNTERS = {
    "sink": ("load", 1),
    "unsink": ("load", -1),
    "short": ("short", 1),
    "unshort": ("short", -1),
    "hub": ("hub", 1),
    "unhub": ("hub", -1),
}


class RoundInputError(ValueError):
    """The round's input is malformed; `code` says how."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class RoundProposal:
    """A proposal in the round: how many reviewers it needs, its country, and whether one must be foreign."""

    key: Hashable
    slots: int
    country: str = ""
    need_foreign: bool = False


@dataclass(frozen=True)
class RoundReviewer:
    """A reviewer in the round with the bounds of the number of reviews they get in it."""

    key: Hashable
    max_load: int
    min_load: int = 0
    country: str = ""


@dataclass(frozen=True)
class Pairs:
    """Allowed pairs as parallel integer arrays: proposal index, reviewer index, affinity."""

    proposal: np.ndarray
    reviewer: np.ndarray
    affinity: np.ndarray

    @classmethod
    def from_triples(
        cls, triples: Iterable[tuple], proposals: Sequence[RoundProposal], reviewers: Sequence[RoundReviewer]
    ) -> Pairs:
        """Pairs from (proposal key, reviewer key, affinity) triples."""
        p_at = {p.key: i for i, p in enumerate(proposals)}
        r_at = {r.key: i for i, r in enumerate(reviewers)}
        rows = []
        for pk, rk, aff in triples:
            if pk not in p_at or rk not in r_at:
                raise RoundInputError(f"pair ({pk!r}, {rk!r}) names an unknown proposal or reviewer", "unknown_key")
            rows.append((p_at[pk], r_at[rk], _int(aff, "affinity")))
        arr = np.array(rows, dtype=np.int64).reshape(-1, 3)
        return cls(arr[:, 0], arr[:, 1], arr[:, 2])

    @classmethod
    def from_matrix(cls, affinity, allowed=None) -> Pairs:
        """Pairs from a proposals x reviewers integer matrix; `allowed` (same shape, bool) marks permitted pairs."""
        aff = np.asarray(affinity)
        mask = np.ones(aff.shape, dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
        if aff.ndim != 2 or mask.shape != aff.shape:
            raise RoundInputError("affinity must be a 2-d matrix and allowed the same shape", "bad_matrix")
        p, r = np.nonzero(mask)
        return cls(p, r, aff[p, r])


@dataclass(frozen=True)
class Assignment:
    """One reviewer assigned to one proposal."""

    proposal: Hashable
    reviewer: Hashable
    affinity: int


@dataclass(frozen=True)
class Unmet:
    """A constraint the round could not meet: `missing` units of `kind` for `key`, and why."""

    kind: str
    key: Hashable
    missing: int
    reason: str


@dataclass(frozen=True)
class RoundResult:
    """The optimal assignment with its total affinity, shortfalls and loads."""

    assignments: tuple[Assignment, ...]
    total_affinity: int
    short: dict
    loads: dict
    unmet: tuple[Unmet, ...]
    stats: dict = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        """True when every slot, minimum load and foreign-reviewer demand is met."""
        return not self.unmet


def _int(value, name: str) -> int:
    """An int that is not a bool (numpy integers accepted)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise RoundInputError(f"{name} must be an integer, got {value!r}", f"{name}_not_int")
    return int(value)


@dataclass
class _Round:
    """The validated instance as arrays; `edge_*` hold every allowed pair after filtering."""

    slots: np.ndarray
    min_load: np.ndarray
    max_load: np.ndarray
    need_foreign: np.ndarray
    edge_p: np.ndarray
    edge_r: np.ndarray
    edge_a: np.ndarray
    via_hub: np.ndarray
    foreign: np.ndarray


def _validate(proposals, reviewers, pairs: Pairs, forbid_same_country: bool) -> _Round:
    """Check the input and return it as arrays, pairs filtered to the usable ones."""
    for what, items in (("proposal", proposals), ("reviewer", reviewers)):
        if len({x.key for x in items}) != len(items):
            raise RoundInputError(f"two {what}s share a key", f"duplicate_{what}")
    slots = np.array([_int(p.slots, "slots") for p in proposals], dtype=np.int64)
    lo = np.array([_int(r.min_load, "min_load") for r in reviewers], dtype=np.int64)
    hi = np.array([_int(r.max_load, "max_load") for r in reviewers], dtype=np.int64)
    if (slots < 0).any() or (lo < 0).any() or (lo > hi).any():
        raise RoundInputError("slots and loads must be >= 0 and min_load <= max_load", "bad_bounds")
    p, r, a = (np.asarray(x).reshape(-1) for x in (pairs.proposal, pairs.reviewer, pairs.affinity))
    if not (len(p) == len(r) == len(a)) or any(x.dtype.kind not in "iu" for x in (p, r, a) if len(x)):
        raise RoundInputError("pairs must be three integer arrays of one length", "bad_pairs")
    p, r, a = (x.astype(np.int64, copy=False) for x in (p, r, a))
    if len(p) and (p.min() < 0 or p.max() >= len(proposals) or r.min() < 0 or r.max() >= len(reviewers)):
        raise RoundInputError("a pair points outside the proposal or reviewer list", "unknown_key")
    if len(a) and np.abs(a).max() > MAX_AFFINITY:
        raise RoundInputError(f"affinities must lie within +-{MAX_AFFINITY}", "affinity_range")
    pair_ids = np.sort(p * len(reviewers) + r)
    if (pair_ids[1:] == pair_ids[:-1]).any():
        raise RoundInputError("a (proposal, reviewer) pair is listed twice", "duplicate_pair")
    codes = {c: i for i, c in enumerate({x.country for x in (*proposals, *reviewers)})}
    cp = np.array([codes[x.country] for x in proposals], dtype=np.int64)
    cr = np.array([codes[x.country] for x in reviewers], dtype=np.int64)
    foreign = cp[p] != cr[r] if len(p) else np.zeros(0, dtype=bool)
    keep = (slots[p] > 0) & (hi[r] > 0) & (foreign | (not forbid_same_country))
    need = np.array([bool(x.need_foreign) for x in proposals], dtype=bool)
    p, r, a, foreign = p[keep], r[keep], a[keep], foreign[keep]
    return _Round(slots, lo, hi, need, p, r, a, need[p] & foreign, foreign)


def _top_per_group(group: np.ndarray, score: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """Indices of the `limit[g]` highest-scoring entries of each group g."""
    if len(group) == 0:
        return np.zeros(0, dtype=np.int64)
    low, high = int(score.min()), int(score.max())
    if high - low < 2**32 and int(group.max()) < 2**30:
        order = np.argsort(group * 2**32 + (high - score))  # one int64 key sorts much faster than lexsort
    else:
        order = np.lexsort((-score, group))
    g = group[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    first = np.repeat(starts, np.diff(np.r_[starts, len(g)]))
    return order[np.arange(len(g)) - first < limit[g]]


def _initial_candidates(rnd: _Round) -> np.ndarray:
    """A mask of the pairs to start with: the best of each proposal and hub, and of reviewers with a minimum."""
    n_p = len(rnd.slots)
    mask = np.zeros(len(rnd.edge_p), dtype=bool)
    per_group = np.tile(CANDIDATES_PER_SLOT * rnd.slots + CANDIDATES_EXTRA, 2)
    mask[_top_per_group(rnd.edge_p + n_p * rnd.via_hub, rnd.edge_a, per_group)] = True
    needy = np.flatnonzero(rnd.min_load[rnd.edge_r] > 0)
    if len(needy):
        per_reviewer = CANDIDATES_PER_SLOT * rnd.min_load + CANDIDATES_EXTRA
        mask[needy[_top_per_group(rnd.edge_r[needy], rnd.edge_a[needy], per_reviewer)]] = True
    return mask


def _violators(rnd: _Round, cand: np.ndarray, pi: tuple) -> np.ndarray:
    """Left-out pairs with negative reduced cost (could improve the answer), the worst few per proposal."""
    pi_p, pi_h, pi_r = pi
    tail = pi_p[rnd.edge_p]
    if rnd.via_hub.any():
        tail = np.where(rnd.via_hub, pi_h[rnd.edge_p], tail)
    reduced = tail - rnd.edge_a - pi_r[rnd.edge_r]
    bad = np.flatnonzero((reduced < 0) & ~cand)
    limit = np.maximum(1, CANDIDATES_PER_SLOT * rnd.slots + CANDIDATES_EXTRA)  # >= 1: every pass makes progress
    return bad[_top_per_group(rnd.edge_p[bad], -reduced[bad], limit)]


def solve_round(
    proposals: Sequence[RoundProposal],
    reviewers: Sequence[RoundReviewer],
    pairs: Pairs,
    *,
    forbid_same_country: bool = False,
    progress: Progress | None = None,
) -> RoundResult:
    """Assign reviewers to all proposals of a round at once, exactly optimally; see the module docstring."""
    proposals, reviewers = list(proposals), list(reviewers)
    report = progress or (lambda fraction, message: None)
    rnd = _validate(proposals, reviewers, pairs, forbid_same_country)
    report(0.0, SIZE % {"proposals": len(proposals), "reviewers": len(reviewers), "pairs": len(rnd.edge_p)})
    cand = _initial_candidates(rnd)
    flow = _Flow(rnd, np.flatnonzero(cand))
    flow.route(lambda f, m: report(0.02 + 0.88 * f, m))
    passes, added = 1, 0
    while True:
        report(min(0.99, 0.9 + 0.02 * passes), CHECKING % {"pairs": len(rnd.edge_p)})
        extra = _violators(rnd, cand, flow.potentials())
        if len(extra) == 0:
            break
        cand[extra] = True
        flow.add_pairs(rnd, extra)
        passes, added = passes + 1, added + len(extra)
    stats = {
        "checks": passes,
        "pairs_added_by_check": added,
        "candidate_pairs": int(cand.sum()),
        "allowed_pairs": len(rnd.edge_p),
    }
    result = _result(proposals, reviewers, rnd, flow, stats)
    report(1.0, SOLVED % {"total": result.total_affinity, "unmet": len(result.unmet)})
    return result


class _Flow:
    """Residual network on the candidate pairs, solved by successive shortest paths.

    Nodes: proposal p, its hub n_p + p, reviewer 2 n_p + r, sink 2 n_p + n_r. Reduced costs
    c + pi[u] - pi[v] stay >= 0 on every residual arc, which Dijkstra needs and which proves optimality.
    """

    def __init__(self, rnd: _Round, edges: np.ndarray):
        n_p, n_r = len(rnd.slots), len(rnd.min_load)
        self.n_p, self.sink = n_p, 2 * n_p + n_r
        self.slots, self.need = rnd.slots.tolist(), rnd.need_foreign.tolist()
        self.lo, self.hi = rnd.min_load.tolist(), rnd.max_load.tolist()
        self.edges: list = []
        self.tail: list[int] = []
        self.head: list[int] = []
        self.cost: list[int] = []
        self.flow = bytearray()
        self.out: list[list] = [[] for _ in range(2 * n_p)]
        self._append(rnd, edges)
        self.into: list[set] = [set() for _ in range(n_r)]
        self.load, self.short, self.hub = [0] * n_r, [0] * n_p, [0] * n_p
        spread = int(np.abs(rnd.edge_a).max(initial=0)) + 1
        self.big = (self.sink + 1) * spread + 1  # one more filled slot beats any affinity change
        self.huge = 3 * self.big + 1  # one more hard unit beats slots and affinity
        self.pi = self._initial_potentials()
        self.dist: list = [None] * (self.sink + 1)  # scratch for Dijkstra, reset after each search

    def _append(self, rnd: _Round, edges: np.ndarray) -> None:
        """Add candidate pairs as arcs with no flow."""
        first = len(self.tail)
        self.edges.extend(edges.tolist())
        self.tail.extend((rnd.edge_p[edges] + self.n_p * rnd.via_hub[edges]).tolist())
        self.head.extend((rnd.edge_r[edges] + 2 * self.n_p).tolist())
        self.cost.extend((-rnd.edge_a[edges]).tolist())
        self.flow.extend(bytes(len(edges)))
        for a in range(first, len(self.tail)):
            self.out[self.tail[a]].append(a)

    def _initial_potentials(self) -> list[int]:
        """Shortest distances at zero flow (the network is acyclic then), so every reduced cost is >= 0."""
        n_p = self.n_p
        pi = [0] * (self.sink + 1)
        for p in range(n_p):
            pi[n_p + p] = -self.huge if self.need[p] else 0
        best: dict[int, int] = {}
        for t, h, c in zip(self.tail, self.head, self.cost):
            d = pi[t] + c
            if d < best.get(h, d + 1):
                best[h] = d
        at_sink = [self.big]
        for r in range(len(self.lo)):
            v = 2 * n_p + r
            pi[v] = best.get(v, 0)
            if self.hi[r] > 0:
                at_sink.append(pi[v] - (self.huge if self.lo[r] > 0 else 0))
        pi[self.sink] = min(at_sink)
        return pi

    def _special_arcs(self, u: int) -> list:
        """Residual arcs out of u other than pairs, as (head, cost, kind, ref); parallel arcs show their cheapest."""
        n_p = self.n_p
        if u == self.sink:
            return [
                (2 * n_p + r, 0 if n > self.lo[r] else self.huge, "unsink", r) for r, n in enumerate(self.load) if n
            ] + [(p, -self.big, "unshort", p) for p, n in enumerate(self.short) if n]
        if u >= 2 * n_p:
            r = u - 2 * n_p
            if self.load[r] < self.hi[r]:
                return [(self.sink, -self.huge if self.load[r] < self.lo[r] else 0, "sink", r)]
            return []
        if u >= n_p:
            p = u - n_p
            return [(p, 0 if self.hub[p] > 1 else self.huge, "unhub", p)] if self.hub[p] else []
        arcs = [(self.sink, self.big, "short", u)] if self.short[u] < self.slots[u] else []
        if self.need[u] and self.hub[u] < self.slots[u]:
            arcs.append((n_p + u, 0 if self.hub[u] else -self.huge, "hub", u))
        return arcs

    def _shortest_path(self, s: int, target: int) -> dict:
        """Dijkstra from s to target on reduced costs; updates the potentials; returns the predecessors."""
        pi, tail, head, cost, flow, dist = self.pi, self.tail, self.head, self.cost, self.flow, self.dist
        first_reviewer = 2 * self.n_p
        pred, done, seen = {}, [], [s]
        dist[s] = 0
        heap = [(0, s)]
        while heap:
            d, u = heappop(heap)
            if d > dist[u]:
                continue
            if u == target:
                break
            done.append(u)
            base = d + pi[u]
            if first_reviewer <= u < self.sink:  # the hot loops are inlined: this is most of the run time
                steps = [(tail[a], -cost[a], "back", a) for a in self.into[u - first_reviewer]]
            elif u < first_reviewer:
                steps = [(head[a], cost[a], "pair", a) for a in self.out[u] if not flow[a]]
            else:
                steps = []
            for v, c, kind, ref in steps + self._special_arcs(u):
                nd = base + c - pi[v]
                dv = dist[v]
                if dv is None or nd < dv:
                    if dv is None:
                        seen.append(v)
                    dist[v], pred[v] = nd, (u, kind, ref)
                    heappush(heap, (nd, v))
        top = dist[target]
        for u in done:  # potentials += min(distance, top), minus top
            pi[u] += dist[u] - top
        for u in seen:
            dist[u] = None
        return pred

    def _augment(self, pred: dict, s: int, target: int) -> None:
        """Push one unit along the path found from s to target."""
        v = target
        while v != s:
            u, kind, ref = pred[v]
            if kind in ("pair", "back"):
                self.flow[ref] = kind == "pair"
                r = self.head[ref] - 2 * self.n_p
                (self.into[r].add if kind == "pair" else self.into[r].discard)(ref)
            else:
                getattr(self, COUNTERS[kind][0])[ref] += COUNTERS[kind][1]
            v = u

    def route(self, report: Progress) -> None:
        """Send every unit of every proposal along a shortest path: minimum loads first, then first units first."""
        self.sent, total = [0] * self.n_p, sum(self.slots)
        step = max(1, total // 100)
        rest = (
            p for k in range(max(self.slots, default=0)) for p, n in enumerate(self.slots) if n > k and self.sent[p] < n
        )  # lazy: sees the units the first phase sent
        for i, p in enumerate(itertools.chain(self._min_load_sources(), rest)):
            if i % step == 0:
                report(i / total, PLACED % {"placed": i, "slots": total})
            self.sent[p] += 1
            self._augment(self._shortest_path(p, self.sink), p, self.sink)

    def _min_load_sources(self):
        """Yield, while a reviewer is under their minimum, their best candidate proposal with units left.

        Any order of sources gives the optimum; starting next to a reviewer still under their minimum
        keeps the search short (from elsewhere it would sweep the graph to reach that reviewer's reward).
        """
        options: dict[int, list] = {}
        for a, (t, h) in enumerate(zip(self.tail, self.head)):
            if self.lo[h - 2 * self.n_p]:
                options.setdefault(h - 2 * self.n_p, []).append((self.cost[a], t % self.n_p))
        for r, pairs in options.items():
            for _, p in sorted(pairs):
                if self.load[r] >= self.lo[r]:
                    break
                if self.sent[p] < self.slots[p]:
                    yield p

    def add_pairs(self, rnd: _Round, edges: np.ndarray) -> None:
        """Add pairs; one with negative reduced cost is saturated and the cycle it opens is closed optimally."""
        first = len(self.tail)
        self._append(rnd, edges)
        self.flow[first:] = b"\x02" * (len(self.tail) - first)  # hidden until its turn: Dijkstra needs rc >= 0
        for a in range(first, len(self.tail)):
            u, v = self.tail[a], self.head[a]
            self.flow[a] = 0
            if self.cost[a] + self.pi[u] - self.pi[v] < 0:
                self.flow[a] = 1
                self.into[v - 2 * self.n_p].add(a)
                self._augment(self._shortest_path(v, u), v, u)

    def potentials(self) -> tuple:
        """Node prices as arrays: proposals, hubs, reviewers."""
        pi, n_p = np.array(self.pi, dtype=np.int64), self.n_p
        return pi[:n_p], pi[n_p : 2 * n_p], pi[2 * n_p : self.sink]


def _result(proposals, reviewers, rnd: _Round, flow: _Flow, stats: dict) -> RoundResult:
    """Turn the final flow into keyed assignments, loads, shortfalls and unmet constraints with reasons."""
    used = np.array(flow.edges, dtype=np.int64)[np.frombuffer(bytes(flow.flow), dtype=np.uint8) == 1]
    p, r, a = rnd.edge_p[used], rnd.edge_r[used], rnd.edge_a[used]
    order = np.lexsort((r, -a, p))
    assignments = tuple(
        Assignment(proposals[i].key, reviewers[j].key, int(x))
        for i, j, x in zip(p[order].tolist(), r[order].tolist(), a[order].tolist())
    )
    got = np.bincount(p, minlength=len(proposals))
    load = np.bincount(r, minlength=len(reviewers))
    got_foreign = np.bincount(p[rnd.foreign[used]], minlength=len(proposals))
    deg_p = np.bincount(rnd.edge_p, minlength=len(proposals))
    deg_foreign = np.bincount(rnd.edge_p[rnd.foreign], minlength=len(proposals))
    deg_r = np.bincount(rnd.edge_r, minlength=len(reviewers))
    unmet = []
    for i in np.flatnonzero(load < rnd.min_load).tolist():
        why = FEW_PROPOSALS % {"allowed": deg_r[i]} if deg_r[i] < rnd.min_load[i] else PROPOSALS_TAKEN
        unmet.append(Unmet("min_load", reviewers[i].key, int(rnd.min_load[i] - load[i]), why))
    for i in np.flatnonzero(rnd.need_foreign & (rnd.slots > 0) & (got_foreign == 0)).tolist():
        why = NO_FOREIGN if deg_foreign[i] == 0 else FOREIGN_FULL
        unmet.append(Unmet("foreign", proposals[i].key, 1, why))
    for i in np.flatnonzero(got < rnd.slots).tolist():
        why = FEW_REVIEWERS % {"allowed": deg_p[i]} if deg_p[i] < rnd.slots[i] else REVIEWERS_FULL
        unmet.append(Unmet("slots", proposals[i].key, int(rnd.slots[i] - got[i]), why))
    short = {proposals[i].key: int(rnd.slots[i] - got[i]) for i in np.flatnonzero(got < rnd.slots).tolist()}
    loads = {rv.key: int(n) for rv, n in zip(reviewers, load.tolist())}
    return RoundResult(assignments, int(a.sum()), short, loads, tuple(unmet), stats)
