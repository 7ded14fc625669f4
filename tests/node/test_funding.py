"""Funding leads through the API: post, edit, withdraw, share; who may; refusals with codes that change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from node.services import funding
from node.tables import FundingLead
from tests.conftest import START

LEAD = {
    "title": "Creative Europe: cooperation projects",
    "url": "https://culture.ec.europa.eu/creative-europe/calls?year=2026",
    "deadline": "2026-04-30T15:00:00Z",
    "countries": ["BE", "nl"],
    "topics": ["culture", "community-building"],
    "description": "Small-scale cooperation projects, up to 200,000 euro.\nThree partners at least.",
}


def rows(ctx) -> list[tuple]:
    """Every lead as stored, to compare before and after a refusal."""
    with ctx.db.read() as s:
        return [
            (r.id, r.ref, r.title, r.url, r.deadline, r.countries, r.topics, r.description, r.network_wide, r.status)
            for r in s.scalars(select(FundingLead).order_by(FundingLead.id)).all()
        ]


@pytest.fixture
def people(make_member, token_for):
    anna, bert, coord = make_member("anna"), make_member("bert"), make_member("coord", role="coordinator")
    return {"anna": token_for(anna), "bert": token_for(bert), "coord": token_for(coord)}


def post(client, who, **changes):
    answer = client.post("/api/v1/funding", headers=who, json={**LEAD, **changes})
    assert answer.status_code == 201, answer.json
    return answer.json


def test_a_member_posts_edits_and_withdraws_a_lead(client, ctx, people):
    lead = post(client, people["anna"])
    assert {k: lead[k] for k in ("title", "url", "deadline", "countries", "topics", "description")} == {
        **LEAD,
        "countries": ["BE", "NL"],
    }
    assert (lead["poster"], lead["status"], lead["network_wide"], lead["can_change"]) == ("anna", "open", False, True)
    assert lead["origin_node"] is None and lead["ref"].startswith("f-")
    listed = client.get("/api/v1/funding", headers=people["bert"]).json
    assert [item["id"] for item in listed["leads"]] == [lead["id"]] and listed["leads"][0]["can_change"] is False

    changed = client.post(
        f"/api/v1/funding/{lead['id']}", headers=people["anna"], json={"title": "Creative Europe 2026", "countries": []}
    )
    assert changed.status_code == 200, changed.json
    assert (changed.json["title"], changed.json["countries"], changed.json["url"]) == (
        "Creative Europe 2026",
        [],
        LEAD["url"],
    )

    withdrawn = client.post(f"/api/v1/funding/{lead['id']}/withdraw", headers=people["anna"])
    assert withdrawn.status_code == 200 and withdrawn.json["status"] == "withdrawn"
    assert client.get("/api/v1/funding", headers=people["bert"]).json["total"] == 0
    assert client.get(f"/api/v1/funding/{lead['id']}", headers=people["bert"]).status_code == 404
    assert client.get(f"/api/v1/funding/{lead['id']}", headers=people["anna"]).json["status"] == "withdrawn"
    again = client.post(f"/api/v1/funding/{lead['id']}/withdraw", headers=people["anna"])
    assert (again.status_code, again.json["error"]["code"]) == (409, "illegal_transition")


def test_only_the_poster_or_a_coordinator_may_change_a_lead(client, ctx, people):
    lead = post(client, people["anna"])
    before = rows(ctx)
    for path, body in (
        (f"/api/v1/funding/{lead['id']}", {"title": "Mine now"}),
        (f"/api/v1/funding/{lead['id']}/withdraw", None),
    ):
        answer = client.post(path, headers=people["bert"], json=body)
        assert (answer.status_code, answer.json["error"]["code"]) == (403, "not_poster"), path
    for who in ("anna", "bert"):
        answer = client.post(
            f"/api/v1/funding/{lead['id']}/network-wide", headers=people[who], json={"network_wide": True}
        )
        assert (answer.status_code, answer.json["error"]["code"]) == (403, "coordinator_only")
    assert rows(ctx) == before

    shared = client.post(
        f"/api/v1/funding/{lead['id']}/network-wide", headers=people["coord"], json={"network_wide": True}
    )
    assert shared.status_code == 200 and shared.json["network_wide"] is True
    edited = client.post(f"/api/v1/funding/{lead['id']}", headers=people["coord"], json={"topics": ["culture"]})
    assert edited.status_code == 200 and edited.json["topics"] == ["culture"]
    assert client.post(f"/api/v1/funding/{lead['id']}/withdraw", headers=people["coord"]).json["status"] == "withdrawn"
    refused = client.post(
        f"/api/v1/funding/{lead['id']}/network-wide", headers=people["coord"], json={"network_wide": False}
    )
    assert (refused.status_code, refused.json["error"]["code"]) == (409, "illegal_transition")


BAD = [
    ({"url": "ftp://files.example.org/call.pdf"}, "bad_url"),
    ({"url": "javascript:alert(1)"}, "bad_url"),
    ({"url": "https://exa mple.org/call"}, "bad_url"),
    ({"url": "https://"}, "bad_url"),
    ({"url": 'https://example.org/"><b>'}, "bad_url"),
    ({"url": "https://example.org/" + "a" * 2040}, "too_long"),
    ({"countries": ["BE", "XX"]}, "unknown_country"),
    ({"countries": ["EU"]}, "unknown_country"),
    ({"countries": "BE"}, None),  # a comma-separated string is read as a list
    ({"countries": [1]}, "wrong_type"),
    ({"deadline": "2026-03-01T10:00:00Z"}, "deadline_past"),
    ({"deadline": "2026-03-02"}, None),  # today, closing tonight
    ({"deadline": "2026-02-28"}, "deadline_past"),
    ({"deadline": "next Friday"}, "invalid_time"),
    ({"deadline": "2026-02-30"}, "invalid_time"),
    ({"topics": ["crowdfunding-magic"]}, "unknown_tag"),
    ({"title": ""}, "missing_field"),
    ({"title": "x" * 201}, "too_long"),
    ({"description": "x" * 1001}, "too_long"),
    ({"poster": "someone"}, "unknown_field"),
]


@pytest.mark.parametrize(("change", "code"), BAD, ids=[f"{next(iter(c))}-{code}" for c, code in BAD])
def test_bad_input_is_refused_with_its_code_and_changes_nothing(client, ctx, people, change, code):
    lead = post(client, people["anna"])
    before = rows(ctx)
    created = client.post("/api/v1/funding", headers=people["anna"], json={**LEAD, **change})
    edited = client.post(f"/api/v1/funding/{lead['id']}", headers=people["anna"], json=change)
    if code is None:
        assert (created.status_code, edited.status_code) == (201, 200), (created.json, edited.json)
        return
    for answer in (created, edited):
        assert answer.status_code == 422 and answer.json["error"]["code"] == code, answer.json
    assert rows(ctx) == before


def test_a_past_deadline_may_stay_but_not_be_set(client, ctx, people, clock):
    lead = post(client, people["anna"], deadline="2026-03-03T12:00:00Z")
    clock.advance(2 * 86400)
    kept = client.post(
        f"/api/v1/funding/{lead['id']}", headers=people["anna"], json={"deadline": "2026-03-03T12:00:00Z"}
    )
    assert kept.status_code == 200 and kept.json["past"] is True
    moved = client.post(
        f"/api/v1/funding/{lead['id']}", headers=people["anna"], json={"deadline": "2026-03-03T13:00:00Z"}
    )
    assert moved.json["error"]["code"] == "deadline_past"


def test_a_deadline_day_closes_at_the_end_of_that_day_in_the_posters_time_zone(client, make_member, token_for):
    hanne = token_for(make_member("hanne", time_zone="Europe/Brussels"))
    # Central European Summer Time from 29 March: the end of 31 March is 21:59 UTC.
    assert post(client, hanne, deadline="2026-03-31")["deadline"] == "2026-03-31T21:59:00Z"
    assert post(client, hanne, deadline="2026-03-10T17:00")["deadline"] == "2026-03-10T16:00:00Z"
    assert post(client, hanne, deadline="2026-03-10T17:00:00+02:00")["deadline"] == "2026-03-10T15:00:00Z"
    assert post(client, hanne, deadline="")["deadline"] is None
    gap = client.post("/api/v1/funding", headers=hanne, json={**LEAD, "deadline": "2026-03-29T02:30"})
    assert gap.json["error"]["code"] == "nonexistent_local_time"
    early = client.post("/api/v1/funding", headers=hanne, json={**LEAD, "deadline": "0001-01-01T00:00:00+05:00"})
    assert (early.status_code, early.json["error"]["code"]) == (422, "invalid_time")  # before any datetime


def test_the_list_puts_upcoming_deadlines_first_filters_and_pages(client, ctx, people, clock):
    anna = people["anna"]
    soon = post(client, anna, title="Soon", deadline="2026-03-05T12:00:00Z", countries=["HU"])["id"]
    later = post(client, anna, title="Later", deadline="2026-06-01T12:00:00Z", topics=["energy"])["id"]
    open_call = post(client, anna, title="Rolling fund", deadline=None, countries=[], topics=["food"])["id"]
    closing = post(client, anna, title="Closing", deadline="2026-03-03T12:00:00Z", countries=["BE"])["id"]

    def ids(query: str = "") -> list[int]:
        answer = client.get(f"/api/v1/funding{query}", headers=anna)
        assert answer.status_code == 200, answer.json
        return [lead["id"] for lead in answer.json["leads"]]

    assert ids() == [closing, soon, later, open_call]
    clock.advance(2 * 86400)  # "Closing" passed
    assert ids() == [soon, later, open_call]
    assert ids("?past=1") == [soon, later, open_call, closing]
    assert ids("?topic=energy") == [later]
    assert ids("?country=hu") == [soon, open_call]  # a lead open to any country is open to Hungary too
    assert ids("?country=HU&topic=culture") == [soon]
    for query, code in (
        ("?country=XX", "unknown_country"),
        ("?topic=nope", "unknown_tag"),
        ("?page=0", "out_of_range"),
    ):
        answer = client.get(f"/api/v1/funding{query}", headers=anna)
        assert (answer.status_code, answer.json["error"]["code"]) == (422, code), query


def test_twenty_leads_a_page(client, ctx, people):
    made = [post(client, people["anna"], title=f"Call {n}", deadline=f"2026-04-{n + 1:02d}")["id"] for n in range(23)]
    first = client.get("/api/v1/funding", headers=people["bert"]).json
    assert (first["page"], first["pages"], first["total"]) == (1, 2, 23)
    assert [lead["id"] for lead in first["leads"]] == made[: funding.PAGE_SIZE]
    second = client.get("/api/v1/funding?page=2", headers=people["bert"]).json
    assert [lead["id"] for lead in second["leads"]] == made[funding.PAGE_SIZE :]
    assert client.get("/api/v1/funding?page=9", headers=people["bert"]).json["page"] == 2  # past the end: the last


def test_members_follow_topics(client, people):
    assert client.get("/api/v1/me/topics", headers=people["anna"]).json == {"topics": []}
    chosen = client.put("/api/v1/me/topics", headers=people["anna"], json={"topics": ["food", "energy", "food"]})
    assert chosen.json == {"topics": ["energy", "food"]}
    assert client.put("/api/v1/me/topics", headers=people["anna"], json={"topics": ["energy"]}).json == {
        "topics": ["energy"]
    }
    for body, code in (({"topics": ["nope"]}, "unknown_tag"), ({}, "missing_field"), ({"topics": "x"}, "unknown_tag")):
        answer = client.put("/api/v1/me/topics", headers=people["anna"], json=body)
        assert (answer.status_code, answer.json["error"]["code"]) == (422, code)
    assert client.get("/api/v1/me/topics", headers=people["anna"]).json == {"topics": ["energy"]}


def test_a_lead_shared_by_a_peer_is_read_only_here(client, ctx, people):
    with ctx.db.write() as s:
        s.add(
            FundingLead(
                ref="f-abroad",
                origin_node="hu",
                origin_country="HU",
                title="Hungarian social innovation fund",
                url="https://example.hu/fund",
                deadline=START + timedelta(days=20),
                countries=["HU"],
                topics=["food"],
                created_at=START,
                updated_at=START,
            )
        )
    (lead,) = client.get("/api/v1/funding", headers=people["coord"]).json["leads"]
    assert (lead["origin_node"], lead["origin_country"], lead["poster"], lead["can_change"]) == (
        "hu",
        "HU",
        None,
        False,
    )
    for path, body in (
        (f"/api/v1/funding/{lead['id']}", {"title": "x"}),
        (f"/api/v1/funding/{lead['id']}/withdraw", None),
        (f"/api/v1/funding/{lead['id']}/network-wide", {"network_wide": True}),
    ):
        answer = client.post(path, headers=people["coord"], json=body)
        assert (answer.status_code, answer.json["error"]["code"]) == (403, "lead_from_peer"), path
