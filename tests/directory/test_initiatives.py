"""Initiatives on a node: the coordinators' API and form, consent, the public contact page."""

from __future__ import annotations

from sqlalchemy import select

from federation.initiatives import records as initiatives
from federation.tables import Initiative
from node import notices
from node.tables import Notification
from tests.node.test_web import csrf, login

KITCHEN = {
    "name": "Community kitchen",
    "summary": "Hot meals <b>together</b>",
    "interests": ["food", "social-inclusion"],
    "sectors": ["food", "community"],
    "stage": "pilot",
    "city": "Ghent",
}


def notes(ctx, kind=initiatives.CONTACT_KIND) -> list[tuple[int, str]]:
    """(recipient, body as an English reader sees it) of each notification of the kind."""
    with ctx.db.read() as s:
        rows = s.scalars(select(Notification).where(Notification.kind == kind)).all()
    return [(n.member_id, notices.text_of(n, language="en", time_zone="UTC", settings=ctx.settings)[1]) for n in rows]


def test_coordinators_record_initiatives_and_their_consent_through_the_api(client, ctx, make_member, token_for):
    coord = token_for(make_member("coord", role="coordinator"))
    anna = make_member("anna")
    created = client.post("/api/v1/initiatives", headers=coord, json={**KITCHEN, "contact_handle": "anna"})
    assert created.status_code == 201, created.json
    ref = created.json["ref"]
    assert created.json["listed"] is False and created.json["contact_handle"] == "anna"
    assert created.json["contact"] == f"http://127.0.0.1:5000/initiatives/{ref}"
    changed = client.post(f"/api/v1/initiatives/{ref}", headers=coord, json={"stage": "scaling", "city": "Antwerp"})
    assert changed.status_code == 200 and (changed.json["stage"], changed.json["city"]) == ("scaling", "Antwerp")
    assert changed.json["name"] == "Community kitchen"
    listed = client.post(
        f"/api/v1/initiatives/{ref}/consent", headers=coord, json={"consent": True, "note": "signed form of 2 March"}
    )
    assert listed.json["listed"] is True and listed.json["consent_note"] == "signed form of 2 March"
    assert [i["ref"] for i in client.get("/api/v1/initiatives", headers=coord).json["initiatives"]] == [ref]
    with ctx.db.read() as s:
        assert initiatives.listed_initiatives(s)[0].contact_member_id == anna.id


def test_refusals_change_nothing(client, ctx, make_member, token_for):
    coord = token_for(make_member("coord", role="coordinator"))
    member = token_for(make_member("bert"))
    for who, path, body, status, code in [
        (member, "/api/v1/initiatives", KITCHEN, 403, "coordinator_only"),
        (coord, "/api/v1/initiatives", {**KITCHEN, "stage": "dreaming"}, 422, "bad_choice"),
        (coord, "/api/v1/initiatives", {**KITCHEN, "interests": ["cooking"]}, 422, "unknown_tag"),
        (coord, "/api/v1/initiatives", {**KITCHEN, "sectors": ["Food Service"]}, 422, "bad_tag"),
        (coord, "/api/v1/initiatives", {**KITCHEN, "name": ""}, 422, "missing_field"),
        (coord, "/api/v1/initiatives", {**KITCHEN, "email": "x@y.z"}, 422, "unknown_field"),
        (coord, "/api/v1/initiatives", {**KITCHEN, "contact_handle": "nobody"}, 404, "member_not_found"),
        (coord, "/api/v1/initiatives/i-nope/consent", {"consent": True, "note": "x"}, 404, "initiative_not_found"),
    ]:
        answer = client.post(path, headers=who, json=body)
        assert (answer.status_code, answer.json["error"]["code"]) == (status, code), (body, answer.json)
    with ctx.db.read() as s:
        assert s.scalars(select(Initiative)).all() == []
    ref = client.post("/api/v1/initiatives", headers=coord, json=KITCHEN).json["ref"]
    answer = client.post(f"/api/v1/initiatives/{ref}/consent", headers=coord, json={"consent": True})
    assert answer.json["error"]["code"] == "missing_field"  # consent without saying how is refused
    answer = client.post(f"/api/v1/initiatives/{ref}/consent", headers=coord, json={"consent": "yes", "note": "x"})
    assert answer.json["error"]["code"] == "wrong_type"


def test_the_coordinator_form_and_the_public_contact_page(app, client, ctx, make_member):
    coord = make_member("coord", role="coordinator")
    web = app.test_client()
    login(web, coord.email)
    assert "Initiatives" in web.get("/coordinator/").get_data(as_text=True)
    form = {
        **KITCHEN,
        "interests": ["food", "social-inclusion"],
        "sectors": "food, community",
        "contact_handle": "",
        "action": "create",
        "csrf_token": csrf(web, "/coordinator/initiatives"),
    }
    assert web.post("/coordinator/initiatives", data=form).status_code == 303
    with ctx.db.read() as s:
        row = initiatives.all_initiatives(s)[0]
    assert row.sectors == ["food", "community"]
    assert client.get(f"/initiatives/{row.ref}").status_code == 404  # not listed without consent
    page = web.get("/coordinator/initiatives").get_data(as_text=True)
    assert "Hot meals &lt;b&gt;together&lt;/b&gt;" in page and "not listed" in page
    answer = web.post(
        "/coordinator/initiatives",
        data={"action": "consent", "ref": row.ref, "note": "", "csrf_token": csrf(web, "/coordinator/initiatives")},
    )
    assert answer.status_code == 303 and "missing_field" in web.get("/coordinator/initiatives").get_data(as_text=True)
    web.post(
        "/coordinator/initiatives",
        data={
            "action": "consent",
            "ref": row.ref,
            "note": "asked in person",
            "csrf_token": csrf(web, "/coordinator/initiatives"),
        },
    )
    public = client.get(f"/initiatives/{row.ref}").get_data(as_text=True)
    assert "Community kitchen" in public and "coord@example.org" not in public
    sent = client.post(
        f"/initiatives/{row.ref}",
        data={
            "name": "Zsófia",
            "email": "zsofia@example.hu",
            "message": "Shall we exchange recipes?",
            "csrf_token": csrf(client, f"/initiatives/{row.ref}"),
        },
    )
    assert sent.status_code == 303
    assert notes(ctx) == [
        (
            coord.id,
            "Zsófia <zsofia@example.hu> wrote about Community kitchen (via the network "
            "directory):\n\nShall we exchange recipes?",
        )
    ]
    web.post(
        "/coordinator/initiatives",
        data={"action": "withdraw", "ref": row.ref, "note": "", "csrf_token": csrf(web, "/coordinator/initiatives")},
    )
    assert client.get(f"/initiatives/{row.ref}").status_code == 404


def test_contact_messages_are_limited_per_hour(client, ctx, make_member, monkeypatch):
    make_member("coord", role="coordinator")
    monkeypatch.setattr(initiatives, "CONTACT_LIMIT_PER_HOUR", 2)
    with ctx.db.write() as s:
        row = initiatives.create_initiative(s, ctx.settings, data=KITCHEN, now=ctx.now())
        initiatives.set_consent(s, ref=row.ref, consent=True, note="yes", now=ctx.now())
    token = csrf(client, f"/initiatives/{row.ref}")
    message = {"name": "X", "email": "x@example.org", "message": "hello", "csrf_token": token}
    for _ in range(2):
        assert client.post(f"/initiatives/{row.ref}", data=message).status_code == 303
    third = client.post(f"/initiatives/{row.ref}", data=message, follow_redirects=True)
    assert "contact_rate_limited" in third.get_data(as_text=True) and len(notes(ctx)) == 2
    bad = client.post(f"/initiatives/{row.ref}", data={**message, "email": "not an address"}, follow_redirects=True)
    assert "invalid_email" in bad.get_data(as_text=True)
