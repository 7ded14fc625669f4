"""The working group's web admin: login, sessions, CSRF, approving, refusing and delisting, the audit trail."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime

import pytest

from federation.cli import main
from federation.directory import admin
from federation.directory.tables import AdminAction, Listing
from node.clock import FixedClock
from tests.directory.conftest import apply_node, list_node

LIGHT = {"argon2_time_cost": 1, "argon2_memory_kib": 1024}  # tests hash many passwords
PASSWORD = "correct horse battery"


def refused(page: str) -> tuple[str, str]:
    """The one error message at the top of a page: its code (data-code) and its words, which carry no code."""
    found = re.findall(r'<p class="flash error" role="alert" data-code="([a-z_]+)">([^<]*)</p>', page)
    assert len(found) == 1, page
    return found[0]


@pytest.fixture
def wg(make_directory):
    """A directory with one working-group account, "ines"."""
    app = make_directory(**LIGHT)
    d = app.extensions["sifnet_directory"]
    with d.db.write() as s:
        admin.add_admin(s, username="Ines", password=PASSWORD, now=d.now(), hasher=admin.password_hasher(d.settings))
    return app


@pytest.fixture
def d(wg):
    return wg.extensions["sifnet_directory"]


def token(client, path: str = "/admin/login") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def log_in(client, username: str = "ines", password: str = PASSWORD):
    return client.post(
        "/admin/login",
        data={"csrf_token": token(client), "username": username, "password": password, "next": "/admin/"},
    )


@pytest.fixture
def browser(wg):
    """A logged-in working-group member's client."""
    client = wg.test_client()
    assert log_in(client).status_code == 303
    return client


def post(client, path: str, **form):
    resp = client.post(path, data={"csrf_token": token(client, "/admin/"), **form})
    assert resp.status_code == 303 and resp.location.endswith("/admin/")
    return client.get("/admin/").get_data(as_text=True)


def actions(d) -> list[tuple]:
    with d.db.read() as s:
        return [
            (a.username, a.action, a.node_id, a.reason)
            for a in s.query(AdminAction).order_by(AdminAction.id).all()
            if a.action not in ("login", "add-admin")
        ]


def listing(d, node_id: str) -> Listing | None:
    with d.db.read() as s:
        row = s.get(Listing, node_id)
        if row is not None:
            s.expunge(row)
        return row


def test_admin_pages_need_a_login_and_public_pages_do_not(wg):
    client = wg.test_client()
    assert client.get("/").status_code == 200 and client.get("/initiatives").status_code == 200
    for path in ("/admin/", "/admin/audit"):
        resp = client.get(path)
        assert resp.status_code == 303 and "/admin/login?next=" in resp.location
    resp = client.post("/admin/nodes/hu/approve", data={"csrf_token": token(client), "fingerprint": "x"})
    assert resp.status_code == 303 and "/admin/login" in resp.location


def test_a_wrong_password_is_refused_and_recorded_then_logins_are_rate_limited(wg, d):
    client = wg.test_client()
    resp = log_in(client, password="wrong password")
    assert resp.status_code == 401 and refused(resp.get_data(as_text=True)) == (
        "bad_credentials",
        "Wrong name or password.",
    )
    assert log_in(client, username="nobody").status_code == 401
    assert client.get("/admin/").status_code == 303  # still not logged in
    for _ in range(4):
        log_in(client, password="wrong again")
    resp = log_in(client)  # the right password, but too many failures for ines
    assert resp.status_code == 429 and "login_rate_limited" in resp.get_data(as_text=True)
    assert [a[:2] for a in actions(d)].count(("ines", "login-failed")) == 5


def test_login_starts_a_fresh_session_and_logout_ends_it(wg, d):
    client = wg.test_client()
    before = token(client)
    resp = log_in(client)
    assert resp.status_code == 303 and resp.location.endswith("/admin/")
    page = client.get("/admin/").get_data(as_text=True)
    assert "Logged in as <strong>ines</strong>" in page
    after = token(client, "/admin/")
    assert after != before  # a new CSRF token with the new session
    assert client.post("/admin/logout", data={"csrf_token": after}).status_code == 303
    assert client.get("/admin/").status_code == 303
    assert [a[:2] for a in actions(d)][-1] == ("ines", "logout")


def test_login_does_not_redirect_outside_the_admin(wg):
    client = wg.test_client()
    resp = client.post(
        "/admin/login",
        data={"csrf_token": token(client), "username": "ines", "password": PASSWORD, "next": "//evil.example/admin"},
    )
    assert resp.status_code == 303 and resp.location.endswith("/admin/")


def test_a_new_password_ends_older_sessions(browser, d):
    with d.db.write() as s:
        admin.add_admin(
            s,
            username="ines",
            password="another long password",
            now=d.now(),
            hasher=admin.password_hasher(d.settings),
            replace=True,
        )
    assert browser.get("/admin/").status_code == 303


def test_every_admin_form_needs_the_csrf_token(browser, d, fake_node):
    apply_node(d, fake_node("hu", "HU"))
    for path, form in (
        ("/admin/nodes/hu/approve", {"fingerprint": "x"}),
        ("/admin/nodes/hu/refuse", {"reason": "x"}),
        ("/admin/nodes/hu/delist", {"reason": "x"}),
        ("/admin/logout", {}),
    ):
        resp = browser.post(path, data=form)
        assert resp.status_code == 400 and "did not come from this site" in resp.get_data(as_text=True)
    assert listing(d, "hu").status == "pending" and actions(d) == []


def test_an_application_shows_its_document_and_is_approved_by_the_fingerprint_read_back(browser, d, fake_node):
    node = fake_node("hu", "HU")
    apply_node(d, node)
    resp = browser.get("/admin/")
    page = resp.get_data(as_text=True)
    assert 'id="application-hu"' in page and node.fingerprint in page and node.url in page
    assert resp.headers["Cache-Control"] == "no-store"
    page = post(browser, "/admin/nodes/hu/approve", fingerprint="AAAA-BBBB")
    assert refused(page) == (
        "fingerprint_mismatch",
        "The fingerprint does not match the node&#39;s key. Read it back with its coordinator again.",
    )
    assert listing(d, "hu").status == "pending"
    page = post(browser, "/admin/nodes/hu/approve", fingerprint=node.fingerprint.lower().replace("-", " "))
    assert f"hu is listed; key {node.fingerprint} pinned" in page and 'id="application-hu"' not in page
    assert 'id="listed-hu"' in page
    row = listing(d, "hu")
    assert row.status == "listed" and row.fingerprint == node.fingerprint
    assert actions(d) == [("ines", "approve", "hu", "")]
    page = post(browser, "/admin/nodes/hu/approve", fingerprint=node.fingerprint)
    assert refused(page)[0] == "nothing_to_approve"


def test_a_refusal_needs_a_reason_and_is_kept_in_the_audit_trail(browser, d, fake_node):
    apply_node(d, fake_node("hu", "HU"))
    page = post(browser, "/admin/nodes/hu/refuse", reason="   ")
    assert refused(page) == ("missing_field", "Reason: please fill this in.")
    assert listing(d, "hu").status == "pending"
    page = post(browser, "/admin/nodes/hu/refuse", reason="<b>not a member</b> of the network yet")
    assert "The application of hu is refused and removed; it may apply again." in page and listing(d, "hu") is None
    audit = browser.get("/admin/audit").get_data(as_text=True)
    assert "&lt;b&gt;not a member&lt;/b&gt; of the network yet" in audit  # escaped, never markup
    assert actions(d) == [("ines", "refuse", "hu", "<b>not a member</b> of the network yet")]
    assert refused(post(browser, "/admin/nodes/hu/refuse", reason="again"))[0] == "listing_not_found"


def test_refusing_a_listed_nodes_new_key_keeps_the_pinned_one(browser, d, fake_node):
    node = fake_node("hu", "HU")
    list_node(d, node)
    pinned = node.fingerprint
    node.rekey()
    apply_node(d, node)
    page = browser.get("/admin/").get_data(as_text=True)
    assert "listed node with a new key" in page and node.fingerprint in page and pinned in page
    page = post(browser, "/admin/nodes/hu/refuse", reason="the coordinator did not change the key")
    assert "The new key of hu is refused; it stays listed with its pinned key." in page
    row = listing(d, "hu")
    assert row.status == "listed" and row.fingerprint == pinned and row.candidate is None


def test_delisting_needs_a_reason_and_keeps_the_node_off_the_public_page(browser, d, fake_node):
    list_node(d, fake_node("hu", "HU"))
    assert refused(post(browser, "/admin/nodes/hu/delist", reason=""))[0] == "missing_field"
    page = post(browser, "/admin/nodes/hu/delist", reason="the node closed")
    assert "hu is no longer listed" in page and 'id="listed-hu"' not in page
    assert listing(d, "hu").status == "delisted"
    assert 'id="node-hu"' not in browser.get("/").get_data(as_text=True)
    assert refused(post(browser, "/admin/nodes/hu/delist", reason="twice"))[0] == "not_listed"
    assert actions(d) == [("(operator)", "approve", "hu", ""), ("ines", "delist", "hu", "the node closed")]


def test_add_admin_on_the_command_line(tmp_path, capsys, monkeypatch):
    for name in [n for n in os.environ if n.startswith("SIFNET_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SIFNET_DIRECTORY_ARGON2_MEMORY_KIB", "1024")
    data = str(tmp_path / "dir")
    assert main(["directory", "init", "--data-dir", data, "--port", "5199"]) == 0
    assert main(["directory", "add-admin", "ines", "--password", PASSWORD, "--data-dir", data]) == 0
    assert "admin ines can log in at http://127.0.0.1:5199/admin/login" in capsys.readouterr().out
    assert main(["directory", "add-admin", "ines", "--password", PASSWORD, "--data-dir", data]) != 0
    assert "admin_exists" in capsys.readouterr().err
    assert main(["directory", "add-admin", "kai", "--password", "short", "--data-dir", data]) != 0
    assert "weak_password" in capsys.readouterr().err
    assert (
        main(
            [
                "directory",
                "add-admin",
                "ines",
                "--password",
                "a new long password",
                "--reset-password",
                "--data-dir",
                data,
            ]
        )
        == 0
    )


def test_a_session_ends_after_its_hours(make_directory):
    clock = FixedClock(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    app = make_directory(clock=clock, **LIGHT)
    d = app.extensions["sifnet_directory"]
    with d.db.write() as s:
        admin.add_admin(s, username="ines", password=PASSWORD, now=d.now(), hasher=admin.password_hasher(d.settings))
    client = app.test_client()
    log_in(client)
    clock.advance(admin.ADMIN_SESSION_HOURS * 3600 - 60)
    assert client.get("/admin/").status_code == 200
    clock.advance(120)
    resp = client.get("/admin/audit")
    assert resp.status_code == 303 and resp.location.endswith("/admin/login?next=/admin/audit")
    assert "Your session ended" in client.get(resp.location).get_data(as_text=True)
