"""Applying a peer's funding lead entries in-process: kept by peer and ref, and the same entry twice changes nothing."""

from __future__ import annotations

from sqlalchemy import select

from federation.initiatives import funding
from federation.tables import Peer
from node.tables import FundingLead
from protocol import ChannelRef, Envelope, genesis_hash, make_envelope
from tests.conftest import START

LEAD = {
    "ref": "f-1",
    "title": "Hungarian social innovation fund",
    "url": "https://example.hu/fund",
    "deadline": "2026-05-01T10:00:00Z",
    "countries": ["HU"],
    "topics": ["food"],
    "description": "Seed grants.",
}


def envelope(type_name: str, body: dict, from_: str = "hu") -> Envelope:
    # The handlers read the body; the chain around it is the inbox's business (tests/federation/test_funding.py).
    channel = ChannelRef(1, genesis_hash(from_, "be-vl"))
    return make_envelope(
        type=type_name, from_=from_, to="be-vl", created=START, body=body, id=f"{type_name}-1", channel=channel
    )


def apply(ctx, handler, env: Envelope) -> None:
    fed = ctx.federation
    with ctx.db.write() as s:
        handler(s, fed, s.get(Peer, env.from_), env, ctx.now())


def stored(ctx) -> list[tuple]:
    with ctx.db.read() as s:
        rows = s.scalars(select(FundingLead).order_by(FundingLead.origin_node, FundingLead.ref)).all()
        return [(r.id, r.origin_node, r.origin_country, r.ref, r.title, r.deadline, r.poster_id) for r in rows]


def test_snapshots_and_deltas_apply_by_peer_and_ref_and_twice_is_once(ctx):
    with ctx.db.write() as s:
        for node_id, country in (("hu", "HU"), ("at", "AT")):
            s.add(
                Peer(node_id=node_id, base_url=f"http://{node_id}", country=country, fingerprint="x", created_at=START)
            )
    snapshot = envelope("funding_lead_snapshot", {"leads": [LEAD, {**LEAD, "ref": "f-2", "title": "Second"}]})
    apply(ctx, funding.apply_snapshot, snapshot)
    apply(ctx, funding.apply_snapshot, envelope("funding_lead_snapshot", {"leads": [LEAD]}, from_="at"))
    first = stored(ctx)
    assert [(o, c, ref, title) for _, o, c, ref, title, _, _ in first] == [
        ("at", "AT", "f-1", LEAD["title"]),
        ("hu", "HU", "f-1", LEAD["title"]),
        ("hu", "HU", "f-2", "Second"),
    ]
    assert all(poster is None for *_, poster in first)
    apply(ctx, funding.apply_snapshot, snapshot)
    assert stored(ctx) == first  # the same rows, the same ids

    no_deadline = {k: v for k, v in LEAD.items() if k != "deadline"}
    delta = envelope("funding_lead_delta", {"upserts": [{**no_deadline, "title": "Renamed"}], "removals": ["f-2"]})
    for _ in range(2):
        apply(ctx, funding.apply_delta, delta)
        assert [(o, ref, title, deadline) for _, o, _, ref, title, deadline, _ in stored(ctx)] == [
            ("at", "f-1", LEAD["title"], first[0][5]),
            ("hu", "f-1", "Renamed", None),
        ]
    assert stored(ctx)[1][0] == first[1][0]  # updated in place

    apply(ctx, funding.apply_snapshot, envelope("funding_lead_snapshot", {"leads": []}))  # hu shares nothing now
    assert [(o, ref) for _, o, _, ref, *_ in stored(ctx)] == [("at", "f-1")]
