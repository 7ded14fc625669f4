"""Netting maths: the set-off that clears the most debt while every node's net position stays the same.

A set-off replaces the debts of a round by others with the same net position per node
(what it is owed minus what it owes). Among those, it picks one with the least total debt:

    minimise   sum of x[d, c]
    subject to for every node v: sum of x[v, *] - sum of x[*, v] = what v owes net, before
               0 <= x[d, c] <= cap[d, c]

which is a min-cost flow with unit costs. Cancelling cycles is the least it does; it also
re-routes debt along paths (A owes B, B owes C becomes A owes C) where A and C are peered.

Limits (`cap`): debt may run from d to c only where d and c are peered, or where d already
owes c. ``limits[(d, c)]`` is how much d may owe c after the set-off: the trust limit c
extends to d. An absent limit means no new room: the debt from d to c may shrink but not
grow, and a pair that carries no debt in that direction gets none. A debt already above
its limit may stay as it is but never grows: ``cap = max(debt before, limit)``.

Algorithm: the primal-dual method (successive shortest paths, all at once). Each phase runs
Dijkstra on the residual graph with reduced costs (potentials keep them non-negative), then
a maximum flow (Dinic) on the arcs of reduced cost zero, which saturates every shortest
augmenting path of that length in one go. With unit costs the source-sink distance is an
integer that rises by at least one per phase, so there are at most as many phases as there
are distinct lengths of augmenting paths (2 on the benchmark's 1,000 nodes and 20,000 debts),
instead of one Dijkstra per augmenting path. Every augmentation follows a shortest path, so
the flow stays of least cost for its value; capacities are integers, so the result is the
exact integral optimum. (Network simplex or cost scaling would bound the work better in
theory, at several times the code; the benchmark compares with networkx's network simplex.)
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple, cast

from .errors import LocalProtocolError

INF = 1 << 62  # farther than any path: path costs are sums of at most 2**53-scale integers


class Debt(NamedTuple):
    """``debtor`` owes ``creditor`` ``amount`` (a positive whole number)."""

    debtor: str
    creditor: str
    amount: int

    def to_dict(self) -> dict[str, Any]:
        return {"debtor": self.debtor, "creditor": self.creditor, "amount": self.amount}


@dataclass(frozen=True)
class SetOff:
    """The result of netting: debts before and after, and the unchanged net position of each node."""

    before: tuple[Debt, ...]
    after: tuple[Debt, ...]
    total_before: int
    total_after: int
    nets: Mapping[str, int]  # what the node is owed minus what it owes; the same before and after

    @property
    def cleared(self) -> int:
        return self.total_before - self.total_after


def as_debts(debts: Iterable[Debt | tuple[Any, ...] | Mapping[str, Any]]) -> tuple[Debt, ...]:
    """Check and normalise debts: one per ordered pair (amounts of repeats added up), sorted.

    Raises:
        LocalProtocolError: ``bad_argument`` for a non-positive or non-integer amount, a
            debtor owing itself, or a node name that is not a non-empty string.
    """
    summed: dict[tuple[str, str], int] = {}
    for raw in debts:
        if isinstance(raw, Mapping):
            debtor, creditor, amount = raw.get("debtor"), raw.get("creditor"), raw.get("amount")
        else:
            debtor, creditor, amount = raw
        if type(debtor) is not str or type(creditor) is not str or not debtor or not creditor or debtor == creditor:
            _check_pair(debtor, creditor)
        if type(amount) is not int or amount <= 0:  # type(), not isinstance: True is no amount
            raise LocalProtocolError("bad_argument", f"a debt amount must be a positive integer, not {amount!r}")
        key = (cast(str, debtor), cast(str, creditor))  # both checked to be strings above
        summed[key] = summed.get(key, 0) + amount
    return tuple(Debt(d, c, a) for (d, c), a in sorted(summed.items()))


def _check_pair(a: object, b: object) -> None:
    if not isinstance(a, str) or not isinstance(b, str) or not a or not b:
        raise LocalProtocolError("bad_argument", "node names are non-empty strings")
    if a == b:
        raise LocalProtocolError("bad_argument", f"{a} cannot owe itself")


def net_positions(debts: Iterable[Debt]) -> dict[str, int]:
    """Per node, what it is owed minus what it owes (nodes that appear only as zero are kept)."""
    nets: dict[str, int] = {}
    for debt in debts:
        nets[debt.debtor] = nets.get(debt.debtor, 0) - debt.amount
        nets[debt.creditor] = nets.get(debt.creditor, 0) + debt.amount
    return nets


def capacities(
    debts: tuple[Debt, ...], peered: Iterable[tuple[str, str]], limits: Mapping[tuple[str, str], int | None] | None
) -> dict[tuple[str, str], int]:
    """How much each ordered pair may owe after the set-off (see the module docstring); 0s left out."""
    before = {(d.debtor, d.creditor): d.amount for d in debts}
    caps = dict(before)
    limit_of, before_of = (limits or {}).get, before.get
    for a, b in peered:
        if type(a) is not str or type(b) is not str or not a or not b or a == b:
            _check_pair(a, b)
        for pair in ((a, b), (b, a)):
            limit = limit_of(pair)
            if limit is not None and (type(limit) is not int or limit < 0):
                raise LocalProtocolError("bad_argument", f"the limit of {pair} must be a whole number from 0")
            cap = max(before_of(pair, 0), limit or 0)
            if cap > 0:
                caps[pair] = cap
    return caps


def set_off(
    debts: Iterable[Debt | tuple[Any, ...] | Mapping[str, Any]],
    *,
    peered: Iterable[tuple[str, str]] = (),
    limits: Mapping[tuple[str, str], int | None] | None = None,
) -> SetOff:
    """The exact optimum: the least total debt with every net position unchanged and every cap kept.

    Args:
        debts: who owes whom how much before; repeats of an ordered pair are added up.
        peered: unordered pairs of nodes that may carry debt between them (either way).
        limits: ``(debtor, creditor) -> how much debtor may owe creditor after``.

    Raises:
        LocalProtocolError: ``bad_argument`` for malformed input.
    """
    before = as_debts(debts)
    caps = capacities(before, list(peered), limits)
    nets = net_positions(before)
    nodes = sorted(set(nets) | {n for pair in caps for n in pair})
    flows = _min_cost_flow(nodes, caps, nets)
    after = tuple(Debt(d, c, x) for (d, c), x in sorted(flows.items()) if x > 0)
    result = SetOff(
        before,
        after,
        sum(d.amount for d in before),
        sum(d.amount for d in after),
        MappingProxyType({n: v for n, v in sorted(nets.items())}),
    )
    problems = violations(before, after, caps=caps)
    if problems:  # a bug in the solver, never the caller's input
        raise AssertionError("; ".join(problems))
    return result


def violations(before: Iterable[Debt], after: Iterable[Debt], *, caps: Mapping[tuple[str, str], int]) -> list[str]:
    """What makes ``after`` an invalid set-off of ``before``: a changed net, a broken cap, a pair without one."""
    problems = []
    old, new = net_positions(before), net_positions(after)
    for node in sorted(set(old) | set(new)):
        if old.get(node, 0) != new.get(node, 0):
            problems.append(f"net of {node} changes from {old.get(node, 0)} to {new.get(node, 0)}")
    for debt in after:
        cap = caps.get((debt.debtor, debt.creditor), 0)
        if debt.amount > cap:
            problems.append(f"{debt.debtor} would owe {debt.creditor} {debt.amount}, more than {cap}")
    return problems


class _Graph:
    """Residual graph in flat lists: arc a and its reverse a ^ 1, for speed in pure Python."""

    def __init__(self, size: int) -> None:
        self.out: list[list[int]] = [[] for _ in range(size)]
        self.to: list[int] = []
        self.cap: list[int] = []
        self.cost: list[int] = []

    def add(self, u: int, v: int, cap: int, cost: int) -> int:
        arc = len(self.to)
        self.to += (v, u)
        self.cap += (cap, 0)
        self.cost += (cost, -cost)
        self.out[u].append(arc)
        self.out[v].append(arc + 1)
        return arc


def _min_cost_flow(
    nodes: list[str], caps: Mapping[tuple[str, str], int], nets: Mapping[str, int]
) -> dict[tuple[str, str], int]:
    """Route every debtor's net debt to the net creditors along the cheapest paths; flow per ordered pair."""
    index = {name: i for i, name in enumerate(nodes)}
    source, sink = len(nodes), len(nodes) + 1
    graph = _Graph(len(nodes) + 2)
    add, arcs = graph.add, {}
    for pair, cap in sorted(caps.items()):
        arcs[pair] = add(index[pair[0]], index[pair[1]], cap, 1)
    for name, net in sorted(nets.items()):
        if net < 0:  # owes more than it is owed: a source of flow
            add(source, index[name], -net, 0)
        elif net > 0:
            add(index[name], sink, net, 0)
    need = sum(-net for net in nets.values() if net < 0)
    potential = [0] * (len(nodes) + 2)
    sent = 0
    while sent < need:
        if not _shortest_paths(graph, source, sink, potential):
            raise AssertionError(f"only {sent} of {need} routed, though the debts before are a feasible flow")
        sent += _max_flow_on_tight_arcs(graph, source, sink, potential)
    flow = graph.cap
    return {pair: flow[arc ^ 1] for pair, arc in arcs.items()}


def _shortest_paths(graph: _Graph, source: int, sink: int, potential: list[int]) -> bool:
    """Dijkstra with reduced costs; raise the potentials so every shortest path has reduced cost 0.

    Stops once the sink is settled: a node not settled by then is at least as far as the
    sink, and raising its potential by the sink's distance keeps every reduced cost >= 0.
    """
    out, to, cap, cost = graph.out, graph.to, graph.cap, graph.cost
    dist = [INF] * len(potential)
    done = [False] * len(potential)
    dist[source] = 0
    heap = [(0, source)]
    while heap:
        d, u = heapq.heappop(heap)
        if done[u]:
            continue
        done[u] = True
        if u == sink:
            break
        base = d + potential[u]
        for arc in out[u]:
            if cap[arc] > 0:
                v = to[arc]
                nd = base + cost[arc] - potential[v]
                if nd < dist[v]:
                    dist[v] = nd
                    heapq.heappush(heap, (nd, v))
    if not done[sink]:
        return False
    reach = dist[sink]
    for v in range(len(potential)):
        potential[v] += dist[v] if done[v] else reach
    return True


def _max_flow_on_tight_arcs(graph: _Graph, source: int, sink: int, potential: list[int]) -> int:
    """Dinic's maximum flow restricted to arcs of reduced cost zero (reverse arcs included)."""
    out, to, cost = graph.out, graph.to, graph.cost
    tight = [[a for a in arcs if cost[a] + potential[u] - potential[to[a]] == 0] for u, arcs in enumerate(out)]
    total = 0
    while True:
        level = _levels(graph, tight, source, sink)
        if level[sink] < 0:
            return total
        total += _blocking_flow(graph, tight, level, source, sink)


def _levels(graph: _Graph, tight: list[list[int]], source: int, sink: int) -> list[int]:
    """Breadth-first distance from the source over tight arcs with room; -1 where unreachable."""
    to, cap = graph.to, graph.cap
    level = [-1] * len(tight)
    level[source] = 0
    frontier = [source]
    while frontier and level[sink] < 0:
        nxt = []
        for u in frontier:
            step = level[u] + 1
            for arc in tight[u]:
                v = to[arc]
                if level[v] < 0 and cap[arc] > 0:
                    level[v] = step
                    nxt.append(v)
        frontier = nxt
    return level


def _blocking_flow(graph: _Graph, tight: list[list[int]], level: list[int], source: int, sink: int) -> int:
    """Augment along level-increasing tight paths until none is left (iterative DFS, current-arc pointers)."""
    to, cap = graph.to, graph.cap
    pointer = [0] * len(tight)
    path: list[int] = []
    u, total = source, 0
    while True:
        if u == sink:
            push = min(cap[a] for a in path)
            for a in path:
                cap[a] -= push
                cap[a ^ 1] += push
            total += push
            first_full = next(i for i, a in enumerate(path) if cap[a] == 0)
            u = to[path[first_full] ^ 1]
            del path[first_full:]
            continue
        arcs, i, want = tight[u], pointer[u], level[u] + 1
        while i < len(arcs) and not (cap[arcs[i]] > 0 and level[to[arcs[i]]] == want):
            i += 1
        pointer[u] = i
        if i < len(arcs):
            path.append(arcs[i])
            u = to[arcs[i]]
            continue
        if u == source:
            return total
        level[u] = -1  # a dead end for the rest of this phase
        u = to[path.pop() ^ 1]
        pointer[u] += 1
