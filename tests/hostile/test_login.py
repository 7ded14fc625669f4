"""Brute-force logins are slowed per client address and per account without locking the owner out.

The account's owner gets one mailed link that lets their browser skip the account's wait; refused
attempts check no password and record nothing; the answers are the same for emails without an account.
"""

from __future__ import annotations

import re
from email import message_from_bytes, policy

from sqlalchemy import select

from node.tables import LoginThrottle
from tests.conftest import PASSWORD

from .conftest import API
from .digest import db_digest

ATTACKER, OWNER, ELSEWHERE = "203.0.113.66", "198.51.100.7", "192.0.2.10"
ANNA = "anna@example.org"


def browser(app, address: str):
    """A test client whose requests come from this client address."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def csrf_of(client, path: str = "/login") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def web_login(client, email: str, password: str):
    return client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_of(client)})


def api_login(client, email: str, password: str):
    return client.post(f"{API}/tokens", json={"email": email, "password": password})


def flash_code(response) -> str:
    found = re.search(r'data-code="([a-z_]+)"', response.get_data(as_text=True))
    return found.group(1) if found else ""


def outcome(response) -> tuple[int, str]:
    """(status, code) of a login answer, from the API's JSON or the form's flash message."""
    code = response.json["error"]["code"] if response.is_json and response.status_code >= 400 else flash_code(response)
    return response.status_code, code


def throttles(ctx) -> dict[str, int]:
    """Failures counted per key."""
    with ctx.db.read() as s:
        return {row.key: row.failures for row in s.scalars(select(LoginThrottle))}


def unlock_mails(ctx) -> list[tuple[str, str]]:
    """(recipient, link path) of every unlock mail written to the node's mail folder."""
    out = []
    for path in sorted((ctx.settings.data_path / "mail").glob("unlock-*.eml")):
        mail = message_from_bytes(path.read_bytes(), policy=policy.default)
        out.append(
            (mail["To"], re.search(r"http://[^/\s]+(/login/unlock/[A-Za-z0-9_-]+)", mail.get_content()).group(1))
        )
    return out


def fail_until_waiting(client, email: str = ANNA, failures: int = 5) -> None:
    for n in range(failures):
        assert outcome(api_login(client, email, f"guess {n}")) == (401, "bad_credentials")


def test_brute_force_is_slowed_not_locked_and_refusals_change_nothing(app, client, ctx, clock, make_member):
    make_member("anna")
    before = db_digest(ctx)
    for password in ("123456", "password", "' OR 1=1 --", "correct horse"):
        assert outcome(api_login(client, ANNA, password)) == (401, "bad_credentials")
    # the fifth guess through the web form, with the email's case changed
    assert outcome(web_login(client, " ANNA@Example.org", "x")) == (401, "bad_credentials")
    counted = throttles(ctx)
    assert counted == {"account:anna@example.org": 5, "address:127.0.0.1": 5}
    # now even the right password is refused, on the API and the form, with when to come back
    for response in (api_login(client, ANNA, PASSWORD), web_login(client, ANNA, PASSWORD)):
        assert outcome(response) == (429, "login_rate_limited") and response.headers["Retry-After"] == "1"
        assert "Try again in 1 second." in response.get_data(as_text=True)
    assert db_digest(ctx) == before  # no token, no session, no last_active_at
    assert throttles(ctx) == counted  # a refused attempt is not counted
    clock.advance(1)  # a wait, not a 15-minute lock
    assert api_login(client, ANNA, PASSWORD).status_code == 201
    assert throttles(ctx) == {"address:127.0.0.1": 5}  # the account's failures are cleared, the address keeps its own


def test_owner_logs_in_with_the_unlock_link_while_an_attacker_keeps_failing(app, ctx, clock, make_member):
    make_member("anna")
    attacker, owner = browser(app, ATTACKER), browser(app, OWNER)
    fail_until_waiting(attacker)
    assert outcome(web_login(owner, ANNA, PASSWORD)) == (429, "login_rate_limited")
    for _ in range(4):  # the attacker makes a guess whenever the wait is over, keeping the account waiting
        refused = api_login(attacker, ANNA, "another guess")
        clock.advance(int(refused.headers["Retry-After"]))
        assert outcome(api_login(attacker, ANNA, "another guess")) == (401, "bad_credentials")
    refused = web_login(owner, ANNA, PASSWORD)
    assert outcome(refused) == (429, "login_rate_limited")
    assert "its owner has been mailed a link" in refused.get_data(as_text=True)
    mails = unlock_mails(ctx)
    assert [to for to, _ in mails] == [ANNA]  # one mail, not one per failure or refusal
    link = mails[0][1]
    page = owner.get(link)
    assert page.status_code == 200 and "Trust this browser" in page.get_data(as_text=True)
    confirmed = owner.post(link, data={"csrf_token": csrf_of(owner, link)})
    assert confirmed.status_code == 303 and confirmed.location.endswith("/login")
    assert outcome(api_login(attacker, ANNA, "yet another")) == (429, "login_rate_limited")  # still waiting
    response = web_login(owner, ANNA, PASSWORD)
    assert response.status_code == 303 and response.location.endswith("/dashboard")
    assert "account:anna@example.org" not in throttles(ctx)  # the owner's login cleared the account's failures
    assert owner.get("/dashboard").status_code == 200


def test_a_trusted_browser_still_waits_when_its_address_does_and_trusts_one_account_only(app, ctx, make_member):
    make_member("anna")
    make_member("bob")
    owner, attacker = browser(app, OWNER), browser(app, ATTACKER)
    fail_until_waiting(attacker)
    fail_until_waiting(attacker, "bob@example.org")
    [(_, link)] = [m for m in unlock_mails(ctx) if m[0] == ANNA]
    owner.post(link, data={"csrf_token": csrf_of(owner, link)})
    assert outcome(web_login(owner, "bob@example.org", PASSWORD)) == (429, "login_rate_limited")  # bob still waits
    cookie = owner.get_cookie("sifnet_be-vl_device", path="/login")
    forged = browser(app, ELSEWHERE)
    forged.set_cookie("sifnet_be-vl_device", cookie.value[:-3] + "AAA", path="/login")
    assert outcome(web_login(forged, ANNA, PASSWORD)) == (429, "login_rate_limited")
    for n in range(20):  # the owner's address fails 20 times (other emails), so the address waits too
        assert outcome(api_login(owner, f"someone{n}@example.org", "guess")) == (401, "bad_credentials")
    refused = web_login(owner, ANNA, PASSWORD)
    assert outcome(refused) == (429, "login_rate_limited")
    assert "from your network address" in refused.get_data(as_text=True)


def test_a_browser_is_trusted_for_login_trusted_days(app, ctx, clock, make_member):
    make_member("anna")
    owner = browser(app, OWNER)
    fail_until_waiting(browser(app, ATTACKER))
    [(_, link)] = unlock_mails(ctx)
    owner.post(link, data={"csrf_token": csrf_of(owner, link)})
    clock.advance(30 * 86400 - 60)
    fail_until_waiting(browser(app, ATTACKER))
    assert web_login(owner, ANNA, PASSWORD).status_code == 303  # 30 days minus a minute: still trusted
    clock.advance(60)
    fail_until_waiting(browser(app, ATTACKER))
    assert outcome(web_login(owner, ANNA, PASSWORD)) == (429, "login_rate_limited")


def test_the_address_throttle_refuses_the_attacker_address_and_nobody_else(app, ctx, clock, make_member):
    make_member("anna")
    attacker, other = browser(app, ATTACKER), browser(app, OWNER)
    for n in range(20):  # one guess each for 20 emails: no account waits, the address does
        assert outcome(api_login(attacker, f"member{n}@example.org", "guess")) == (401, "bad_credentials")
    refused = api_login(attacker, ANNA, PASSWORD)  # even the right password of an account that does not wait
    assert outcome(refused) == (429, "login_rate_limited") and refused.headers["Retry-After"] == "1"
    assert "from your network address" in refused.json["error"]["message"]
    assert api_login(other, ANNA, PASSWORD).status_code == 201
    # an IPv6 attacker's whole /64 is one address
    six_a, six_b = browser(app, "2001:db8:1:2::a"), browser(app, "2001:db8:1:2:ffff::b")
    for n in range(20):
        assert outcome(api_login(six_a, f"member{n}@example.org", "guess")) == (401, "bad_credentials")
    assert outcome(api_login(six_b, ANNA, PASSWORD)) == (429, "login_rate_limited")
    assert api_login(browser(app, "2001:db8:1:3::a"), ANNA, PASSWORD).status_code == 201


def test_the_wait_doubles_with_each_failure_and_is_capped(app, ctx, clock, make_member):
    make_member("anna")
    client = browser(app, ATTACKER)
    fail_until_waiting(client)
    waits = []
    for _ in range(11):
        refused = api_login(client, ANNA, PASSWORD)
        assert outcome(refused) == (429, "login_rate_limited")
        wait = int(refused.headers["Retry-After"])
        waits.append(wait)
        if wait > 1:  # a refused attempt in the middle of the wait neither lengthens nor restarts it
            clock.advance(wait - 1)
            assert api_login(client, ANNA, PASSWORD).headers["Retry-After"] == "1"
            clock.advance(1)
        else:
            clock.advance(wait)
        assert outcome(api_login(client, ANNA, "wrong")) == (401, "bad_credentials")
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert "Try again in 5 minutes." in api_login(client, ANNA, PASSWORD).json["error"]["message"]
    clock.advance(900 + 300)  # quiet for a whole window: the failures are forgotten
    assert outcome(api_login(client, ANNA, "wrong")) == (401, "bad_credentials")
    assert throttles(ctx)["account:anna@example.org"] == 1


def test_answers_are_the_same_whether_or_not_the_email_has_an_account(app, ctx, clock, make_member):
    make_member("anna")
    client = browser(app, ATTACKER)  # one session: the same CSRF token on every page
    answers = {}
    for email in (ANNA, "nobody@example.org"):
        seen = []
        for n in range(6):
            for send in (web_login, api_login):
                response = send(client, email, f"guess {n}")
                page = re.sub(r'name="form_token" value="[^"]+"', 'name="form_token"', response.get_data(as_text=True))
                page = page.replace(email, "EMAIL")  # the form keeps the address typed, whichever it is
                seen.append((response.status_code, response.headers.get("Retry-After"), page))  # tokens differ per form
            clock.advance(0 if n < 4 else 1)
        answers[email] = seen
    assert answers[ANNA] == answers["nobody@example.org"]
    assert {status for status, _, _ in answers[ANNA]} == {401, 429}  # both answers were compared
    assert [to for to, _ in unlock_mails(ctx)] == [ANNA]  # the mail only goes to an account that exists


def test_the_unlock_link_works_once_and_expires(app, ctx, clock, make_member):
    make_member("anna")
    fail_until_waiting(browser(app, ATTACKER))
    [(_, link)] = unlock_mails(ctx)
    owner = browser(app, OWNER)
    token = csrf_of(owner, link)
    assert owner.post(link, data={"csrf_token": token}).status_code == 303
    again = owner.post(link, data={"csrf_token": token})
    assert (again.status_code, flash_code(again)) == (404, "unlock_link_invalid")
    assert owner.get(link).status_code == 404
    clock.advance(900)  # a window later a new failure mails a new link, which expires after an hour
    fail_until_waiting(browser(app, ELSEWHERE))
    [second] = [path for _, path in unlock_mails(ctx) if path != link]
    late = browser(app, OWNER)
    token = csrf_of(late, second)
    clock.advance(3600)
    assert late.get(second).status_code == 404
    refused = late.post(second, data={"csrf_token": token})
    assert refused.status_code == 404 and late.get_cookie("sifnet_be-vl_device", path="/login") is None


def test_opening_the_link_changes_nothing_and_confirming_needs_the_csrf_token(app, ctx, make_member):
    make_member("anna")
    fail_until_waiting(browser(app, ATTACKER))
    [(_, link)] = unlock_mails(ctx)
    owner, other = browser(app, OWNER), browser(app, ELSEWHERE)
    everything = frozenset()  # the throttle table too
    before = db_digest(ctx, exclude=everything)
    assert owner.get(link).status_code == 200 and owner.get(link).status_code == 200
    for data in ({}, {"csrf_token": "forged"}, {"csrf_token": csrf_of(other)}):
        refused = owner.post(link, data=data)
        assert (refused.status_code, flash_code(refused)) == (400, "csrf_failed")
    assert db_digest(ctx, exclude=everything) == before
    assert owner.get_cookie("sifnet_be-vl_device", path="/login") is None
    assert owner.post(link, data={"csrf_token": csrf_of(owner, link)}).status_code == 303  # the link still works


def test_the_digest_sees_a_single_changed_row(client, ctx, make_member, token_for):
    """The digest helper can fail: one transfer changes the ledger tables' digests."""
    h = token_for(make_member("anna"))
    make_member("bob")
    before = db_digest(ctx)
    assert client.post(f"{API}/transfers", headers=h, json={"to": "bob", "amount": 1}).status_code == 201
    after = db_digest(ctx)
    assert {"accounts", "ledger_txns", "postings"} <= {t for t in before if before[t] != after[t]}
