"""The server-rendered UI: CSRF on every form, sign-up, login, pay, coordinator approval."""

from __future__ import annotations

import re

from tests.conftest import PASSWORD, balance_of, mailed_links


def csrf(client, path="/login") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client, email):
    token = csrf(client)
    r = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303, r.get_data(as_text=True)


def test_form_without_csrf_is_refused_and_changes_nothing(client, ctx):
    r = client.post("/signup", data={"email": "eve@example.org", "password": PASSWORD, "display_name": "Eve"})
    assert r.status_code == 400 and "CSRF" in r.get_data(as_text=True)
    r = client.post(
        "/signup",
        data={"email": "eve@example.org", "password": PASSWORD, "display_name": "Eve", "csrf_token": "forged"},
    )
    assert r.status_code == 400
    with ctx.db.read() as s:
        from node.tables import Member

        assert s.query(Member).count() == 0


def test_signup_approve_login_pay_through_the_ui(app, ctx, make_member, books):
    _coord, bert = make_member("coord", role="coordinator"), make_member("bert")
    visitor = app.test_client()
    token = csrf(visitor, "/signup")
    r = visitor.post(
        "/signup",
        data={
            "email": "nora@example.org",
            "password": PASSWORD,
            "display_name": "Nora",
            "handle": "nora",
            "csrf_token": token,
        },
    )
    assert r.status_code == 303
    [link] = mailed_links(app, "nora@example.org", "/signup/confirm/")
    assert "nora@example.org" in visitor.get(f"/signup/confirm/{link}").get_data(as_text=True)
    r = visitor.post(f"/signup/confirm/{link}", data={"csrf_token": csrf(visitor, f"/signup/confirm/{link}")})
    assert r.status_code == 303
    admin = app.test_client()
    login(admin, "coord@example.org")
    page = admin.get("/coordinator/").get_data(as_text=True)
    assert "nora@example.org" in page and "Balanced" in page
    nora_id = int(re.search(r"/coordinator/members/(\d+)/decide", page).group(1))
    r = admin.post(
        f"/coordinator/members/{nora_id}/decide",
        data={"decision": "approve", "reason": "ok", "csrf_token": csrf(admin, "/coordinator/")},
    )
    assert r.status_code == 303
    login(visitor, "nora@example.org")
    assert "10\xa0SIF" in visitor.get("/dashboard").get_data(as_text=True)
    r = visitor.post(
        "/pay",
        data={"to": "bert", "amount": "3", "memo": "<script>alert(1)</script>", "csrf_token": csrf(visitor, "/pay")},
    )
    assert r.status_code == 303
    statement = visitor.get("/statement").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in statement and "<script>alert" not in statement
    assert balance_of(ctx, bert) == 13
    # a refused payment shows a message and changes nothing
    r = visitor.post(
        "/pay",
        data={"to": "bert", "amount": "1.5", "csrf_token": csrf(visitor, "/pay")},
        headers={"Referer": "http://localhost/pay"},
    )
    assert r.status_code == 303
    assert "amount_not_integer" in visitor.get("/pay").get_data(as_text=True)
    assert balance_of(ctx, bert) == 13
    books()


def test_member_cannot_open_coordinator_page(app, make_member):
    make_member("anna")
    c = app.test_client()
    login(c, "anna@example.org")
    assert c.get("/coordinator/").status_code == 403
    assert c.get("/dashboard").status_code == 200
