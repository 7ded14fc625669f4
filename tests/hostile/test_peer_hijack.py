"""A hostile peer must not harm other nodes: key squatting, rotation hijack, retired keys, reused transfer ids
and reviewer starvation. Each case is signed for real with the peers' own keys against a fresh node."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from federation.transport import peers
from federation.tables import IncomingInvitation, PeerKey
from node.app import create_app
from node.clock import FixedClock
from node.services import ledger
from protocol import (
    SigningKey,
    b64url_encode,
    canonical_json,
    entry_hash,
    format_time,
    genesis_hash,
    parse_json,
    sign_key_proof,
)
from tests.conftest import FAST_ARGON2, START
from tests.federation.forge import Forger

from .conftest import BASE_URL, peer_apps, refused, seed_member, unchanged

DAY = timedelta(days=1)


@dataclass
class Chain:
    """One peer's channel to be-vl as the peer's software would write it: seq, prev and the signing key."""

    forger: Forger
    seq: int = 0
    prev: str = ""
    key: SigningKey | None = None
    sent: list = field(default_factory=list)

    def __post_init__(self):
        self.prev = genesis_hash(self.forger.node_id, "be-vl")
        self.key = self.forger.key

    def entry(self, type_name: str, body: dict, *, key: SigningKey | None = None, created=START):
        return self.forger.entry(self.seq + 1, self.prev, type_name, body, created=created, key=key or self.key)

    def accepted(self, env) -> None:
        self.seq, self.prev = env.channel.seq, entry_hash(env)


@dataclass
class Net:
    app: object
    ctx: object
    clock: FixedClock
    chains: dict
    outsider: object  # a node of the network that is not (yet) be-vl's peer

    def deliver(self, chain: Chain, env, *, created=START):
        prepared = chain.forger.request([env], created=created, key=chain.key)
        response = self.app.test_client().post(
            urlsplit(prepared.url).path, data=prepared.body, headers=dict(prepared.headers)
        )
        if response.status_code == 200:
            chain.accepted(env)
        return response

    def answers(self, peer_id: str) -> list[tuple[str, dict]]:
        """The entries be-vl wrote on its channel to a peer (its answers), oldest first."""
        with self.ctx.db.read() as s:
            rows = s.execute(select_out(peer_id)).all()
        return [(t, parse_json(e.encode())["body"]) for t, e in rows]

    def balance(self, ref: str) -> int:
        with self.ctx.db.read() as s:
            return s.scalars(select(ledger.Account.balance).where(ledger.Account.ref == ref)).one()


def select_out(peer_id: str):
    from federation.tables import ChannelEntry

    return (
        select(ChannelEntry.type, ChannelEntry.envelope)
        .where(ChannelEntry.peer_id == peer_id, ChannelEntry.direction == "out")
        .order_by(ChannelEntry.seq)
    )


@pytest.fixture
def net(tmp_path):
    clock = FixedClock(START)
    app = create_app(
        {
            "data_dir": str(tmp_path / "be-vl"),
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
    ctx = app.extensions["sifnet"]
    seed_member(ctx, "anna")
    seed_member(ctx, "bob", is_reviewer=True, pool_consent=True, languages=["en"], expertise=["education"])
    apps = peer_apps(tmp_path, clock, app)
    outsider = create_app(
        {"data_dir": str(tmp_path / "it"), "node_id": "it", **FAST_ARGON2}, clock=clock, start_delivery=False
    )
    yield Net(app, ctx, clock, {node: Chain(f) for node, (_, f) in apps.items()}, outsider)
    for a in [app, outsider, *(p[0] for p in apps.values())]:
        a.extensions["sifnet_federation"].stop()
        a.extensions["sifnet"].db.dispose()


def rotation(chain: Chain, new: SigningKey, *, proof: str | None = None, old_not_after=START + 7 * DAY) -> dict:
    return {
        "new_kid": new.key_id,
        "new_public": new.public_key.b64,
        "old_kid": chain.key.key_id,
        "old_not_after": format_time(old_not_after),
        "new_key_proof": proof if proof is not None else sign_key_proof(new, chain.forger.node_id, chain.key.key_id),
    }


def key_of(app) -> SigningKey:
    return app.extensions["sifnet_federation"].identity.current_key()


def document_of(app, net: Net):
    fed, ctx = app.extensions["sifnet_federation"], app.extensions["sifnet"]
    with ctx.db.read() as s:
        raw = canonical_json(fed.identity.node_document(s, ctx.now()).to_dict())
    return peers.verify_document(raw, now=net.ctx.now(), max_skew=timedelta(minutes=5))


def test_a_peer_cannot_squat_the_key_of_a_node_not_yet_peered(net):
    hu, it_key = net.chains["hu"], key_of(net.outsider)
    forged_proof = b64url_encode(hu.key.sign(b"it is mine"))  # hu holds no private part of it's key
    for proof in (forged_proof, sign_key_proof(hu.key, "hu", hu.key.key_id)):
        with unchanged(net.ctx):
            refused(net.deliver(hu, hu.entry("key_rotation", rotation(hu, it_key, proof=proof))), 401, "bad_key_proof")
    doc = document_of(net.outsider, net)
    with net.ctx.db.write() as s:  # the real owner can still peer, with its own key
        peers.add_peer(s, doc, own_node_id="be-vl", now=net.ctx.now())
        peers.confirm_peer(s, node_id="it", fingerprint=doc.fingerprint, trust_limit=10, now=net.ctx.now())
    with net.ctx.db.read() as s:
        assert s.get(PeerKey, it_key.key_id).peer_id == "it"


def test_a_peer_cannot_hijack_another_peers_announced_key(net):
    hu, nl = net.chains["hu"], net.chains["nl"]
    nl_next = SigningKey.from_seed(b"\x42" * 32)
    nl_rotation = nl.entry("key_rotation", rotation(nl, nl_next))
    # hu saw nl's rotation elsewhere and claims the key first, replaying nl's proof: it names nl, not hu
    with unchanged(net.ctx):
        refused(
            net.deliver(hu, hu.entry("key_rotation", rotation(hu, nl_next, proof=nl_rotation.body["new_key_proof"]))),
            401,
            "bad_key_proof",
        )
    assert net.deliver(nl, nl_rotation).status_code == 200
    nl.key = nl_next
    pay = {"transfer_id": uuid.uuid4().hex, "payer": "nora", "payee": "anna", "amount": 3, "memo": ""}
    assert net.deliver(nl, nl.entry("transfer", pay)).status_code == 200, "nl signs with its new key"
    assert net.balance(f"member:{_member_id(net, 'anna')}") == 13
    # once nl's, the key cannot be claimed by anyone (key_claimed comes before the proof)
    with unchanged(net.ctx):
        refused(net.deliver(hu, hu.entry("key_rotation", rotation(hu, nl_next))), 409, "key_claimed")
        refused(net.deliver(hu, hu.entry("key_rotation", rotation(hu, key_of(net.app)))), 409, "key_claimed")
    with net.ctx.db.read() as s:
        assert s.get(PeerKey, nl_next.key_id).peer_id == "nl"
        assert s.get(PeerKey, nl.forger.key.key_id).not_after == START + 7 * DAY


def test_rotations_that_cannot_take_effect_are_refused(net):
    hu = net.chains["hu"]
    new = SigningKey.from_seed(b"\x43" * 32)
    with unchanged(net.ctx):
        refused(net.deliver(hu, hu.entry("key_rotation", rotation(hu, new, old_not_after=START))), 422, "bad_rotation")
        body = {**rotation(hu, new), "old_kid": "ed25519:" + "A" * 22}
        refused(net.deliver(hu, hu.entry("key_rotation", body)), 422, "bad_rotation")
        refused(net.deliver(hu, hu.entry("key_rotation", rotation(hu, hu.key))), 422, "bad_rotation")


def test_no_entry_signed_by_a_retired_key_after_its_rotation(net):
    hu = net.chains["hu"]
    old, new = hu.key, SigningKey.from_seed(b"\x44" * 32)
    assert net.deliver(hu, hu.entry("key_rotation", rotation(hu, new))).status_code == 200
    hu.key = new
    pay = {"transfer_id": uuid.uuid4().hex, "payer": "zoltan", "payee": "anna", "amount": 2, "memo": ""}
    # two days later the old key is still within its end date (START + 7 days), but the channel has retired it:
    # an entry backdated into its validity cannot pass for one written before the rotation
    net.clock.advance(int(2 * DAY.total_seconds()))
    now = START + 2 * DAY
    for created in (START, START + DAY, now):
        with unchanged(net.ctx):
            refused(
                net.deliver(hu, hu.entry("transfer", pay, key=old, created=created), created=now), 401, "key_retired"
            )
    assert net.deliver(hu, hu.entry("transfer", pay, created=now), created=now).status_code == 200


def test_a_reused_transfer_id_gets_exactly_one_final_answer_each_time(net):
    hu = net.chains["hu"]
    first = {"transfer_id": "t-reused", "payer": "zoltan", "payee": "anna", "amount": 3, "memo": "first"}
    for body in (first, first, {**first, "amount": 5}, {**first, "memo": "another"}):
        assert net.deliver(hu, hu.entry("transfer", body)).status_code == 200
    answers = net.answers("hu")
    assert [t for t, _ in answers] == ["transfer_receipt", "transfer_receipt", "transfer_bounce", "transfer_bounce"]
    assert all(b["transfer_id"] == "t-reused" for _, b in answers)
    assert [b["reason_code"] for t, b in answers if t == "transfer_bounce"] == ["transfer_id_reused"] * 2
    # money moved once: anna has her welcome grant plus 3; be-vl's position says hu is owed 3 (mirrors hu's +3)
    assert net.balance(f"member:{_member_id(net, 'anna')}") == 13
    assert net.balance("position:hu") == -3
    with net.ctx.db.read() as s:
        assert ledger.check_books(s).ok


def test_a_reused_id_of_a_bounced_transfer_is_bounced_the_same_way(net):
    hu = net.chains["hu"]
    body = {"transfer_id": "t-nobody", "payer": "zoltan", "payee": "nobody", "amount": 3, "memo": ""}
    for _ in range(2):
        assert net.deliver(hu, hu.entry("transfer", body)).status_code == 200
    assert [(t, b["reason_code"]) for t, b in net.answers("hu")] == [("transfer_bounce", "unknown_payee")] * 2


def _member_id(net: Net, handle: str) -> int:
    from node.tables import Member

    with net.ctx.db.read() as s:
        return s.scalars(select(Member.id).where(Member.handle == handle)).one()


def invite(chain: Chain, *, accept_in=DAY, due_in=15 * DAY, handle=None) -> dict:
    return {
        "invite_id": uuid.uuid4().hex,
        "proposal_ref": "p-1",
        "reviewer_handle": handle,
        "title": "A plan",
        "summary": "Short.",
        "tags": [],
        "language": "en",
        "bounty": 1,
        "accept_by": format_time(START + accept_in),
        "due_by": format_time(START + due_in),
    }


def _pseudonym(net: Net, handle: str) -> str:
    from node.tables import Member

    with net.ctx.db.read() as s:
        return s.scalars(select(Member.pseudonym).where(Member.handle == handle)).one()


def _declines(net: Net, peer_id: str) -> list[str]:
    return [b.get("reason", "").split(":")[0] for t, b in net.answers(peer_id) if t == "review_decline"]


def _held(net: Net) -> list[tuple[str, str]]:
    with net.ctx.db.read() as s:
        return [(r.peer_id, r.status) for r in s.scalars(select(IncomingInvitation).order_by(IncomingInvitation.id))]


def test_far_future_invitations_are_declined_and_hold_no_slot(net):
    hu, bob = net.chains["hu"], _pseudonym(net, "bob")
    for body in (
        invite(hu, handle=bob, accept_in=(2099 - 2026) * 365 * DAY, due_in=(2099 - 2026) * 366 * DAY),
        invite(hu, handle=bob, accept_in=31 * DAY, due_in=40 * DAY),
        invite(hu, handle=bob, accept_in=DAY, due_in=61 * DAY),
        invite(hu, handle=bob, accept_in=-DAY, due_in=DAY),
    ):
        assert net.deliver(hu, hu.entry("review_invite", body)).status_code == 200
    assert _declines(net, "hu") == ["accept_by_too_far", "accept_by_too_far", "due_by_too_far", "bad_deadlines"]
    assert _held(net) == []


def test_one_peer_cannot_take_more_than_its_share_of_the_pool(net):
    hu, nl, bob = net.chains["hu"], net.chains["nl"], _pseudonym(net, "bob")
    # bob offers 3 slots; one peer may hold half of the pool, at least one slot: 1 here
    assert net.deliver(hu, hu.entry("review_invite", invite(hu, handle=bob))).status_code == 200
    assert net.deliver(hu, hu.entry("review_invite", invite(hu, handle=bob))).status_code == 200
    assert net.deliver(nl, nl.entry("review_invite", invite(nl, handle=bob))).status_code == 200
    assert _declines(net, "hu") == ["peer_slot_cap"] and _declines(net, "nl") == []
    assert _held(net) == [("hu", "invited"), ("nl", "invited")]
    # an invitation whose accept_by passed holds nothing any more, even before hu says it ended
    net.clock.advance(int(2 * DAY.total_seconds()))
    later = invite(hu, handle=bob, accept_in=3 * DAY, due_in=10 * DAY)
    assert net.deliver(hu, hu.entry("review_invite", later), created=START + 2 * DAY).status_code == 200
    assert _declines(net, "hu") == ["peer_slot_cap"]
