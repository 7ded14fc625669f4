"""The node's side: its signed directory summary and initiatives, aggregated on an in-process app."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from federation import summary
from federation.transport.peers import position_account
from federation.tables import ChannelEntry, CrossBorderTransfer, Peer, SettlementPart
from node.services import ledger
from node.tables import Member
from protocol import Envelope, KeyInfo, Keyring, parse_json, validate_body, verify_envelope
from tests.node.test_proposals import propose

REVIEW = {"shared_value": 4, "social_transformation": 3, "impact": 5, "confidence": 4, "feedback": "Good."}
POOL = {"is_reviewer": True, "pool_consent": True}


@pytest.fixture
def listed(app, ctx):
    """The node chose the directory eu-dir."""
    ctx.settings = ctx.settings.replace(directory_id="eu-dir")
    return app


def set_last_active(ctx, member, days_ago: int | None) -> None:
    with ctx.db.write() as s:
        s.get(Member, member.id).last_active_at = None if days_ago is None else ctx.now() - timedelta(days=days_ago)


def verified(ctx, app, raw: bytes, type_name: str) -> Envelope:
    key = app.extensions["sifnet_federation"].identity.current_key().public_key
    env = Envelope.from_dict(parse_json(raw))
    assert env.type == type_name and env.to == "eu-dir" and env.from_ == "be-vl"
    return verify_envelope(
        env,
        keyring=Keyring.of(KeyInfo("be-vl", key)),
        expected_to="eu-dir",
        now=ctx.now(),
        max_skew=timedelta(minutes=5),
        max_age=timedelta(minutes=5),
    )


def test_members_activity_pool_and_sif(listed, ctx, make_member):
    pool1 = make_member("pool1", expertise=["food", "circular-economy"], languages=["en", "nl"], **POOL)
    make_member("pool2", expertise=["food"], languages=["en"], **POOL)
    make_member("private", expertise=["housing"], languages=["fr"], is_reviewer=True)  # no consent: not shared
    make_member("consented", expertise=["energy"], languages=["de"], pool_consent=True)  # not a reviewer
    idle, old = make_member("idle"), make_member("old")
    make_member("waiting", approve=False)
    set_last_active(ctx, idle, 100)
    set_last_active(ctx, old, 200)
    with ctx.db.read() as s:
        body = summary.summary_body(s, ctx.settings, ctx.now())
    assert (body["members"], body["active_30d"], body["active_180d"]) == (6, 4, 5)
    assert body["reviewers_by_tag"] == {"circular-economy": 1, "food": 2}
    assert body["reviewers_by_language"] == {"en": 2, "nl": 1}
    assert body["sif_in_circulation"] == 60  # six welcome grants of 10; the pending member has none
    with ctx.db.write() as s:  # money leaving for a peer is no longer held by members here
        s.add(Peer(node_id="hu", base_url="http://127.0.0.1:9", fingerprint="X", status="active", created_at=ctx.now()))
        ledger.post(
            s,
            kind="cross_border_out",
            memo="to hu",
            now=ctx.now(),
            ref="test:xfer",
            legs=[
                ledger.Leg(ledger.member_account(s, pool1.id), -4),
                ledger.Leg(position_account(s, "hu", ctx.now()), 4),
            ],
        )
    with ctx.db.read() as s:
        body = summary.summary_body(s, ctx.settings, ctx.now())
    assert body["sif_in_circulation"] == 56
    assert body["cross_border"] == [{"peer": "hu", "reviews_given": 0, "reviews_received": 0, "position": -4}]


def test_proposals_reviews_and_median_turnaround(listed, client, ctx, clock, make_member, token_for):
    author = token_for(make_member("author"))
    reviewer = make_member("r1", expertise=["circular-economy", "food"], languages=["en"], is_reviewer=True)
    with ctx.db.read() as s:
        assert summary.proposal_figures(s) == {
            "proposals_open": 0,
            "proposals_reviewed": 0,
            "median_turnaround_days": None,
        }
    assert propose(client, author, reviews_wanted=1).status_code == 201
    h = token_for(reviewer)
    invitation = client.get("/api/v1/invitations", headers=h).json["invitations"][0]
    assert client.post(f"/api/v1/invitations/{invitation['id']}/accept", headers=h).status_code == 200
    clock.advance(3 * 86400 + 3600)
    assert client.post(f"/api/v1/invitations/{invitation['id']}/review", headers=h, json=REVIEW).status_code == 201
    assert propose(client, author, title="Second plan", reviews_wanted=1, bounty=1).status_code == 201
    with ctx.db.read() as s:
        figures = summary.proposal_figures(s)
    assert figures == {"proposals_open": 1, "proposals_reviewed": 1, "median_turnaround_days": 3}


def test_cross_border_reviews_come_from_the_channels_and_clearings_from_settlements(listed, ctx):
    now = ctx.now()
    with ctx.db.write() as s:
        s.add(Peer(node_id="hu", base_url="http://127.0.0.1:9", fingerprint="X", status="active", created_at=now))
        s.add(Peer(node_id="nl", base_url="http://127.0.0.1:8", fingerprint="Y", status="pending", created_at=now))
        s.flush()
        for seq, (direction, type_name) in enumerate(
            [("out", "review_submit"), ("out", "review_submit"), ("in", "review_submit"), ("out", "transfer")], start=1
        ):
            s.add(
                ChannelEntry(
                    peer_id="hu",
                    direction=direction,
                    seq=seq,
                    type=type_name,
                    envelope_id=f"e{seq}",
                    entry_hash="h",
                    envelope="{}",
                    created_at=now,
                )
            )
        proposal = {
            "body": {
                "participants": ["be-vl", "hu", "nl"],
                "cleared": 20,
                "before": [
                    {"debtor": "hu", "creditor": "be-vl", "amount": 30},
                    {"debtor": "be-vl", "creditor": "nl", "amount": 20},
                ],
                "after": [{"debtor": "hu", "creditor": "be-vl", "amount": 10}],
            }
        }
        s.add(
            SettlementPart(
                round_id="r-1",
                coordinator="eu-dir",
                state="applied",
                statement="{}",
                certificate=json.dumps({"body": {"proposal": proposal}}),
                created_at=now,
                applied_at=now,
            )
        )
        s.add(SettlementPart(round_id="r-2", coordinator="hu", state="stated", statement="{}", created_at=now))
    with ctx.db.read() as s:
        body = summary.summary_body(s, ctx.settings, now)
    assert body["cross_border"] == [{"peer": "hu", "reviews_given": 2, "reviews_received": 1, "position": 0}]
    assert body["clearings"] == [
        {
            "round_id": "r-1",
            "coordinator": "eu-dir",
            "applied": "2026-03-02T09:00:00Z",
            "participants": ["be-vl", "hu", "nl"],
            "total_before": 50,
            "total_after": 10,
            "cleared": 20,
        }
    ]


def test_the_summary_endpoint_serves_a_signed_envelope_for_the_directory(listed, client, ctx, make_member):
    make_member("anna", expertise=["food"], languages=["en"], **POOL)
    raw = client.get("/federation/v1/summary").data
    env = verified(ctx, listed, raw, "directory_summary")
    assert env.body["members"] == 1 and env.body["software_version"].startswith("sifnet")
    assert "initiatives_hash" not in env.body and "clearings" not in env.body
    text = raw.decode()
    assert "anna" not in text and "example.org" not in text  # nothing personal: no handle, no email
    document = json.loads(client.get("/.well-known/sifnet-node").data)
    assert document["body"]["endpoints"]["summary"] == "http://127.0.0.1:5000/federation/v1/summary"


def test_no_directory_chosen_means_no_summary(app, client):
    for path in ("/federation/v1/summary", "/federation/v1/initiatives"):
        answer = client.get(path)
        assert answer.status_code == 404 and answer.json["error"]["code"] == "directory_not_set"
    assert "summary" not in json.loads(client.get("/.well-known/sifnet-node").data)["body"]["endpoints"]


def test_initiatives_are_served_only_with_consent_and_named_by_the_summary(listed, client, ctx):
    from federation.initiatives import records as initiatives

    with ctx.db.write() as s:
        shown = initiatives.create_initiative(
            s,
            ctx.settings,
            now=ctx.now(),
            data={
                "name": "Repair café",
                "summary": "Fix things",
                "interests": ["circular-economy"],
                "sectors": "repair",
                "stage": "pilot",
                "city": "Ghent",
            },
        )
        initiatives.create_initiative(s, ctx.settings, now=ctx.now(), data={"name": "Secret plan", "stage": "idea"})
        initiatives.set_consent(s, ref=shown.ref, consent=True, note="signed form", now=ctx.now())
    env = verified(ctx, listed, client.get("/federation/v1/initiatives").data, "directory_initiatives")
    assert env.body == {
        "initiatives": [
            {
                "ref": shown.ref,
                "name": "Repair café",
                "summary": "Fix things",
                "interests": ["circular-economy"],
                "sectors": ["repair"],
                "stage": "pilot",
                "city": "Ghent",
                "contact": f"http://127.0.0.1:5000/initiatives/{shown.ref}",
            }
        ]
    }
    body = verified(ctx, listed, client.get("/federation/v1/summary").data, "directory_summary").body
    assert body["initiatives_hash"] == summary.initiatives_hash(env.body)
    with ctx.db.write() as s:
        initiatives.set_consent(s, ref=shown.ref, consent=False, note="", now=ctx.now())
    assert verified(ctx, listed, client.get("/federation/v1/initiatives").data, "directory_initiatives").body == {
        "initiatives": []
    }
    assert (
        "initiatives_hash"
        not in verified(ctx, listed, client.get("/federation/v1/summary").data, "directory_summary").body
    )


def test_reviewer_tags_and_languages_that_are_not_wire_tags_are_left_out(listed, ctx, make_member):
    member = make_member("odd", expertise=["food"], languages=["en"], **POOL)
    with ctx.db.write() as s:
        row = s.get(Member, member.id)
        row.expertise, row.languages = ["food", "Not A Tag"], ["en", "english"]
    with ctx.db.read() as s:
        assert summary.reviewer_pool(s) == ({"food": 1}, {"en": 1})


def test_payments_count_completed_transfers_once_per_side_and_period(listed, ctx):
    """Gross payments per peer: completed transfers only (bounties too), by when they completed."""
    now = ctx.now()
    with ctx.db.write() as s:
        for node_id, status in (("hu", "active"), ("it", "suspended"), ("nl", "pending")):
            s.add(
                Peer(node_id=node_id, base_url="http://127.0.0.1:9", fingerprint=node_id, status=status, created_at=now)
            )
        s.flush()
        history = [  # (peer, direction, amount, status, days since it completed)
            ("hu", "out", 2, "completed", 10),
            ("hu", "out", 7, "bounced", 5),  # returned: not a payment
            ("hu", "out", 9, "pending", 1),  # no receipt yet: not a payment yet
            ("hu", "in", 1, "completed", 100),
            ("hu", "in", 6, "bounced", 3),
            ("hu", "out", 3, "completed", 400),  # a review bounty: a transfer like any other
            ("it", "in", 4, "completed", 29),
            ("it", "out", 5, "completed", 31),
        ]
        for n, (peer, direction, amount, status, days) in enumerate(history):
            finished = None if status == "pending" else now - timedelta(days=days)
            s.add(
                CrossBorderTransfer(
                    transfer_id=f"review-i{n}" if days == 400 else f"t{n}",
                    direction=direction,
                    peer_id=peer,
                    local_handle="a",
                    remote_handle="b",
                    amount=amount,
                    status=status,
                    created_at=now - timedelta(days=days + 1),
                    finished_at=finished,
                )
            )
    with ctx.db.read() as s:
        body = summary.summary_body(s, ctx.settings, now)
    validate_body("directory_summary", body)
    assert body["payments"] == [
        {
            "peer": "hu",
            "paid_30d": 2,
            "received_30d": 0,
            "paid_365d": 2,
            "received_365d": 1,
            "paid_all": 5,
            "received_all": 1,
        },
        {
            "peer": "it",
            "paid_30d": 0,
            "received_30d": 4,
            "paid_365d": 5,
            "received_365d": 4,
            "paid_all": 5,
            "received_all": 4,
        },
    ]  # nl is still pending: no payments, no entry


def test_a_summary_without_payments_is_still_valid(listed, ctx):
    with ctx.db.read() as s:
        body = summary.summary_body(s, ctx.settings, ctx.now())
    assert body["payments"] == []
    del body["payments"]
    validate_body("directory_summary", body)  # older nodes send none: the field is optional
