"""Review-round solver: equal to an independent integer program, every constraint kept, infeasibility reported."""

from __future__ import annotations

from contextlib import contextmanager
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.sparse import coo_matrix

from node.services import review_round
from node.services.review_round import Pairs, RoundInputError, RoundProposal, RoundReviewer, Unmet, solve_round


def allowed_triples(proposals, reviewers, triples, forbid_same_country):
    """The pairs the solver may use, by index, under the same rules (independent re-implementation)."""
    p_at = {p.key: i for i, p in enumerate(proposals)}
    r_at = {r.key: j for j, r in enumerate(reviewers)}
    out = []
    for pk, rk, a in triples:
        i, j = p_at[pk], r_at[rk]
        if forbid_same_country and proposals[i].country == reviewers[j].country:
            continue
        out.append((i, j, a))
    return out


def reference(proposals, reviewers, triples, forbid_same_country=False):
    """The lexicographic optimum by three integer programs (scipy/HiGHS), no flow and no big weights.

    Returns (hard units met, filled slots, total affinity): hard units are min-load units plus
    need_foreign proposals that got a reviewer from another country.
    """
    edges = allowed_triples(proposals, reviewers, triples, forbid_same_country)
    n, n_p, n_r = len(edges), len(proposals), len(reviewers)
    size = n + n_r + n_p  # x per pair, y per reviewer, z per proposal
    rows, cols, vals, lo, hi = [], [], [], [], []

    def row(entries, low, high):
        for c, v in entries:
            rows.append(len(lo))
            cols.append(c)
            vals.append(v)
        lo.append(low)
        hi.append(high)

    for i, p in enumerate(proposals):
        row([(e, 1) for e, (a, _, _) in enumerate(edges) if a == i], 0, p.slots)
        foreign = [(e, -1) for e, (a, j, _) in enumerate(edges) if a == i and reviewers[j].country != p.country]
        row([(n + n_r + i, 1)] + foreign, -np.inf, 0)  # z_p <= number of foreign reviewers
    for j, r in enumerate(reviewers):
        row([(e, 1) for e, (_, b, _) in enumerate(edges) if b == j], 0, r.max_load)
        row([(n + j, 1)] + [(e, -1) for e, (_, b, _) in enumerate(edges) if b == j], -np.inf, 0)
    upper = [1] * n + [r.min_load for r in reviewers] + [1 if p.need_foreign and p.slots > 0 else 0 for p in proposals]
    objectives = [
        np.r_[np.zeros(n), np.ones(n_r + n_p)],
        np.r_[np.ones(n), np.zeros(n_r + n_p)],
        np.r_[[a for _, _, a in edges], np.zeros(n_r + n_p)],
    ]
    constraints = [LinearConstraint(coo_matrix((vals, (rows, cols)), shape=(len(lo), size)), lo, hi)]
    found = []
    for c in objectives:
        res = milp(-c, constraints=constraints, integrality=np.ones(size), bounds=Bounds(0, upper))
        assert res.status == 0, res.message
        found.append(round(-res.fun))
        constraints.append(LinearConstraint(c.reshape(1, -1), found[-1], np.inf))
    return tuple(found)


def achieved(result, proposals, reviewers):
    """(hard units met, filled slots, total affinity) of a solver result."""
    country = {r.key: r.country for r in reviewers}
    units = sum(min(result.loads[r.key], r.min_load) for r in reviewers)
    units += sum(
        1
        for p in proposals
        if p.need_foreign
        and p.slots > 0
        and any(a.proposal == p.key and country[a.reviewer] != p.country for a in result.assignments)
    )
    return units, len(result.assignments), result.total_affinity


def check_constraints(result, proposals, reviewers, triples, forbid_same_country):
    """Every hard rule of the round holds, and the reported figures agree with the assignments."""
    allowed = {
        (proposals[i].key, reviewers[j].key): a
        for i, j, a in allowed_triples(proposals, reviewers, triples, forbid_same_country)
    }
    pairs = [(a.proposal, a.reviewer) for a in result.assignments]
    assert len(set(pairs)) == len(pairs)  # no pair twice
    assert all(allowed.get(pair) == a.affinity for pair, a in zip(pairs, result.assignments))
    assert result.total_affinity == sum(a.affinity for a in result.assignments)
    for p in proposals:
        got = sum(1 for a in result.assignments if a.proposal == p.key)
        assert got <= p.slots
        assert result.short.get(p.key, 0) == p.slots - got
    for r in reviewers:
        load = sum(1 for a in result.assignments if a.reviewer == r.key)
        assert load == result.loads[r.key] <= r.max_load
    unmet = {(u.kind, u.key): u.missing for u in result.unmet}
    assert {key: m for (kind, key), m in unmet.items() if kind == "slots"} == result.short
    assert {key: m for (kind, key), m in unmet.items() if kind == "min_load"} == {
        r.key: r.min_load - result.loads[r.key] for r in reviewers if result.loads[r.key] < r.min_load
    }
    assert result.feasible == (not result.unmet)


@contextmanager
def stingy_candidates():
    """Start from one candidate per proposal so the pricing check has to find the rest."""
    with (
        mock.patch.object(review_round, "CANDIDATES_PER_SLOT", 0),
        mock.patch.object(review_round, "CANDIDATES_EXTRA", 1),
    ):
        yield


@st.composite
def rounds(draw):
    """A small random round: countries, slots, load bounds, a random subset of pairs with any affinities."""
    countries = draw(st.sampled_from([("IT",), ("IT", "HU"), ("IT", "HU", "NL")]))
    n_p, n_r = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    proposals = [
        RoundProposal(f"p{i}", draw(st.integers(0, 3)), draw(st.sampled_from(countries)), draw(st.booleans()))
        for i in range(n_p)
    ]
    reviewers = []
    for j in range(n_r):
        high = draw(st.integers(0, 3))
        reviewers.append(RoundReviewer(f"r{j}", high, draw(st.integers(0, high)), draw(st.sampled_from(countries))))
    triples = [
        (p.key, r.key, draw(st.integers(-5, 30))) for p in proposals for r in reviewers if draw(st.integers(0, 3)) > 0
    ]
    return proposals, reviewers, triples, draw(st.booleans())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds(), st.booleans())
def test_matches_an_independent_integer_program(instance, stingy):
    proposals, reviewers, triples, forbid = instance
    pairs = Pairs.from_triples(triples, proposals, reviewers)
    if stingy:
        with stingy_candidates():
            result = solve_round(proposals, reviewers, pairs, forbid_same_country=forbid)
    else:
        result = solve_round(proposals, reviewers, pairs, forbid_same_country=forbid)
    check_constraints(result, proposals, reviewers, triples, forbid)
    assert achieved(result, proposals, reviewers) == reference(proposals, reviewers, triples, forbid)


def random_dense(seed, n_p, n_r, k, max_load, n_countries=3):
    rng = np.random.default_rng(seed)
    cp, cr = rng.integers(0, n_countries, n_p), rng.integers(0, n_countries, n_r)
    proposals = [RoundProposal(i, k, str(c)) for i, c in enumerate(cp.tolist())]
    reviewers = [RoundReviewer(j, max_load, 0, str(c)) for j, c in enumerate(cr.tolist())]
    return proposals, reviewers, rng.integers(0, 1001, (n_p, n_r)), cp[:, None] != cr[None, :]


@pytest.mark.parametrize("max_load", [3, 2])  # 2: capacity equals demand, every reviewer full
def test_sparsified_solve_equals_the_lp_optimum_of_the_dense_instance(max_load):
    proposals, reviewers, affinity, allowed = random_dense(7, 60, 90, 3, max_load)
    result = solve_round(proposals, reviewers, Pairs.from_matrix(affinity), forbid_same_country=True)
    p, r = np.nonzero(allowed)
    n = len(p)
    a_eq = coo_matrix((np.ones(n), (p, np.arange(n))), shape=(60, n))
    a_ub = coo_matrix((np.ones(n), (r, np.arange(n))), shape=(90, n))
    lp = linprog(
        -affinity[p, r],
        A_ub=a_ub,
        b_ub=np.full(90, max_load),
        A_eq=a_eq,
        b_eq=np.full(60, 3),
        bounds=(0, 1),
        method="highs",
    )
    assert lp.status == 0
    assert result.feasible and result.total_affinity == round(-lp.fun)
    assert result.stats["candidate_pairs"] < result.stats["allowed_pairs"] == n
    assert all(allowed[a.proposal, a.reviewer] for a in result.assignments)


def test_not_greedy_the_best_pair_gives_way():
    proposals = [RoundProposal("a", 1), RoundProposal("b", 1)]
    reviewers = [RoundReviewer("x", 1), RoundReviewer("y", 1)]
    triples = [("a", "x", 10), ("a", "y", 9), ("b", "x", 8), ("b", "y", 1)]
    result = solve_round(proposals, reviewers, Pairs.from_triples(triples, proposals, reviewers))
    assert {(a.proposal, a.reviewer) for a in result.assignments} == {("a", "y"), ("b", "x")}
    assert result.total_affinity == 17 and result.feasible


def test_filling_every_slot_beats_affinity():
    proposals = [RoundProposal("a", 1), RoundProposal("b", 1)]
    reviewers = [RoundReviewer("x", 1), RoundReviewer("y", 1)]
    triples = [("a", "x", 1000), ("b", "x", 999), ("a", "y", -1000)]
    result = solve_round(proposals, reviewers, Pairs.from_triples(triples, proposals, reviewers))
    assert {(a.proposal, a.reviewer) for a in result.assignments} == {("a", "y"), ("b", "x")}
    assert result.short == {}


def test_minimum_load_is_met_at_a_cost_in_affinity():
    proposals = [RoundProposal("a", 1), RoundProposal("b", 1)]
    reviewers = [RoundReviewer("star", 2), RoundReviewer("new", 1, min_load=1)]
    triples = [("a", "star", 50), ("b", "star", 40), ("a", "new", 5), ("b", "new", 1)]
    result = solve_round(proposals, reviewers, Pairs.from_triples(triples, proposals, reviewers))
    assert result.loads == {"star": 1, "new": 1} and result.total_affinity == 51 and result.feasible


def test_one_reviewer_from_another_country_when_asked():
    proposals = [RoundProposal("a", 2, "IT", need_foreign=True), RoundProposal("b", 2, "IT")]
    reviewers = [RoundReviewer(f"it{i}", 2, 0, "IT") for i in range(3)] + [RoundReviewer("hu", 1, 0, "HU")]
    # b would take the foreign reviewer (90) if a did not need one (10)
    triples = [
        (p.key, r.key, 100 if r.country == "IT" else 90 if p.key == "b" else 10) for p in proposals for r in reviewers
    ]
    result = solve_round(proposals, reviewers, Pairs.from_triples(triples, proposals, reviewers))
    a_reviewers = {x.reviewer for x in result.assignments if x.proposal == "a"}
    assert "hu" in a_reviewers and len(a_reviewers) == 2 and result.feasible


def test_same_country_pairs_are_dropped_when_forbidden():
    proposals = [RoundProposal("a", 2, "IT")]
    reviewers = [RoundReviewer("it", 1, 0, "IT"), RoundReviewer("hu", 1, 0, "HU")]
    triples = [("a", "it", 100), ("a", "hu", 1)]
    result = solve_round(
        proposals, reviewers, Pairs.from_triples(triples, proposals, reviewers), forbid_same_country=True
    )
    assert [(a.proposal, a.reviewer) for a in result.assignments] == [("a", "hu")]
    assert result.short == {"a": 1}
    assert result.unmet == (Unmet("slots", "a", 1, "only 1 allowed reviewers"),)


def test_infeasible_round_is_solved_as_far_as_possible_and_explained():
    proposals = [
        RoundProposal("lonely", 3, "IT", need_foreign=True),
        RoundProposal("busy", 2, "IT"),
        RoundProposal("popular", 1, "HU"),
    ]
    reviewers = [
        RoundReviewer("it1", 1, 0, "IT"),
        RoundReviewer("it2", 1, 0, "IT"),
        RoundReviewer("idle", 2, 2, "HU"),
        RoundReviewer("hu", 1, 1, "HU"),
    ]
    triples = [("lonely", "it1", 6), ("busy", "it1", 5), ("busy", "it2", 5), ("popular", "hu", 1)]
    result = solve_round(proposals, reviewers, Pairs.from_triples(triples, proposals, reviewers))
    assert not result.feasible
    assert set(result.unmet) == {
        Unmet("min_load", "idle", 2, "only 0 allowed proposals"),
        Unmet("foreign", "lonely", 1, "no allowed reviewer from another country"),
        Unmet("slots", "lonely", 2, "only 1 allowed reviewers"),
        Unmet("slots", "busy", 1, "its allowed reviewers are full or needed elsewhere"),
    }
    assert result.short == {"lonely": 2, "busy": 1}
    assert result.loads == {"it1": 1, "it2": 1, "idle": 0, "hu": 1}


def test_too_many_minimum_loads_for_the_slots_are_reported():
    proposals = [RoundProposal("a", 1)]
    reviewers = [RoundReviewer("x", 1, 1), RoundReviewer("y", 1, 1)]
    triples = [("a", "x", 1), ("a", "y", 2)]
    result = solve_round(proposals, reviewers, Pairs.from_triples(triples, proposals, reviewers))
    assert result.total_affinity == 2
    assert result.unmet == (Unmet("min_load", "x", 1, "its allowed proposals' slots are taken or needed elsewhere"),)


def test_progress_is_reported_from_zero_to_one_and_can_cancel():
    proposals, reviewers, affinity, allowed = random_dense(3, 120, 150, 3, 3)
    calls = []
    solve_round(proposals, reviewers, Pairs.from_matrix(affinity, allowed), progress=lambda f, m: calls.append((f, m)))
    fractions = [f for f, _ in calls]
    assert len(calls) > 50 and fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(isinstance(m, str) and m for _, m in calls)
    assert any("review slots placed" in m for _, m in calls)

    def cancel(fraction, message):
        if fraction > 0.5:
            raise KeyboardInterrupt("cancelled")

    with pytest.raises(KeyboardInterrupt):
        solve_round(proposals, reviewers, Pairs.from_matrix(affinity, allowed), progress=cancel)


def test_matrix_and_triples_give_the_same_pairs():
    proposals = [RoundProposal("a", 1), RoundProposal("b", 1)]
    reviewers = [RoundReviewer("x", 1), RoundReviewer("y", 1)]
    by_matrix = Pairs.from_matrix([[3, 4], [5, 6]], allowed=[[True, False], [True, True]])
    by_triples = Pairs.from_triples([("a", "x", 3), ("b", "x", 5), ("b", "y", 6)], proposals, reviewers)
    for name in ("proposal", "reviewer", "affinity"):
        assert getattr(by_matrix, name).tolist() == getattr(by_triples, name).tolist()
    assert solve_round(proposals, reviewers, by_matrix) == solve_round(proposals, reviewers, by_triples)


def test_empty_round():
    result = solve_round([], [], Pairs.from_triples([], [], []))
    assert result.assignments == () and result.total_affinity == 0 and result.feasible


@pytest.mark.parametrize(
    "proposals, reviewers, triples, code",
    [
        ([RoundProposal("a", 1)], [RoundReviewer("x", 1)], [("a", "x", 1.5)], "affinity_not_int"),
        ([RoundProposal("a", 1)], [RoundReviewer("x", 1)], [("a", "x", True)], "affinity_not_int"),
        ([RoundProposal("a", 1)], [RoundReviewer("x", 1)], [("a", "zz", 1)], "unknown_key"),
        ([RoundProposal("a", 1)], [RoundReviewer("x", 1)], [("a", "x", 1), ("a", "x", 2)], "duplicate_pair"),
        ([RoundProposal("a", 1)], [RoundReviewer("x", 1)], [("a", "x", 10**10)], "affinity_range"),
        ([RoundProposal("a", 1)], [RoundReviewer("x", 1, 2)], [], "bad_bounds"),
        ([RoundProposal("a", -1)], [RoundReviewer("x", 1)], [], "bad_bounds"),
        ([RoundProposal("a", 1.0)], [RoundReviewer("x", 1)], [], "slots_not_int"),
        ([RoundProposal("a", 1), RoundProposal("a", 2)], [RoundReviewer("x", 1)], [], "duplicate_proposal"),
    ],
)
def test_malformed_input_is_refused_with_a_code(proposals, reviewers, triples, code):
    with pytest.raises(RoundInputError) as err:
        solve_round(proposals, reviewers, Pairs.from_triples(triples, proposals, reviewers))
    assert err.value.code == code


def test_float_arrays_are_refused():
    with pytest.raises(RoundInputError) as err:
        solve_round(
            [RoundProposal("a", 1)], [RoundReviewer("x", 1)], Pairs(np.array([0]), np.array([0]), np.array([0.5]))
        )
    assert err.value.code == "bad_pairs"


def test_the_reference_can_tell_a_worse_assignment():
    proposals = [RoundProposal("a", 1), RoundProposal("b", 1)]
    reviewers = [RoundReviewer("x", 1), RoundReviewer("y", 1)]
    triples = [("a", "x", 10), ("a", "y", 9), ("b", "x", 8), ("b", "y", 1)]
    assert reference(proposals, reviewers, triples) == (0, 2, 17)
    greedy = review_round.RoundResult(
        (review_round.Assignment("a", "x", 10), review_round.Assignment("b", "y", 1)), 11, {}, {"x": 1, "y": 1}, ()
    )
    assert achieved(greedy, proposals, reviewers) != reference(proposals, reviewers, triples)
