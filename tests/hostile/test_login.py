"""Brute-force logins are rate limited per email (also its case variants); only the failures are counted."""
from __future__ import annotations

import re

from sqlalchemy import select

from node.tables import LoginAttempt
from tests.conftest import PASSWORD

from .conftest import API
from .digest import db_digest


def attempts(ctx) -> list[str]:
    with ctx.db.read() as s:
        return sorted(s.scalars(select(LoginAttempt.email)).all())


def flash_code(response) -> str:
    found = re.search(r"\[([a-z_]+)\]", response.get_data(as_text=True))
    return found.group(1) if found else ""


def test_brute_force_logins_are_rate_limited_and_change_nothing_else(app, client, ctx, clock, make_member):
    make_member("anna")
    before = db_digest(ctx)
    for password in ("123456", "password", "' OR 1=1 --", "correct horse"):
        r = client.post(f"{API}/tokens", json={"email": "anna@example.org", "password": password})
        assert r.status_code == 401 and r.json["error"]["code"] == "bad_credentials", r.json
    # the fifth guess through the web form, with the email's case changed
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post("/login", data={"email": " ANNA@Example.org", "password": "x", "csrf_token": token})
    assert (r.status_code, flash_code(r)) == (401, "bad_credentials")
    # now even the right password is refused, on the API and the form
    r = client.post(f"{API}/tokens", json={"email": "anna@example.org", "password": PASSWORD})
    assert r.status_code == 429 and r.json["error"]["code"] == "login_rate_limited", r.json
    r = client.post("/login", data={"email": "anna@example.org", "password": PASSWORD, "csrf_token": token})
    assert (r.status_code, flash_code(r)) == (429, "login_rate_limited")
    assert db_digest(ctx) == before  # no token, no session, no last_active_at
    assert attempts(ctx) == ["anna@example.org"] * 5  # exactly the five failures, the refused ones not counted
    clock.advance(15 * 60 + 1)
    r = client.post(f"{API}/tokens", json={"email": "anna@example.org", "password": PASSWORD})
    assert r.status_code == 201 and attempts(ctx) == []


def test_the_digest_sees_a_single_changed_row(client, ctx, make_member, token_for):
    """The digest helper can fail: one transfer changes the ledger tables' digests."""
    h = token_for(make_member("anna"))
    make_member("bob")
    before = db_digest(ctx)
    assert client.post(f"{API}/transfers", headers=h, json={"to": "bob", "amount": 1}).status_code == 201
    after = db_digest(ctx)
    assert {"accounts", "ledger_txns", "postings"} <= {t for t in before if before[t] != after[t]}
