"""Signing up by mail: the account exists once the mailed link is opened, and the answer never says who has one."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from node.services.signups import forget_expired_requests
from node.tables import Member, SignupRequest
from tests.conftest import PASSWORD, mailed_links
from tests.node.test_notices import mails
from tests.node.test_web import csrf

API = "/api/v1"
CONFIRM = "/signup/confirm/"


def members_count(ctx) -> int:
    with ctx.db.read() as s:
        return s.scalar(select(func.count()).select_from(Member))


def web_sign_up(client, email: str, handle: str = "") -> object:
    form = {"email": email, "password": PASSWORD, "display_name": "Nora", "handle": handle}
    return client.post("/signup", data={**form, "csrf_token": csrf(client, "/signup")})


def test_the_answer_is_the_same_for_a_new_address_and_one_with_an_account(app, ctx, make_member):
    make_member("anna", language="de")
    before = members_count(ctx)
    new, known = app.test_client(), app.test_client()
    first, second = web_sign_up(new, "nora@example.org"), web_sign_up(known, "anna@example.org")
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    strip = lambda c: re.sub(r'value="[^"]{20,}"|\w+@example\.org', "", c.get("/login").get_data(as_text=True))  # noqa: E731
    assert strip(new) == strip(known)  # the page names the address typed, nothing else differs
    api = [app.test_client().post(f"{API}/signup", json={"email": e, "password": PASSWORD, "display_name": "X"})
           for e in ("zoe@example.org", "anna@example.org")]  # fmt: skip
    assert [(r.status_code, r.json) for r in api] == [(202, {"status": "confirmation_mailed"})] * 2
    assert members_count(ctx) == before  # nobody is made before the link is opened
    by_address = {m["To"]: m for m in mails(ctx).values()}
    assert by_address["anna@example.org"]["Subject"].endswith("Sie haben bereits ein Konto")
    assert "/password/forgot" in by_address["anna@example.org"].get_content()
    assert CONFIRM in by_address["nora@example.org"].get_content()
    assert len(mailed_links(app, "anna@example.org", CONFIRM)) == 0


def test_the_link_makes_the_account_once(app, ctx, make_member):
    make_member("coord", role="coordinator")
    browser = app.test_client()
    web_sign_up(browser, "nora@example.org", handle="nora")
    [link] = mailed_links(app, "nora@example.org", CONFIRM)
    page = browser.get(CONFIRM + link)
    assert page.status_code == 200 and members_count(ctx) == 1  # opening the link changes nothing
    r = browser.post(CONFIRM + link, data={"csrf_token": csrf(browser, CONFIRM + link)})
    assert r.status_code == 303
    with ctx.db.read() as s:
        nora = s.scalars(select(Member).where(Member.email == "nora@example.org")).one()
        assert (nora.handle, nora.status, nora.display_name) == ("nora", "pending", "Nora")
        assert s.scalar(select(func.count()).select_from(SignupRequest)) == 0
    again = browser.post(CONFIRM + link, data={"csrf_token": csrf(browser, "/login")})
    assert again.status_code == 404 and "signup_link_invalid" in again.get_data(as_text=True)
    assert members_count(ctx) == 2  # the coordinator and nora


def test_asking_again_replaces_the_link_and_a_taken_handle_gives_way(app, ctx, clock, make_member):
    client = app.test_client()
    body = {"email": "nora.p@example.org", "password": PASSWORD, "display_name": "Nora", "handle": "nora"}
    client.post(f"{API}/signup", json=body)
    clock.advance(301)  # one mail per address every five minutes
    client.post(f"{API}/signup", json=body)
    old, new = mailed_links(app, "nora.p@example.org", CONFIRM)
    assert client.post(f"{API}/signup/confirm", json={"token": old}).status_code == 404
    make_member("nora")  # someone took the handle meanwhile
    r = client.post(f"{API}/signup/confirm", json={"token": new})
    assert r.status_code == 201 and r.json["email"] == "nora.p@example.org"
    assert r.json["handle"] == "nora.p"  # made from the email


def test_a_link_lasts_a_day_and_unopened_requests_are_swept(app, ctx, clock):
    client = app.test_client()
    client.post(f"{API}/signup", json={"email": "nora@example.org", "password": PASSWORD, "display_name": "Nora"})
    [link] = mailed_links(app, "nora@example.org", CONFIRM)
    assert forget_expired_requests(ctx) == 0
    clock.advance(24 * 3600)
    assert client.get(CONFIRM + link).status_code == 404
    assert client.post(f"{API}/signup/confirm", json={"token": link}).status_code == 404
    assert forget_expired_requests(ctx) == 1 and members_count(ctx) == 0


def test_a_refused_sign_up_mails_nothing_and_stores_nothing(app, ctx):
    client = app.test_client()
    r = client.post(f"{API}/signup", json={"email": "nora@", "password": "short", "display_name": ""})
    assert r.status_code == 422
    assert {f["field"] for f in r.json["error"]["fields"]} == {"email", "password", "display_name"}
    assert mails(ctx) == {}
    with ctx.db.read() as s:
        assert s.scalar(select(func.count()).select_from(SignupRequest)) == 0
