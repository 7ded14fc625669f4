"""Text search in the advice market: words of the title and description (prefixes, any case and accent), combined
with kind and tag, in keyset pages; closed listings and those of members who left are never found."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from node.services import advice_listings
from node.tables import ListingSearchTerm
from tests.node.test_web import login

API = "/api/v1"


def post(client, headers, title, description="", kind="offer", tags=("education",)) -> int:
    body = {"kind": kind, "title": title, "description": description, "rate": 1, "tags": list(tags)}
    r = client.post(f"{API}/advice/listings", headers=headers, json=body)
    assert r.status_code == 201, r.json
    return r.json["id"]


def ids(client, headers, **query) -> list[int]:
    r = client.get(f"{API}/advice/listings", headers=headers, query_string=query)
    assert r.status_code == 200, r.json
    return [x["id"] for x in r.json["listings"]]


@pytest.fixture
def market(client, make_member, token_for):
    anna, bert = make_member("anna"), make_member("bert")
    a, b = token_for(anna), token_for(bert)
    listings = {
        "crowd": post(
            client, a, "Crowdfunding basics", "Campaign planning for cooperatives", tags=("funding-and-finance",)
        ),
        "legal": post(
            client, a, "Statuten voor een coöperatie", "Juridische structuur, vzw of cv", tags=("legal-structures",)
        ),
        "food": post(
            client,
            b,
            "Looking for a food-safety expert",
            "Our soup kitchen needs a HACCP plan",
            kind="request",
            tags=("food",),
        ),  # fmt: skip
        "closed": post(client, b, "Crowdfunding for a café", "closed already"),
    }
    assert client.post(f"{API}/advice/listings/{listings['closed']}/close", headers=b).status_code == 200
    return {"a": a, "b": b, "anna": anna, "bert": bert, **listings}


@pytest.mark.parametrize(
    "q, expected",
    [
        ("crowdfunding", ["crowd"]),  # the closed one too has the word
        ("CROWD", ["crowd"]),  # a prefix, in any case
        ("cooperat", ["legal", "crowd"]),  # "coöperatie" without its accent, and a word of a description
        ("coöp", ["legal", "crowd"]),
        ("haccp soup", ["food"]),  # every word
        ("haccp crowdfunding", []),
        ("safety", ["food"]),  # a word inside "food-safety"
        ("", ["food", "legal", "crowd"]),  # newest first
    ],
)
def test_words_of_the_title_and_description(client, market, q, expected):
    assert ids(client, market["a"], q=q) == [market[name] for name in expected]


def test_words_combine_with_kind_and_tag(client, market):
    a = market["a"]
    assert ids(client, a, q="plan", kind="request") == [market["food"]]
    assert ids(client, a, q="plan", kind="offer") == [market["crowd"]]
    assert ids(client, a, q="plan", tag="food") == [market["food"]]
    assert ids(client, a, q="plan", tag="legal-structures") == []
    assert ids(client, a, kind="offer", tag="legal-structures") == [market["legal"]]


def test_a_listing_leaves_the_search_when_closed_or_when_its_author_leaves(client, ctx, market):
    a, b = market["a"], market["b"]
    assert client.post(f"{API}/advice/listings/{market['crowd']}/close", headers=a).status_code == 200
    assert ids(client, b, q="crowd") == []
    bert_listings = [market["food"], market["closed"]]
    with ctx.db.write() as s:  # bert has no open sessions: he may close his account
        from node.services import members

        members.close_account(s, member=members.find_by_handle(s, "bert"), now=ctx.now())
    assert ids(client, a) == [market["legal"]]
    with ctx.db.read() as s:
        left = s.scalars(select(ListingSearchTerm).where(ListingSearchTerm.listing_id.in_(bert_listings))).all()
    assert left == []


def test_pages_of_the_market_are_keyset_pages(client, make_member, token_for):
    headers = token_for(make_member("poster"))
    posted = [post(client, headers, f"Repair session {n}", "bikes and toasters") for n in range(12)]
    first = client.get(f"{API}/advice/listings", headers=headers, query_string={"q": "repair", "limit": 5}).json
    assert [x["id"] for x in first["listings"]] == posted[::-1][:5] and first["next_cursor"]
    newer = post(client, headers, "Repair café for phones")  # newer than the first page: not on the later ones
    seen, cursor = [x["id"] for x in first["listings"]], first["next_cursor"]
    while cursor:
        page = client.get(
            f"{API}/advice/listings", headers=headers, query_string={"q": "repair", "limit": 5, "cursor": cursor}
        ).json
        seen += [x["id"] for x in page["listings"]]
        cursor = page["next_cursor"]
    assert seen == posted[::-1] and newer not in seen
    r = client.get(f"{API}/advice/listings", headers=headers, query_string={"cursor": "x"})
    assert r.status_code == 422 and r.json["error"]["code"] == "invalid_cursor"


def test_the_market_page_searches_and_pages(app, client, make_member, token_for):
    headers = token_for(make_member("poster"))
    for n in range(advice_listings.PAGE + 3):
        post(client, headers, f"Grant writing clinic {n}", "<b>funding</b> applications")
    post(client, headers, "Something else entirely")
    make_member("reader")
    web = app.test_client()
    login(web, "reader@example.org")
    page = web.get("/advice?q=grant").get_data(as_text=True)
    assert page.count("Grant writing clinic") == advice_listings.PAGE and "Something else" not in page
    assert 'value="grant"' in page and "Next page" in page and "<b>funding" not in page
    next_link = page.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    rest = web.get(next_link).get_data(as_text=True)
    assert rest.count("Grant writing clinic") == 3 and "First page" in rest
    assert 'href="/members/poster"' in rest


def test_many_words_are_indexed_up_to_the_cap(client, ctx, make_member, token_for):
    headers = token_for(make_member("poster"))
    text = " ".join(f"word{n}" for n in range(300))
    listing_id = post(client, headers, "Long one", text)
    with ctx.db.read() as s:
        terms = s.scalars(select(ListingSearchTerm.term).where(ListingSearchTerm.listing_id == listing_id)).all()
    assert len([t for t in terms if t.startswith("w:")]) == 200
    assert ids(client, headers, q="word197") == [listing_id] and ids(client, headers, q="word250") == []
