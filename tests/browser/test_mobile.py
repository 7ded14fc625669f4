"""Every page a visitor, a member or a coordinator can open on a node, on a 390 x 844 phone (touch, mobile viewport).

The pages come from the node's own URL map: every GET rule of the web blueprints, less the downloads (CSV, JSON)
and the machine endpoints (API, signed federation channel, health, metrics, static files). Each path parameter is
filled with a real id, and the node holds enough for every page to show content: the demo cast (members,
listings, a booked session, payments, a reviewed proposal, funding leads, a conversation), a review round, an
initiative, an abuse report, a member waiting for approval and an unlock link. A second node is its peer, only so
that the federation pages have something to show (a peer, a cross-border payment, a clearing round, a review
invitation from abroad); every page walked is on the first node.

Each page must answer 200 at its own path (a page that redirects someone is opened by whoever it is a page for:
the home page by a visitor, a member's compose form for a member they have not written to yet). It is checked at
390 px by `phone_problems` and saved as test-artifacts/browser/mobile/<who>-<page>.png; a few pages are also
saved as desktop-<page>.png (1100 px), checked to keep their desktop menu.

The rules a page keeps on the phone are those of tests/phone.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from flask import url_for

from federation.state import federation_of
from node.app import create_app
from node.demo import DEMO_PASSWORD
from node.web import WEB_MODULES
from node.web.pages import WHILE_PENDING
from tests.browser_fixtures import ARTIFACTS
from tests.federation.conftest import peer_both, wait_until
from tests.federation.reviewnet import propose, wait_in_pool, wait_incoming
from tests.phone import MEASURE, MIN_TAP, PHONE, phone_problems
from tests.procs import COORDINATOR_EMAIL, PASSWORD, NodeClient, NodeProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FOLDER = ARTIFACTS / "mobile"
# The blueprints of the node's web pages: the node's own, and those federation adds to the same app.
WEB_BLUEPRINTS = frozenset(WEB_MODULES) | {"federation", "initiatives", "remote_reviews", "advice_abroad", "settlement"}
# Blueprints that serve no page a person reads (and the JSON API's, api_*): every blueprint is one or the other,
# so that a new blueprint needs a decision here.
NOT_WEB_BLUEPRINTS = {
    "openapi",
    "ops",
    "federation_inbox",
    "federation_summary",
    "federation_payees",
    "federation_settlement",
    "federation_test_hooks",
}
NOT_PAGES = {
    "member.statement_csv": "a CSV download",
    "audit.export": "a CSV download",
    "member.export": "a JSON download",
    "remote_reviews.text_arrived": "JSON for the invitation page's script",
    "live.stream": "the event stream of the pages' script (text/event-stream)",
}
# Pages for a visitor: nobody logged in (the home page sends a member on to their dashboard).
PUBLIC = {"auth.home", "auth.login", "auth.signup", "auth.unlock_page", "initiatives.public_page"}
PUBLIC |= {"auth.forgot_password", "auth.reset_page", "auth.confirm_page"}
# What the coordinator cannot open: an invitation from abroad is its reviewer's alone.
NOT_FOR_COORDINATOR = {"remote_reviews.incoming_page": "an invitation from abroad is its reviewer's alone"}
# Peers deliver at once and share their reviewer pools every second.
FAST = {"retry_base_seconds": 1, "retry_max_seconds": 4, "sweep_seconds": 1, "pool_share_seconds": 1}
DESKTOP_PAGES = ("member.dashboard", "advice.market", "coordinator.overview", "settlement.settlements_page")


@dataclass
class Network:
    """The node walked (`here`), its peer, the web pages of its URL map, and who opens which, at what path."""

    here: NodeProcess
    peer: NodeProcess
    pages: set[str]  # endpoints
    walks: dict[str, dict[str, str]]  # who -> endpoint -> path
    logins: dict[str, tuple[str, str] | None]  # who -> (email, password); None: a visitor


def web_pages(app) -> dict[str, list[str]]:
    """The node's web pages from its URL map: the GET endpoints of the web blueprints, less the downloads; each
    with the names of its path parameters."""
    unknown = {b for b in app.blueprints if not b.startswith("api_")} - WEB_BLUEPRINTS - NOT_WEB_BLUEPRINTS
    assert not unknown, f"decide whether these blueprints serve pages: {unknown}"
    pages: dict[str, list[str]] = {}
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.rsplit(".", 1)[0] if "." in rule.endpoint else ""
        if "GET" in rule.methods and blueprint in WEB_BLUEPRINTS and rule.endpoint not in NOT_PAGES:
            assert rule.endpoint not in pages, f"{rule.endpoint} has two GET rules: walk both"
            pages[rule.endpoint] = sorted(rule.arguments)
    return pages


def start(root: Path, node_id: str, nodes: list[NodeProcess], **settings) -> NodeProcess:
    node = NodeProcess(root / node_id, node_id, settings=settings)
    nodes.append(node)  # killed at teardown, also when it did not come up
    return node.init().start()


def unlock_token(node: NodeProcess) -> str:
    """The token of the unlock link the node mailed (into its mail folder: no SMTP server in tests)."""
    (path,) = (node.data_dir / "mail").glob("unlock-*.eml")
    mail = message_from_bytes(path.read_bytes(), policy=policy.default)
    return re.search(r"/login/unlock/(\S+)", mail.get_content()).group(1)


@pytest.fixture(scope="module")
def network(tmp_path_factory) -> Iterator[Network]:
    root = tmp_path_factory.mktemp("mobile")
    FOLDER.mkdir(parents=True, exist_ok=True)
    # The URL map of an app like the node's (built here only to read its rules and build paths).
    rules = root / "rules"
    app = create_app(
        {"data_dir": str(rules), "node_id": "be-vl", "database_url": f"sqlite:///{rules / 'node.db'}"},
        start_delivery=False,
    )
    nodes: list[NodeProcess] = []
    try:
        pages = web_pages(app)
        here = start(
            root,
            "be-vl",
            nodes,
            node_name="SIF Flanders",
            require_approval=True,
            login_max_failures=2,  # two wrong passwords mail an unlock link
            login_address_max_failures=1000,  # and never make this test's own address wait
            **FAST,
        )
        peer = start(root, "hu", nodes, node_name="SIF Hungary", country="HU", require_approval=False, **FAST)
        assert "6 members added" in here.cli("seed-demo").stdout
        ids = populate(here, peer)
        with app.test_request_context():
            walk = walks(pages, ids)
        yield Network(here, peer, set(pages), walk, logins())
    finally:
        for node in nodes:
            node.kill9()
        if "sifnet_federation" in app.extensions:
            federation_of(app).stop()
        app.extensions["sifnet"].db.dispose()


def demo(node: NodeProcess, handle: str) -> NodeClient:
    return node.client().login(f"{handle}@{node.node_id}.example", DEMO_PASSWORD)


def populate(here: NodeProcess, peer: NodeProcess) -> dict[str, object]:
    """Add to the demo cast what the pages not yet filled need; returns the ids the paths take."""
    coordinator = here.coordinator()
    lotte, sofie, els = demo(here, "lotte"), demo(here, "sofie"), demo(here, "els")
    # Sofie's proposal, which Lotte reviewed: Lotte is the member of the walk.
    (reviewed,) = sofie.call("GET", "/proposals", expect=200).json()["proposals"]
    assert ("lotte", "submitted") in [(i["reviewer"], i["status"]) for i in reviewed["invitations"]]
    # Lotte alone in the pool shared with the peer, so that the peer's proposal invites her.
    for handle in ("amira", "wout"):
        demo(here, handle).call("PATCH", "/me", {"pool_consent": False}, expect=200)
    peer_both(here, peer)
    zoltan = peer.new_member("zoltan")
    wait_in_pool(peer, here.node_id, lotte.me()["pseudonym"])
    propose(zoltan, tags=["circular-economy"], wanted=1, bounty=1, foreign=1)
    incoming = wait_incoming(lotte)["id"]
    lotte.call("POST", f"/remote-invitations/{incoming}/accept", expect=200)
    wait_until(
        lambda: "full_text" in lotte.call("GET", f"/remote-invitations/{incoming}", expect=200).json(),
        what="the full text from the proposer's node",
    )
    assert lotte.transfer("zoltan@hu", 1, "Translation of our repair guide into Hungarian").status_code == 201
    coordinator.call("POST", "/federation/settlements", {}, expect=201)
    deadline = (datetime.now(UTC) + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    review_round = coordinator.call(
        "POST",
        "/rounds",
        {
            "title": "Autumn round: circular neighbourhoods",
            "deadline": deadline,
            "reviews_per_proposal": 1,
            "max_load": 2,
        },
        expect=201,
    ).json()["id"]
    lotte.call(
        "POST",
        f"/rounds/{review_round}/proposals",
        {
            "title": "A repair café toolkit for every library branch",
            "summary": "A lending kit of tools, and a guide for the volunteers who run the evenings.",
            "full_text": "The whole plan, branch by branch.",
            "tags": ["circular-economy", "community-building"],
            "language": "en",
            "stage": "pilot",
            "bounty": 1,
        },
        expect=201,
    )
    lotte.call("PUT", "/me/bids", {"bids": {"circular-economy": 2, "governance": 1, "food": -1}}, expect=200)
    lotte.call(
        "POST",
        "/remote-conflicts",
        {"remote_reviewer": f"{zoltan.me()['pseudonym']}@hu", "reason": "We run a project together."},
        expect=201,
    )
    ref = coordinator.call(
        "POST",
        "/initiatives",
        {
            "name": "Fietsbieb Mechelen",
            "summary": "Children's bicycles lent like library books, in every neighbourhood.",
            "interests": ["mobility"],
            "sectors": ["mobility", "community"],
            "stage": "scaling",
            "city": "Mechelen",
            "contact_handle": "sofie",
        },
        expect=201,
    ).json()["ref"]
    coordinator.call("POST", f"/initiatives/{ref}/consent", {"consent": True, "note": "Agreed by mail"}, expect=200)
    spam = els.call(
        "POST",
        "/messages/threads",
        {"to": "sofie", "body": "Buy our solar panels now: https://spam.example/offers/solar/panels/this-week-only"},
        expect=201,
    ).json()
    sofie.call("POST", f"/messages/threads/{spam['thread_id']}/report", {"reason": "Advertising"}, expect=201)
    coordinator_thread = coordinator.call(
        "POST", "/messages/threads", {"to": "lotte", "body": "Could you host the next repair evening?"}, expect=201
    ).json()["thread_id"]
    here.client().signup("hanne@example.org", "hanne")  # waits for approval
    for n in range(2):  # Wout's account starts waiting: the node mails him an unlock link
        here.client().call("POST", "/tokens", {"email": "wout@be-vl.example", "password": f"guess {n}"}, expect=401)
    visitor = here.client()  # a sign-up waiting for its link, and a forgotten password: both mailed links
    visitor.call("POST", "/signup", {"email": "ines@example.org", "password": PASSWORD, "display_name": "Ines"}, 202)
    visitor.call("POST", "/password/forgot", {"email": "lotte@be-vl.example"}, expect=202)
    threads = lotte.call("GET", "/messages/threads", expect=200).json()["threads"]
    listings = lotte.call("GET", "/advice/listings", expect=200).json()["listings"]
    leads = lotte.call("GET", "/funding", expect=200).json()["leads"]
    return {
        "listing_id": next(x["id"] for x in listings if x["author"] == "lotte"),
        "lead_id": next(x["id"] for x in leads if x["poster"] == "lotte"),
        "proposal_id": reviewed["id"],
        "round_id": review_round,
        "incoming_id": incoming,
        "ref": ref,
        "token": unlock_token(here),
        ("auth.confirm_page", "token"): visitor.mailed_token("ines@example.org", "/signup/confirm/"),
        ("auth.reset_page", "token"): visitor.mailed_token("lotte@be-vl.example", "/password/reset/"),
        "thread_id": next(t["id"] for t in threads if t["other"]["handle"] == "sofie"),
        "coordinator_thread_id": coordinator_thread,
    }


def logins() -> dict[str, tuple[str, str] | None]:
    return {
        "visitor": None,
        "pending": ("hanne@example.org", PASSWORD),
        "member": ("lotte@be-vl.example", DEMO_PASSWORD),
        "coordinator": (COORDINATOR_EMAIL, PASSWORD),
    }


def walks(pages: dict[str, list[str]], ids: dict) -> dict[str, dict[str, str]]:
    """Who opens which page, and its path with real ids (in a request context of the app). Every page is opened
    by someone: a visitor the public ones, a member waiting for approval those open to them, the member every
    page but the coordinator's, the coordinator every page a member opens and their own."""
    coordinator_pages = {
        e for e, params in pages.items() if url_for(e, **dict.fromkeys(params, 1)).startswith("/coordinator/")
    }
    assert PUBLIC <= set(pages) and set(NOT_FOR_COORDINATOR) <= set(pages), "a page listed here is gone"
    logged_in = set(pages) - PUBLIC
    chosen = {
        "visitor": PUBLIC,
        "pending": WHILE_PENDING & set(pages),
        "member": logged_in - coordinator_pages,
        "coordinator": logged_in - set(NOT_FOR_COORDINATOR),
    }
    member = {
        **ids,
        "handle": "sofie",  # a profile in the directory
        ("messages.compose", "handle"): "els",  # nobody wrote to Els yet: the form, not a redirect to a conversation
    }
    values = {
        "visitor": ids,
        "pending": ids,
        "member": member,
        "coordinator": {**member, "thread_id": ids["coordinator_thread_id"]},
    }
    walk: dict[str, dict[str, str]] = {}
    for who, endpoints in chosen.items():
        walk[who] = {}
        for endpoint in sorted(endpoints):
            given = values[who]
            args = {p: given.get((endpoint, p), given.get(p)) for p in pages[endpoint]}
            missing = [p for p, v in args.items() if v is None]
            assert not missing, f"no value for {missing} of {endpoint}: add one to `values`"
            walk[who][endpoint] = url_for(endpoint, **args)
    return walk


def log_in(page, login: tuple[str, str] | None) -> None:
    if login is None:
        return
    page.goto("/login")
    page.get_by_label("Email").fill(login[0])
    page.get_by_label("Password").fill(login[1])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard")


def slug(endpoint: str) -> str:
    return endpoint.replace(".", "-").replace("_", "-")


@pytest.mark.parametrize("who", ["visitor", "pending", "member", "coordinator"])
def test_every_page_works_on_a_phone(network, new_page, who):
    page = new_page(network.here.url, **PHONE)
    log_in(page, network.logins[who])
    failures = {}
    for endpoint, path in network.walks[who].items():
        response = page.goto(path)
        if response is None or response.status != 200 or not page.url.endswith(path):
            failures[endpoint] = [f"{path} answered {response and response.status}, at {page.url}"]
            continue
        page.screenshot(path=str(FOLDER / f"{who}-{slug(endpoint)}.png"), full_page=True)
        if problems := phone_problems(page):
            failures[endpoint] = [path, *problems]
    report = "\n".join(f"{endpoint}: {' | '.join(lines)}" for endpoint, lines in sorted(failures.items()))
    assert not failures, f"{len(failures)} of {len(network.walks[who])} pages fail on a phone:\n{report}"


def test_every_web_page_is_walked(network):
    """Each web page of the URL map is opened by someone, the federation's coordinator pages too."""
    walked = {endpoint for pages in network.walks.values() for endpoint in pages}
    assert walked == network.pages
    assert {"federation.peers_page", "settlement.settlements_page", "remote_reviews.peers_reviews_page"} <= walked
    assert len(walked) > 30  # 37 when this was written: reading the URL map found the pages


def test_a_desktop_keeps_its_whole_menu(network, new_page):
    """On a desktop nothing of the phone's menu shows: the menu does not scroll, no link is out of view."""
    page = new_page(network.here.url)
    log_in(page, network.logins["coordinator"])
    for endpoint in DESKTOP_PAGES:
        page.goto(network.walks["coordinator"][endpoint])
        page.screenshot(path=str(FOLDER / f"desktop-{slug(endpoint)}.png"), full_page=True)
        found = page.evaluate(MEASURE, MIN_TAP)
        assert found["scroll_width"] <= page.viewport_size["width"], (endpoint, found["wide"])
        assert not found["menu"]["scrolls"] and not found["menu"]["overflows"], endpoint
