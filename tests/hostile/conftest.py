"""The hostile-input suite's world: one node (in-process) with members, a proposal with a review,
an advice booking, two in-process peers; and the check that a refusal changes nothing."""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from federation.transport import peers
from node.app import create_app
from node.clock import FixedClock
from node.services import ledger, members
from protocol import canonical_json
from tests.conftest import FAST_ARGON2, PASSWORD, START
from tests.federation.forge import Forger, node_key

from .digest import changed_tables, db_digest

API = "/api/v1"
BASE_URL = "http://127.0.0.1:5000"  # be-vl's base_url: the URL peers sign inbox requests for
PROPOSAL = {
    "title": "Repair café network",
    "summary": "Neighbours fix things together.",
    "full_text": "SECRET PLAN: a van and three volunteers.",
    "tags": ["circular-economy"],
    "language": "en",
    "stage": "pilot",
    "reviews_wanted": 2,
    "bounty": 2,
}
REVIEW = {"shared_value": 4, "social_transformation": 3, "impact": 5, "confidence": 4, "feedback": "Clear plan."}
REVIEWER = {"is_reviewer": True, "languages": ["en"], "expertise": ["circular-economy"]}


@dataclass
class World:
    """Everything the hostile cases aim at, with ids of real objects."""

    app: object
    ctx: object
    peers: dict = field(default_factory=dict)
    people: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)
    ids: dict = field(default_factory=dict)

    def client(self):
        return self.app.test_client()

    def auth(self, who: str) -> dict:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def seed_member(ctx, handle: str, *, role: str = "member", approve: bool = True, **profile):
    with ctx.db.write() as s:
        m = members.sign_up(
            s,
            ctx.settings,
            email=f"{handle}@example.org",
            password=PASSWORD,
            display_name=handle.title(),
            handle=handle,
            now=ctx.now(),
            hasher=ctx.hasher,
        )
        if approve:
            members._activate(s, ctx.settings, m, actor=None, reason="seed", now=ctx.now())
        m.role = role
        if profile:
            members.update_profile(s, ctx.settings, member=m, data=profile, now=ctx.now())
        token = members.create_token(s, member=m, name="seed", now=ctx.now())
        s.flush()
        s.expunge(m)
    return m, token


def _ok(response, status: int = 200) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    return response.json


def seed_world(world: World) -> None:
    ctx, c = world.ctx, world.client()
    for handle, kw in {
        "coord": {"role": "coordinator"},
        "anna": {},
        "bob": REVIEWER,
        "dave": REVIEWER,
        "carol": {},
        "pete": {"approve": False},
    }.items():
        world.people[handle], world.tokens[handle] = seed_member(ctx, handle, **kw)
    anna, bob, dave = world.auth("anna"), world.auth("bob"), world.auth("dave")
    proposal = _ok(c.post(f"{API}/proposals", headers=anna, json=PROPOSAL), 201)
    invitations = {i["reviewer"]: i["id"] for i in proposal["invitations"]}
    assert set(invitations) == {"bob", "dave"}, invitations
    _ok(c.post(f"{API}/invitations/{invitations['bob']}/accept", headers=bob))
    review = _ok(c.post(f"{API}/invitations/{invitations['bob']}/review", headers=bob, json=REVIEW), 201)
    listing = _ok(
        c.post(
            f"{API}/advice/listings",
            headers=anna,
            json={"kind": "offer", "title": "Grant writing", "rate": 1, "tags": ["education"]},
        ),
        201,
    )
    booking = _ok(c.post(f"{API}/advice/listings/{listing['id']}/book", headers=dave, json={"hours": 1}), 201)
    conflict = _ok(c.post(f"{API}/conflicts", headers=anna, json={"organisation": "Acme", "reason": "employer"}), 201)
    message = _ok(c.post(f"{API}/messages/threads", headers=anna, json={"to": "bob", "body": "Hello Bob"}), 201)
    answer = _ok(
        c.post(f"{API}/messages/threads/{message['thread_id']}/messages", headers=bob, json={"body": "Hi Anna"}), 201
    )
    world.ids.update(
        proposal=proposal["id"],
        invitation_bob=invitations["bob"],
        invitation_dave=invitations["dave"],
        review=review["id"],
        listing=listing["id"],
        booking=booking["id"],
        conflict=conflict["id"],
        thread=message["thread_id"],
        message_anna=message["id"],
        message_bob=answer["id"],
        pete=world.people["pete"].id,
        carol=world.people["carol"].id,
        anna=world.people["anna"].id,
    )


def peer_apps(tmp, clock, app) -> dict:
    """hu and nl as in-process apps, confirmed peers of be-vl (their keys sign the forged requests)."""
    ctx, fed = app.extensions["sifnet"], app.extensions["sifnet_federation"]
    out = {}
    for node_id in ("hu", "nl"):
        other = create_app(
            {"data_dir": str(tmp / node_id), "node_id": node_id, **FAST_ARGON2}, clock=clock, start_delivery=False
        )
        o_ctx, o_fed = other.extensions["sifnet"], other.extensions["sifnet_federation"]
        with o_ctx.db.read() as s:
            raw = canonical_json(o_fed.identity.node_document(s, o_ctx.now()).to_dict())
        doc = peers.verify_document(raw, now=ctx.now(), max_skew=fed.max_skew)
        with ctx.db.write() as s:
            peers.add_peer(s, doc, own_node_id="be-vl", now=ctx.now())
            peers.confirm_peer(s, node_id=node_id, fingerprint=doc.fingerprint, trust_limit=100, now=ctx.now())
        out[node_id] = (other, Forger(node_key(tmp / node_id), node_id, "be-vl", BASE_URL))
    return out


@pytest.fixture(scope="package")
def world(tmp_path_factory):
    """One seeded node shared by the whole suite: every case is a refusal, so it must stay as it is."""
    tmp = tmp_path_factory.mktemp("hostile")
    clock = FixedClock(START)
    app = create_app(
        {
            "data_dir": str(tmp / "be-vl"),
            "node_id": "be-vl",
            "country": "BE",
            "base_url": BASE_URL,
            "welcome_grant": 10,
            "min_balance": -5,
            **FAST_ARGON2,
        },
        clock=clock,
        start_delivery=False,
    )
    app.config["TESTING"] = True
    w = World(app=app, ctx=app.extensions["sifnet"])
    seed_world(w)
    w.peers = peer_apps(tmp, clock, app)
    yield w
    for a in [app, *(p[0] for p in w.peers.values())]:
        a.extensions["sifnet_federation"].stop()
        a.extensions["sifnet"].db.dispose()


@contextmanager
def unchanged(ctx):
    """Assert that the block leaves every table (but the documented exclusions) exactly as it was."""
    before = db_digest(ctx)
    yield
    after = db_digest(ctx)
    assert after == before, f"tables changed by a refusal: {changed_tables(before, after)}"
    with ctx.db.read() as s:
        assert ledger.check_books(s).ok


def error_code(response) -> str:
    """The machine-readable code of a refusal: JSON {error: {code}} or the web error page's [code]."""
    if response.is_json:
        return response.json["error"]["code"]
    found = re.search(r"<code>\[([a-z0-9_]+)\]</code>", response.get_data(as_text=True))
    return found.group(1) if found else ""


def refused(response, status: int, code: str) -> None:
    assert (response.status_code, error_code(response)) == (status, code), response.get_data(as_text=True)[:400]
