"""Funding leads in the directory: a node serves its network-wide leads signed, the poller keeps them when the
summary's hash changes, and the Funding page and exports list them with filters; nothing about posters."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from federation import summary
from federation.directory.poller import poll_once
from federation.directory.tables import FundingRecord
from node.tables import FundingLead
from protocol import validate_body
from tests.conftest import START
from tests.directory.conftest import list_node
from tests.directory.test_summary import listed, verified  # noqa: F401  (fixture)
from tests.page_checks import header_problems, inline_code

LEAD = {
    "ref": "f-1",
    "title": "Creative Europe: cooperation projects",
    "url": "https://culture.ec.europa.eu/creative-europe",
    "deadline": "2099-04-30T15:00:00Z",
    "countries": ["BE", "NL"],
    "topics": ["culture"],
    "description": "Small-scale cooperation projects.",
}
ROLLING = {**LEAD, "ref": "f-2", "title": "Rolling social fund", "countries": [], "topics": ["food"]}
del ROLLING["deadline"]


def add_lead(ctx, title: str, *, network_wide: bool, status: str = "open", days: int | None = 10, poster=None):
    with ctx.db.write() as s:
        s.add(
            FundingLead(
                ref=f"f-{title[:8].lower().replace(' ', '-')}",
                poster_id=poster.id if poster else None,
                title=title,
                url="https://example.org/call",
                deadline=START + timedelta(days=days) if days is not None else None,
                countries=["BE"],
                topics=["food"],
                network_wide=network_wide,
                status=status,
                created_at=START,
                updated_at=START,
            )
        )


def test_the_node_serves_its_network_wide_leads_signed_and_names_their_hash(listed, ctx, client, make_member):
    anna = make_member("anna")
    with ctx.db.read() as s:
        assert "funding_hash" not in summary.summary_body(s, ctx.settings, ctx.now())
    add_lead(ctx, "Later call", network_wide=True, days=30, poster=anna)
    add_lead(ctx, "Soon call", network_wide=True, days=3, poster=anna)
    add_lead(ctx, "Rolling fund", network_wide=True, days=None, poster=anna)
    add_lead(ctx, "Home only", network_wide=False, poster=anna)
    add_lead(ctx, "Withdrawn call", network_wide=True, status="withdrawn", poster=anna)
    add_lead(ctx, "Closed call", network_wide=True, days=-1, poster=anna)

    answer = client.get("/federation/v1/funding")
    assert answer.status_code == 200
    env = verified(ctx, listed, answer.data, "directory_funding")
    validate_body("directory_funding", env.body)
    assert [lead["title"] for lead in env.body["leads"]] == ["Soon call", "Later call", "Rolling fund"]
    assert b"anna" not in answer.data and b"Anna" not in answer.data
    summary_env = verified(ctx, listed, client.get("/federation/v1/summary").data, "directory_summary")
    assert summary_env.body["funding_hash"] == summary.funding_service.leads_hash(env.body)


def test_a_node_not_listed_anywhere_serves_no_funding(client):
    answer = client.get("/federation/v1/funding")
    assert (answer.status_code, answer.json["error"]["code"]) == (404, "directory_not_set")


def test_the_directory_keeps_the_leads_and_fetches_them_again_only_when_they_change(directory, fake_node):
    node = fake_node("be-vl", "BE", funding=[LEAD])
    list_node(directory, node)
    poll_once(directory)
    poll_once(directory)
    assert node.hits["/federation/v1/funding"] == 1
    with directory.db.read() as s:
        assert [(r.node_id, r.ref, r.title) for r in s.query(FundingRecord).all()] == [("be-vl", "f-1", LEAD["title"])]
    node.funding.append(ROLLING)
    poll_once(directory)
    assert node.hits["/federation/v1/funding"] == 2
    with directory.db.read() as s:
        assert sorted(r.ref for r in s.query(FundingRecord).all()) == ["f-1", "f-2"]

    node.funding.append({**LEAD, "ref": "f-3"})
    node.funding_hash_override = "A" * 43  # the summary names other leads than those served: the old ones stay
    report = poll_once(directory)
    assert report.outcomes[0].code == "funding_hash_mismatch"
    with directory.db.read() as s:
        assert sorted(r.ref for r in s.query(FundingRecord).all()) == ["f-1", "f-2"]

    node.funding, node.funding_hash_override = [], ""  # a node that stopped sharing: its leads leave
    poll_once(directory)
    with directory.db.read() as s:
        assert s.query(FundingRecord).count() == 0


def test_the_funding_page_lists_and_filters_the_leads(directory_app, directory, fake_node):
    be = fake_node("be-vl", "BE", funding=[LEAD, ROLLING])
    hu = fake_node("hu", "HU", funding=[{**LEAD, "ref": "h-1", "title": "Hungarian fund", "countries": ["HU"]}])
    for node in (be, hu):
        list_node(directory, node)
    poll_once(directory)
    client = directory_app.test_client()

    page = client.get("/funding")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and header_problems(page) == [] and inline_code(html) == []
    assert html.index("Creative Europe") < html.index("Hungarian fund") < html.index("Rolling social fund")
    assert "Belgium, Netherlands" in html and 'rel="noopener noreferrer nofollow"' in html

    def titles(query: str) -> list[str]:
        return [lead["title"] for lead in client.get(f"/api/v1/funding{query}").get_json()["funding"]]

    assert titles("") == ["Creative Europe: cooperation projects", "Hungarian fund", "Rolling social fund"]
    assert titles("?country=hu") == ["Hungarian fund", "Rolling social fund"]  # open to any country counts
    assert titles("?topic=food") == ["Rolling social fund"]
    assert titles("?origin=HU") == ["Hungarian fund"]
    filtered = client.get("/funding?origin=HU").get_data(as_text=True)
    assert "Hungarian fund" in filtered and "Rolling social fund" not in filtered
    refused = client.get("/api/v1/funding?country=Hungary")
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (422, "bad_country")
    assert client.get("/funding?country=Hungary").status_code == 303

    rows = list(csv.DictReader(io.StringIO(client.get("/export/funding.csv").get_data(as_text=True))))
    assert rows[0]["title"] == LEAD["title"] and rows[0]["countries"] == "BE NL" and rows[0]["origin_country"] == "BE"
    assert set(rows[0]) == {
        "node_id",
        "ref",
        "origin_country",
        "node_name",
        "title",
        "url",
        "deadline",
        "countries",
        "topics",
        "description",
    }
