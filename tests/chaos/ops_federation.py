"""Run functions of the workload's federation-wide operations: cross-border reviews, pool consent, clearing rounds.

The planner functions are in workload.py; these follow ops.py's style (outcome strings, acks,
server errors recorded by Runner.call).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import requests

from .invariants import Ack
from .ops import _live, outcome_of

if TYPE_CHECKING:
    from .ops import Runner

REVIEW = {"shared_value": 4, "social_transformation": 3, "impact": 5, "confidence": 4, "feedback": "Useful abroad."}
JUMP_STEP = 60  # seconds per step of a clock jump: every node moves one step before any moves the next


def run_xproposal_new(r: Runner, a: dict) -> str:
    """A proposal asking for reviewers from another country (peers' pools): invitations cross the border."""
    if not _live(r, a["node"]):
        return "node_down"
    resp = r.call(
        "xproposal_new",
        r.member(a["node"], a["a"]),
        "POST",
        "/proposals",
        {
            "title": "Chaos proposal abroad",
            "summary": "Reviewed across borders under faults",
            "full_text": "Long text.",
            "tags": ["education"],
            "language": "en",
            "stage": "idea",
            "reviews_wanted": a["hours"],
            "bounty": a["rate"],
            "min_foreign_reviewers": a["foreign"],
        },
    )
    if resp.status_code == 201:
        pid = resp.json()["id"]
        r.proposals[a["node"]].append(pid)  # proposal_step withdraws these too
        r.parties[(a["node"], -pid)] = (a["a"],)
        r.acks.append(Ack(a["node"], "proposal_new", r.handle(a["node"], a["a"]), str(pid), a["hours"] * a["rate"]))
    return outcome_of(resp)


def run_xreview_step(r: Runner, a: dict) -> str:
    """The reviewer's side: one open invitation from abroad of a node's members is accepted, declined or reviewed.

    Half the time a review in progress (accepted) is picked before the invitations still to answer.
    """
    node = a["node"]
    if not _live(r, node):
        return "node_down"
    found, count = [], len(r.cluster.nodes[node].members)
    for i in range(count):
        reviewer = r.member(node, (a["member"] + i) % count)
        listing = r.call("xreview_step", reviewer, "GET", "/remote-invitations")
        if listing.status_code == 200:  # a closed account's token no longer works: the next member
            found += [
                (reviewer, inv) for inv in listing.json()["invitations"] if inv["status"] in ("invited", "accepted")
            ]
    if not found:
        return "no_invitation"
    d = a["draw"]
    accepted = [f for f in found if f[1]["status"] == "accepted"]
    pool = accepted if accepted and d < 0.5 else found
    reviewer, inv = pool[int(a["pick"] * len(pool))]
    if inv["status"] == "invited":
        action, body = ("accept", {}) if d < 0.8 else ("decline", {"reason": "chaos says no"})
        return f"{action}:" + outcome_of(
            r.call("xreview_step", reviewer, "POST", f"/remote-invitations/{inv['id']}/{action}", body)
        )
    return "review:" + outcome_of(
        r.call("xreview_step", reviewer, "POST", f"/remote-invitations/{inv['id']}/review", REVIEW)
    )


def run_consent(r: Runner, a: dict) -> str:
    """A reviewer gives or withdraws consent to be shared with peers: the pool travels as a delta."""
    if not _live(r, a["node"]):
        return "node_down"
    return outcome_of(
        r.call("consent", r.member(a["node"], a["member"]), "PATCH", "/me", {"pool_consent": a["consent"]})
    )


def run_clock_jump(r: Runner, a: dict) -> str:
    """Every clock forward together (invitations expire), in steps that keep the spread inside the window."""
    outcomes = set()
    for _ in range(a["seconds"] // JUMP_STEP):
        for node_id in r.cluster.nodes:
            outcomes.add(r.cluster.advance(node_id, JUMP_STEP))
    r.skew += a["seconds"]
    return "+".join(sorted(outcomes))


def run_settle(r: Runner, a: dict) -> str:
    """A clearing round coordinated by a node; faults may abandon it, which must change nothing anywhere."""
    if not _live(r, a["node"]):
        return "node_down"
    resp = r.call(
        "settle",
        r.cluster.nodes[a["node"]].coord,
        "POST",
        "/federation/settlements",
        {"participants": a["participants"], "deadline_seconds": a["deadline"]},
    )
    if resp.status_code != 201:
        return outcome_of(resp)
    r.rounds.append((a["node"], resp.json()["round_id"]))
    return resp.json()["state"]


def _hook(r: Runner, op: str, node: str, name: str, body: dict) -> str:
    """Call a node's careless-peer test hook; a 5xx is a server error like any other."""
    try:
        resp = r.cluster.nodes[node].proc.test_hook(name, body)
    except requests.RequestException as exc:
        return f"down:{exc.__class__.__name__}"
    if resp.status_code >= 500:
        r.server_errors.append(f"{op}: POST /_test/{name} -> {resp.status_code}: {resp.text[:300]}")
    return outcome_of(resp)


def run_xpay_reuse(r: Runner, a: dict) -> str:
    """The node sends a transfer under the id of its newest one (the same transfer, or another): the peer must
    answer it once, moving nothing, and a different one must come back bounced (transfer_id_reused)."""
    if not _live(r, a["node"]):
        return "node_down"
    return _hook(r, "xpay_reuse", a["node"], "federation/reuse-transfer", {"same": a["same"]})


def run_far_invite(r: Runner, a: dict) -> str:
    """The node invites a peer's shared reviewer with deadlines years ahead: the peer must decline at once."""
    if not _live(r, a["node"]):
        return "node_down"
    return _hook(r, "far_invite", a["node"], "federation/far-invite", {"peer": a["to_node"], "days": a["days"]})
