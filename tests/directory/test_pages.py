"""The directory page and its exports, drawn from five fake national nodes after a poll."""

from __future__ import annotations

import csv
import io
import re

import pytest

from federation.directory import admin
from federation.directory import network as net
from federation.directory.api import TABLES
from federation.directory.poller import poll_once
from tests.directory.conftest import list_node
from tests.directory.fakes import network
from tests.page_checks import get_rules_without_arguments, header_problems, inline_code


@pytest.fixture
def polled(directory_app, directory, fake_node):
    """Five listed nodes, polled once; hu is then stopped and polled again (unreachable)."""
    nodes = network(fake_node)
    for node in nodes:
        list_node(directory, node)
    poll_once(directory)
    return directory_app.test_client(), {n.node_id: n for n in nodes}


def test_the_page_shows_every_table_and_chart(polled):
    client, _ = polled
    html = client.get("/").get_data(as_text=True)
    for section in ("nodes", "totals", "reviewers", "flows", "payments", "positions", "clearing", "refusals"):
        assert f'id="{section}"' in html
    assert html.count("<svg") == 6 and 'role="img"' in html
    assert "<script" not in html and not re.search(r'(src|href)="https?://(?!127\.0\.0\.1)', html)  # nothing external
    assert html.count('class="badge up"') == 5
    assert "⚠ disagree" in html and html.count("✓ agree") == 4  # hu/it state 3 and -2; the four others mirror
    assert "r-2026-03" in html and "at, hu, it" in html
    assert "Nobody</strong> reviews:" in html and "health-and-care" in html  # what the network lacks
    assert 'id="reviews-matrix"' in html and "SIF paid, net" not in html
    assert html.count("Payments not reported by: at, be-vl, hu, it, nl") == 1  # the fakes send no payments


def test_unreachable_shows_since_when(polled, directory):
    client, nodes = polled
    nodes["hu"].stop()
    report = poll_once(directory)
    row = next(r for r in client.get("/api/v1/nodes").get_json()["nodes"] if r["node_id"] == "hu")
    assert row["health"] == "unreachable" and row["since"] == report.started_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    html = client.get("/").get_data(as_text=True)
    assert 'class="badge unreachable"' in html and "since " in html


def test_flows_follow_the_reports_of_both_sides(polled, directory):
    client, _ = polled
    flows = client.get("/api/v1/flows").get_json()
    reviews = {(e["from"], e["to"]): e["amount"] for e in flows["reviews"]}
    assert reviews == {("BE", "NL"): 2, ("NL", "BE"): 1, ("AT", "IT"): 2, ("IT", "HU"): 1, ("HU", "BE"): 1}
    owed = {(e["from"], e["to"]): e["amount"] for e in flows["positions"]}
    # A positive position: the peer owes this node. at/it: at says it owes it 2 (AT -> IT); at/hu: at says hu
    # owes it 1 (HU -> AT); hu/it disagree (3 and -2): the first node's statement (hu: it owes hu 3, IT -> HU).
    assert owed == {("AT", "IT"): 2, ("HU", "AT"): 1, ("IT", "HU"): 3}
    assert flows["payments"] == {"30d": [], "365d": [], "all": []}  # positions are not payments
    positions = {
        (p["node_a"], p["node_b"]): p["state"] for p in client.get("/api/v1/positions").get_json()["positions"]
    }
    assert positions == {
        ("at", "hu"): "agree",
        ("at", "it"): "agree",
        ("be-vl", "hu"): "agree",
        ("be-vl", "nl"): "agree",
        ("hu", "it"): "disagree",
    }


def test_every_table_has_json_and_csv(polled):
    client, _ = polled
    for name in TABLES:
        rows = client.get(f"/api/v1/{name}").get_json()[name]
        answer = client.get(f"/export/{name}.csv")
        assert answer.status_code == 200 and answer.mimetype == "text/csv"
        parsed = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
        assert len(parsed) == len(rows), name
    assert client.get("/api/v1/nope").status_code == 404
    totals = client.get("/api/v1/totals").get_json()["totals"][0]
    assert totals["members"] == 160 and totals["nodes_up"] == 5 and totals["countries"] == 5


def test_csv_quotes_text_a_spreadsheet_would_run(directory_app, directory, fake_node):
    node = fake_node(
        "be-vl",
        "BE",
        initiatives=[
            {
                "ref": "i-1",
                "name": '=HYPERLINK("http://x")',
                "summary": "",
                "interests": ["food"],
                "sectors": [],
                "stage": "idea",
                "city": "@x",
            }
        ],
    )
    list_node(directory, node)
    poll_once(directory)
    text = directory_app.test_client().get("/export/initiatives.csv").get_data(as_text=True)
    assert "'=HYPERLINK" in text and ",'@x," in text


def test_initiatives_scan_and_groups_pages(polled):
    client, _ = polled
    html = client.get("/initiatives").get_data(as_text=True)
    assert "Cucina di Comunità San Salvario" in html and "Could join forces" in html
    assert "AT · BE · HU" in html and "BE · HU · IT · NL" in html  # repair cafés; kitchens of four countries
    scan = client.get("/scan?initiative=be-vl:i-2").get_data(as_text=True)
    first = scan.index("Wijkkeuken Rotterdam-Zuid")
    assert first < scan.index("Cucina di Comunità")
    assert "share the interests &#39;employment&#39; (rare), &#39;food&#39;, and &#39;social-inclusion&#39;" in scan
    matches = client.get("/api/v1/scan?interests=circular-economy,community-building").get_json()["matches"]
    assert [(m["name"], m["score"]) for m in matches][:4] == [
        ("Javítókávézó Szeged", 100),
        ("Leihladen Innsbruck", 100),
        ("Repair Café Brugse Poort", 100),
        ("Cucina di Comunità San Salvario", 29),  # community-building alone, held by four of the seven
    ]
    assert client.get("/api/v1/scan").status_code == 422
    assert client.get("/scan?initiative=nope:x").status_code == 303
    groups = client.get("/api/v1/groups").get_json()["groups"]
    assert [g["countries"] for g in groups] == [["AT", "BE", "HU"], ["BE", "HU", "IT", "NL"]]
    assert groups[0]["common_interests"] == [{"tag": "circular-economy", "held_by": 3}]


def test_node_page_shows_its_polls_and_key(polled):
    client, nodes = polled
    html = client.get("/nodes/hu").get_data(as_text=True)
    assert nodes["hu"].fingerprint in html and "<svg" in html and 'class="badge up"' in html
    assert client.get("/nodes/nobody").status_code == 404


def test_apply_page_records_an_application_with_its_fingerprint(directory_app, directory, fake_node):
    node = fake_node("nl", "NL")
    client = directory_app.test_client()
    form = client.get("/apply").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    assert client.post("/apply", data={"url": node.url}).status_code == 400  # no CSRF token
    html = client.post("/apply", data={"url": node.url, "csrf_token": token}).get_data(as_text=True)
    assert node.fingerprint in html
    with directory.db.read() as s:
        assert [r.status for r in net.listed(s)] == [] and s.get(net.Listing, "nl").status == "pending"
    html = client.get("/").get_data(as_text=True)
    assert "pending approval" in html
    api = client.post("/api/v1/applications", json={"url": "http://127.0.0.1:9"})
    assert api.status_code == 502 and api.get_json()["error"]["code"] == "peer_unreachable"


def test_the_directory_has_its_own_key_and_document(directory_app, directory):
    from federation.transport.peers import verify_document

    client = directory_app.test_client()
    doc = verify_document(client.get("/.well-known/sifnet-node").data, now=directory.now(), max_skew=directory.max_skew)
    assert doc.node_id == "eu-dir" and doc.fingerprint == directory.key.public_key.fingerprint
    assert client.get("/healthz").get_json() == {"status": "ok", "node_id": "eu-dir"}
    assert client.get("/api/v1/about").get_json()["fingerprint"] == doc.fingerprint


def test_every_page_has_the_security_headers_and_no_inline_code(polled, directory_app, directory):
    client, _ = polled
    with directory.db.write() as s:
        admin.add_admin(
            s,
            username="ines",
            password="correct horse battery",
            now=directory.now(),
            hasher=admin.password_hasher(directory.settings),
        )
    working_group = directory_app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', working_group.get("/admin/login").get_data(as_text=True))
    assert (
        working_group.post(
            "/admin/login", data={"csrf_token": token.group(1), "username": "ines", "password": "correct horse battery"}
        ).status_code
        == 303
    )
    paths = get_rules_without_arguments(directory_app) + [
        "/nodes/hu",
        "/scan?initiative=be-vl:i-2",
        "/api/v1/nodes",
        "/export/nodes.csv",
        "/static/directory.css",
    ]
    assert {"/", "/initiatives", "/admin/", "/admin/audit"} <= set(paths), paths
    problems, pages = [], 0
    for who, browser in (("anonymous", client), ("working group", working_group)):
        for path in paths:
            response = browser.get(path)
            problems += [(who, path, p) for p in header_problems(response)]
            if response.mimetype == "text/html":
                pages += response.status_code == 200
                problems += [(who, path, p) for p in inline_code(response.get_data(as_text=True))]
            response.close()
    assert problems == [] and pages >= 12, (problems, pages)
    assert '<svg class="score"' in client.get("/scan?initiative=be-vl:i-2").get_data(as_text=True)
