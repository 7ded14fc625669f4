"""Walk-through on a running devnet: a cycle of cross-border payments cleared by one round of the directory.

Start the devnet first (`make devnet`, or `python deploy/devnet.py --base-port 5101`), then:

    python examples/clearing_cycle.py [--base-port 5101]

Members pay each other round a cycle (Italy -> Hungary -> Austria -> Italy), so each of the
three nodes owes the next. The working group logs in to the directory's admin page and presses
"Start a clearing round now": the directory collects every listed node's signed positions,
proposes the set-off, gathers every node's signed acceptance and delivers the certificate. The
script prints each node's positions and net before and after (the nets are equal), checks that
mirrored positions agree, and shows the round with its amount cleared in the directory's
history and on each coordinator's settlement page.
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from walk import ApiSession, WalkError, node_urls, wait_for  # noqa: E402  (examples/walk.py)

from node.demo import DEMO_PASSWORD, demo_email  # noqa: E402  (the devnet's demo logins)

CYCLE = (("giulia@it", "anna@hu", 7), ("anna@hu", "selin@at", 5), ("selin@at", "giulia@it", 6))
ADMIN = "admin"  # the devnet's working-group account (deploy/devnet_directory.py)
DONE = ("settled", "empty", "abandoned", "undelivered")


def positions(coordinators: dict[str, ApiSession]) -> dict[str, dict[str, int]]:
    """Each node's position account towards each peer (positive: the node owes that peer)."""
    return {
        n: {p["node_id"]: p["position"] for p in api.call("GET", "/federation/peers")["peers"]}
        for n, api in coordinators.items()
    }


def show(title: str, pos: dict[str, dict[str, int]]) -> None:
    print(title)
    for node, row in pos.items():
        cells = "  ".join(f"{peer}:{amount:+d}" for peer, amount in sorted(row.items()))
        print(f"  {node:<6} net {sum(row.values()):+4d}   {cells}")


def check_mirrored(pos: dict[str, dict[str, int]]) -> None:
    for a, b in itertools.combinations(pos, 2):
        if pos[a].get(b, 0) + pos[b].get(a, 0) != 0:
            raise WalkError(f"positions of {a} and {b} do not mirror: {pos[a].get(b)} and {pos[b].get(a)}")


def pay_cycle(nodes: dict[str, str]) -> None:
    """Each payer pays the next node's member; wait until every payment is completed."""
    memos = {}
    for payer, payee, amount in CYCLE:
        handle, node = payer.split("@")
        api = ApiSession(nodes[node], demo_email(handle, node), DEMO_PASSWORD)
        memo = f"clearing walk-through {time.strftime('%H:%M:%S')} {payer}"
        api.call("POST", "/transfers", {"to": payee, "amount": amount, "memo": memo}, expect=201)
        memos[memo] = (api, payer, payee, amount)
    for memo, (api, payer, payee, amount) in memos.items():
        row = wait_for(
            f"{payer} -> {payee}",
            lambda api=api, memo=memo: next(
                (
                    t
                    for t in api.call("GET", "/me/cross-border")["transfers"]
                    if t["memo"] == memo and t["status"] != "pending"
                ),
                None,
            ),
            60,
            every=0.3,
        )
        print(f"  {payer} -> {payee}: {amount} SIF {row['status']}")


def admin_session(directory: str) -> tuple[requests.Session, str]:
    """Log in to the directory's admin page as the working group; the session and a form token."""
    http = requests.Session()
    token = _token(http.get(f"{directory}/admin/login", timeout=30).text)
    resp = http.post(
        f"{directory}/admin/login",
        data={"username": ADMIN, "password": DEMO_PASSWORD, "csrf_token": token, "next": "/admin/"},
        timeout=30,
    )
    if resp.status_code != 200 or "Start a clearing round now" not in resp.text:
        raise WalkError(f"the directory's admin page did not open: {resp.status_code} {resp.text[:300]}")
    return http, _token(resp.text)


def _token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if not match:
        raise WalkError("no form token on the page")
    return match.group(1)


def clear_through_directory(directory: str) -> dict:
    """Press the directory's "Start a clearing round now" button; wait until the round is over."""
    http, token = admin_session(directory)
    resp = http.post(f"{directory}/admin/clearing/start", data={"csrf_token": token}, timeout=120)
    if resp.status_code != 200:
        raise WalkError(f"starting the round failed: {resp.status_code} {resp.text[:300]}")
    newest = requests.get(f"{directory}/api/v1/clearing-rounds", timeout=30).json()["rounds"][0]
    return wait_for(
        "the round to end",
        lambda: next(
            (
                r
                for r in requests.get(f"{directory}/api/v1/clearing-rounds", timeout=30).json()["rounds"]
                if r["round_id"] == newest["round_id"] and r["state"] in DONE
            ),
            None,
        ),
        120,
        every=0.3,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-port", type=int, default=5101, help="port of the devnet's first node")
    args = p.parse_args(argv)
    nodes = node_urls(args.base_port)
    directory = f"http://127.0.0.1:{args.base_port - 1}"
    coordinators = {n: ApiSession(url, demo_email("coordinator", n), DEMO_PASSWORD) for n, url in nodes.items()}

    print("1. A cycle of cross-border payments:")
    pay_cycle(nodes)
    before = positions(coordinators)
    check_mirrored(before)
    show("2. Positions before clearing (positive: the node owes that peer):", before)

    print("3. The working group starts a clearing round on the directory's admin page ...")
    row = clear_through_directory(directory)
    print(
        f"   round {row['round_id']}: {row['state']}; debt {row['total_before']} -> {row['total_after']} SIF, "
        f"{row['cleared']} SIF cleared; participants {', '.join(row['participants'])}"
    )
    for x in row["excluded"]:
        print(f"   left out {'-'.join(x['pair'])}: {x['reason']}")
    if row["state"] != "settled":
        raise WalkError(f"the round ended {row['state']}: {row['reason']}")

    after = positions(coordinators)
    check_mirrored(after)
    show("4. Positions after clearing:", after)
    nets_before = {n: sum(r.values()) for n, r in before.items()}
    nets_after = {n: sum(r.values()) for n, r in after.items()}
    if nets_before != nets_after:
        raise WalkError(f"a net position changed: {nets_before} -> {nets_after}")
    print("   every node's net position is unchanged; mirrored positions agree")

    history = wait_for(
        "the round in the directory's clearing history",
        lambda: next(
            (
                c
                for c in requests.get(f"{directory}/api/v1/clearing", timeout=30).json()["clearing"]
                if c["round_id"] == row["round_id"]
            ),
            None,
        ),
        60,
        every=0.3,
    )
    print(
        f"5. The directory's clearing history shows round {history['round_id']}: {history['cleared']} SIF "
        f"cleared, reported by {history['reported_by']}"
    )
    print(f"   certificate: {directory}/api/v1/clearing-rounds/{row['round_id']}/certificate")
    for n, api in coordinators.items():
        entry = api.call("GET", f"/federation/settlements/{row['round_id']}")
        print(f"   {n:<6} its part: {entry['participation']}; run by {entry['coordinator']}")
    print(
        f"6. A coordinator sees it on the Settlement page, e.g. {nodes['it']}/coordinator/settlements "
        f"(login {demo_email('coordinator', 'it')}, password {DEMO_PASSWORD});\n"
        f"   the working group at {directory}/admin/#clearing-rounds (login {ADMIN}, same password)"
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (WalkError, requests.RequestException) as exc:
        print(f"walk-through failed: {exc}", file=sys.stderr)
        sys.exit(1)
