"""Reviews: accept, submit, paid once, rated once; declines, expiries and timeouts replaced; idempotent sweeps."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from node.tables import Notification
from tests.conftest import balance_of
from tests.node.test_proposals import BODY, REVIEWER, assert_closed_escrows_empty, counts, escrow, propose, sweep

HOUR = 3600
REVIEW = {
    "shared_value": 4,
    "social_transformation": 3,
    "impact": 5,
    "confidence": 4,
    "feedback": "Clear plan; talk to the municipality early.",
}


@pytest.fixture
def cast(make_member):
    """An author, a coordinator and four reviewers ranked r1 > r2 > r3 > r4 for BODY's tags."""
    return {
        "author": make_member("author"),
        "coord": make_member("coord", role="coordinator"),
        "r1": make_member("r1", expertise=["circular-economy", "food"], **REVIEWER),
        "r2": make_member("r2", expertise=["food"], **REVIEWER),
        "r3": make_member("r3", expertise=["food"], review_capacity=2, **REVIEWER),
        "r4": make_member("r4", expertise=["housing"], **REVIEWER),
    }


def invitation_of(client, headers) -> dict:
    return client.get("/api/v1/invitations", headers=headers).json["invitations"][0]


def states(client, headers, pid) -> list[tuple[str, str]]:
    return [
        (i["reviewer"], i["status"])
        for i in client.get(f"/api/v1/proposals/{pid}", headers=headers).json["invitations"]
    ]


def kinds(ctx, member) -> list[str]:
    with ctx.db.read() as s:
        return list(
            s.scalars(
                select(Notification.kind).where(Notification.member_id == member.id).order_by(Notification.id)
            ).all()
        )


def test_end_to_end_two_reviews_paid_and_rated(client, ctx, cast, token_for, books):
    author = token_for(cast["author"])
    pid = propose(client, author).json["id"]
    paid = []
    for name in ("r1", "r2"):
        h = token_for(cast[name])
        inv = invitation_of(client, h)
        r = client.post(f"/api/v1/invitations/{inv['id']}/accept", headers=h)
        assert r.status_code == 200 and r.json["status"] == "accepted"
        assert r.json["due_by"] == "2026-03-16T09:00:00Z"  # accepted_at + review_due_days (14)
        r = client.post(f"/api/v1/invitations/{inv['id']}/review", headers=h, json=REVIEW)
        assert r.status_code == 201, r.json
        assert {k: r.json[k] for k in REVIEW} == REVIEW and r.json["helpfulness"] is None
        paid.append(r.json["id"])
        assert balance_of(ctx, cast[name]) == 13
    p = client.get(f"/api/v1/proposals/{pid}", headers=author).json
    assert p["status"] == "completed" and p["escrow"] == 0 and escrow(ctx, pid) == 0
    assert [r["reviewer"] for r in p["reviews"]] == ["r1", "r2"] and balance_of(ctx, cast["author"]) == 4
    assert kinds(ctx, cast["author"]) == ["review_received", "review_received"]
    assert kinds(ctx, cast["r1"]) == ["review_invitation", "review_payment"]
    r = client.post(f"/api/v1/reviews/{paid[0]}/rate", headers=author, json={"helpfulness": 5})
    assert r.status_code == 200 and r.json["helpfulness"] == 5 and r.json["rated_at"] == "2026-03-02T09:00:00Z"
    before = counts(ctx)
    first, second = paid
    for who, review_id, body, status, code in [
        (author, first, {"helpfulness": 4}, 409, "already_rated"),
        (token_for(cast["r2"]), second, {"helpfulness": 1}, 403, "not_author"),
        (token_for(cast["r4"]), second, {"helpfulness": 1}, 404, "review_not_found"),
        (author, 999, {"helpfulness": 1}, 404, "review_not_found"),
        (author, second, {"helpfulness": 6}, 422, "out_of_range"),
        (author, second, {"helpfulness": "5"}, 422, "not_an_integer"),
        (author, second, {}, 422, "not_an_integer"),
    ]:
        r = client.post(f"/api/v1/reviews/{review_id}/rate", headers=who, json=body)
        assert (r.status_code, r.json["error"]["code"]) == (status, code), (review_id, body)
    assert counts(ctx) == before
    # the rating feeds matching: r1's helpfulness now shows in the explanation of the next proposal
    pid2 = propose(client, author, bounty=1, reviews_wanted=1).json["id"]
    cands = client.get(f"/api/v1/proposals/{pid2}/candidates", headers=author).json["candidates"]
    assert cands and all(c["reviewer"] != "r1" for c in cands)  # r1 was invited (the best)
    coord_view = client.get(f"/api/v1/proposals/{pid2}/candidates", headers=token_for(cast["coord"])).json
    assert {"reviewer": "r1", "reason": "already_invited"} in coord_view["excluded"]
    assert_closed_escrows_empty(ctx)
    books()


def test_submission_is_paid_exactly_once(client, ctx, cast, token_for, books):
    propose(client, token_for(cast["author"]))
    h = token_for(cast["r1"])
    inv = invitation_of(client, h)
    client.post(f"/api/v1/invitations/{inv['id']}/accept", headers=h)
    assert client.post(f"/api/v1/invitations/{inv['id']}/review", headers=h, json=REVIEW).status_code == 201
    before = counts(ctx)
    r = client.post(f"/api/v1/invitations/{inv['id']}/review", headers=h, json=REVIEW)
    assert (r.status_code, r.json["error"]["code"]) == (409, "illegal_transition")
    assert counts(ctx) == before and balance_of(ctx, cast["r1"]) == 13
    books()


def test_review_refusals_change_nothing(client, ctx, cast, token_for, books):
    pid = propose(client, token_for(cast["author"])).json["id"]
    h = token_for(cast["r1"])
    inv = invitation_of(client, h)
    r = client.post(f"/api/v1/invitations/{inv['id']}/review", headers=h, json=REVIEW)
    assert (r.status_code, r.json["error"]["code"]) == (409, "illegal_transition")  # not accepted yet
    client.post(f"/api/v1/invitations/{inv['id']}/accept", headers=h)
    before = counts(ctx)
    cases = [
        ({"impact": 0}, "out_of_range"),
        ({"impact": 6}, "out_of_range"),
        ({"confidence": "3"}, "not_an_integer"),
        ({"shared_value": 3.0}, "not_an_integer"),
        ({"social_transformation": True}, "not_an_integer"),
        ({"feedback": " "}, "missing_field"),
        ({"feedback": "x" * 20001}, "too_long"),
        ({"grade": "A"}, "unknown_field"),
    ]
    for changes, code in cases:
        r = client.post(f"/api/v1/invitations/{inv['id']}/review", headers=h, json={**REVIEW, **changes})
        assert (r.status_code, r.json["error"]["code"]) == (422, code), changes
    body = dict(REVIEW)
    del body["impact"]
    r = client.post(f"/api/v1/invitations/{inv['id']}/review", headers=h, json=body)
    assert (r.status_code, r.json["error"]["code"]) == (422, "not_an_integer")
    for who, status, code in [(cast["r2"], 404, "invitation_not_found"), (cast["coord"], 403, "not_reviewer")]:
        r = client.post(f"/api/v1/invitations/{inv['id']}/review", headers=token_for(who), json=REVIEW)
        assert (r.status_code, r.json["error"]["code"]) == (status, code)
    assert counts(ctx) == before and escrow(ctx, pid) == 6 and balance_of(ctx, cast["r1"]) == 10
    assert client.get(f"/api/v1/invitations/{inv['id']}", headers=h).json["status"] == "accepted"
    books()


def test_decline_is_replaced_by_the_next_candidate_never_reinvited(client, ctx, app, cast, token_for, books):
    author = token_for(cast["author"])
    pid = propose(client, author).json["id"]
    assert states(client, author, pid) == [("r1", "invited"), ("r2", "invited")]
    h2 = token_for(cast["r2"])
    r = client.post(
        f"/api/v1/invitations/{invitation_of(client, h2)['id']}/decline", headers=h2, json={"reason": "on holiday"}
    )
    assert r.status_code == 200 and r.json["status"] == "declined" and r.json["decline_reason"] == "on holiday"
    assert states(client, author, pid) == [("r1", "invited"), ("r2", "declined"), ("r3", "invited")]
    assert "decline_reason" not in client.get(f"/api/v1/proposals/{pid}", headers=author).json["invitations"][1]
    h3 = token_for(cast["r3"])
    client.post(f"/api/v1/invitations/{invitation_of(client, h3)['id']}/decline", headers=h3)
    h4 = token_for(cast["r4"])
    client.post(f"/api/v1/invitations/{invitation_of(client, h4)['id']}/decline", headers=h4, json={})
    p = client.get(f"/api/v1/proposals/{pid}", headers=author).json
    assert p["waiting_for_reviewers"] is True and p["open_slots"] == 1
    assert kinds(ctx, cast["author"])[-1] == "reviewer_replaced"
    assert sweep(app)["retry_matching"] == 0  # nobody left: decliners are never asked again
    assert len(p["invitations"]) == 4 and escrow(ctx, pid) == 6
    books()


def test_expiry_replaced_by_next_candidate_and_sweep_runs_once(client, ctx, app, cast, token_for, books):
    author = token_for(cast["author"])
    pid = propose(client, author).json["id"]
    h1 = token_for(cast["r1"])
    inv1 = invitation_of(client, h1)
    ctx.clock.advance(72 * HOUR - 1)
    assert sweep(app)["expire_invitations"] == 0
    ctx.clock.advance(1)  # accept_by has come: too late to accept, even before the sweep ran
    before = counts(ctx)
    r = client.post(f"/api/v1/invitations/{inv1['id']}/accept", headers=h1)
    assert (r.status_code, r.json["error"]["code"]) == (409, "invitation_expired") and counts(ctx) == before
    assert sweep(app)["expire_invitations"] == 2
    after_first = counts(ctx)
    again = sweep(app)
    assert again["expire_invitations"] == 0 and again["retry_matching"] == 0
    assert counts(ctx) == after_first
    assert states(client, author, pid) == [("r1", "expired"), ("r2", "expired"), ("r3", "invited"), ("r4", "invited")]
    assert kinds(ctx, cast["r1"]) == ["review_invitation", "invitation_expired"]
    r = client.post(f"/api/v1/invitations/{inv1['id']}/accept", headers=h1)
    assert (r.status_code, r.json["error"]["code"]) == (409, "illegal_transition")
    ctx.clock.advance(72 * HOUR)
    assert sweep(app)["expire_invitations"] == 2
    p = client.get(f"/api/v1/proposals/{pid}", headers=author).json
    assert p["waiting_for_reviewers"] is True and p["open_slots"] == 2 and escrow(ctx, pid) == 6
    books()


def test_timeout_of_an_accepted_review_reoffers_the_slot(client, ctx, app, cast, token_for, books):
    author = token_for(cast["author"])
    pid = propose(client, author).json["id"]
    h1 = token_for(cast["r1"])
    inv1 = invitation_of(client, h1)
    client.post(f"/api/v1/invitations/{inv1['id']}/accept", headers=h1)
    ctx.clock.advance(14 * 24 * HOUR)
    done = sweep(app)
    assert done["time_out_reviews"] == 1 and done["remind_reviewers"] == 0
    assert sweep(app)["time_out_reviews"] == 0
    assert states(client, author, pid)[0] == ("r1", "timed_out")
    assert ("r3", "invited") in states(client, author, pid)
    r = client.post(f"/api/v1/invitations/{inv1['id']}/review", headers=h1, json=REVIEW)
    assert (r.status_code, r.json["error"]["code"]) == (409, "illegal_transition")
    assert kinds(ctx, cast["r1"])[-1] == "review_timed_out" and balance_of(ctx, cast["r1"]) == 10
    assert escrow(ctx, pid) == 6  # the slot's bounty waits for the next reviewer
    assert client.get(f"/api/v1/proposals/{pid}", headers=h1).status_code == 404
    # withdrawing now returns the whole escrow
    client.post(f"/api/v1/proposals/{pid}/withdraw", headers=author)
    assert balance_of(ctx, cast["author"]) == 10
    assert_closed_escrows_empty(ctx)
    books()


def test_review_due_date_is_enforced_before_the_sweep(client, ctx, cast, token_for):
    propose(client, token_for(cast["author"]))
    h1 = token_for(cast["r1"])
    inv1 = invitation_of(client, h1)
    client.post(f"/api/v1/invitations/{inv1['id']}/accept", headers=h1)
    ctx.clock.advance(14 * 24 * HOUR)
    before = counts(ctx)
    r = client.post(f"/api/v1/invitations/{inv1['id']}/review", headers=h1, json=REVIEW)
    assert (r.status_code, r.json["error"]["code"]) == (409, "review_overdue") and counts(ctx) == before


def test_one_reminder_before_the_due_date(client, ctx, app, cast, token_for):
    propose(client, token_for(cast["author"]))
    h1 = token_for(cast["r1"])
    inv1 = invitation_of(client, h1)
    client.post(f"/api/v1/invitations/{inv1['id']}/accept", headers=h1)
    ctx.clock.advance((14 * 24 - 48) * HOUR - 1)
    assert sweep(app)["remind_reviewers"] == 0
    ctx.clock.advance(1)
    assert sweep(app)["remind_reviewers"] == 1
    assert sweep(app)["remind_reviewers"] == 0
    ctx.clock.advance(24 * HOUR)
    assert sweep(app)["remind_reviewers"] == 0
    assert kinds(ctx, cast["r1"]).count("review_reminder") == 1
    inv = client.get(f"/api/v1/invitations/{inv1['id']}", headers=h1).json
    assert inv["reminded_at"] == "2026-03-14T09:00:00Z" and inv["status"] == "accepted"
    assert "SECRET" not in str(inv) and inv["proposal"]["title"] == BODY["title"]


def test_accept_and_decline_refusals(client, ctx, cast, make_member, token_for):
    propose(client, token_for(cast["author"]))
    h1 = token_for(cast["r1"])
    inv = invitation_of(client, h1)
    before = counts(ctx)
    for who, action, status, code in [
        (cast["r2"], "accept", 404, "invitation_not_found"),
        (cast["author"], "decline", 404, "invitation_not_found"),
        (cast["coord"], "accept", 403, "not_reviewer"),
    ]:
        r = client.post(f"/api/v1/invitations/{inv['id']}/{action}", headers=token_for(who))
        assert (r.status_code, r.json["error"]["code"]) == (status, code)
    r = client.post(f"/api/v1/invitations/{inv['id']}/decline", headers=h1, json={"reason": "x" * 501})
    assert (r.status_code, r.json["error"]["code"]) == (422, "too_long")
    r = client.post(f"/api/v1/invitations/{inv['id']}/decline", headers=h1, json={"why": "no"})
    assert (r.status_code, r.json["error"]["code"]) == (422, "unknown_field")
    assert counts(ctx) == before
    assert client.get(f"/api/v1/invitations/{inv['id']}", headers=token_for(cast["coord"])).status_code == 200
    assert client.post(f"/api/v1/invitations/{inv['id']}/accept", headers=h1).status_code == 200
    r = client.post(f"/api/v1/invitations/{inv['id']}/decline", headers=h1)
    assert (r.status_code, r.json["error"]["code"]) == (409, "illegal_transition")
