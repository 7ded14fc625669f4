"""The quick scan's pages and its JSON API show the same pairs, scores, reasons, groups and hints, for the
hand-made network of test_scan.py served by five fake nodes and polled by the directory."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from federation.directory.poller import poll_once
from tests.directory.conftest import list_node
from tests.directory.test_scan import COUNTRY, ITEMS


class Cells(HTMLParser):
    """The text of each cell of each row of the table inside the element with ``id``."""

    def __init__(self, id_: str) -> None:
        super().__init__(convert_charrefs=True)
        self.id, self.depth, self.rows = id_, 0, []

    def handle_starttag(self, tag, attrs):
        if self.depth:
            self.depth += 1
            if tag == "tr":
                self.rows.append([])
            elif tag == "td" and self.rows:
                self.rows[-1].append("")
            elif tag == "li" and self.rows and self.rows[-1]:
                self.rows[-1][-1] += " "  # one reason per item
        elif ("id", self.id) in attrs:
            self.depth = 1

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth and self.rows and self.rows[-1]:
            self.rows[-1][-1] += data

    def table(self, html: str) -> list[list[str]]:
        self.feed(html)
        return [[" ".join(c.split()) for c in row] for row in self.rows if row]


def reasons(row: dict) -> str:
    return " ".join(f"{r['text']} {r['points']}/{r['of']}" for r in row["reasons"])


@pytest.fixture
def hand_made(directory_app, directory, fake_node):
    for node, country in COUNTRY.items():
        listed = [
            {
                "ref": i.ref,
                "name": i.name,
                "summary": "",
                "interests": sorted(i.interests),
                "sectors": sorted(i.sectors),
                "stage": i.stage,
                "city": "",
            }
            for i in ITEMS
            if i.node_id == node
        ]
        list_node(directory, fake_node(node, country, initiatives=listed))
    poll_once(directory)
    return directory_app.test_client()


def test_groups_and_pairs_are_the_same_on_the_page_and_in_the_api(hand_made):
    api = hand_made.get("/api/v1/groups").get_json()
    html = hand_made.get("/initiatives").get_data(as_text=True)
    assert [[i["key"] for i in g["initiatives"]] for g in api["groups"]] == [
        ["hu:repair-hu", "it:repair-it"],
        ["be:be-1", "be:be-2", "nl:food-nl"],
        ["at:bike-at", "nl:share-nl"],
    ]
    assert [(p["a"]["ref"], p["b"]["ref"], p["score"]) for p in api["pairs"]][:3] == [
        ("repair-hu", "repair-it", 100),
        ("bike-at", "share-nl", 61),
        ("be-1", "food-nl", 56),
    ]
    assert len(api["pairs"]) == 6 and api["threshold"] == 50 and api["max_group"] == 4
    assert Cells("pairs").table(html) == [
        [
            str(n),
            f"{p['a']['name']} ({p['a']['country']}) ↔ {p['b']['name']} ({p['b']['country']})",
            str(p["score"]),
            reasons(p),
        ]
        for n, p in enumerate(api["pairs"], 1)
    ]
    shown = html[html.index('id="groups"') : html.index('id="pairs"')].split('<div class="group">')[1:]
    assert len(shown) == len(api["groups"])
    for chunk, group in zip(shown, api["groups"], strict=True):
        names = [i["name"] for i in group["initiatives"]]
        assert [chunk.index(f">{n}</a>") for n in names] == sorted(chunk.index(f">{n}</a>") for n in names)
        links = "; ".join(f"{p['a']['name']} ↔ {p['b']['name']} ({p['score']})" for p in group["links"])
        assert links in chunk and f"average score {group['mean_score']}" in chunk


def test_a_scan_is_the_same_on_the_page_and_in_the_api(hand_made):
    api = hand_made.get("/api/v1/scan?initiative=hu:repair-hu&limit=20").get_json()
    html = hand_made.get("/scan?initiative=hu:repair-hu").get_data(as_text=True)
    assert api["hint"] is None and api["matches"][0]["name"] == "repair-it" and api["matches"][0]["score"] == 100
    assert Cells("matches").table(html) == [
        [str(n), f"{m['name']} ({m['stage']})", m["country"], str(m["score"]), reasons(m), "contact"]
        for n, m in enumerate(api["matches"], 1)
    ]


def test_an_unknown_tag_says_why_and_links_to_scans_with_the_nearest_tags(hand_made):
    api = hand_made.get("/api/v1/scan?interests=repiar").get_json()
    html = hand_made.get("/scan?interests=repiar").get_data(as_text=True)
    assert api["matches"] == [] and api["hint"]["reason"] == "unknown_tags"
    assert api["hint"]["message"] in html and "Nothing similar found." in html
    (unknown,) = api["hint"]["unknown"]
    assert unknown["message"] == "No listed initiative holds the interest 'repiar'."
    assert [s["tag"] for s in unknown["suggestions"]] == ["repair"]
    assert f'<a href="{unknown["suggestions"][0]["page"]}">repair</a>' in html
    followed = hand_made.get(unknown["suggestions"][0]["api"]).get_json()
    assert followed["hint"] is None and [m["ref"] for m in followed["matches"]] == ["repair-hu", "repair-it"]
