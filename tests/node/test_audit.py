"""The audit log: every coordinator's and the node's action once, with who and when, in the acting transaction;
the coordinators' page filters it by action, actor and day, pages back and exports CSV; words, not codes."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from node.services import audit
from node.tables import AuditEntry
from tests.conftest import sign_up_by_mail
from tests.node.test_advice import act, book, post_listing
from tests.node.test_web import login

API = "/api/v1"


def lines(ctx) -> list[tuple]:
    with ctx.db.read() as s:
        return [(e.action, e.actor_id, e.subject, e.at) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_each_member_action_is_kept_once_with_actor_and_time(app, client, ctx, clock, make_member, token_for, books):
    coord = make_member("coord", role="coordinator")
    anna, bert = make_member("anna"), make_member("bert")
    start = len(lines(ctx))
    c = token_for(coord)
    nora = sign_up_by_mail(app, {"email": "n@example.org", "password": "x" * 12, "display_name": "N"}).json
    pete = sign_up_by_mail(app, {"email": "p@example.org", "password": "x" * 12, "display_name": "P"}).json
    steps = [
        ("member_approved", f"/coordinator/members/{nora['id']}/approve", {"reason": "known"}),
        ("member_refused", f"/coordinator/members/{pete['id']}/refuse", {"reason": "unknown"}),
        ("role_coordinator", f"/coordinator/members/{anna.id}/role", {"role": "coordinator"}),
        ("role_member", f"/coordinator/members/{anna.id}/role", {"role": "member"}),
    ]
    for _action, path, body in steps:
        clock.advance(60)
        assert client.post(f"{API}{path}", headers=c, json=body).status_code == 200
    booking = book(client, token_for(bert), post_listing(client, token_for(anna)), hours=1)
    act(client, token_for(anna), booking["id"], "claim")
    act(client, token_for(bert), booking["id"], "dispute", {"reason": "it did not happen"})
    clock.advance(60)
    r = client.post(
        f"{API}/coordinator/bookings/{booking['id']}/resolve",
        headers=c,
        json={"outcome": "refund_receiver", "note": "ok"},
    )
    assert r.status_code == 200, r.json
    clock.advance(60)
    assert client.post(f"{API}/me/close", headers=token_for(bert)).status_code == 200
    found = lines(ctx)[start:]
    t0 = found[0][3]
    assert [(a, actor, subject, (at - t0) // timedelta(minutes=1)) for a, actor, subject, at in found] == [
        ("member_approved", coord.id, f"member:{nora['id']}", 0),
        ("member_refused", coord.id, f"member:{pete['id']}", 1),
        ("role_coordinator", coord.id, f"member:{anna.id}", 2),
        ("role_member", coord.id, f"member:{anna.id}", 3),
        ("advice_dispute_resolved", coord.id, f"booking:{booking['id']}", 4),
        ("account_closed", bert.id, f"member:{bert.id}", 5),
    ]
    books()


def test_a_refused_action_leaves_no_line(client, ctx, make_member, token_for):
    coord, anna = make_member("coord", role="coordinator"), make_member("anna")
    before = lines(ctx)
    r = client.post(f"{API}/coordinator/members/{anna.id}/approve", headers=token_for(coord), json={})
    assert r.status_code == 409  # already active: refused, and so not in the log
    r = client.post(f"{API}/coordinator/members/{anna.id}/refuse", headers=token_for(anna), json={"reason": "x"})
    assert r.status_code == 403
    assert lines(ctx) == before


def test_an_action_without_words_is_refused_at_once(ctx):
    with ctx.db.write() as s, pytest.raises(ValueError, match="node/labels.py"):
        audit.record(s, None, "made_up", "member:1", {}, ctx.now())


@pytest.fixture
def trail(app, ctx, clock, make_member):
    """A coordinator's browser, and a log of 60 lines over three days by two coordinators and the node itself."""
    coord, other = make_member("coord", role="coordinator"), make_member("olga", role="coordinator")
    with ctx.db.write() as s:
        for n in range(60):
            actor = (coord.id, other.id, None)[n % 3]
            action = ("peer_suspended", "trust_limit_changed")[n % 2]
            detail = {"reason": f"r{n}"} if action == "peer_suspended" else {"old": n, "new": n + 1}
            audit.record(s, actor, action, "peer:hu", detail, clock.now() + timedelta(hours=n))
    browser = app.test_client()
    login(browser, "coord@example.org")
    return browser, coord, other


def _page_rows(html: str) -> list[list[str]]:
    body = html[html.index('<table id="audit"') :]
    body = body[: body.index("</table>")]
    return [
        [
            re.sub(r"[ \t\n]+", " ", re.sub(r"<[^>]+>", " ", c)).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
        ]
        for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S)
        if "<td" in tr
    ]


def test_the_page_filters_by_action_actor_and_day_and_pages_back(trail):
    browser, _coord, _other = trail
    html = browser.get("/coordinator/audit").get_data(as_text=True)
    rows = _page_rows(html)
    assert len(rows) == audit.PAGE_SIZE
    assert rows[0][1:] == ["operator or node", "trust limit changed", "peer hu", "from 59\xa0SIF to 60\xa0SIF"]
    assert rows[1][1:] == ["Olga (olga)", "peer suspended", "peer hu", "reason: r58"]
    older = re.search(r'<a href="([^"]+)" rel="next" id="older">', html).group(1).replace("&amp;", "&")
    rest = _page_rows(browser.get(older).get_data(as_text=True))
    assert len(rest) == 60 + 2 - audit.PAGE_SIZE  # and the two approvals of the coordinators made by the fixture
    only = _page_rows(browser.get("/coordinator/audit?action=trust_limit_changed&actor=olga").get_data(as_text=True))
    assert {r[2] for r in only} == {"trust limit changed"} and {r[1] for r in only} == {"Olga (olga)"}
    assert len(only) == 10 and only[0][4] == "from 55\xa0SIF to 56\xa0SIF"
    node = _page_rows(browser.get("/coordinator/audit?actor=operator").get_data(as_text=True))
    assert {r[1] for r in node} == {"operator or node"} and len(node) == 20 + 2
    day = _page_rows(browser.get("/coordinator/audit?from=2026-03-03&to=2026-03-03").get_data(as_text=True))
    assert len(day) == 24  # 09:00 on the 2nd plus 15..38 hours: the 24 lines of the 3rd (UTC, the node's zone)


@pytest.mark.parametrize(
    "query, code",
    [("action=nonsense", "invalid_action"), ("actor=nobody", "member_not_found"), ("from=2026-13-01", "invalid_date")],
)
def test_a_bad_filter_is_refused_with_a_code(trail, query, code):
    browser, *_ = trail
    for path in ("/coordinator/audit", "/coordinator/audit.csv"):
        r = browser.get(f"{path}?{query}")
        assert r.status_code == 422 and f"[{code}]" in r.get_data(as_text=True)


def test_the_csv_has_every_filtered_line_in_a_machine_format(trail):
    browser, coord, _other = trail
    r = browser.get("/coordinator/audit.csv?action=peer_suspended")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    table = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert len(table) == 30 and list(table[0]) == ["id", "at", "actor", "action", "subject", "detail"]
    assert table[0]["at"] == "2026-03-04T19:00:00Z" and table[0]["action"] == "peer_suspended"
    assert table[0]["detail"] == '{"reason": "r58"}' and (table[0]["actor"], table[-1]["actor"]) == ("olga", "coord")


def test_only_coordinators_read_the_trail(app, client, make_member, token_for):
    anna = make_member("anna")
    browser = app.test_client()
    login(browser, "anna@example.org")
    assert browser.get("/coordinator/audit").status_code == 403
    assert browser.get("/coordinator/audit.csv").status_code == 403
    r = client.get(f"{API}/coordinator/audit", headers=token_for(anna))
    assert r.status_code == 403 and r.json["error"]["code"] == "coordinator_only"


def test_the_api_gives_words_and_a_cursor(trail, client, token_for):
    _browser, coord, _other = trail
    first = client.get(f"{API}/coordinator/audit", headers=token_for(coord), query_string={"action": "peer_suspended"})
    body = first.json
    assert len(body["entries"]) == 30 and body["next_before"] is None
    entry = body["entries"][0]
    assert (entry["action_text"], entry["detail_text"], entry["actor"]) == ("peer suspended", "reason: r58", "olga")
    assert entry["at"] == "2026-03-04T19:00:00Z"
    page = client.get(f"{API}/coordinator/audit", headers=token_for(coord)).json
    assert len(page["entries"]) == audit.PAGE_SIZE and page["next_before"] == page["entries"][-1]["id"]


def test_the_coordinator_page_shows_the_latest_lines_and_links_to_the_trail(trail):
    browser, *_ = trail
    html = browser.get("/coordinator/").get_data(as_text=True)
    assert 'id="audit-link"' in html and "reason: r58" in html
