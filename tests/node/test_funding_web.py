"""The Funding pages: post a lead in the form, see it listed and filtered, edit, share, withdraw, follow topics."""

from __future__ import annotations

import re

from sqlalchemy import select

from node.tables import FundingLead, TopicFollow
from tests.node.test_web import csrf, login

FORM = {
    "title": "Horizon Europe: social innovation cluster",
    "url": "https://ec.europa.eu/info/funding-tenders/opportunities/portal",
    "deadline": "2026-04-15",
    "deadline_time": "17:00",
    "countries": ["BE", "HU"],
    "topics": ["social-inclusion"],
    "description": "Research and innovation actions <with partners>.",
}


def browser(app, handle: str):
    client = app.test_client()
    login(client, f"{handle}@example.org")
    return client


def listed(client, query: str = "") -> str:
    """The list part of the Funding page (not the poster's own "Leads you posted")."""
    page = client.get(f"/funding{query}").get_data(as_text=True)
    return page[page.index('<section id="leads">') : page.index('<form method="post" action="/funding/topics"')]


def flashes(page: str) -> list[str]:
    """The page's messages, a refusal's with its code after it in brackets."""
    found = re.findall(r'<p class="flash [a-z]+" role="[a-z]+"(?: data-code="([a-z_]+)")?>([^<]*)</p>', page)
    return [f"{text} [{code}]" if code else text for code, text in found]


def test_post_a_lead_see_it_listed_and_follow_a_topic(app, ctx, make_member):
    make_member("anna", time_zone="Europe/Brussels")
    anna = browser(app, "anna")
    page = anna.get("/funding").get_data(as_text=True)
    assert "No funding lead yet" in page and 'name="countries" multiple' in page and ">Hungary</option>" in page
    assert "Deadline (optional; your time zone: Europe/Brussels)" in page

    posted = anna.post("/funding/leads", data={**FORM, "csrf_token": csrf(anna, "/funding")})
    assert posted.status_code == 303
    with ctx.db.read() as s:
        (lead,) = s.scalars(select(FundingLead)).all()
    assert lead.deadline.isoformat() == "2026-04-15T15:00:00+00:00"  # 17:00 in Brussels (summer time)
    assert (lead.countries, lead.topics) == (["BE", "HU"], ["social-inclusion"])
    page = anna.get(posted.headers["Location"]).get_data(as_text=True)
    assert "Your funding lead is posted." in flashes(page)
    assert "&lt;with partners&gt;" in page and 'value="2026-04-15"' in page and 'value="17:00"' in page

    shown = listed(anna)
    assert FORM["title"] in shown and "Deadline Apr 15, 2026, 5:00\u202fPM" in shown and "Belgium, Hungary" in shown
    assert 'rel="noopener noreferrer nofollow"' in shown
    assert FORM["title"] not in listed(anna, "?topic=energy")
    assert FORM["title"] in listed(anna, "?country=HU&topic=social-inclusion")

    followed = anna.post("/funding/topics", data={"topics": ["energy", "food"], "csrf_token": csrf(anna, "/funding")})
    assert followed.status_code == 303
    page = anna.get("/funding").get_data(as_text=True)
    assert "You follow these topics: energy, food." in flashes(page)
    assert re.search(r'value="energy" checked', page) and not re.search(r'value="culture" checked', page)
    with ctx.db.read() as s:
        assert sorted(s.scalars(select(TopicFollow.tag)).all()) == ["energy", "food"]


def test_a_refused_form_says_why_and_changes_nothing(app, ctx, make_member):
    make_member("anna")
    anna = browser(app, "anna")
    for change, code in (
        ({"url": "www.example.org"}, "bad_url"),
        ({"countries": ["BE", "QQ"]}, "unknown_country"),
        ({"deadline": "2026-03-01", "deadline_time": ""}, "deadline_past"),
    ):
        answer = anna.post(
            "/funding/leads", data={**FORM, **change, "csrf_token": csrf(anna, "/funding")}, headers={"Referer": ""}
        )
        assert answer.status_code == 303
        assert any(text.endswith(f"[{code}]") for text in flashes(anna.get("/funding").get_data(as_text=True))), code
    with ctx.db.read() as s:
        assert s.scalars(select(FundingLead)).all() == []


def test_poster_edits_coordinator_shares_and_withdraws(app, ctx, make_member):
    make_member("anna")
    make_member("bert")
    make_member("coord", role="coordinator")
    anna, bert, coord = browser(app, "anna"), browser(app, "bert"), browser(app, "coord")
    anna.post("/funding/leads", data={**FORM, "csrf_token": csrf(anna, "/funding")})
    with ctx.db.read() as s:
        lead_id = s.scalars(select(FundingLead.id)).one()
    path = f"/funding/leads/{lead_id}"

    assert "Edit the lead" in anna.get(path).get_data(as_text=True)
    bert_page = bert.get(path).get_data(as_text=True)
    assert "Edit the lead" not in bert_page and "Withdraw the lead" not in bert_page
    refused = bert.post(f"{path}/withdraw", data={"csrf_token": csrf(bert, path)})
    assert refused.status_code == 303
    assert any("[not_poster]" in text for text in flashes(bert.get("/funding").get_data(as_text=True)))
    assert "Share with the network" not in anna.get(path).get_data(as_text=True)  # coordinators only

    anna.post(path, data={**FORM, "title": "Horizon Europe 2026", "csrf_token": csrf(anna, path)})
    coord.post(f"{path}/network", data={"network_wide": "1", "csrf_token": csrf(coord, path)})
    page = coord.get(path).get_data(as_text=True)
    assert "shared with the network" in " ".join(flashes(page)) and "Stop sharing it" in page
    with ctx.db.read() as s:
        lead = s.get(FundingLead, lead_id)
        assert (lead.title, lead.network_wide) == ("Horizon Europe 2026", True)
    assert "network-wide" in anna.get("/funding").get_data(as_text=True)

    coord.post(f"{path}/withdraw", data={"csrf_token": csrf(coord, path)})
    assert "Horizon Europe 2026" not in listed(bert)
    assert "withdrawn" in anna.get("/funding").get_data(as_text=True)  # under "Leads you posted"
    assert bert.get(path).status_code == 404
