"""The member directory: only active members who chose it are listed, only with the parts they show; name search
by word prefix in any case and accent; facets; keyset pages; the profile page and its API."""

from __future__ import annotations

import pytest
from flask import url_for
from sqlalchemy import select

from node.services import directory, members, search
from node.tables import MemberSearchTerm
from tests.node.test_web import login

API = "/api/v1"
LISTED = {"in_directory": True}
SECRET_BIO = "I keep this bio to myself"
SECRET_ORG = "Hidden Cooperative"


@pytest.fixture
def people(make_member):
    """anna (listed, everything shown), zsofia (listed, hides languages, bio and organisation), bob (not listed),
    pete (pending, asked to be listed), and the viewer carol (listed, nothing else)."""
    out = {
        "anna": make_member(
            "anna",
            display_name="Anna de Vries",
            organisation="Repair Café Leuven",
            bio="Fixing toasters",
            expertise=["circular-economy", "housing"],
            languages=["nl", "en"],
            country="BE",
            in_directory=True,
            show_organisation=True,
            show_bio=True,
        ),
        "zsofia": make_member(
            "zsofia",
            display_name="Zsófia Kovács",
            organisation=SECRET_ORG,
            bio=SECRET_BIO,
            expertise=["food", "housing"],
            languages=["hu", "de"],
            country="HU",
            in_directory=True,
            show_languages=False,
        ),
        "bob": make_member(
            "bob", display_name="Bob Unlisted", expertise=["housing"], languages=["nl"], organisation="Bob's Bakery"
        ),
        "carol": make_member("carol", in_directory=True),
    }
    out["pete"] = make_member("pete", approve=False, display_name="Pete Pending", in_directory=True)
    return out


def found(client, headers, **query) -> list[str]:
    r = client.get(f"{API}/members", headers=headers, query_string=query)
    assert r.status_code == 200, r.json
    return [m["handle"] for m in r.json["members"]]


def test_a_new_member_is_not_listed_until_they_choose_to_be(client, make_member, token_for):
    nora = make_member("nora", expertise=["food"])
    viewer = make_member("viewer")
    assert (nora.in_directory, nora.show_expertise, nora.show_organisation, nora.show_bio) == (
        False,
        True,
        False,
        False,
    )
    headers = token_for(viewer)
    assert found(client, headers) == []
    me = client.patch(f"{API}/me", headers=token_for(nora), json={"in_directory": True}).json
    assert me["in_directory"] is True and me["show_bio"] is False
    assert found(client, headers) == ["nora"]
    assert found(client, headers, expertise="food") == ["nora"]
    client.patch(f"{API}/me", headers=token_for(nora), json={"in_directory": False})
    assert found(client, headers) == [] and found(client, headers, q="nora") == []


def test_only_active_members_who_chose_it_are_listed_by_name(client, people, token_for):
    headers = token_for(people["carol"])
    assert found(client, headers) == ["anna", "carol", "zsofia"]  # by name: Anna de Vries, Carol, Zsófia Kovács
    for query in ({"q": "bob"}, {"q": "unlisted"}, {"q": "pete"}, {"expertise": "housing", "language": "nl"}):
        assert "bob" not in found(client, headers, **query) and "pete" not in found(client, headers, **query)


@pytest.mark.parametrize(
    "q, expected",
    [
        ("zsofia", ["zsofia"]),
        ("ZSÓ", ["zsofia"]),  # any case, accents or none
        ("kovacs", ["zsofia"]),
        ("vri", ["anna"]),  # a prefix of any word of the name
        ("anna vr", ["anna"]),  # every word must match
        ("anna kov", []),
        ("repair", ["anna"]),  # an organisation she shows
        ("hidden", []),  # one zsofia hides
        ("a", ["anna"]),  # one letter: the initial of the name (an A-Z index)
        ("K", []),  # not the initial of anyone's name, though Kovács starts with it
        ("  ", ["anna", "carol", "zsofia"]),
    ],
)
def test_name_search_by_word_prefix_in_any_case_and_accent(client, people, token_for, q, expected):
    assert found(client, token_for(people["carol"]), q=q) == expected


def test_facets_find_only_what_members_show(client, people, token_for):
    headers = token_for(people["carol"])
    assert found(client, headers, expertise="housing") == ["anna", "zsofia"]
    assert found(client, headers, expertise="housing", country="HU") == ["zsofia"]
    assert found(client, headers, expertise="housing", country="hu") == ["zsofia"]
    assert found(client, headers, language="nl") == ["anna"]
    assert found(client, headers, language="hu") == []  # zsofia speaks it but hides her languages
    assert found(client, headers, expertise="food", q="zs") == ["zsofia"]
    r = client.get(f"{API}/members", headers=headers, query_string={"expertise": "knitting"})
    assert r.status_code == 422 and r.json["error"]["code"] == "bad_choice"
    r = client.get(f"{API}/members", headers=headers, query_string={"country": "Hungary"})
    assert r.status_code == 422 and r.json["error"]["code"] == "invalid_country"


def test_hidden_parts_never_appear_in_json(client, people, token_for):
    headers = token_for(people["carol"])
    listed = {m["handle"]: m for m in client.get(f"{API}/members", headers=headers).json["members"]}
    zsofia = listed["zsofia"]
    assert zsofia["expertise"] == ["food", "housing"] and zsofia["country"] == "HU"
    assert not {"languages", "bio", "organisation", "email", "pseudonym", "balance"} & set(zsofia)
    assert listed["anna"]["bio"] == "Fixing toasters" and listed["anna"]["organisation"] == "Repair Café Leuven"
    profile = client.get(f"{API}/members/zsofia", headers=headers).json
    assert profile == zsofia
    bob = client.get(f"{API}/members/bob", headers=headers).json
    assert bob == {
        "id": people["bob"].id,
        "handle": "bob",
        "address": "bob@be-vl",
        "display_name": "Bob Unlisted",
        "role": "member",
        "status": "active",
        "in_directory": False,
    }
    r = client.get(f"{API}/members/pete", headers=headers)
    assert r.status_code == 404 and r.json["error"]["code"] == "member_not_found"


def main(html: str) -> str:
    """A page without its header (the language switch names every language)."""
    return html.split("<main>")[1].split("</main>")[0]


def results(html: str) -> str:
    """The directory page's results (the search form lists every language)."""
    return html.split('id="people"')[1].split("</ul>")[0]


def test_hidden_parts_never_appear_in_html(app, people):
    web = app.test_client()
    login(web, "carol@example.org")
    page = results(web.get("/members").get_data(as_text=True))
    assert 'href="/members/anna"' in page and 'href="/members/zsofia"' in page
    assert "Bob" not in page and "Pete" not in page
    assert SECRET_BIO not in page and SECRET_ORG not in page and "Hungarian" not in page
    assert "Repair Café Leuven" in page and "Dutch" in page
    profile = main(web.get("/members/zsofia").get_data(as_text=True))
    assert "Zsófia Kovács" in profile and "Hungary" in profile and "food" in profile
    assert SECRET_BIO not in profile and SECRET_ORG not in profile and "Hungarian" not in profile
    assert 'id="languages"' not in profile and 'id="bio"' not in profile and 'id="organisation"' not in profile
    assert 'id="send-message"' in profile
    bob = main(web.get("/members/bob").get_data(as_text=True))
    assert "Bob Unlisted" in bob and "Bob&#39;s Bakery" not in bob and "Bob's Bakery" not in bob
    assert "is not listed" in bob and 'id="send-message"' in bob
    assert web.get("/members/pete").status_code == 404
    filtered = web.get("/members?expertise=housing&country=HU").get_data(as_text=True)
    assert 'href="/members/zsofia"' in filtered and 'href="/members/anna"' not in filtered


def url_of(app, endpoint: str) -> str:
    with app.test_request_context():
        return url_for(endpoint)


def test_a_pending_member_may_not_browse_the_directory(app, client, people, token_for):
    r = client.get(f"{API}/members", headers=token_for(people["pete"]))
    assert r.status_code == 403 and r.json["error"]["code"] == "account_pending"
    r = client.get(f"{API}/members/anna", headers=token_for(people["pete"]))
    assert r.status_code == 403
    web = app.test_client()
    login(web, "pete@example.org")
    for path in ("/members", "/members/anna", "/messages"):  # a pending member's pages lead to the waiting page
        r = web.get(path)
        assert r.status_code == 303 and r.headers["Location"].endswith(url_of(app, "member.dashboard")), path


def test_profile_changes_and_closing_keep_the_index_in_step(client, ctx, people, token_for):
    headers, anna = token_for(people["carol"]), token_for(people["anna"])
    client.patch(f"{API}/me", headers=anna, json={"display_name": "Annelies Peeters", "show_expertise": False})
    assert found(client, headers, q="vries") == [] and found(client, headers, q="peeters") == ["anna"]
    assert found(client, headers, expertise="circular-economy") == []
    assert "expertise" not in client.get(f"{API}/members/anna", headers=headers).json
    assert client.post(f"{API}/me/close", headers=token_for(people["zsofia"])).status_code == 200
    assert found(client, headers) == ["anna", "carol"]
    with ctx.db.read() as s:
        assert s.scalars(select(MemberSearchTerm).where(MemberSearchTerm.member_id == people["zsofia"].id)).all() == []
        assert s.scalars(select(MemberSearchTerm).where(MemberSearchTerm.member_id == people["bob"].id)).all() == []


def test_approval_lists_a_member_who_asked_for_it(client, people, make_member, token_for):
    coord = make_member("coord", role="coordinator")
    headers = token_for(people["carol"])
    assert "pete" not in found(client, headers)
    r = client.post(f"{API}/coordinator/members/{people['pete'].id}/approve", headers=token_for(coord), json={})
    assert r.status_code == 200
    assert "pete" in found(client, headers, q="pending")


def test_keyset_pages_list_everyone_once_in_name_order_even_when_members_join_between_pages(
    client, ctx, make_member, token_for
):
    names = [f"Member {n:02d}" for n in range(25)]
    for n, name in enumerate(names):
        make_member(f"m{n:02d}", display_name=name, in_directory=True, expertise=["food"] if n % 2 else [])
    headers = token_for(make_member("viewer"))
    seen, cursor, pages = [], "", 0
    while True:
        r = client.get(f"{API}/members", headers=headers, query_string={"limit": 10, "cursor": cursor})
        assert r.status_code == 200, r.json
        seen += [m["display_name"] for m in r.json["members"]]
        cursor, pages = r.json["next_cursor"], pages + 1
        if pages == 1:
            make_member("aaa", display_name="Aaron Early", in_directory=True)  # before the cursor: not repeated
            make_member("zzz", display_name="Zed Late", in_directory=True)  # after it: shown in its place
        if not cursor:
            break
    assert seen == [*names, "Zed Late"] and pages == 3
    food = found(client, headers, expertise="food", limit=5)
    assert len(food) == 5
    r = client.get(f"{API}/members", headers=headers, query_string={"expertise": "food", "limit": 5})
    rest = found(client, headers, expertise="food", limit=100, cursor=r.json["next_cursor"])
    assert len(food) + len(rest) == 12 and not set(food) & set(rest)


@pytest.mark.parametrize(
    "query, code",
    [
        ({"cursor": "not-a-cursor"}, "invalid_cursor"),
        ({"cursor": search.encode_cursor((1, "x"))}, "invalid_cursor"),  # the wrong shape
        ({"limit": "0"}, "invalid_limit"),
        ({"limit": "101"}, "invalid_limit"),
        ({"limit": "ten"}, "invalid_limit"),
        ({"q": "x" * 201}, "too_long"),
    ],
)
def test_bad_page_parameters_are_refused(client, people, token_for, query, code):
    r = client.get(f"{API}/members", headers=token_for(people["carol"]), query_string=query)
    assert r.status_code == 422 and r.json["error"]["code"] == code


def test_the_web_directory_pages_with_its_filters(app, make_member):
    for n in range(25):
        make_member(f"p{n:02d}", display_name=f"Person {n:02d}", in_directory=True, languages=["fr"])
    make_member("viewer")
    web = app.test_client()
    login(web, "viewer@example.org")
    page = web.get("/members?language=fr").get_data(as_text=True)
    assert page.count('class="person"') == directory.PAGE and "Next page" in page
    assert "You are not listed yourself" in page
    next_link = page.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    assert "language=fr" in next_link
    rest = web.get(next_link).get_data(as_text=True)
    assert rest.count('class="person"') == 5 and "Person 24" in rest and "Next page" not in rest


def test_the_profile_form_sets_the_directory_choices(app, ctx, make_member):
    make_member("anna", organisation="Kringwinkel")
    web = app.test_client()
    login(web, "anna@example.org")
    html = web.get("/profile").get_data(as_text=True)
    assert 'name="in_directory"' in html and 'name="show_bio"' in html
    token = html.split('name="csrf_token" value="')[1].split('"')[0]
    r = web.post(
        "/profile",
        data={
            "display_name": "Anna",
            "organisation": "Kringwinkel",
            "in_directory": "on",
            "show_organisation": "on",
            "csrf_token": token,
        },
    )
    assert r.status_code == 303
    with ctx.db.read() as s:
        anna = members.find_by_handle(s, "anna")
        assert (anna.in_directory, anna.show_organisation, anna.show_expertise, anna.show_bio) == (
            True,
            True,
            False,  # a form sends only the boxes ticked
            False,
        )
        terms = set(s.scalars(select(MemberSearchTerm.term).where(MemberSearchTerm.member_id == anna.id)))
    assert terms == {"*", "i:a", "w:anna", "w:kringwinkel"}


def test_the_search_terms_fold_case_and_accents():
    assert search.words("Zsófia KOVÁCS-Nagy, Őrség; Straße") == ["zsofia", "kovacs", "nagy", "orseg", "strasse"]
    assert search.words("x" * 100) == ["x" * search.WORD_MAX]
    assert search.query_words("Ann de") == [search.Match("w:ann", True), search.Match("w:de", True)]
