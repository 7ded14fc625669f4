"""Script and SQL injection strings in every text field: stored verbatim, shown escaped on every page."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from node.tables import Member
from tests.conftest import PASSWORD

from .conftest import API, PROPOSAL, REVIEWER
from .digest import db_digest

SCRIPT = '<script>alert("x")</script>'
SQL = "'; DROP TABLE members; --"
EVIL = f"{SCRIPT}{SQL}<img src=x onerror=alert(1)>"


def login(client, email: str) -> None:
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    assert client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token}).status_code == 303


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    return response.json


def test_injection_strings_are_stored_verbatim_and_rendered_escaped(app, client, ctx, make_member, token_for):
    author, reviewer = make_member("author"), make_member("rev", **REVIEWER)
    _coord = make_member("boss", role="coordinator")
    a, r = token_for(author), token_for(reviewer)
    ok(client.patch(f"{API}/me", headers=a, json={"display_name": EVIL, "organisation": EVIL, "bio": EVIL}))
    p = ok(
        client.post(
            f"{API}/proposals",
            headers=a,
            json={**PROPOSAL, "reviews_wanted": 1, "title": EVIL, "summary": EVIL, "full_text": EVIL},
        ),
        201,
    )
    inv = p["invitations"][0]["id"]
    ok(client.post(f"{API}/invitations/{inv}/accept", headers=r))
    ok(
        client.post(
            f"{API}/invitations/{inv}/review",
            headers=r,
            json={"shared_value": 3, "social_transformation": 3, "impact": 3, "confidence": 3, "feedback": EVIL},
        ),
        201,
    )
    listing = ok(
        client.post(
            f"{API}/advice/listings", headers=a, json={"kind": "offer", "title": EVIL, "description": EVIL, "rate": 1}
        ),
        201,
    )
    ok(client.post(f"{API}/advice/listings/{listing['id']}/book", headers=r, json={"hours": 1, "note": EVIL}), 201)
    ok(client.post(f"{API}/conflicts", headers=a, json={"organisation": EVIL, "reason": EVIL}), 201)
    ok(client.post(f"{API}/transfers", headers=r, json={"to": "author", "amount": 1, "memo": EVIL}), 201)
    ok(client.patch(f"{API}/me", headers=a, json={"in_directory": True, "show_organisation": True, "show_bio": True}))
    thread = ok(client.post(f"{API}/messages/threads", headers=r, json={"to": "author", "body": EVIL}), 201)[
        "thread_id"
    ]
    ok(client.post(f"{API}/messages/threads/{thread}/report", headers=a, json={"reason": EVIL}), 201)
    # stored verbatim: the API gives back exactly what was sent, and the members table still exists
    assert ok(client.get(f"{API}/me", headers=a))["display_name"] == EVIL
    assert ok(client.get(f"{API}/proposals/{p['id']}", headers=a))["full_text"] == EVIL
    with ctx.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Member)) == 3
    pages = {
        "author": [
            "/dashboard",
            "/profile",
            "/statement",
            "/proposals",
            f"/proposals/{p['id']}",
            "/advice",
            f"/advice/listings/{listing['id']}",
            "/advice/sessions",
            "/messages",
            f"/messages/{thread}",
        ],
        "rev": [
            "/dashboard",
            "/reviews",
            f"/proposals/{p['id']}",
            "/statement",
            "/advice/sessions",
            "/members",
            "/members?q=script",
            "/members/author",
            f"/messages/{thread}",
            "/messages/to/author",
        ],
        "boss": ["/coordinator/", f"/proposals/{p['id']}"],
    }
    shown = 0
    for handle, paths in pages.items():
        browser = app.test_client()
        login(browser, f"{handle}@example.org")
        for path in paths:
            html = browser.get(path).get_data(as_text=True)
            assert "<script>alert" not in html and "<img src=x" not in html, (handle, path)
            shown += "&lt;script&gt;alert(" in html
    assert shown >= 10, shown  # the strings are on the pages, escaped (not just missing)


def test_sql_injection_in_lookups_finds_nothing_and_changes_nothing(client, ctx, make_member, token_for):
    h = token_for(make_member("anna"))
    before = db_digest(ctx)
    r = client.get(f"{API}/members?q=anna'%20OR%20'1'%3D'1&country=BE", headers=h)
    assert r.status_code == 200 and r.json["members"] == [], r.json
    r = client.get(f"{API}/advice/listings?q=%25%27%20OR%201%3D1--", headers=h)
    assert r.status_code == 200 and r.json["listings"] == [], r.json
    for path in ("/members/anna'%20OR%20'1'%3D'1", "/members/anna%22%3B--"):
        r = client.get(API + path, headers=h)
        assert r.status_code == 404 and r.json["error"]["code"] == "member_not_found", r.json
    r = client.get(f"{API}/advice/listings?tag=x'%20OR%201=1--&kind=offer", headers=h)
    assert r.status_code in (200, 422), r.json
    if r.status_code == 200:
        assert r.json["listings"] == []
    r = client.post(f"{API}/tokens", json={"email": "' OR '1'='1' --", "password": "' OR '1'='1"})
    assert r.status_code == 401 and r.json["error"]["code"] == "bad_credentials"
    assert db_digest(ctx) == before  # the failed login is counted in login_throttles, excluded and checked there
