"""A double-blind review round: everything the reviewer can reach names no author, everything the author can reach
names no reviewer (pages, API answers, notifications and mails); the coordinator sees both; other rounds are as before.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from node.clock import iso
from tests.node.test_notices import mails
from tests.node.test_reviews import REVIEW
from tests.node.test_rounds import BODY
from tests.node.test_web import login

REVIEWER = {"is_reviewer": True, "languages": ["en"], "expertise": ["education"]}
AUTHOR = ("griet", "Griet Vermeulen")  # names no page uses as an example
REVIEWER_NAMES = ("tibor", "Tibor Kálmán")


def run_round(app, ctx, make_member, token_for, *, double_blind: bool) -> dict:
    """A round with one proposal by Annelies, reviewed by Dirk; the ids and each party's API headers."""
    client = app.test_client()
    cora = token_for(make_member("cora", role="coordinator"))
    anna = token_for(make_member(AUTHOR[0], display_name=AUTHOR[1]))
    dirk = token_for(make_member(REVIEWER_NAMES[0], display_name=REVIEWER_NAMES[1], **REVIEWER))
    body = {"title": "Spring", "deadline": iso(ctx.now() + timedelta(days=3)), "reviews_per_proposal": 1}
    r = client.post("/api/v1/rounds", json={**body, "max_load": 2, "double_blind": double_blind}, headers=cora)
    assert r.status_code == 201 and r.json["double_blind"] is double_blind
    rid = r.json["id"]
    pid = client.post(f"/api/v1/rounds/{rid}/proposals", json=BODY, headers=anna).json["id"]
    assert client.post(f"/api/v1/rounds/{rid}/solve", headers=cora).status_code == 202
    ctx.round_threads[rid].join(30)
    [inv] = client.get("/api/v1/invitations", headers=dirk).json["invitations"]
    assert client.post(f"/api/v1/invitations/{inv['id']}/accept", headers=dirk).status_code == 200
    r = client.post(f"/api/v1/invitations/{inv['id']}/review", headers=dirk, json=REVIEW)
    assert r.status_code == 201
    return {"rid": rid, "pid": pid, "inv": inv["id"], "review": r.json["id"], "api": (cora, anna, dirk)}


def reachable(app, ctx, who: str, headers: dict, ids: dict) -> str:
    """Everything `who` can open about the round: web pages, API answers, their notifications and mails."""
    browser = app.test_client()
    login(browser, f"{who}@example.org")
    pages = ["/dashboard", "/reviews", "/proposals", f"/proposals/{ids['pid']}", "/notifications", "/rounds"]
    pages.append(f"/rounds/{ids['rid']}")
    api = ["/api/v1/invitations", "/api/v1/proposals", f"/api/v1/proposals/{ids['pid']}", "/api/v1/notifications"]
    api += [f"/api/v1/rounds/{ids['rid']}", "/api/v1/me/statement"]
    texts = []
    for path in pages:
        r = browser.get(path)
        texts.append(r.get_data(as_text=True) if r.status_code == 200 else "")
    for path in api:
        r = browser.get(path, headers=headers)
        texts.append(r.get_data(as_text=True) if r.status_code == 200 else "")
    texts += [m.get_content() + str(m["Subject"]) for m in mails(ctx).values() if m["To"] == f"{who}@example.org"]
    return "\n".join(texts)


def test_reviewer_and_author_see_each_other_only_as_roles(app, ctx, make_member, token_for):
    ids = run_round(app, ctx, make_member, token_for, double_blind=True)
    cora, anna, dirk = ids["api"]
    seen_by_reviewer = reachable(app, ctx, "tibor", dirk, ids)
    assert BODY["title"] in seen_by_reviewer and "Author not named (double-blind round)" in seen_by_reviewer
    for name in AUTHOR:
        assert name not in seen_by_reviewer, name
    seen_by_author = reachable(app, ctx, "griet", anna, ids)
    assert REVIEW["feedback"] in seen_by_author and "Reviewer 1" in seen_by_author  # the review, by number
    for name in REVIEWER_NAMES:
        assert name not in seen_by_author, name
    proposal = app.test_client().get(f"/api/v1/proposals/{ids['pid']}", headers=anna).json
    assert proposal["double_blind"] is True
    assert [(i["reviewer"], i["reviewer_number"]) for i in proposal["invitations"]] == [(None, 1)]
    assert [(r["reviewer"], r["reviewer_number"]) for r in proposal["reviews"]] == [(None, 1)]
    # The coordinator sees both, as before.
    seen = app.test_client().get(f"/api/v1/proposals/{ids['pid']}", headers=cora).json
    assert seen["author"] == "griet" and seen["reviews"][0]["reviewer"] == "tibor"


@pytest.mark.parametrize("double_blind", [False])
def test_other_rounds_name_both_as_before(app, ctx, make_member, token_for, double_blind):
    ids = run_round(app, ctx, make_member, token_for, double_blind=double_blind)
    _cora, anna, dirk = ids["api"]
    client = app.test_client()
    assert client.get(f"/api/v1/proposals/{ids['pid']}", headers=dirk).json["author"] == "griet"
    assert client.get(f"/api/v1/proposals/{ids['pid']}", headers=anna).json["reviews"][0]["reviewer"] == "tibor"
    # the same walk finds the names here, so the walk above would find a leak
    assert AUTHOR[0] in reachable(app, ctx, "tibor", dirk, ids)
    assert REVIEWER_NAMES[0] in reachable(app, ctx, "griet", anna, ids)
