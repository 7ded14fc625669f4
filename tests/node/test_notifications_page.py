"""A member's notifications page (newest first, a page at a time, unread marked, mark all read, the count in the
menu) and mail settings per kind, which the mail sweep honours while every notification stays in-app."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from node import notices
from node.services import notifications
from node.services.notify import deliver_notifications, notify
from node.tables import MailPreference, Notification
from tests.node.test_web import csrf, login

API = "/api/v1"
RATED = r'Your review of (?:&#34;|")Plan (\d+)(?:&#34;|") was rated'


def _notify(ctx, member, n: int, kind: str = "review_rated") -> None:
    with ctx.db.write() as s:
        for i in range(n):
            notify(s, member_id=member.id, kind=kind, params={"title": f"Plan {i}", "helpfulness": 4}, now=ctx.now())


def _mails(ctx) -> list[str]:
    folder = ctx.settings.data_path / "mail"
    return sorted(p.name for p in folder.glob("*.eml")) if folder.exists() else []


@pytest.fixture
def anna(app, make_member):
    member = make_member("anna")
    browser = app.test_client()
    login(browser, "anna@example.org")
    return member, browser


def test_the_page_shows_notifications_newest_first_a_page_at_a_time(ctx, anna):
    member, browser = anna
    _notify(ctx, member, notifications.PAGE_SIZE + 2)
    html = browser.get("/notifications").get_data(as_text=True)
    titles = re.findall(RATED, html)
    assert len(titles) == notifications.PAGE_SIZE and titles[0] == str(notifications.PAGE_SIZE + 1)
    older = re.search(r'<a href="([^"]+)" rel="next" id="older">', html).group(1).replace("&amp;", "&")
    rest = re.findall(RATED, browser.get(older).get_data(as_text=True))
    assert rest == ["1", "0"]  # the page after: the two oldest, nothing twice, nothing left out
    assert 'id="older"' not in browser.get(older).get_data(as_text=True)


def test_unread_ones_are_marked_counted_in_the_menu_and_marked_read_all_at_once(ctx, anna, token_for):
    member, browser = anna
    _notify(ctx, member, 3)
    dashboard = browser.get("/dashboard").get_data(as_text=True)
    assert re.search(r'id="nav-notes"[^>]*>Notifications <span class="count">3</span>', dashboard)
    page = browser.get("/notifications").get_data(as_text=True)
    assert page.count('<li class="unread">') == 3 and 'id="mark-read"' in page
    r = browser.post("/notifications/read", data={"csrf_token": csrf(browser, "/notifications")})
    assert r.status_code == 303
    page = browser.get("/notifications").get_data(as_text=True)
    assert page.count('<li class="read">') == 3 and "unread" not in page.split("<main>")[1].split("</ul>")[0]
    assert '<span class="count">' not in page and 'id="mark-read"' not in page
    with ctx.db.read() as s:
        assert all(n.read_at == ctx.now() for n in s.scalars(select(Notification)))
    _notify(ctx, member, 1)
    r = browser.application.test_client().post(f"{API}/notifications/read", headers=token_for(member))
    assert r.status_code == 200 and r.json == {"marked": 1}


def test_someone_elses_notifications_stay_theirs(app, ctx, anna, make_member, token_for):
    member, browser = anna
    bert = make_member("bert")
    _notify(ctx, bert, 2)
    assert "was rated" not in browser.get("/notifications").get_data(as_text=True)
    browser.post("/notifications/read", data={"csrf_token": csrf(browser, "/notifications")})
    with ctx.db.read() as s:
        assert [n.read_at for n in s.scalars(select(Notification).where(Notification.member_id == bert.id))] == [
            None,
            None,
        ]


def test_mail_settings_have_defaults_and_the_sweep_honours_the_choice(app, ctx, anna, token_for):
    member, browser = anna
    page = browser.get("/notifications/settings").get_data(as_text=True)
    checked = set(re.findall(r'name="mail" value="([a-z_]+)" checked', page))
    assert checked == {kind for kind, notice in notices.NOTICES.items() if notice.mail}
    assert "review_rated" not in checked and "review_invitation" in checked  # a default: only the in-app note
    _notify(ctx, member, 1, "review_rated")
    deliver_notifications(ctx)
    assert _mails(ctx) == []  # off by default: no mail, the notification still there
    form = {"csrf_token": csrf(browser, "/notifications/settings"), "mail": ["review_rated"]}
    assert browser.post("/notifications/settings", data=form).status_code == 303
    _notify(ctx, member, 1, "review_rated")
    with ctx.db.write() as s:
        notify(s, member_id=member.id, kind="payment", params={"payer": "z@hu", "amount": 2, "memo": ""}, now=ctx.now())
    deliver_notifications(ctx)
    mailed = _mails(ctx)
    assert len(mailed) == 1 and mailed[0].endswith("-review_rated.eml")  # payment: unticked, so off now
    with ctx.db.read() as s:
        notes = s.scalars(select(Notification).where(Notification.member_id == member.id)).all()
        assert len(notes) == 3 and all(n.sent_at is not None and n.read_at is None for n in notes)
    api = app.test_client().get(f"{API}/me/mail-settings", headers=token_for(member)).json["settings"]
    chosen = {s["kind"]: s["mail"] for s in api}
    assert chosen["review_rated"] is True and chosen["payment"] is False and len(chosen) == len(notices.NOTICES)


def test_the_api_changes_only_the_kinds_it_names_and_refuses_unknown_ones(app, ctx, anna, token_for):
    member, _browser = anna
    client, auth = app.test_client(), token_for(member)
    r = client.put(f"{API}/me/mail-settings", headers=auth, json={"payment": False})
    assert r.status_code == 200
    chosen = {s["kind"]: s["mail"] for s in r.json["settings"]}
    assert chosen["payment"] is False and chosen["review_invitation"] is True
    for body, code in (({"no_such_kind": True}, "unknown_kind"), ({"payment": "yes"}, "invalid_setting")):
        r = client.put(f"{API}/me/mail-settings", headers=auth, json=body)
        assert r.status_code == 422 and r.json["error"]["code"] == code, r.json
    with ctx.db.read() as s:
        assert [(p.kind, p.mail) for p in s.scalars(select(MailPreference))] == [("payment", False)]


def test_the_dashboard_links_to_the_whole_history(anna):
    _member, browser = anna
    assert 'href="/notifications"' in browser.get("/dashboard").get_data(as_text=True)


def test_every_kind_says_what_it_is_about_for_the_mail_settings():
    assert [kind for kind, notice in notices.NOTICES.items() if not notice.about] == []
