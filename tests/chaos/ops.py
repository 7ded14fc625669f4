"""Running the workload's operations against a cluster: one function per op kind, and the Runner.

Each run function takes the Runner and the op's planned arguments and returns an outcome
string ("ok", "refused:<code>", "error:<code>", "node_down", ...). Acknowledged writes are
recorded as Acks for invariant (g); any 5xx answer is recorded as a server error.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from typing import TYPE_CHECKING

import requests

from .invariants import Ack

if TYPE_CHECKING:
    from .workload import Op, OpKind


class Runner:
    """Runs a schedule against a cluster, recording acknowledged writes, outcomes and server errors."""

    def __init__(self, cluster, *, skip: set[str] = frozenset(), max_rotations: int = 99) -> None:
        self.cluster = cluster
        self.skip = skip
        self.max_rotations = max_rotations
        self.rotations: Counter[str] = Counter()
        self.acks: list[Ack] = []
        self.ops: Counter[str] = Counter()
        self.outcomes: dict[str, Counter] = defaultdict(Counter)
        self.server_errors: list[str] = []
        self.bookings: dict[str, list[int]] = defaultdict(list)
        self.offers: dict[tuple[str, int], int] = {}  # (node, member) -> their network-wide offer (advice abroad)
        self.proposals: dict[str, list[int]] = defaultdict(list)
        self.rounds: list[tuple[str, str]] = []  # (coordinator, round id) of clearing rounds started
        self.parties: dict[tuple[str, int], tuple[int, ...]] = {}  # booking id (proposal: -id) -> members
        self.timers: dict[str, threading.Thread] = {}
        self.suspended: set[tuple[str, str]] = set()  # (node, peer) suspended by the workload, not yet resumed
        self.kills = 0
        self.skew = 0

    def run(self, schedule: list[Op], kinds: dict[str, OpKind], log=None) -> None:
        for op in schedule:
            if op.kind in self.skip:
                continue
            fn = SYSTEM_OPS.get(op.kind) or kinds[op.kind].run
            try:
                outcome = fn(self, op.args)
            except requests.RequestException as exc:
                outcome = f"down:{exc.__class__.__name__}"
            self.ops[op.kind] += 1
            self.outcomes[op.kind][outcome.split(":")[0] if outcome.startswith("down") else outcome] += 1
            if log is not None:
                log(f"  op {op.index:4d} {op.kind:14s} {op.args} -> {outcome}")

    def call(self, op: str, client, method: str, path: str, body=None) -> requests.Response:
        resp = client.call(method, path, body)
        # 502 peer_unreachable is the node's correct answer when a partition or kill ate the peer's reply.
        unreachable = resp.status_code == 502 and '"peer_unreachable"' in resp.text
        if resp.status_code >= 500 and not unreachable:
            self.server_errors.append(f"{op}: {method} {path} -> {resp.status_code}: {resp.text[:300]}")
        return resp

    def member(self, node: str, i: int):
        return self.cluster.nodes[node].members[i]

    def handle(self, node: str, i: int) -> str:
        return self.cluster.nodes[node].handles[i]

    def join_timer(self, node: str) -> None:
        timer = self.timers.pop(node, None)
        if timer is not None:
            timer.join()


def outcome_of(resp: requests.Response) -> str:
    if resp.status_code < 300:
        return "ok"
    try:
        code = resp.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = str(resp.status_code)
    return f"{'error' if resp.status_code >= 500 else 'refused'}:{code}"


def _live(r: Runner, node: str) -> bool:
    return r.cluster.nodes[node].proc.running


def run_pay(r: Runner, a: dict, client=None) -> str:
    if not _live(r, a["node"]):
        return "node_down"
    resp = r.call(
        "pay",
        client or r.member(a["node"], a["payer"]),
        "POST",
        "/transfers",
        {"to": r.handle(a["node"], a["payee"]), "amount": a["amount"], "memo": "chaos"},
    )
    if resp.status_code == 201:
        r.acks.append(Ack(a["node"], "pay", r.handle(a["node"], a["payer"]), str(resp.json()["txn_id"]), a["amount"]))
    return outcome_of(resp)


def run_xpay(r: Runner, a: dict, client=None) -> str:
    if not _live(r, a["node"]):
        return "node_down"
    payee = f"nobody{a['amount']}" if a["payee"] < 0 else r.handle(a["to_node"], a["payee"])
    resp = r.call(
        "xpay",
        client or r.member(a["node"], a["payer"]),
        "POST",
        "/transfers",
        {"to": f"{payee}@{a['to_node']}", "amount": a["amount"], "memo": "chaos"},
    )
    if resp.status_code == 201:
        r.acks.append(Ack(a["node"], "xpay", r.handle(a["node"], a["payer"]), resp.json()["transfer_id"], a["amount"]))
    return outcome_of(resp)


def run_burst(r: Runner, a: dict) -> str:
    outcomes: list[str] = [""] * len(a["parts"])

    def one(i: int, part: dict) -> None:
        client = r.member(part["node"], part["payer"]).clone()
        try:
            outcomes[i] = (run_xpay if "to_node" in part else run_pay)(r, part, client=client)
        except requests.RequestException as exc:
            outcomes[i] = f"down:{exc.__class__.__name__}"
        except Exception as exc:
            outcomes[i] = "error:harness"
            r.server_errors.append(f"burst part {part}: {exc!r}")
        finally:
            client.close()

    threads = [threading.Thread(target=one, args=(i, p)) for i, p in enumerate(a["parts"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return "+".join(sorted(set(outcomes)))


def run_close(r: Runner, a: dict) -> str:
    if not _live(r, a["node"]):
        return "node_down"
    return outcome_of(r.call("close_account", r.member(a["node"], a["member"]), "POST", "/me/close"))


def run_rotate(r: Runner, a: dict) -> str:
    if r.rotations[a["node"]] >= r.max_rotations:
        return "skipped:max_rotations"
    r.rotations[a["node"]] += 1
    result = r.cluster.nodes[a["node"]].proc.cli("rotate-key", check=False)
    if result.returncode != 0:
        r.server_errors.append(f"rotate_key on {a['node']}: exit {result.returncode}: {result.stderr[-300:]}")
        return f"error:exit{result.returncode}"
    return "ok"


def run_advice_book(r: Runner, a: dict) -> str:
    if not _live(r, a["node"]):
        return "node_down"
    provider, receiver = r.member(a["node"], a["a"]), r.member(a["node"], a["b"])
    resp = r.call(
        "advice_book",
        provider,
        "POST",
        "/advice/listings",
        {"kind": "offer", "title": "Chaos advice", "tags": ["education"], "rate": a["rate"]},
    )
    if resp.status_code != 201:
        return outcome_of(resp)
    resp = r.call("advice_book", receiver, "POST", f"/advice/listings/{resp.json()['id']}/book", {"hours": a["hours"]})
    if resp.status_code == 201:
        booking = resp.json()
        r.bookings[a["node"]].append(booking["id"])
        r.parties[(a["node"], booking["id"])] = (a["a"], a["b"])
        r.acks.append(Ack(a["node"], "advice_book", r.handle(a["node"], a["b"]), str(booking["id"]), booking["amount"]))
    return outcome_of(resp)


def run_advice_step(r: Runner, a: dict) -> str:
    node, ids = a["node"], r.bookings[a["node"]]
    if not ids:
        return "nothing"
    if not _live(r, node):
        return "node_down"
    booking_id = ids[int(a["pick"] * len(ids))]
    coord = r.cluster.nodes[node].coord
    provider, receiver = (r.member(node, i) for i in r.parties[(node, booking_id)])
    state = r.call("advice_step", receiver, "GET", f"/advice/bookings/{booking_id}")
    if state.status_code != 200:
        return outcome_of(state)
    status, d, amount = state.json()["status"], a["draw"], state.json()["amount"]
    if status == "booked" and state.json()["accepted_at"] is None and 0.6 <= d < 0.75:
        # the adviser answers a booking: declining returns the held SIF, accepting moves none
        action, body = ("decline", {"reason": "not that week"}) if d < 0.67 else ("accept", {})
        return outcome_of(r.call("advice_step", provider, "POST", f"/advice/bookings/{booking_id}/{action}", body))
    if status == "booked":
        if d < 0.35:
            who, action = receiver, "confirm"
        elif d < 0.6:
            who, action = (receiver if d < 0.5 else provider), "cancel"
        else:
            who, action = provider, "claim"
        return outcome_of(r.call("advice_step", who, "POST", f"/advice/bookings/{booking_id}/{action}", {}))
    if status == "claimed":
        if d < 0.5:
            return outcome_of(r.call("advice_step", receiver, "POST", f"/advice/bookings/{booking_id}/confirm", {}))
        return outcome_of(
            r.call(
                "advice_step",
                receiver,
                "POST",
                f"/advice/bookings/{booking_id}/dispute",
                {"reason": "it did not happen"},
            )
        )
    if status == "disputed":
        outcome = "pay_provider" if d < 0.33 else "refund_receiver" if d < 0.66 or amount < 2 else "split"
        body = {"outcome": outcome, "note": "settled by chaos"}
        if outcome == "split":
            body["provider_amount"] = 1
        return outcome_of(r.call("advice_step", coord, "POST", f"/coordinator/bookings/{booking_id}/resolve", body))
    return "final"


def run_proposal_new(r: Runner, a: dict) -> str:
    if not _live(r, a["node"]):
        return "node_down"
    resp = r.call(
        "proposal_new",
        r.member(a["node"], a["a"]),
        "POST",
        "/proposals",
        {
            "title": "Chaos proposal",
            "summary": "A proposal written under faults",
            "full_text": "Long text.",
            "tags": ["education"],
            "language": "en",
            "stage": "idea",
            "reviews_wanted": a["hours"],
            "bounty": a["rate"],
        },
    )
    if resp.status_code == 201:
        pid = resp.json()["id"]
        r.proposals[a["node"]].append(pid)
        r.parties[(a["node"], -pid)] = (a["a"],)
        r.acks.append(Ack(a["node"], "proposal_new", r.handle(a["node"], a["a"]), str(pid), a["hours"] * a["rate"]))
    return outcome_of(resp)


def run_proposal_step(r: Runner, a: dict) -> str:
    node, ids = a["node"], r.proposals[a["node"]]
    if not ids:
        return "nothing"
    if not _live(r, node):
        return "node_down"
    cn = r.cluster.nodes[node]
    pid = ids[int(a["pick"] * len(ids))]
    view = r.call("proposal_step", cn.coord, "GET", f"/proposals/{pid}")
    if view.status_code != 200:
        return outcome_of(view)
    p, d = view.json(), a["draw"]
    if p["status"] != "open":
        return "final"
    author = r.member(node, r.parties[(node, -pid)][0])
    if d < 0.15:
        return outcome_of(r.call("proposal_step", author, "POST", f"/proposals/{pid}/withdraw"))
    live = [
        i for i in p.get("invitations", []) if i["status"] in ("invited", "accepted") and i["reviewer"] in cn.handles
    ]
    if not live:
        return "no_invitation"
    inv = live[int(d * 997) % len(live)]
    reviewer = r.member(node, cn.handles.index(inv["reviewer"]))
    if inv["status"] == "invited":
        action = "accept" if d < 0.85 else "decline"
        return outcome_of(r.call("proposal_step", reviewer, "POST", f"/invitations/{inv['id']}/{action}", {}))
    review = {"shared_value": 4, "social_transformation": 3, "impact": 5, "confidence": 4, "feedback": "Useful."}
    return outcome_of(r.call("proposal_step", reviewer, "POST", f"/invitations/{inv['id']}/review", review))


def run_kill(r: Runner, a: dict) -> str:
    node = r.cluster.nodes[a["node"]]
    r.join_timer(a["node"])

    def kill() -> None:
        time.sleep(a["delay"])
        node.proc.kill9()

    r.timers[a["node"]] = threading.Thread(target=kill, name=f"kill-{a['node']}", daemon=True)
    r.timers[a["node"]].start()
    r.kills += 1
    return "ok"


def run_restart(r: Runner, a: dict) -> str:
    r.join_timer(a["node"])
    outcome = r.cluster.restart(a["node"])
    if outcome.startswith("error"):  # a node that cannot come back after kill -9 is a finding in itself
        r.server_errors.append(f"restart of {a['node']}: {outcome}")
        return "error:restart_failed"
    return outcome


def run_clock(r: Runner, a: dict) -> str:
    r.skew += a["seconds"]
    return r.cluster.advance(a["node"], a["seconds"])


def run_partition(r: Runner, a: dict) -> str:
    r.cluster.partition(a["a"], a["b"], on=True)
    return "ok"


def run_unpartition(r: Runner, a: dict) -> str:
    r.cluster.partition(a["a"], a["b"], on=False)
    return "ok"


def run_suspend(r: Runner, a: dict) -> str:
    if not _live(r, a["node"]):
        return "node_down"
    r.suspended.add((a["node"], a["peer"]))
    return outcome_of(
        r.call(
            "suspend",
            r.cluster.nodes[a["node"]].coord,
            "POST",
            f"/federation/peers/{a['peer']}/suspend",
            {"reason": "chaos: defederated for a while"},
        )
    )


def run_resume(r: Runner, a: dict) -> str:
    """Resume a suspended peer; a node that is down now is resumed by heal."""
    if not _live(r, a["node"]):
        return "node_down"
    resp = r.call("resume", r.cluster.nodes[a["node"]].coord, "POST", f"/federation/peers/{a['peer']}/resume")
    if resp.status_code == 200 or outcome_of(resp) == "refused:peer_not_suspended":
        r.suspended.discard((a["node"], a["peer"]))
    return outcome_of(resp)


def run_checkpoint(r: Runner, a: dict) -> str:
    if not _live(r, a["node"]):
        return "node_down"
    resp = r.call("checkpoint", r.cluster.nodes[a["node"]].coord, "POST", f"/federation/peers/{a['peer']}/checkpoint")
    if resp.status_code == 200 and "agrees" in resp.json():
        return "agrees" if resp.json()["agrees"] else "disagrees"
    return outcome_of(resp) if resp.status_code != 200 else "peer_error"


def run_pause(r: Runner, a: dict) -> str:
    time.sleep(a["seconds"])
    return "ok"


SYSTEM_OPS = {"restart": run_restart, "unpartition": run_unpartition, "resume": run_resume}
