"""The reviews area in the browser UI: forms with CSRF, privacy of pages, panels and navigation."""

from __future__ import annotations

import re

from tests.conftest import balance_of
from tests.node.test_proposals import REVIEWER, assert_closed_escrows_empty, counts, escrow
from tests.node.test_web import csrf, login


def test_proposal_review_and_rating_through_the_forms(app, ctx, make_member, books):
    make_member("author")
    make_member("rita", expertise=["food"], **REVIEWER)
    author, rita = app.test_client(), app.test_client()
    login(author, "author@example.org")
    page = author.get("/proposals").get_data(as_text=True)
    assert 'name="tags" value="food"' in page and '<option value="hu">' in page
    r = author.post(
        "/proposals",
        data={
            "csrf_token": csrf(author, "/proposals"),
            "title": "<script>alert(1)</script> Fridge",
            "summary": "A shared fridge",
            "full_text": "FULL TEXT here",
            "tags": ["food", "housing"],
            "language": "en",
            "stage": "idea",
            "reviews_wanted": "2",
            "bounty": "2",
        },
    )
    assert r.status_code == 303
    pid = int(re.search(r"/proposals/(\d+)$", r.headers["Location"]).group(1))
    page = author.get(f"/proposals/{pid}").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Fridge" in page and "<script>alert" not in page
    assert "waiting for reviewers" in page and "FULL TEXT here" in page and escrow(ctx, pid) == 4
    login(rita, "rita@example.org")
    reviews_page = rita.get("/reviews").get_data(as_text=True)
    assert "A shared fridge" in reviews_page and "FULL TEXT" not in reviews_page
    assert "FULL TEXT" not in rita.get(f"/proposals/{pid}").get_data(as_text=True)
    inv_id = int(re.search(r"/invitations/(\d+)/accept", reviews_page).group(1))
    assert rita.post(f"/invitations/{inv_id}/accept", data={"csrf_token": csrf(rita, "/reviews")}).status_code == 303
    assert "FULL TEXT here" in rita.get(f"/proposals/{pid}").get_data(as_text=True)
    assert "review due by" in rita.get("/dashboard").get_data(as_text=True)
    form = {
        "csrf_token": csrf(rita, "/reviews"),
        "shared_value": "4",
        "social_transformation": "5",
        "impact": "3",
        "confidence": "2",
        "feedback": "Talk to the neighbours first.",
    }
    assert rita.post(f"/invitations/{inv_id}/review", data=form).status_code == 303
    assert balance_of(ctx, _member(ctx, "rita")) == 12
    page = author.get(f"/proposals/{pid}").get_data(as_text=True)
    assert "Talk to the neighbours first." in page
    review_id = int(re.search(r"/reviews/(\d+)/rate", page).group(1))
    r = author.post(f"/reviews/{review_id}/rate", data={"csrf_token": csrf(author, "/proposals"), "helpfulness": "4"})
    assert r.status_code == 303
    assert "You rated it 4/5" in author.get(f"/proposals/{pid}").get_data(as_text=True)
    r = author.post(f"/proposals/{pid}/withdraw", data={"csrf_token": csrf(author, "/proposals")})
    assert r.status_code == 303 and balance_of(ctx, _member(ctx, "author")) == 8
    assert_closed_escrows_empty(ctx)
    books()


def _member(ctx, handle):
    from node.services import members

    with ctx.db.read() as s:
        member = members.find_by_handle(s, handle)
        s.expunge(member)
    return member


def test_refused_forms_flash_the_code_and_change_nothing(app, ctx, make_member, books):
    make_member("author")
    c = app.test_client()
    login(c, "author@example.org")
    before = counts(ctx)
    base = {
        "title": "T",
        "summary": "S",
        "full_text": "F",
        "tags": ["food"],
        "language": "en",
        "stage": "idea",
        "reviews_wanted": "2",
    }
    for bounty, code in [("abc", "amount_not_integer"), ("1.5", "amount_not_integer"), ("9", "insufficient_funds")]:
        r = c.post(
            "/proposals",
            data={**base, "bounty": bounty, "csrf_token": csrf(c, "/proposals")},
            headers={"Referer": "http://localhost/proposals"},
        )
        assert r.status_code == 303
        assert code in c.get("/proposals").get_data(as_text=True)
    r = c.post("/proposals", data={**base, "bounty": "1"})  # no CSRF token
    assert r.status_code == 400
    assert counts(ctx) == before and balance_of(ctx, _member(ctx, "author")) == 10
    books()


def test_pages_are_private_and_panels_show(app, ctx, make_member, token_for):
    author = make_member("author")
    make_member("coord", role="coordinator")
    make_member("stranger")
    make_member("rita", expertise=["food"], **REVIEWER)
    r = app.test_client().post(
        "/api/v1/proposals",
        headers=token_for(author),
        json={
            "title": "Fridge",
            "summary": "S",
            "full_text": "FULL",
            "tags": ["food"],
            "language": "en",
            "stage": "idea",
            "reviews_wanted": 2,
            "bounty": 1,
        },
    )
    pid = r.json["id"]
    stranger = app.test_client()
    login(stranger, "stranger@example.org")
    assert stranger.get(f"/proposals/{pid}").status_code == 404
    r = stranger.post(f"/proposals/{pid}/withdraw", data={"csrf_token": csrf(stranger, "/proposals")})
    assert r.status_code == 303 and escrow(ctx, pid) == 2
    nav = stranger.get("/dashboard").get_data(as_text=True)
    assert 'href="/proposals">Proposals<' in nav and 'href="/reviews">Reviews<' in nav
    coord = app.test_client()
    login(coord, "coord@example.org")
    page = coord.get("/coordinator/").get_data(as_text=True)
    assert "Fridge" in page and "rita" in page and "waiting for reviewers" in page
    r = coord.post(
        "/coordinator/conflicts",
        data={
            "csrf_token": csrf(coord, "/coordinator/"),
            "member_handle": "stranger",
            "organisation": "Acme",
            "reason": "board member",
        },
    )
    assert r.status_code == 303
    assert "board member" in coord.get("/coordinator/").get_data(as_text=True)
    assert "FULL" in coord.get(f"/proposals/{pid}").get_data(as_text=True)
    assert stranger.get("/coordinator/").status_code == 403
    r = stranger.post(
        "/coordinator/conflicts",
        data={"csrf_token": csrf(stranger, "/proposals"), "member_handle": "rita", "organisation": "X"},
    )
    assert r.status_code == 403
    r = stranger.post("/conflicts", data={"csrf_token": csrf(stranger, "/reviews"), "other_handle": "author"})
    assert r.status_code == 303
    assert "<li>author</li>" in stranger.get("/reviews").get_data(as_text=True)
    author_client = app.test_client()
    login(author_client, "author@example.org")
    assert "waiting for reviewers" in author_client.get("/dashboard").get_data(as_text=True)
