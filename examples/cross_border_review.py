"""Walk-through on a running devnet: a proposal from Italy reviewed in Hungary, paid in SIF at home.

Start the devnet first (`make devnet`, or `python deploy/devnet.py --base-port 5101`), then:

    python examples/cross_border_review.py [--base-port 5101]

Step by step, through the same JSON API and web pages a member uses: a new Italian member
signs up and asks for two reviews, at least one from another country; a new Hungarian member
opts in to the shared reviewer pool, sees the invitation, accepts, reads the full text and
writes the review; the Italian member reads and rates it; the script prints both members'
balances and both nodes' positions, and checks the books. At the end the Hungarian reviewer
withdraws from the pool again, so the script can run any number of times.
"""

from __future__ import annotations

import argparse
import re
import secrets
import sys
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from walk import ApiSession, WalkError, node_urls, wait_for  # noqa: E402  (examples/walk.py)

from node.demo import DEMO_PASSWORD, demo_email  # noqa: E402  (the devnet's demo logins)

PASSWORD = "walk-through-2026"
TAGS = ["digital-inclusion", "education", "social-inclusion"]


def sign_up(url: str, handle: str, coordinator: ApiSession) -> ApiSession:
    """Sign up as a new member would; the node's coordinator approves (welcome grant)."""
    email = f"{handle}@walkthrough.example"
    resp = requests.post(
        f"{url}/api/v1/signup",
        json={"email": email, "password": PASSWORD, "handle": handle, "display_name": handle.title()},
        timeout=30,
    )
    if resp.status_code != 201:
        raise WalkError(f"sign-up of {handle} at {url}: {resp.status_code} {resp.text[:300]}")
    if resp.json()["status"] == "pending":
        coordinator.call("POST", f"/coordinator/members/{resp.json()['id']}/approve")
    return ApiSession(url, email, PASSWORD)


def web_page(url: str, email: str, password: str, path: str) -> str:
    """Log in through the web form (as in a browser, CSRF token included) and return a page's HTML."""
    browser = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(f"{url}/login", timeout=30).text).group(1)
    browser.post(f"{url}/login", data={"email": email, "password": password, "csrf_token": token}, timeout=30)
    return browser.get(f"{url}{path}", timeout=30).text


def positions(coordinator: ApiSession) -> dict[str, int]:
    return {p["node_id"]: p["position"] for p in coordinator.call("GET", "/federation/peers")["peers"]}


def step(n: int, text: str) -> None:
    print(f"\n{n}. {text}", flush=True)


def walk(it_url: str, hu_url: str, timeout: float) -> None:
    it_coord = ApiSession(it_url, demo_email("coordinator", "it"), DEMO_PASSWORD)
    hu_coord = ApiSession(hu_url, demo_email("coordinator", "hu"), DEMO_PASSWORD)
    peers = {p["node_id"]: p for p in it_coord.call("GET", "/federation/peers")["peers"]}
    if peers.get("hu", {}).get("status") != "active":
        raise WalkError("it and hu are not peered: start the devnet with deploy/devnet.py")
    before = positions(it_coord)["hu"], positions(hu_coord)["it"]
    suffix = secrets.token_hex(2)

    step(1, "A new member in Hungary signs up and opts in to the shared reviewer pool.")
    reka = sign_up(hu_url, f"reka{suffix}", hu_coord)
    me = reka.call(
        "PATCH",
        "/me",
        {
            "is_reviewer": True,
            "pool_consent": True,
            "expertise": TAGS,
            "languages": ["hu", "it", "en"],
            "review_capacity": 2,
        },
    )
    print(f"   reka{suffix}@hu, pseudonym {me['pseudonym']}, balance {me['balance']} SIF")
    try:
        _review_walk(it_url, hu_url, it_coord, hu_coord, reka, me, suffix, before, timeout)
    finally:
        reka.call("PATCH", "/me", {"pool_consent": False})
        print(
            f"\nThe Hungarian reviewer left the pool again; the next delta removes {me['pseudonym']} from every peer."
        )


def _review_walk(it_url, hu_url, it_coord, hu_coord, reka, me, suffix, before, timeout) -> None:
    _wait_for_pool(it_coord, me["pseudonym"], timeout)
    sara, proposal = _propose(it_url, it_coord, suffix, me["pseudonym"])
    invite = _accept(reka, proposal, timeout)
    step(4, "The Hungarian reviewer writes the review on the Hungarian node.")
    reka.call(
        "POST",
        f"/remote-invitations/{invite['id']}/review",
        {
            "shared_value": 5,
            "social_transformation": 4,
            "impact": 4,
            "confidence": 4,
            "feedback": "Ottimo piano. Suggerisco di coinvolgere le scuole del quartiere come tutor.",
        },
        expect=201,
    )
    print("   review sent to Italy")
    _read_and_rate(it_url, sara, suffix, proposal, timeout)
    _bounty(hu_url, reka, sara, me, invite, suffix, timeout)
    _positions(it_coord, hu_coord, before, timeout)


def _wait_for_pool(it_coord: ApiSession, pseudonym: str, timeout: float) -> None:
    def italy_sees_reka():
        pool = next(p for p in it_coord.call("GET", "/federation/pools")["peers"] if p["peer"] == "hu")
        return next((r for r in pool["reviewers"] if r["handle"] == pseudonym), None)

    shared = wait_for("Hungary's pool delta to reach Italy", italy_sees_reka, timeout)
    print(f"   Italy's copy of Hungary's pool now lists {pseudonym}: {shared}")


def _propose(it_url: str, it_coord: ApiSession, suffix: str, pseudonym: str) -> tuple[ApiSession, dict]:
    step(2, "A new member in Italy signs up and asks for two reviews, at least one from another country.")
    sara = sign_up(it_url, f"sara{suffix}", it_coord)
    print(f"   sara{suffix}@it, balance {sara.call('GET', '/me')['balance']} SIF")
    proposal = sara.call(
        "POST",
        "/proposals",
        {
            "title": f"Tablets for the Trastevere library ({suffix})",
            "language": "it",
            "stage": "pilot",
            "summary": "Corsi di alfabetizzazione digitale per anziani nella biblioteca di quartiere.",
            "full_text": "Piano completo: 20 tablet ricondizionati, 6 volontari, corsi il martedì e il giovedì; "
            "budget e partner in allegato.",
            "tags": TAGS,
            "reviews_wanted": 2,
            "bounty": 3,
            "min_foreign_reviewers": 1,
        },
        expect=201,
    )
    print(
        f"   proposal {proposal['id']}: 2 x 3 SIF in escrow ({proposal['escrow']}); balance now "
        f"{sara.call('GET', '/me')['balance']} SIF; invited:"
    )
    for inv in proposal["invitations"]:
        print(f"     #{inv['rank']} {inv['reviewer']} (score {inv['score']}) {inv['status']}")
    if f"{pseudonym}@hu" not in [inv["reviewer"] for inv in proposal["invitations"]]:
        raise WalkError(f"{pseudonym}@hu was not invited; another reviewer matched better")
    return sara, proposal


def _accept(reka: ApiSession, proposal: dict, timeout: float) -> dict:
    step(3, "The Hungarian reviewer sees the invitation at home (summary only) and accepts.")
    invite = wait_for(
        "the invitation to reach Hungary",
        lambda: next(
            (i for i in reka.call("GET", "/remote-invitations")["invitations"] if i["title"] == proposal["title"]), None
        ),
        timeout,
    )
    print(
        f'   from {invite["peer_name"]} ({invite["peer_country"]}): "{invite["title"]}", {invite["bounty"]} SIF, '
        f"accept by {invite['accept_by']}; full text here yet: {'full_text' in invite}"
    )
    reka.call("POST", f"/remote-invitations/{invite['id']}/accept")
    shared = wait_for(
        "the full text after acceptance",
        lambda: reka.call("GET", f"/remote-invitations/{invite['id']}").get("full_text"),
        timeout,
    )
    print(f'   accepted; the full text arrived: "{shared[:60]}..."')
    return invite


def _read_and_rate(it_url: str, sara: ApiSession, suffix: str, proposal: dict, timeout: float) -> None:
    step(5, "The Italian member reads the review (API and web page) and rates it.")
    review = wait_for(
        "the review in Italy",
        lambda: (sara.call("GET", f"/proposals/{proposal['id']}")["reviews"] or [None])[0],
        timeout,
    )
    print(
        f"   by {review['reviewer']}: shared value {review['shared_value']}/5, social transformation "
        f'{review["social_transformation"]}/5, impact {review["impact"]}/5: "{review["feedback"]}"'
    )
    page = web_page(it_url, f"sara{suffix}@walkthrough.example", PASSWORD, f"/proposals/{proposal['id']}")
    print(f"   the page {it_url}/proposals/{proposal['id']} shows it: {review['feedback'][:30] in page}")
    sara.call("POST", f"/reviews/{review['id']}/rate", {"helpfulness": 5})
    print("   rated 5/5 for helpfulness")


def _bounty(
    hu_url: str, reka: ApiSession, sara: ApiSession, me: dict, invite: dict, suffix: str, timeout: float
) -> None:
    step(6, "The bounty crosses the border: escrow in Italy -> Italy's position -> the reviewer in Hungary.")
    balance = wait_for(
        "the bounty in Hungary",
        lambda: reka.call("GET", "/me")["balance"] == me["balance"] + 3 and reka.call("GET", "/me")["balance"],
        timeout,
    )
    rated = wait_for(
        "the rating in Hungary",
        lambda: reka.call("GET", f"/remote-invitations/{invite['id']}")["review"].get("helpfulness"),
        timeout,
    )
    print(f"   reviewer reka{suffix}@hu: {me['balance']} -> {balance} SIF; rating received: {rated}/5")
    print(
        f"   author sara{suffix}@it: {sara.call('GET', '/me')['balance']} SIF "
        f"(10 - 6 in escrow; the other 3 wait for the second review)"
    )
    dashboard = web_page(hu_url, f"reka{suffix}@walkthrough.example", PASSWORD, "/dashboard")
    print(f"   the reviewer's dashboard {hu_url}/dashboard shows {balance} SIF: {f'>{balance} SIF<' in dashboard}")


def _positions(it_coord: ApiSession, hu_coord: ApiSession, before: tuple[int, int], timeout: float) -> None:
    step(7, "Both nodes' positions and books.")
    wait_for(
        "both channels drained",
        lambda: all(
            p["entries_pending"] == 0
            for c, other in ((it_coord, "hu"), (hu_coord, "it"))
            for p in c.call("GET", "/federation/peers")["peers"]
            if p["node_id"] == other
        ),
        timeout,
    )
    after = positions(it_coord)["hu"], positions(hu_coord)["it"]
    print(f"   it's position towards hu: {before[0]} -> {after[0]} (it owes hu {after[0]})")
    print(f"   hu's position towards it: {before[1]} -> {after[1]}")
    print(f"   mirror: {after[0]} + {after[1]} = {after[0] + after[1]}")
    figures = {p["peer"]: p for p in it_coord.call("GET", "/federation/reviews")["peers"]}["hu"]
    print(
        f"   it's coordinator view of hu: reviews received {figures['reviews_received']}, "
        f"bounties paid {figures['bounties_paid']} SIF"
    )
    for name, coord in (("it", it_coord), ("hu", hu_coord)):
        print(f"   {name} books: {coord.call('GET', '/coordinator/dashboard')['invariant']}")
    if after[0] + after[1] != 0 or after[0] - before[0] != 3:
        raise WalkError(f"positions are not right: before {before}, after {after}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A proposal from Italy reviewed in Hungary, on a running devnet.")
    parser.add_argument("--base-port", type=int, default=5101, help="the devnet's base port (as given to devnet.py)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for each cross-border step")
    args = parser.parse_args(argv)
    urls = node_urls(args.base_port)
    it_url, hu_url = urls["it"], urls["hu"]
    print(f"Italy: {it_url}   Hungary: {hu_url}")
    try:
        walk(it_url, hu_url, args.timeout)
    except (WalkError, requests.RequestException) as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 1
    print("\nDone: reviewed across the border, paid at home, positions mirror, books balance.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
