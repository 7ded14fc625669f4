"""A member whose account waits for approval sees a page that says so (what comes next, who approves) and only the
menus that work; once a coordinator approves them, a notification and a mail tell them, in their language."""

from __future__ import annotations

import re
from email import message_from_bytes, policy

import pytest
from sqlalchemy import select

from node.services import members
from node.services.notify import deliver_notifications
from node.tables import LedgerTxn, Notification
from tests.conftest import PASSWORD, mailed_links
from tests.node.test_web import csrf, login


def _sign_up(app, lang: str | None = None) -> object:
    """Nora signs up in the web form (with the language switch first, when given) and logs in."""
    browser = app.test_client()
    if lang:
        browser.post("/language", data={"lang": lang, "csrf_token": csrf(browser, "/signup"), "next": "/signup"})
    form = {
        "email": "nora@example.org",
        "password": PASSWORD,
        "display_name": "Nora Peeters",
        "handle": "nora",
        "csrf_token": csrf(browser, "/signup"),
    }
    assert browser.post("/signup", data=form).status_code == 303
    [link] = mailed_links(app, "nora@example.org", "/signup/confirm/")
    confirm = {"csrf_token": csrf(browser, f"/signup/confirm/{link}")}
    assert browser.post(f"/signup/confirm/{link}", data=confirm).status_code == 303
    login(browser, "nora@example.org")
    return browser


@pytest.fixture
def coordinators(make_member):
    return make_member("clara", role="coordinator", display_name="Clara Coordinator"), make_member("bert")


def test_a_pending_member_sees_a_waiting_page_with_what_comes_next(app, coordinators):
    browser = _sign_up(app)
    page = browser.get("/dashboard").get_data(as_text=True)
    assert "your account waits for approval" in page and 'id="waiting"' in page
    assert "Clara Coordinator" in page and "10\xa0SIF" in page  # who approves; the grant that comes with it
    nav = page[page.index("<nav>") : page.index("</nav>")]
    links = re.findall(r'<a href="([^"]+)"', nav)
    assert links == ["/dashboard", "/notifications", "/profile"]  # no forms that would fail: pay, advice, reviews
    assert "Waiting for approval" in nav


@pytest.mark.parametrize("path", ["/pay", "/statement", "/advice", "/proposals", "/reviews", "/tokens"])
def test_other_pages_lead_to_the_waiting_page(app, coordinators, path):
    browser = _sign_up(app)
    r = browser.get(path)
    assert r.status_code == 303 and r.headers["Location"].endswith("/dashboard"), (path, r.status_code)


def test_a_pending_members_payment_form_changes_nothing(app, ctx, coordinators):
    browser = _sign_up(app)
    with ctx.db.read() as s:
        before = s.query(LedgerTxn).count()
    r = browser.post("/pay", data={"to": "bert", "amount": "1", "csrf_token": csrf(browser, "/dashboard")})
    assert r.status_code == 303 and r.headers["Location"].endswith("/dashboard")
    with ctx.db.read() as s:
        assert s.query(LedgerTxn).count() == before


def test_the_profile_and_notifications_work_while_waiting(app, coordinators):
    browser = _sign_up(app)
    assert browser.get("/profile").status_code == 200 and browser.get("/notifications").status_code == 200
    assert browser.get("/notifications/settings").status_code == 200


def test_approval_brings_a_notification_and_a_mail_in_their_language(app, ctx, coordinators):
    clara, _bert = coordinators
    browser = _sign_up(app, lang="de")
    admin = app.test_client()
    login(admin, "clara@example.org")
    nora_id = int(re.search(r"/coordinator/members/(\d+)/decide", admin.get("/coordinator/").get_data(as_text=True))[1])
    form = {"decision": "approve", "reason": "", "csrf_token": csrf(admin, "/coordinator/")}
    assert admin.post(f"/coordinator/members/{nora_id}/decide", data=form).status_code == 303
    with ctx.db.read() as s:
        [note] = s.scalars(select(Notification).where(Notification.member_id == nora_id)).all()
    assert (note.kind, note.params) == ("member_approved", {"grant": 10})
    page = browser.get("/notifications").get_data(as_text=True)
    assert "ist freigeschaltet" in page and "10\xa0SIF" in page  # in German, as she chose
    deliver_notifications(ctx)
    [path] = (ctx.settings.data_path / "mail").glob("*-member_approved.eml")
    mail = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert mail["To"] == "nora@example.org" and mail["Content-Language"] == "de"  # the language she signed up in
    assert "10\xa0SIF" in mail.get_content()
    dashboard = browser.get("/dashboard").get_data(as_text=True)
    assert 'id="waiting"' not in dashboard and 'id="balance"' in dashboard


def test_a_refused_member_reads_why(app, ctx, coordinators):
    clara, _bert = coordinators
    browser = _sign_up(app)
    with ctx.db.write() as s:
        nora = members.find_by_handle(s, "nora")
        members.refuse(
            s, coordinator=s.get(type(nora), clara.id), member_id=nora.id, reason="not in Flanders", now=ctx.now()
        )
    page = browser.get("/dashboard").get_data(as_text=True)
    assert "Your account was not approved" in page and "not in Flanders" in page
    assert browser.get("/pay").status_code == 303
