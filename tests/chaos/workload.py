"""The seeded workload: a table of operation kinds with weights, and the planner that draws a schedule.

The planner draws the whole schedule from random.Random(seed) before anything runs, using
only its own model of the world (who is down, clock offsets, closed members), never what the
nodes answered: a seed always yields the same list of operations. To add an operation
(clearing rounds, cross-border reviews, advice abroad) append an OpKind with a plan function here and a run
function in ops.py (or ops_federation.py).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .ops import (
    run_advice_book,
    run_advice_step,
    run_burst,
    run_checkpoint,
    run_clock,
    run_close,
    run_kill,
    run_partition,
    run_pause,
    run_pay,
    run_proposal_new,
    run_proposal_step,
    run_rotate,
    run_suspend,
    run_xpay,
)
from .ops_advice import run_xadvice_book, run_xadvice_step
from .ops_federation import (
    run_clock_jump,
    run_consent,
    run_far_invite,
    run_settle,
    run_xpay_reuse,
    run_xproposal_new,
    run_xreview_step,
)

if TYPE_CHECKING:
    from .ops import Runner

MAX_SPREAD = 120  # seconds between the most and least advanced clock; nodes allow 300
AMOUNTS = (1, 4)
BIG_AMOUNTS = (6, 14)
MAX_SPEND = 15  # the welcome grant (10) plus the overdraft (5)


@dataclass(frozen=True)
class Op:
    index: int
    kind: str
    args: dict


@dataclass
class World:
    """The planner's model: what the schedule itself has done so far, nothing observed."""

    nodes: list[str]
    members: int
    max_dead: int
    dead: set[str] = field(default_factory=set)
    offsets: dict[str, int] = field(default_factory=dict)
    closed: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    partitions: set[frozenset] = field(default_factory=set)
    suspended: set[tuple[str, str]] = field(default_factory=set)
    due: list[tuple[int, str, dict]] = field(default_factory=list)
    small_trust: dict[tuple[str, str], int] = field(default_factory=dict)  # (truster, trusted) -> limit
    no_consent: set[tuple[str, int]] = field(default_factory=set)  # reviewers who withdrew pool consent

    def alive(self) -> list[str]:
        return [n for n in self.nodes if n not in self.dead]

    def active_members(self, node: str) -> list[int]:
        return [i for i in range(self.members) if i not in self.closed[node]]

    def later(self, after: int, kind: str, args: dict) -> None:
        self.due.append((after, kind, args))


@dataclass(frozen=True)
class OpKind:
    """One kind of operation: its weight, how the planner draws its arguments, how it runs."""

    name: str
    weight: int
    plan: Callable[[random.Random, World], dict | None]
    run: Callable[[Runner, dict], str]
    group: str = "money"  # flags switch groups off: money, advice, proposals, reviews, rounds, keys, process, net


# --- planning -------------------------------------------------------------------------------------


def _actor(rng: random.Random, w: World) -> tuple[str, int] | None:
    """A live node and one of its members who has not closed their account (draws happen regardless)."""
    alive, pick_node, pick_member = w.alive(), rng.random(), rng.random()
    if not alive:
        return None
    node = alive[int(pick_node * len(alive))]
    members = w.active_members(node)
    return (node, members[int(pick_member * len(members))]) if members else None


def _other(rng: random.Random, w: World, node: str) -> str:
    others = [n for n in w.nodes if n != node]
    return others[int(rng.random() * len(others))]


def plan_pay(rng, w):
    actor, payee, amount = _actor(rng, w), rng.randrange(w.members), rng.randint(*AMOUNTS)
    if actor is None or payee == actor[1]:
        return None
    return {"node": actor[0], "payer": actor[1], "payee": payee, "amount": amount}


def plan_xpay(rng, w, *, amounts=AMOUNTS, unknown=False):
    actor = _actor(rng, w)
    dest, payee, amount = (
        _other(rng, w, actor[0] if actor else w.nodes[0]),
        rng.randrange(w.members),
        rng.randint(*amounts),
    )
    if actor is None:
        return None
    return {"node": actor[0], "payer": actor[1], "to_node": dest, "payee": -1 if unknown else payee, "amount": amount}


def plan_xpay_reuse(rng, w):
    """A node sends a transfer again under its newest transfer's id: the same body, or a different one."""
    alive, pick, same = w.alive(), rng.random(), rng.random() < 0.5
    if not alive:
        return None
    return {"node": alive[int(pick * len(alive))], "same": same}


def plan_far_invite(rng, w):
    """A node invites a peer's reviewer with deadlines 1 to 70 years ahead (a slot-starving invitation)."""
    alive, pick, days = w.alive(), rng.random(), rng.randint(365, 70 * 365)
    if not alive:
        return None
    node = alive[int(pick * len(alive))]
    return {"node": node, "to_node": _other(rng, w, node), "days": days}


def plan_xpay_big(rng, w):
    """A payment above the trust limit the payee's node extends to the payer's node: it must bounce."""
    pairs = sorted(w.small_trust)
    pick, payer_pick, payee, drawn = rng.random(), rng.random(), rng.randrange(w.members), rng.randint(*BIG_AMOUNTS)
    pairs = [(truster, trusted) for truster, trusted in pairs if trusted not in w.dead]
    if not pairs:
        return plan_xpay(rng, w, amounts=BIG_AMOUNTS)
    truster, trusted = pairs[int(pick * len(pairs))]
    members = w.active_members(trusted)
    if not members:
        return None
    amount = min(max(drawn, w.small_trust[(truster, trusted)] + 1), MAX_SPEND)
    return {
        "node": trusted,
        "payer": members[int(payer_pick * len(members))],
        "to_node": truster,
        "payee": payee,
        "amount": amount,
    }


def plan_burst(rng, w):
    """Several payments sent at once (threads): concurrent writers, and in flight when a kill lands."""
    count = rng.randint(2, 6)
    parts = [plan_pay(rng, w) if rng.random() < 0.4 else plan_xpay(rng, w) for _ in range(count)]
    parts = [p for p in parts if p is not None]
    return {"parts": parts} if parts else None


def plan_close(rng, w):
    actor = _actor(rng, w)
    if actor is None or w.closed[actor[0]] or len(w.active_members(actor[0])) < 3:
        return None  # at most one closed account per node keeps enough payers
    w.closed[actor[0]].add(actor[1])
    return {"node": actor[0], "member": actor[1]}


def plan_rotate(rng, w):
    return {"node": w.nodes[int(rng.random() * len(w.nodes))]}  # also a dead node: operators rotate offline too


def plan_pair(rng, w):
    """Two distinct active members of one live node (provider/receiver, author/-)."""
    actor, other, rate, hours = _actor(rng, w), rng.random(), rng.randint(1, 2), rng.randint(1, 2)
    if actor is None:
        return None
    members = [m for m in w.active_members(actor[0]) if m != actor[1]]
    if not members:
        return None
    return {"node": actor[0], "a": actor[1], "b": members[int(other * len(members))], "rate": rate, "hours": hours}


def plan_step(rng, w):
    alive, pick, draw = w.alive(), rng.random(), rng.random()
    return {"node": alive[int(pick * len(alive))], "pick": rng.random(), "draw": draw} if alive else None


def plan_kill(rng, w):
    alive, pick, delay, after = w.alive(), rng.random(), round(rng.uniform(0, 0.4), 3), rng.randint(3, 12)
    if len(w.dead) >= w.max_dead or not alive:
        return None
    node = alive[int(pick * len(alive))]
    w.dead.add(node)
    w.later(after, "restart", {"node": node})
    return {"node": node, "delay": delay}


def plan_clock(rng, w):
    node, seconds = w.nodes[int(rng.random() * len(w.nodes))], rng.randint(0, 60)
    others = [w.offsets.get(n, 0) for n in w.nodes if n != node]
    room = min(others) + MAX_SPREAD - w.offsets.get(node, 0)
    seconds = max(0, min(seconds, room))
    if seconds == 0:
        return None
    w.offsets[node] = w.offsets.get(node, 0) + seconds
    return {"node": node, "seconds": seconds}


def plan_partition(rng, w):
    a = w.nodes[int(rng.random() * len(w.nodes))]
    b, after = _other(rng, w, a), rng.randint(3, 15)
    pair = frozenset((a, b))
    if pair in w.partitions:
        return None
    w.partitions.add(pair)
    w.later(after, "unpartition", {"a": a, "b": b})
    return {"a": a, "b": b}


def plan_suspend(rng, w):
    """A coordinator defederates a peer for a while (its requests are refused, nothing is sent to it)."""
    a = w.nodes[int(rng.random() * len(w.nodes))]
    b, after = _other(rng, w, a), rng.randint(3, 12)
    if (a, b) in w.suspended:
        return None
    w.suspended.add((a, b))
    w.later(after, "resume", {"node": a, "peer": b})
    return {"node": a, "peer": b}


def plan_checkpoint(rng, w):
    alive, peer_pick = w.alive(), rng.random()
    if not alive:
        return None
    node = alive[int(rng.random() * len(alive))]
    others = [n for n in w.nodes if n != node]
    return {"node": node, "peer": others[int(peer_pick * len(others))]}


def plan_pause(rng, w):
    return {"seconds": round(rng.uniform(0.05, 0.6), 3)}


def plan_xproposal(rng, w):
    """A proposal wanting one or two reviewers from another country (only peers' pools have them)."""
    pair, foreign = plan_pair(rng, w), rng.randint(1, 2)
    if pair is None:
        return None
    return {**pair, "foreign": min(foreign, pair["hours"])}


def plan_xreview(rng, w):
    """One member of a live node acts on an invitation from abroad (which one is drawn at run time)."""
    actor, pick, draw = _actor(rng, w), rng.random(), rng.random()
    return {"node": actor[0], "member": actor[1], "pick": pick, "draw": draw} if actor else None


def plan_consent(rng, w):
    """Toggle a reviewer's consent to be shared with peers."""
    actor = _actor(rng, w)
    if actor is None:
        return None
    consent = actor in w.no_consent
    (w.no_consent.discard if consent else w.no_consent.add)(actor)
    return {"node": actor[0], "member": actor[1], "consent": consent}


def plan_clock_jump(rng, w):
    """Every clock an hour and a bit forward: open invitations expire (invite_accept_hours is 1)."""
    return {"seconds": 60 * rng.randint(61, 65)}


def plan_settle(rng, w):
    """A clearing round on a live node with the peers it has not suspended (a dead one abandons the round)."""
    # Participants' clocks may run up to MAX_SPREAD ahead: a shorter deadline has passed for them on arrival.
    alive, pick, deadline = w.alive(), rng.random(), rng.randint(MAX_SPREAD + 30, 300)
    if not alive:
        return None
    node = alive[int(pick * len(alive))]
    others = [n for n in w.nodes if n != node and (node, n) not in w.suspended]
    return {"node": node, "participants": sorted([node, *others]), "deadline": deadline} if others else None


def plan_xadvice_book(rng, w):
    """A member books an offer a member of another node shares (posted then, if it is not yet)."""
    actor, adviser, hours, rate, pick = (
        _actor(rng, w),
        rng.randrange(w.members),
        rng.randint(1, 2),
        rng.randint(1, 2),
        rng.random(),
    )
    if actor is None:
        return None
    to_node = _other(rng, w, actor[0])
    if adviser in w.closed[to_node]:
        return None
    return {
        "node": actor[0],
        "booker": actor[1],
        "to_node": to_node,
        "adviser": adviser,
        "hours": hours,
        "rate": rate,
        "pick": pick,
    }


def plan_schedule(seed: int, n_ops: int, world: World, kinds: list[OpKind]) -> list[Op]:
    """The whole schedule for a seed: a pure function of the seed, the sizes and the enabled kinds."""
    rng = random.Random(f"{seed}:workload")
    table = [k for k in kinds if k.weight > 0]
    ops: list[Op] = []
    while len(ops) < n_ops:
        for item in sorted([d for d in world.due if d[0] <= 0], key=lambda d: (d[1], sorted(d[2].items()))):
            world.due.remove(item)
            _apply_system(world, item[1], item[2])
            ops.append(Op(len(ops), item[1], item[2]))
        kind = rng.choices(table, weights=[k.weight for k in table])[0]
        args = kind.plan(rng, world)
        if args is None:
            continue
        world.due = [(after - 1, k, a) for after, k, a in world.due]
        ops.append(Op(len(ops), kind.name, args))
    for _, kind_name, args in sorted(world.due, key=lambda d: (d[0], d[1], sorted(d[2].items()))):
        _apply_system(world, kind_name, args)  # what the schedule started it also ends (a resume above all)
        ops.append(Op(len(ops), kind_name, args))
    world.due.clear()
    return ops


def _apply_system(world: World, kind: str, args: dict) -> None:
    if kind == "restart":
        world.dead.discard(args["node"])
    elif kind == "unpartition":
        world.partitions.discard(frozenset((args["a"], args["b"])))
    elif kind == "resume":
        world.suspended.discard((args["node"], args["peer"]))


OP_KINDS: list[OpKind] = [
    OpKind("pay", 20, plan_pay, run_pay),
    OpKind("xpay", 24, plan_xpay, run_xpay),
    OpKind("xpay_unknown", 3, lambda rng, w: plan_xpay(rng, w, unknown=True), run_xpay),
    OpKind("xpay_big", 4, plan_xpay_big, run_xpay),
    OpKind("burst", 5, plan_burst, run_burst),
    OpKind("xpay_reuse", 2, plan_xpay_reuse, run_xpay_reuse, group="careless"),
    OpKind("far_invite", 2, plan_far_invite, run_far_invite, group="careless"),
    OpKind("close_account", 1, plan_close, run_close),
    OpKind("rotate_key", 2, plan_rotate, run_rotate, group="keys"),
    OpKind("advice_book", 4, plan_pair, run_advice_book, group="advice"),
    OpKind("advice_step", 6, plan_step, run_advice_step, group="advice"),
    OpKind("proposal_new", 3, plan_pair, run_proposal_new, group="proposals"),
    OpKind("proposal_step", 5, plan_step, run_proposal_step, group="proposals"),
    OpKind("xadvice_book", 5, plan_xadvice_book, run_xadvice_book, group="advice"),
    OpKind("xadvice_step", 8, plan_xreview, run_xadvice_step, group="advice"),
    OpKind("xproposal_new", 3, plan_xproposal, run_xproposal_new, group="reviews"),
    OpKind("xreview_step", 8, plan_xreview, run_xreview_step, group="reviews"),
    OpKind("consent", 2, plan_consent, run_consent, group="reviews"),
    OpKind("clock_jump", 1, plan_clock_jump, run_clock_jump, group="reviews"),
    OpKind("settle", 2, plan_settle, run_settle, group="rounds"),
    OpKind("kill", 3, plan_kill, run_kill, group="process"),
    OpKind("clock", 4, plan_clock, run_clock, group="process"),
    OpKind("partition", 2, plan_partition, run_partition, group="net"),
    OpKind("suspend", 2, plan_suspend, run_suspend, group="net"),
    OpKind("checkpoint", 2, plan_checkpoint, run_checkpoint, group="net"),
    OpKind("pause", 6, plan_pause, run_pause, group="pace"),
]
GROUPS = sorted({k.group for k in OP_KINDS})
