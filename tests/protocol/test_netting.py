"""Netting: the set-off keeps every net position and limit, and clears exactly what an independent solver clears."""

from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import LocalProtocolError
from protocol.netting import Debt, as_debts, capacities, net_positions, set_off, violations

NAMES = ["at", "be-vl", "hu", "it", "nl", "pl", "ro", "si"]


def reference_total_after(debts, peered, limits) -> int:
    """The least total debt, by networkx's network simplex on the same instance (independent of ours)."""
    before = as_debts(debts)
    graph = nx.DiGraph()
    for node, net in net_positions(before).items():
        graph.add_node(node, demand=net)  # networkx: positive demand = the node receives flow
    for (debtor, creditor), cap in capacities(before, peered, limits).items():
        graph.add_edge(debtor, creditor, capacity=cap, weight=1)
    if graph.number_of_nodes() == 0:
        return 0
    cost, _ = nx.network_simplex(graph)
    return cost


@st.composite
def instances(draw, max_nodes: int = 8):
    names = NAMES[: draw(st.integers(2, max_nodes))]
    pair = st.tuples(st.sampled_from(names), st.sampled_from(names)).filter(lambda p: p[0] != p[1])
    debts = draw(st.lists(st.tuples(pair, st.integers(1, 60)), max_size=20))
    peered = draw(st.lists(pair, max_size=16))
    limit_keys = [p for a, b in peered for p in ((a, b), (b, a))]
    limits = {p: draw(st.one_of(st.none(), st.integers(0, 60))) for p in limit_keys}
    return [(d, c, a) for (d, c), a in debts], peered, limits


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_set_off_is_valid_and_optimal(instance) -> None:
    debts, peered, limits = instance
    result = set_off(debts, peered=peered, limits=limits)
    before = as_debts(debts)
    # Every net position is unchanged.
    old_nets, new_nets = net_positions(before), net_positions(result.after)
    assert all(old_nets.get(n, 0) == new_nets.get(n, 0) for n in set(old_nets) | set(new_nets))
    assert dict(result.nets) == old_nets
    # No trust limit broken: an amount above its limit only where it was already that high.
    old = {(d.debtor, d.creditor): d.amount for d in before}
    peered_sets = {frozenset(p) for p in peered}
    for debt in result.after:
        pair = (debt.debtor, debt.creditor)
        assert (
            debt.amount <= max(old.get(pair, 0), limits.get(pair) or 0)
            if frozenset(pair) in peered_sets
            else debt.amount <= old.get(pair, 0)
        )
        # No edge between unpeered nodes, unless the same debt existed before.
        assert frozenset(pair) in peered_sets or pair in old
    assert violations(before, result.after, caps=capacities(before, peered, limits)) == []
    # Exactly as much cleared as the independent min-cost-flow solution.
    assert result.total_after == reference_total_after(debts, peered, limits)
    assert result.cleared == result.total_before - result.total_after >= 0
    assert result.total_before == sum(a for _, _, a in debts)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31), st.integers(20, 40))
def test_larger_random_graphs_match_the_reference(seed: int, nodes: int) -> None:
    import random

    rng = random.Random(seed)
    names = [f"n{i}" for i in range(nodes)]
    debts = [(*rng.sample(names, 2), rng.randint(1, 500)) for _ in range(nodes * 4)]
    peered = [tuple(rng.sample(names, 2)) for _ in range(nodes * 2)] + [(d, c) for d, c, _ in debts[::2]]
    limits = {(a, b): rng.randint(0, 300) for a, b in peered} | {(b, a): rng.randint(0, 300) for a, b in peered}
    result = set_off(debts, peered=peered, limits=limits)
    assert result.total_after == reference_total_after(debts, peered, limits)


def test_a_cycle_is_cleared_completely() -> None:
    result = set_off([("be-vl", "nl", 5), ("nl", "hu", 5), ("hu", "be-vl", 5)])
    assert result.after == () and result.cleared == 15 and result.total_before == 15
    assert dict(result.nets) == {"be-vl": 0, "hu": 0, "nl": 0}


def test_a_cycle_is_cleared_by_its_smallest_debt() -> None:
    result = set_off([("it", "hu", 30), ("hu", "at", 20), ("at", "it", 25)])
    assert result.after == (Debt("at", "it", 5), Debt("it", "hu", 10)) and result.cleared == 60


def test_a_path_is_rerouted_only_between_peers_within_the_limit() -> None:
    debts = [("a", "b", 10), ("b", "c", 10)]
    assert set_off(debts).after == as_debts(debts)  # a and c are not peered: nothing to do
    assert set_off(debts, peered=[("a", "c")]).after == as_debts(debts)  # peered, but no limit: no new room
    full = set_off(debts, peered=[("a", "c")], limits={("a", "c"): 10})
    assert full.after == (Debt("a", "c", 10),) and full.cleared == 10
    part = set_off(debts, peered=[("c", "a")], limits={("a", "c"): 4})
    assert part.after == (Debt("a", "b", 6), Debt("a", "c", 4), Debt("b", "c", 6)) and part.cleared == 4
    wrong_way = set_off(debts, peered=[("a", "c")], limits={("c", "a"): 10})
    assert wrong_way.after == as_debts(debts)


def test_a_debt_above_its_limit_may_stay_but_never_grows() -> None:
    # b owes c 50 although c now lets b owe only 10; re-routing a's debt through b would grow it.
    debts = [("a", "b", 5), ("b", "c", 50), ("c", "a", 5)]
    result = set_off(debts, peered=[("a", "b"), ("b", "c"), ("a", "c")], limits={("b", "c"): 10, ("a", "c"): 100})
    assert result.after == (Debt("b", "c", 45),)
    # Re-routing a -> x -> y -> c through b would save 5, but only by growing b -> c past its limit.
    longer = [("a", "x", 5), ("x", "y", 5), ("y", "c", 5), ("b", "c", 50)]
    kept = set_off(longer, peered=[("a", "b"), ("b", "c")], limits={("a", "b"): 100, ("b", "c"): 10})
    assert kept.after == as_debts(longer) and kept.cleared == 0
    room = set_off(longer, peered=[("a", "b"), ("b", "c")], limits={("a", "b"): 100, ("b", "c"): 55})
    assert room.after == (Debt("a", "b", 5), Debt("b", "c", 55)) and room.cleared == 5


def test_debts_both_ways_between_a_pair_are_netted_and_repeats_added() -> None:
    result = set_off([("a", "b", 3), ("a", "b", 4), ("b", "a", 2)])
    assert result.before == (Debt("a", "b", 7), Debt("b", "a", 2))
    assert result.after == (Debt("a", "b", 5),) and result.cleared == 4


def test_nothing_to_clear() -> None:
    assert set_off([]).after == () and set_off([]).cleared == 0
    lone = set_off([{"debtor": "a", "creditor": "b", "amount": 3}], peered=[("a", "b")], limits={("a", "b"): 9})
    assert lone.after == (Debt("a", "b", 3),) and lone.cleared == 0


@pytest.mark.parametrize(
    "debts, peered, limits",
    [
        ([("a", "b", 0)], [], None),
        ([("a", "b", -1)], [], None),
        ([("a", "b", 1.5)], [], None),
        ([("a", "b", True)], [], None),
        ([("a", "a", 1)], [], None),
        ([("", "b", 1)], [], None),
        ([("a", "b", 1)], [("a", "a")], None),
        ([("a", "b", 1)], [("a", "b")], {("a", "b"): -1}),
        ([("a", "b", 1)], [("a", "b")], {("a", "b"): 2.0}),
    ],
)
def test_malformed_input_is_refused(debts, peered, limits) -> None:
    with pytest.raises(LocalProtocolError) as info:
        set_off(debts, peered=peered, limits=limits)
    assert info.value.code == "bad_argument"


def test_violations_names_each_problem() -> None:
    before = as_debts([("a", "b", 5)])
    assert violations(before, (Debt("a", "c", 5),), caps={("a", "b"): 5}) == [
        "net of b changes from 5 to 0",
        "net of c changes from 0 to 5",
        "a would owe c 5, more than 0",
    ]
