"""Benchmark: one review round solved by node.services.review_round, against the exact optimum of the same instance.

Instance (fixed seed): 2,000 proposals x 3,000 reviewers, k = 3 reviewers per proposal, each proposal and
reviewer in one of five countries drawn at random, same-country pairs forbidden, load 0..3 per reviewer,
affinities uniform random integers 0..1000 on EVERY pair. The solver is given all 6,000,000 pairs
(dense, as numpy arrays) and drops the same-country ones itself; it sparsifies internally and proves
its answer optimal on all allowed pairs.

The reference, in the same run, is scipy.optimize.linprog (HiGHS) on the LP of the SAME instance: one
variable per allowed pair (4.8M), sum per proposal = k, min load <= sum per reviewer <= max load,
0 <= x <= 1. The constraint matrix is bipartite (totally unimodular), so the LP optimum is the integer
optimum; the script also reports how far HiGHS's solution is from integral. It takes minutes:
`--reference none` skips it. Goal: total affinity >= 99.9% of the optimum, solved in under 30 s.

    .venv/bin/python benchmarks/matching.py [--max-load 3] [--min-load 0] [--seed 1] [--reference highs|none]
                                            [--progress] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from node.services.review_round import Pairs, RoundProposal, RoundReviewer, solve_round  # noqa: E402

RATIO_GOAL, SECONDS_GOAL = 0.999, 30.0


def make_instance(args):
    """Countries and the dense affinity matrix, all from one seeded generator."""
    rng = np.random.default_rng(args.seed)
    country_p = rng.integers(0, args.countries, args.proposals)
    country_r = rng.integers(0, args.countries, args.reviewers)
    affinity = rng.integers(0, 1001, (args.proposals, args.reviewers))
    return country_p, country_r, affinity


def run_solver(args, country_p, country_r, affinity):
    """Solve with the module under test; wall and CPU seconds cover solve_round only."""
    proposals = [RoundProposal(i, args.k, f"c{c}") for i, c in enumerate(country_p.tolist())]
    reviewers = [RoundReviewer(j, args.max_load, args.min_load, f"c{c}") for j, c in enumerate(country_r.tolist())]
    p, r = np.divmod(np.arange(affinity.size), args.reviewers)
    pairs = Pairs(p, r, affinity.reshape(-1))

    def show(fraction, message):
        print(f"  {fraction:6.1%} {message}", file=sys.stderr, flush=True)

    wall, cpu = time.perf_counter(), time.process_time()
    result = solve_round(
        proposals, reviewers, pairs, forbid_same_country=True, progress=show if args.progress else None
    )
    return result, time.perf_counter() - wall, time.process_time() - cpu


def violations(args, result, country_p, country_r, affinity) -> list[str]:
    """Every rule of the round, checked again from the raw instance."""
    pairs = [(a.proposal, a.reviewer) for a in result.assignments]
    out = []
    if len(set(pairs)) != len(pairs):
        out.append("a pair assigned twice")
    if any(country_p[p] == country_r[r] for p, r in pairs):
        out.append("a same-country pair")
    if any(affinity[a.proposal, a.reviewer] != a.affinity for a in result.assignments):
        out.append("a wrong affinity")
    per_p = np.bincount([p for p, _ in pairs], minlength=args.proposals)
    per_r = np.bincount([r for _, r in pairs], minlength=args.reviewers)
    if (per_p > args.k).any():
        out.append("a proposal over k")
    if (per_r > args.max_load).any() or (per_r < args.min_load).any() and result.feasible:
        out.append("a reviewer load out of bounds")
    if sum(a.affinity for a in result.assignments) != result.total_affinity:
        out.append("total affinity does not add up")
    return out


def run_reference(args, country_p, country_r, affinity):
    """The LP optimum of the same instance from scipy's HiGHS; returns (optimum or None, seconds, note)."""
    from scipy.optimize import linprog
    from scipy.sparse import csr_matrix

    began = time.perf_counter()
    p, r = np.nonzero(country_p[:, None] != country_r[None, :])
    n, cols = len(p), np.arange(len(p))
    per_p = csr_matrix((np.ones(n), (p, cols)), shape=(args.proposals, n))
    per_r = csr_matrix((np.ones(n), (r, cols)), shape=(args.reviewers, n))
    a_ub, b_ub = per_r, np.full(args.reviewers, float(args.max_load))
    if args.min_load:
        from scipy.sparse import vstack

        a_ub, b_ub = vstack([per_r, -per_r]), np.r_[b_ub, np.full(args.reviewers, -float(args.min_load))]
    res = linprog(
        -affinity[p, r].astype(float),
        A_ub=a_ub,
        b_ub=b_ub,
        A_eq=per_p,
        b_eq=np.full(args.proposals, float(args.k)),
        bounds=(0, 1),
        method="highs",
    )
    seconds = time.perf_counter() - began
    if res.status != 0:
        return None, seconds, f"HiGHS: {res.message}"
    fractional = float(np.abs(res.x - np.round(res.x)).max())
    return round(-res.fun), seconds, f"{n} variables, largest distance from integral {fractional:.1e}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proposals", type=int, default=2000)
    parser.add_argument("--reviewers", type=int, default=3000)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--countries", type=int, default=5)
    parser.add_argument("--max-load", type=int, default=3)
    parser.add_argument("--min-load", type=int, default=0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reference", choices=["highs", "none"], default="highs")
    parser.add_argument("--progress", action="store_true", help="print the solver's progress on stderr")
    parser.add_argument("--json", action="store_true", help="print the raw figures as one JSON object")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    country_p, country_r, affinity = make_instance(args)
    result, wall, cpu = run_solver(args, country_p, country_r, affinity)
    load_after = os.getloadavg()[0]
    broken = violations(args, result, country_p, country_r, affinity)
    optimum, ref_seconds, note = (
        run_reference(args, country_p, country_r, affinity) if args.reference == "highs" else (None, 0.0, "skipped")
    )
    ratio = result.total_affinity / optimum if optimum else None
    figures = {
        "proposals": args.proposals,
        "reviewers": args.reviewers,
        "k": args.k,
        "countries": args.countries,
        "min_load": args.min_load,
        "max_load": args.max_load,
        "seed": args.seed,
        "solver_seconds": round(wall, 3),
        "solver_cpu_seconds": round(cpu, 3),
        "total_affinity": result.total_affinity,
        "unmet": len(result.unmet),
        "constraint_violations": broken,
        **result.stats,
        "reference": args.reference,
        "reference_seconds": round(ref_seconds, 3),
        "optimum": optimum,
        "ratio": ratio,
        "ratio_goal": RATIO_GOAL,
        "seconds_goal": SECONDS_GOAL,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(
        f"review round: {args.proposals} proposals x {args.reviewers} reviewers, k={args.k}, "
        f"{args.countries} countries (same-country pairs forbidden), load {args.min_load}..{args.max_load}, "
        f"affinity 0..1000, seed {args.seed}"
    )
    print(f"pairs:     {affinity.size} given, {result.stats['allowed_pairs']} allowed")
    print(
        f"solver:    {wall:.1f} s wall, {cpu:.1f} s CPU; total affinity {result.total_affinity}; "
        f"{len(result.unmet)} unmet; {result.stats['candidate_pairs']} candidate pairs, "
        f"{result.stats['checks']} full pricing checks; constraints {'; '.join(broken) or 'ok'}"
    )
    print(
        "reference: scipy.optimize.linprog (HiGHS) on the same instance: "
        + (f"{ref_seconds:.1f} s; optimum {optimum} ({note})" if optimum is not None else note)
    )
    verdict = "" if ratio is None else f"ratio {ratio:.6f} (goal >= {RATIO_GOAL}); "
    print(
        f"result:    {verdict}time {wall:.1f} s (goal < {SECONDS_GOAL:.0f} s); "
        f"load average {load_before:.1f} before, {load_after:.1f} after the solve on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
