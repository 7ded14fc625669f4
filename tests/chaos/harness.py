"""The seeded chaos harness: real nodes, fault relays, a seeded workload, then heal and check every invariant.

    python -m tests.chaos.harness --seeds 1-200 --nodes 5     # the long run (make chaos SEEDS=200)
    python -m tests.chaos.harness --seed 17 --verbose          # replay one seed's schedule

The seed decides everything the harness decides (setup, schedule, fault rates, the relays'
per-request draws); real timing does not replay, so a seed reproduces the same storm, not the
same interleaving. Each seed prints one verdict line; the run ends with a summary of totals.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .cluster import NODE_IDS, Cluster, Templates
from .invariants import Ack, Violation, check_network
from .ops import Runner, run_resume
from .relay import KINDS as RELAY_KINDS
from .workload import GROUPS, OP_KINDS, World, plan_schedule

BALANCE_CAP = 18  # max_balance of the capped nodes: payments into them bounce with payee_cap_exceeded


@dataclass
class Options:
    nodes: int = 5
    ops: int = 150
    members: int = 4
    skip: tuple[str, ...] = ()  # op kinds or groups switched off
    faults: tuple[str, ...] = RELAY_KINDS
    max_rotations: int = 99  # per node and seed
    quiet_timeout: float = 120.0
    cli_books: bool = True
    verbose: bool = False


@dataclass
class SeedResult:
    seed: int
    faults: Counter = field(default_factory=Counter)
    ops: Counter = field(default_factory=Counter)
    violations: list[Violation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    dirs: dict[str, Path] = field(default_factory=dict)
    outcomes: dict[str, Counter] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_json(self) -> dict:
        return {
            "seed": self.seed,
            "faults": dict(self.faults),
            "ops": dict(self.ops),
            "seconds": self.seconds,
            "violations": [[v.invariant, v.detail] for v in self.violations],
            "warnings": self.warnings,
        }

    @classmethod
    def from_json(cls, data: dict) -> SeedResult:
        return cls(
            data["seed"],
            faults=Counter(data["faults"]),
            ops=Counter(data["ops"]),
            seconds=data["seconds"],
            violations=[Violation(*v) for v in data["violations"]],
            warnings=data["warnings"],
        )

    def line(self) -> str:
        faults = " ".join(f"{k}={v}" for k, v in sorted(self.faults.items()))
        ops = " ".join(f"{k}={v}" for k, v in sorted(self.ops.items()))
        tail = f"(faults: {faults} ; ops: {ops}) {self.seconds:.0f}s"
        if self.ok:
            return f"seed {self.seed}: OK {tail}"
        more = f" (+{len(self.violations) - 1} more)" if len(self.violations) > 1 else ""
        return f"seed {self.seed}: VIOLATION {self.violations[0]}{more} {tail}"


def setup_of(seed: int, node_ids: list[str], faults: tuple[str, ...]):
    """The seed's setup draws: fault rates, trust limits (some small, for bounces), balance caps."""
    rng = random.Random(f"{seed}:setup")
    rates = {}
    for kind in RELAY_KINDS:
        on, rate = rng.random() < 0.8, round(rng.uniform(0.02, 0.10), 3)
        if on and kind in faults:
            rates[kind] = rate
    trust = {}
    for a in node_ids:
        for b in node_ids:
            if a != b:
                small, limit = rng.random() < 0.3, rng.randint(2, 8)
                trust[(a, b)] = limit if small else 100
    settings = {}
    for n in node_ids:
        capped = rng.random() < 0.25
        settings[n] = {"max_balance": BALANCE_CAP} if capped else {}
    return rates, trust, settings


def skipped(opts: Options) -> set[str]:
    """Op kinds left out at run time (the schedule itself never changes, so a seed stays comparable)."""
    return {k.name for k in OP_KINDS if k.name in opts.skip or k.group in opts.skip}


def schedule_of(seed: int, opts: Options, node_ids: list[str]):
    trust = setup_of(seed, node_ids, opts.faults)[1]
    world = World(
        nodes=list(node_ids),
        members=opts.members,
        max_dead=max(1, len(node_ids) // 2),
        small_trust={pair: limit for pair, limit in trust.items() if limit < 100},
    )
    return plan_schedule(seed, opts.ops, world, OP_KINDS)


def run_seed(seed: int, opts: Options, workdir: Path, templates: Templates, log=print) -> SeedResult:
    """One seed from start to verdict; every process it started is gone when it returns."""
    started = time.monotonic()
    node_ids = list(NODE_IDS[: opts.nodes])
    rates, trust, settings = setup_of(seed, node_ids, opts.faults)
    schedule = schedule_of(seed, opts, node_ids)
    kinds = {k.name: k for k in OP_KINDS}
    result = SeedResult(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    oplog = (workdir / "ops.log").open("w")

    def say(text: str) -> None:
        oplog.write(text + "\n")
        oplog.flush()
        if opts.verbose:
            log(text)

    say(
        f"seed {seed}: nodes {node_ids} fault rates {rates} small limits "
        f"{ {f'{a}->{b}': v for (a, b), v in trust.items() if v < 100} } caps {[n for n in settings if settings[n]]}"
    )
    cluster = Cluster(seed, node_ids, workdir, templates, members=opts.members, settings=settings)
    runner = Runner(cluster, skip=skipped(opts), max_rotations=opts.max_rotations)
    try:
        cluster.start(trust=trust, reviewers="proposals" not in opts.skip)
        cluster.set_faults(rates)
        runner.run(schedule, kinds, log=say)
        for kind, outcomes in sorted(runner.outcomes.items()):
            say(f"outcomes {kind}: " + " ".join(f"{k}={v}" for k, v in outcomes.most_common()))
        for node in list(runner.timers):
            runner.join_timer(node)
        result.violations += [Violation("i:restart", f) for f in cluster.heal()]
        for node, peer in sorted(runner.suspended):  # a resume that met a dead node
            run_resume(runner, {"node": node, "peer": peer})
        for _ in range(3):
            left = cluster.wait_quiet(opts.quiet_timeout)
            if left:
                result.violations.append(
                    Violation("i:liveness", f"not quiet after {opts.quiet_timeout:.0f}s: " + "; ".join(left[:6]))
                )
            cluster.kill_all()  # on the frozen quiet cut (or wherever they are after a liveness failure)
            # SIGSTOP can catch a commit halfway (WAL frames written, index not yet): invisible to the
            # frozen read, there after the kill. Then the cut was not quiet: restart and wait again.
            late = [] if left else cluster.frozen_backlog()
            if not late:
                break
            say(f"seed {seed}: a commit landed during the freeze ({'; '.join(late)}); waiting again")
            result.violations += [Violation("i:restart", f) for f in cluster.heal()]
        result.violations += check_network(cluster.dirs(), runner.acks)
        if opts.cli_books:
            result.violations += cli_books(cluster)
    finally:
        cluster.close()
        oplog.close()
    _collect(result, cluster, runner)
    result.seconds = time.monotonic() - started
    return result


def cli_books(cluster: Cluster) -> list[Violation]:
    """(a) again, by the node's own `sifnet node check-books`, run on each stopped node in parallel."""
    with ThreadPoolExecutor(max_workers=len(cluster.nodes)) as pool:
        runs = list(pool.map(lambda n: (n.node_id, n.proc.cli("check-books", check=False)), cluster.nodes.values()))
    return [
        Violation("a:books", f"{node}: check-books exited {r.returncode}: {r.stdout.strip()} {r.stderr[-200:]}")
        for node, r in runs
        if r.returncode != 0
    ]


def _collect(result: SeedResult, cluster: Cluster, runner: Runner) -> None:
    """Counts of faults and operations, server errors (violations) and tracebacks in the logs (warnings)."""
    for n in cluster.nodes.values():
        result.faults.update(n.relay.counts)
        for err in n.relay.errors_5xx:
            result.violations.append(Violation("k:server_error", f"{n.node_id} inbox: {err}"))
        text = n.proc.log_path.read_text(errors="replace") if n.proc.log_path.exists() else ""
        if "Traceback" in text:
            first = text[text.index("Traceback") :][:600].replace("\n", " | ")
            result.warnings.append(f"{n.node_id} log has {text.count('Traceback')} tracebacks; first: {first}")
    result.faults["kill9"] = runner.kills
    result.faults["skew_s"] = runner.skew
    result.ops.update(runner.ops)
    result.violations += [Violation("k:server_error", e) for e in runner.server_errors]
    result.acks = list(runner.acks)
    result.dirs = cluster.dirs()
    result.outcomes = dict(runner.outcomes)


def parse_seeds(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.chaos.harness", description=__doc__.split("\n")[0])
    p.add_argument("--seeds", default="1-20", help="e.g. 1-200 or 3,7,9-12")
    p.add_argument("--seed", type=int, help="replay one seed (overrides --seeds)")
    p.add_argument("--nodes", type=int, default=5, choices=range(2, len(NODE_IDS) + 1))
    p.add_argument("--ops", type=int, default=150, help="operations per seed")
    p.add_argument("--members", type=int, default=4)
    p.add_argument("--skip", default="", help=f"comma-separated op kinds or groups to leave out ({', '.join(GROUPS)})")
    p.add_argument("--faults", default=",".join(RELAY_KINDS), help="relay fault kinds to use ('' for none)")
    p.add_argument("--max-rotations", type=int, default=99, help="key rotations per node and seed")
    p.add_argument("--quiet-timeout", type=float, default=120.0)
    p.add_argument("--no-cli-books", action="store_true", help="skip `sifnet node check-books` (SQL checks stay)")
    p.add_argument("--workdir", help="where data folders go (default: a new temp folder)")
    p.add_argument("--keep", action="store_true", help="keep the data folders of passing seeds too")
    p.add_argument("--plan-only", action="store_true", help="print the schedule of each seed and exit")
    p.add_argument("--verbose", "-v", action="store_true", help="print every operation and its outcome")
    p.add_argument(
        "--in-process",
        action="store_true",
        help="run every seed in this process (default: one child process per seed, so each seed "
        "runs the checkout's current code and a crash ends one seed, not the run)",
    )
    p.add_argument("--result-json", help=argparse.SUPPRESS)  # a child writes its seed's result here
    args = p.parse_args(argv)
    # A background run ignores SIGINT; SIGTERM then unwinds through the finally blocks that kill the nodes.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    opts = Options(
        nodes=args.nodes,
        ops=args.ops,
        members=args.members,
        skip=tuple(s for s in args.skip.split(",") if s),
        faults=tuple(f for f in args.faults.split(",") if f),
        max_rotations=args.max_rotations,
        quiet_timeout=args.quiet_timeout,
        cli_books=not args.no_cli_books,
        verbose=args.verbose,
    )
    seeds = [args.seed] if args.seed is not None else parse_seeds(args.seeds)
    if args.plan_only:
        for seed in seeds:
            print(f"seed {seed}: {setup_of(seed, list(NODE_IDS[: opts.nodes]), opts.faults)}")
            for op in schedule_of(seed, opts, list(NODE_IDS[: opts.nodes])):
                print(f"  {op.index:4d} {op.kind:14s} {op.args}")
        return 0
    root = Path(args.workdir or tempfile.mkdtemp(prefix="sifnet-chaos-"))
    if not args.result_json:
        print(
            f"chaos: seeds {seeds[0]}..{seeds[-1]} ({len(seeds)}), {opts.nodes} nodes, {opts.ops} ops each, "
            f"skip {list(opts.skip) or 'nothing'}, data in {root}",
            flush=True,
        )
    if args.result_json:
        (result,) = run_many(seeds, opts, root, keep=args.keep)
        Path(args.result_json).write_text(json.dumps(result.to_json()))
        return 0 if result.ok else 1
    if args.in_process or len(seeds) == 1:
        return summarise(run_many(seeds, opts, root, keep=args.keep))
    return summarise([run_child(seed, argv if argv is not None else sys.argv[1:], root) for seed in seeds])


def run_child(seed: int, argv: list[str], root: Path) -> SeedResult:
    """One seed in a child process (fresh imports of the current code); its nodes die with it."""
    out = root / f"seed-{seed}.json"
    out.unlink(missing_ok=True)
    kept = [a for i, a in enumerate(argv) if not _is_seed_arg(argv, i)]
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.chaos.harness",
            *kept,
            "--seed",
            str(seed),
            "--workdir",
            str(root),
            "--result-json",
            str(out),
        ],
        cwd=Path(__file__).parents[2],
    )
    try:
        child.wait()
    except KeyboardInterrupt:
        child.send_signal(signal.SIGTERM)  # the child unwinds and kills its nodes
        child.wait(120)
        raise
    if out.exists():
        return SeedResult.from_json(json.loads(out.read_text()))
    return SeedResult(
        seed, violations=[Violation("x:harness", f"the seed's process exited {child.returncode} without a result")]
    )


def _is_seed_arg(argv: list[str], i: int) -> bool:
    """--seeds/--seed/--workdir and their values (the parent passes its own)."""
    names = ("--seeds", "--seed", "--workdir", "--result-json")
    arg, prev = argv[i], argv[i - 1] if i else ""
    return arg.split("=")[0] in names or (prev in names and "=" not in prev)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_many(seeds: list[int], opts: Options, root: Path, *, keep: bool = False, log=print) -> list[SeedResult]:
    templates = Templates(root / "templates")
    results = []
    for seed in seeds:
        workdir = root / f"seed-{seed}"
        shutil.rmtree(workdir, ignore_errors=True)
        try:
            result = run_seed(seed, opts, workdir, templates, log=log)
        except Exception as exc:
            result = SeedResult(
                seed, violations=[Violation("x:harness", f"{exc.__class__.__name__}: {str(exc)[:600]}")]
            )
        log(result.line())
        for v in result.violations[1:8]:
            log(f"    also: {v}")
        for w in result.warnings[:3]:
            log(f"    warning: {w[:400]}")
        if result.ok and not keep:
            shutil.rmtree(workdir, ignore_errors=True)
        results.append(result)
        sys.stdout.flush()
    return results


def summarise(results: list[SeedResult], log=print) -> int:
    faults, ops = Counter(), Counter()
    for r in results:
        faults.update(r.faults)
        ops.update(r.ops)
    bad = [r for r in results if not r.ok]
    log(
        f"chaos summary: seeds={len(results)} ok={len(results) - len(bad)} "
        f"violations={sum(len(r.violations) for r in bad)} "
        f"in {len(bad)} seeds; faults={sum(v for k, v in faults.items() if k != 'skew_s')} "
        f"({' '.join(f'{k}={v}' for k, v in sorted(faults.items()))}); ops={sum(ops.values())} "
        f"({' '.join(f'{k}={v}' for k, v in sorted(ops.items()))})"
    )
    for r in bad:
        log(f"  failing seed {r.seed}: {r.violations[0]}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
