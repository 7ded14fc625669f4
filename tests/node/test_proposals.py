"""Proposals: escrow on creation, refusals that change nothing, full-text privacy, withdrawal, waiting."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from node.scheduler import register_app, run_sweeps
from node.services import proposals as proposals_service
from node.tables import LedgerTxn, Notification, Proposal, ReviewInvitation
from tests.conftest import balance_of

BODY = {
    "title": "Repair café network",
    "summary": "Neighbours fix things together.",
    "full_text": "SECRET PLAN: a van, three volunteers and a budget.",
    "tags": ["circular-economy", "food"],
    "language": "en",
    "stage": "pilot",
    "reviews_wanted": 2,
    "bounty": 3,
}
REVIEWER = {"is_reviewer": True, "languages": ["en"]}


def propose(client, headers, **changes):
    return client.post("/api/v1/proposals", headers=headers, json={**BODY, **changes})


def escrow(ctx, proposal_id: int) -> int:
    with ctx.db.read() as s:
        return proposals_service.escrow_balance(s, s.get(Proposal, proposal_id))


def assert_closed_escrows_empty(ctx):
    """Every completed or withdrawn proposal has exactly 0 left in escrow."""
    with ctx.db.read() as s:
        closed = s.scalars(select(Proposal).where(Proposal.status.in_(("completed", "withdrawn")))).all()
        assert closed, "the scenario should have closed a proposal"
        for p in closed:
            assert proposals_service.escrow_balance(s, p) == 0, p


def sweep(app) -> dict:
    return run_sweeps(register_app(app))


def counts(ctx) -> tuple[int, int, int, int]:
    """Proposals, invitations, ledger transactions and notifications: a refusal must change none of them."""
    with ctx.db.read() as s:
        return tuple(
            s.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (Proposal, ReviewInvitation, LedgerTxn, Notification)
        )


@pytest.fixture
def cast(make_member):
    """An author and three reviewers whose ranking is known: ria > rob > rae."""
    return {
        "author": make_member("author"),
        "ria": make_member("ria", expertise=["circular-economy", "food"], **REVIEWER),
        "rob": make_member("rob", expertise=["food"], **REVIEWER),
        "rae": make_member("rae", expertise=["housing"], **REVIEWER),
    }


def test_create_puts_k_times_bounty_in_escrow_and_invites_the_best_k(client, ctx, cast, token_for, books):
    r = propose(client, token_for(cast["author"]))
    assert r.status_code == 201, r.json
    p = r.json
    assert p["access"] == "owner" and p["full_text"] == BODY["full_text"] and p["status"] == "open"
    assert p["escrow"] == 6 and escrow(ctx, p["id"]) == 6 and balance_of(ctx, cast["author"]) == 4
    assert [(i["reviewer"], i["status"], i["rank"]) for i in p["invitations"]] == [
        ("ria", "invited", 1),
        ("rob", "invited", 2),
    ]
    assert p["open_slots"] == 0 and p["waiting_for_reviewers"] is False
    invitation = p["invitations"][0]
    assert invitation["accept_by"] == "2026-03-05T09:00:00Z"  # START + invite_accept_hours (72)
    notes = client.get("/api/v1/notifications", headers=token_for(cast["ria"])).json["notifications"]
    assert [n["kind"] for n in notes] == ["review_invitation"] and BODY["title"] in notes[0]["subject"]
    assert client.get("/api/v1/notifications", headers=token_for(cast["rae"])).json["notifications"] == []
    books()


REFUSALS = [
    ({"bounty": 8}, 422, "insufficient_funds"),  # 2 x 8 = 16 > 10 + overdraft 5
    ({"bounty": 1.5}, 422, "amount_not_integer"),
    ({"bounty": "3"}, 422, "amount_not_integer"),
    ({"bounty": True}, 422, "amount_not_integer"),
    ({"bounty": 0}, 422, "amount_not_positive"),
    ({"bounty": -3}, 422, "amount_not_positive"),
    ({"reviews_wanted": 0}, 422, "out_of_range"),
    ({"reviews_wanted": 11}, 422, "out_of_range"),
    ({"reviews_wanted": 2.0}, 422, "not_an_integer"),
    ({"tags": ["astrology"]}, 422, "unknown_tag"),
    ({"tags": []}, 422, "missing_field"),
    ({"language": "xx"}, 422, "bad_choice"),
    ({"stage": "dreaming"}, 422, "bad_choice"),
    ({"title": "  "}, 422, "missing_field"),
    ({"full_text": "x" * 100001}, 422, "too_long"),
    ({"summary": "bell\x07"}, 422, "control_characters"),
    ({"secret": 1}, 422, "unknown_field"),
]


def test_refusals_change_nothing(client, ctx, cast, token_for, books):
    before = counts(ctx)
    for changes, status, code in REFUSALS:
        r = propose(client, token_for(cast["author"]), **changes)
        assert (r.status_code, r.json["error"]["code"]) == (status, code), changes
        assert counts(ctx) == before and balance_of(ctx, cast["author"]) == 10
    r = client.post(
        "/api/v1/proposals",
        headers=token_for(cast["author"]),
        data="title=x",
        content_type="application/x-www-form-urlencoded",
    )
    assert (r.status_code, r.json["error"]["code"]) == (415, "unsupported_media_type")
    assert counts(ctx) == before
    books()


def test_escrow_exactly_at_the_limit_is_allowed(client, ctx, cast, token_for, books):
    r = propose(client, token_for(cast["author"]), reviews_wanted=3, bounty=5)
    assert r.status_code == 201 and balance_of(ctx, cast["author"]) == -5 and r.json["escrow"] == 15
    books()


def test_pending_member_cannot_propose(client, ctx, make_member, token_for):
    nora = make_member("nora", approve=False)
    before = counts(ctx)
    r = propose(client, token_for(nora))
    assert (r.status_code, r.json["error"]["code"]) == (403, "account_pending")
    assert counts(ctx) == before


def test_full_text_privacy(client, ctx, cast, make_member, token_for):
    coord, stranger = make_member("coord", role="coordinator"), make_member("stranger")
    pid = propose(client, token_for(cast["author"]), reviews_wanted=1).json["id"]
    ria, rob = token_for(cast["ria"]), token_for(cast["rob"])
    inv = client.get("/api/v1/invitations", headers=ria).json["invitations"][0]
    invited = client.get(f"/api/v1/proposals/{pid}", headers=ria)
    assert invited.status_code == 200 and invited.json["access"] == "invited"
    assert "full_text" not in invited.json and "SECRET" not in invited.get_data(as_text=True)
    assert invited.json["title"] == BODY["title"] and invited.json["summary"] == BODY["summary"]
    assert invited.json["bounty"] == 3 and invited.json["my_invitation"]["accept_by"] == inv["accept_by"]
    assert "invitations" not in invited.json and "SECRET" not in str(inv)
    missing = client.get("/api/v1/proposals/999", headers=ria).json
    for who in (token_for(stranger), rob):  # rob was not invited (k=1)
        r = client.get(f"/api/v1/proposals/{pid}", headers=who)
        assert r.status_code == 404 and r.json == missing
    assert client.get(f"/api/v1/proposals/{pid}", headers=token_for(coord)).json["full_text"] == BODY["full_text"]
    assert client.post(f"/api/v1/invitations/{inv['id']}/accept", headers=ria).status_code == 200
    accepted = client.get(f"/api/v1/proposals/{pid}", headers=ria).json
    assert accepted["access"] == "reviewer" and accepted["full_text"] == BODY["full_text"]
    assert "invitations" not in accepted and "escrow" not in accepted
    # strangers cannot reach the invitation either
    assert client.get(f"/api/v1/invitations/{inv['id']}", headers=rob).status_code == 404


def test_declined_reviewer_loses_sight_of_the_proposal(client, cast, token_for):
    pid = propose(client, token_for(cast["author"]), reviews_wanted=1).json["id"]
    ria = token_for(cast["ria"])
    inv_id = client.get("/api/v1/invitations", headers=ria).json["invitations"][0]["id"]
    assert client.post(f"/api/v1/invitations/{inv_id}/decline", headers=ria, json={"reason": "busy"}).status_code == 200
    assert client.get(f"/api/v1/proposals/{pid}", headers=ria).status_code == 404


def test_withdraw_cancels_open_invitations_and_refunds_exactly_the_remainder(client, ctx, cast, token_for, books):
    author = token_for(cast["author"])
    pid = propose(client, author).json["id"]  # 6 in escrow, ria and rob invited
    ria, rob = token_for(cast["ria"]), token_for(cast["rob"])
    ria_inv = client.get("/api/v1/invitations", headers=ria).json["invitations"][0]["id"]
    rob_inv = client.get("/api/v1/invitations", headers=rob).json["invitations"][0]["id"]
    client.post(f"/api/v1/invitations/{ria_inv}/accept", headers=ria)
    r = client.post(
        f"/api/v1/invitations/{ria_inv}/review",
        headers=ria,
        json={"shared_value": 4, "social_transformation": 3, "impact": 5, "confidence": 4, "feedback": "Good plan."},
    )
    assert r.status_code == 201
    assert escrow(ctx, pid) == 3 and balance_of(ctx, cast["ria"]) == 13
    r = client.post(f"/api/v1/proposals/{pid}/withdraw", headers=author)
    assert r.status_code == 200 and r.json["status"] == "withdrawn" and r.json["escrow"] == 0
    assert [i["status"] for i in r.json["invitations"]] == ["submitted", "cancelled"]
    assert balance_of(ctx, cast["author"]) == 4 + 3 and escrow(ctx, pid) == 0
    rob_notes = client.get("/api/v1/notifications", headers=rob).json["notifications"]
    assert rob_notes[0]["kind"] == "invitation_cancelled"
    # the cancelled reviewer cannot accept any more, and a second withdrawal changes nothing
    before = counts(ctx)
    r = client.post(f"/api/v1/invitations/{rob_inv}/accept", headers=rob)
    assert (r.status_code, r.json["error"]["code"]) == (409, "illegal_transition")
    r = client.post(f"/api/v1/proposals/{pid}/withdraw", headers=author)
    assert (r.status_code, r.json["error"]["code"]) == (409, "illegal_transition")
    assert counts(ctx) == before and balance_of(ctx, cast["author"]) == 7
    assert_closed_escrows_empty(ctx)
    books()


def test_only_the_author_withdraws(client, ctx, cast, make_member, token_for, books):
    coord, stranger = make_member("coord", role="coordinator"), make_member("stranger")
    pid = propose(client, token_for(cast["author"])).json["id"]
    before = counts(ctx)
    for who, status, code in [
        (stranger, 404, "proposal_not_found"),
        (coord, 403, "not_author"),
        (cast["ria"], 403, "not_author"),
    ]:
        r = client.post(f"/api/v1/proposals/{pid}/withdraw", headers=token_for(who))
        assert (r.status_code, r.json["error"]["code"]) == (status, code)
    assert counts(ctx) == before and escrow(ctx, pid) == 6
    books()


def test_waiting_for_reviewers_until_a_new_reviewer_joins(client, ctx, app, make_member, token_for, books):
    author = make_member("author")
    make_member("solo", expertise=["food"], **REVIEWER)
    pid = propose(client, token_for(author)).json["id"]
    p = client.get(f"/api/v1/proposals/{pid}", headers=token_for(author)).json
    assert p["waiting_for_reviewers"] is True and p["open_slots"] == 1 and len(p["invitations"]) == 1
    assert sweep(app)["retry_matching"] == 0
    late = make_member("late")
    r = client.patch("/api/v1/me", headers=token_for(late), json={"is_reviewer": True, "expertise": ["food"]})
    assert r.status_code == 200
    assert sweep(app)["retry_matching"] == 1
    assert sweep(app)["retry_matching"] == 0  # run twice: invited once
    p = client.get(f"/api/v1/proposals/{pid}", headers=token_for(author)).json
    assert p["waiting_for_reviewers"] is False and [i["reviewer"] for i in p["invitations"]] == ["solo", "late"]
    books()


def test_listing_mine_and_all_for_coordinators(client, cast, make_member, token_for):
    coord = make_member("coord", role="coordinator")
    propose(client, token_for(cast["author"]), reviews_wanted=1)
    propose(client, token_for(cast["rae"]), reviews_wanted=1, title="Other")
    mine = client.get("/api/v1/proposals", headers=token_for(cast["author"])).json["proposals"]
    assert [p["title"] for p in mine] == [BODY["title"]]
    r = client.get("/api/v1/proposals?all=1", headers=token_for(cast["author"]))
    assert (r.status_code, r.json["error"]["code"]) == (403, "coordinator_only")
    every = client.get("/api/v1/proposals?all=1", headers=token_for(coord)).json["proposals"]
    assert [p["title"] for p in every] == ["Other", BODY["title"]] and {p["access"] for p in every} == {"coordinator"}
