"""Run functions of advice across borders: a member books a peer's shared offer; either party (or the booker's
coordinator) takes the next step, or gives feedback on a session that took place.

The planner functions are in workload.py; these follow ops.py's style (outcome strings, acks,
server errors recorded by Runner.call). What is booked and by whom is found at run time (which
offers a node shows depends on what the sharing sweep delivered under faults); the plan fixes only
who acts and the draws.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .invariants import Ack
from .ops import _live, outcome_of

if TYPE_CHECKING:
    from .ops import Runner

OFFER_WAIT = 4.0  # seconds a booker waits for a just-posted offer to reach their node


def _offer(r: Runner, node: str, member: int, rate: int) -> str:
    """The member's network-wide offer on their node, posted the first time it is needed."""
    key = (node, member)
    if key in r.offers:
        return "ok"
    resp = r.call(
        "xadvice_book",
        r.member(node, member),
        "POST",
        "/advice/listings",
        {"kind": "offer", "title": "Chaos advice abroad", "tags": ["education"], "rate": rate, "network_wide": True},
    )
    if resp.status_code == 201:
        r.offers[key] = resp.json()["id"]
    return outcome_of(resp)


def run_xadvice_book(r: Runner, a: dict) -> str:
    """The adviser shares an offer (once); the booker books the first offer of the adviser's node they can see."""
    if not _live(r, a["to_node"]) or not _live(r, a["node"]):
        return "node_down"
    shared = _offer(r, a["to_node"], a["adviser"], a["rate"])
    if shared != "ok":
        return f"offer:{shared}"
    booker = r.member(a["node"], a["booker"])
    deadline = time.monotonic() + OFFER_WAIT
    while True:  # the sharing sweep (every second) delivers a new offer, unless faults hold it up
        listed = r.call("xadvice_book", booker, "GET", "/advice/listings?kind=offer&limit=100")
        if listed.status_code != 200:
            return outcome_of(listed)
        offers = [x for x in listed.json()["listings"] if x["abroad"] and x["abroad"]["node"] == a["to_node"]]
        if offers:
            break
        if time.monotonic() > deadline:
            return "no_offer_yet"  # a partition, a suspension, a dead node, lost requests
        time.sleep(0.3)
    offer = offers[int(a["pick"] * len(offers))]
    resp = r.call("xadvice_book", booker, "POST", f"/advice/listings/{offer['id']}/book", {"hours": a["hours"]})
    if resp.status_code == 201:
        booking = resp.json()
        r.acks.append(
            Ack(a["node"], "xadvice_book", r.handle(a["node"], a["booker"]), str(booking["id"]), booking["amount"])
        )
    return outcome_of(resp)


HELD = ("confirmed", "paid", "split")  # a session that took place: each party may give feedback once
FEEDBACK_DRAW = 0.9  # a draw at or above it gives feedback on a session that took place, when there is one


def _open_sessions(r: Runner, node: str, start: int, *, held: bool = False) -> list[tuple]:
    """(client, session) of every open session abroad of a node's members (held: every one that took place),
    starting the walk at one member."""
    found, count = [], len(r.cluster.nodes[node].members)
    for i in range(count):
        client = r.member(node, (start + i) % count)
        listing = r.call("xadvice_step", client, "GET", "/advice/abroad")
        if listing.status_code == 200:  # a closed account's token no longer works: the next member
            bookings = listing.json()["bookings"]
            found += [(client, b) for b in bookings if (b["status"] in HELD if held else b["actions"])]
    return found


def _feedback(r: Runner, a: dict) -> str | None:
    """A party of a session that took place gives feedback (a second time is refused: feedback_given)."""
    held = _open_sessions(r, a["node"], a["member"], held=True)
    if not held:
        return None
    client, b = held[int(a["pick"] * len(held))]
    body = {"rating": 1 + int(a["pick"] * 5), "comment": "chaos feedback"}
    return "feedback:" + outcome_of(r.call("xadvice_step", client, "POST", f"/advice/abroad/{b['id']}/feedback", body))


def _step(b: dict, d: float) -> tuple[str, dict] | None:
    """The next action on a session by what it offers the viewer; the draw picks among them (None: wait)."""
    actions = b["actions"]
    if actions == ["accept", "decline"]:
        return ("accept", {}) if d < 0.7 else ("decline", {"reason": "not that week"})
    if "claim" in actions:
        return ("claim", {}) if d < 0.7 else ("cancel", {"reason": "ill"})
    if "dispute" in actions:
        return ("confirm", {}) if d < 0.6 else ("dispute", {"reason": "it did not happen"})
    if "confirm" in actions:
        return ("confirm", {}) if d < 0.75 else ("cancel", {})
    if actions == ["cancel"]:  # the booker waits for the adviser's answer, and now and then gives up
        return ("cancel", {"reason": "changed plans"}) if d < 0.3 else None
    return None


def run_xadvice_step(r: Runner, a: dict) -> str:
    """One party of an open session abroad acts (on the planned node, else the next with one); or a coordinator of
    the planned node settles a dispute of a booking made there."""
    node = a["node"]
    if not _live(r, node):
        return "node_down"
    coord = r.cluster.nodes[node].coord
    if a["draw"] < 0.15:
        disputes = r.call("xadvice_step", coord, "GET", "/coordinator/disputes/abroad")
        if disputes.status_code == 200 and disputes.json()["bookings"]:
            b = disputes.json()["bookings"][0]
            outcome = ("pay_provider", "refund_receiver", "split")[int(a["pick"] * 3)]
            body = {"outcome": outcome, "note": "settled by chaos"}
            if outcome == "split":
                if b["amount"] < 2:
                    body["outcome"] = "refund_receiver"
                else:
                    body["provider_amount"] = 1
            path = f"/coordinator/disputes/abroad/{b['id']}/resolve"
            return "resolve:" + outcome_of(r.call("xadvice_step", coord, "POST", path, body))
    if a["draw"] >= FEEDBACK_DRAW:
        given = _feedback(r, a)
        if given is not None:
            return given
    nodes = list(r.cluster.nodes)
    found: list[tuple] = []
    for i in range(len(nodes)):  # the planned node first, then the next live one with a session to act on
        other = nodes[(nodes.index(node) + i) % len(nodes)]
        if _live(r, other):
            found = _open_sessions(r, other, a["member"])
        if found:
            break
    if not found:
        return _feedback(r, a) or "no_session"  # nothing to step: feedback on a session that took place, if any
    client, b = found[int(a["pick"] * len(found))]
    step = _step(b, a["draw"])
    if step is None:
        return _feedback(r, a) or "wait"
    action, body = step
    return f"{action}:" + outcome_of(r.call("xadvice_step", client, "POST", f"/advice/abroad/{b['id']}/{action}", body))
