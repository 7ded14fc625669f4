"""Forgotten passwords: a mailed link that works once and for an hour; asking tells nobody who has an account."""

from __future__ import annotations

import re
from email import message_from_bytes, policy

from sqlalchemy import select

from node.tables import ApiToken
from tests.conftest import PASSWORD
from tests.node.test_notices import mails
from tests.node.test_web import csrf

API = "/api/v1"
NEW = "a new passphrase 2026"


def ask(client, email: str):
    return client.post("/password/forgot", data={"email": email, "csrf_token": csrf(client, "/password/forgot")})


def reset_links(ctx) -> list[str]:
    """The reset links mailed so far, oldest first (mail file names are not in the order of sending)."""
    mails(ctx)
    folder = ctx.settings.data_path / "mail"
    found = []
    for file in sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
        mail = message_from_bytes(file.read_bytes(), policy=policy.default)
        found += re.findall(r"https?://\S+/password/reset/(\S+)", mail.get_content())
    return found


def log_in(client, email: str, password: str) -> int:
    data = {"email": email, "password": password, "csrf_token": csrf(client)}
    return client.post("/login", data=data).status_code


def test_asking_answers_alike_for_an_account_and_for_none(app, ctx, make_member):
    make_member("anna", language="nl")
    anna, nobody = app.test_client(), app.test_client()
    known, unknown = ask(anna, "Anna@example.org"), ask(nobody, "ghost@example.org")
    assert known.status_code == unknown.status_code == 303
    assert known.headers["Location"] == unknown.headers["Location"]
    first, second = anna.get(known.headers["Location"]), nobody.get(unknown.headers["Location"])
    strip = lambda html: re.sub(r'value="[^"]{20,}"', "", html)  # noqa: E731 - the forms' own tokens differ
    assert strip(first.get_data(as_text=True)) == strip(second.get_data(as_text=True))
    [mail] = mails(ctx).values()
    assert mail["To"] == "anna@example.org" and mail["Subject"].endswith("Kies een nieuw wachtwoord")
    assert "binnen 60 minuten deze link" in mail.get_content()


def test_the_link_sets_a_new_password_once_and_logs_out_everywhere(app, ctx, make_member, token_for):
    anna = make_member("anna")
    headers = token_for(anna)
    elsewhere = app.test_client()
    assert log_in(elsewhere, "anna@example.org", PASSWORD) == 303
    ask(app.test_client(), "anna@example.org")
    [token] = reset_links(ctx)
    browser = app.test_client()
    page = browser.get(f"/password/reset/{token}")
    assert page.status_code == 200 and 'autocomplete="new-password"' in page.get_data(as_text=True)

    short = browser.post(f"/password/reset/{token}", data={"password": "short", "csrf_token": csrf(browser)})
    assert short.status_code == 422 and 'id="error-password"' in short.get_data(as_text=True)
    assert log_in(app.test_client(), "anna@example.org", PASSWORD) == 303  # nothing changed

    done = browser.post(f"/password/reset/{token}", data={"password": NEW, "csrf_token": csrf(browser)})
    assert done.status_code == 303 and done.headers["Location"].endswith("/login")
    assert log_in(app.test_client(), "anna@example.org", PASSWORD) == 401
    assert log_in(app.test_client(), "anna@example.org", NEW) == 303
    assert elsewhere.get("/dashboard").status_code == 302  # that session ended: back to the log-in page
    assert app.test_client().get(f"{API}/me", headers=headers).status_code == 401
    with ctx.db.read() as s:
        assert s.scalars(select(ApiToken).where(ApiToken.member_id == anna.id)).all() == []
    again = browser.get(f"/password/reset/{token}")
    assert again.status_code == 404 and "reset_link_invalid" in again.get_data(as_text=True)


def test_a_link_ends_after_an_hour_and_mails_do_not_flood(app, ctx, clock, make_member):
    make_member("anna")
    client = app.test_client()
    ask(client, "anna@example.org")
    ask(client, "anna@example.org")  # within five minutes: no second mail
    assert len(reset_links(ctx)) == 1
    clock.advance(301)
    ask(client, "anna@example.org")
    first, second = reset_links(ctx)
    clock.advance(3600 - 301)
    assert client.get(f"/password/reset/{first}").status_code == 404  # an hour old
    assert client.get(f"/password/reset/{second}").status_code == 200


def test_the_api_alike_and_bad_tokens_change_nothing(app, client, ctx, make_member):
    make_member("anna")
    for email in ("anna@example.org", "ghost@example.org"):
        r = client.post(f"{API}/password/forgot", json={"email": email})
        assert (r.status_code, r.json) == (202, {"status": "mailed_if_known"})
    r = client.post(f"{API}/password/forgot", json={"email": "not an address"})
    assert r.status_code == 422 and r.json["error"]["code"] == "invalid_email"
    [token] = reset_links(ctx)
    # The signature's last character holds bits that base64 decoding drops, so a forgery changes one before it.
    forged = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    for bad in (forged, "", "x" * 600):
        r = client.post(f"{API}/password/reset", json={"token": bad, "password": NEW})
        assert r.status_code == 404 and r.json["error"]["code"] == "reset_link_invalid"
    r = client.post(f"{API}/password/reset", json={"token": token, "password": NEW})
    assert (r.status_code, r.json) == (200, {"status": "password_changed"})
    assert log_in(app.test_client(), "anna@example.org", NEW) == 303


def test_a_closed_account_gets_no_link(app, ctx, make_member, token_for):
    anna = make_member("anna")
    client = app.test_client()
    r = client.post(f"{API}/me/close", headers=token_for(anna), json={"confirm": True})
    assert r.status_code in (200, 204), r.get_data(as_text=True)
    ask(client, "anna@example.org")
    assert reset_links(ctx) == []
