"""Review rounds through the JSON API and the web pages: coordinator runs, members submit, refusals, privacy."""

from __future__ import annotations

import re
from datetime import timedelta

from node.clock import iso
from node.services import proposals
from node.tables import Member
from tests.conftest import balance_of
from tests.node.test_web import csrf, login

from .test_rounds import BODY, _invitees

REVIEWER = {"is_reviewer": True, "languages": ["en"], "expertise": ["education"]}


def _wait(ctx, round_id: int) -> None:
    ctx.round_threads[round_id].join(30)


def test_a_round_through_the_api(ctx, client, make_member, token_for, books):
    cora = token_for(make_member("cora", role="coordinator"))
    anna_m = make_member("anna")
    anna, ben = token_for(anna_m), token_for(make_member("ben"))
    make_member("dirk", **REVIEWER)
    deadline = iso(ctx.now() + timedelta(days=3))
    body = {"title": "Spring", "deadline": deadline, "reviews_per_proposal": 1, "max_load": 2}
    r = client.post("/api/v1/rounds", json=body, headers=anna)
    assert (r.status_code, r.json["error"]["code"]) == (403, "coordinator_only")
    r = client.post("/api/v1/rounds", json={**body, "max_load": 2.0}, headers=cora)
    assert (r.status_code, r.json["error"]["code"]) == (422, "not_an_integer")
    r = client.post("/api/v1/rounds", json=body, headers=cora)
    assert r.status_code == 201 and r.json["status"] == "open"
    rid = r.json["id"]
    r = client.post(f"/api/v1/rounds/{rid}/proposals", json=BODY, headers=anna)
    assert r.status_code == 201 and r.json["reviews_wanted"] == 1 and r.json["invitations"] == []
    pid = r.json["id"]
    assert balance_of(ctx, anna_m) == 8
    assert client.post(f"/api/v1/rounds/{rid}/solve", headers=anna).json["error"]["code"] == "coordinator_only"
    # ben sees the open round but not anna's proposal in it.
    seen = client.get(f"/api/v1/rounds/{rid}", headers=ben).json
    assert seen["proposals"] == [] and "total_affinity" not in seen
    r = client.post(f"/api/v1/rounds/{rid}/solve", headers=cora)
    assert r.status_code == 202 and r.json["status"] == "solving"
    _wait(ctx, rid)
    r = client.get(f"/api/v1/rounds/{rid}", headers=cora).json
    assert (r["status"], r["progress"]) == ("solved", 1000)
    assert r["result"]["assignments"][0]["reviewer"] == "dirk" and r["total_affinity"] > 0
    mine = client.get(f"/api/v1/rounds/{rid}", headers=anna).json
    assert mine["proposals"][0]["proposal_id"] == pid and mine["status"] == "solved"
    assert client.get(f"/api/v1/rounds/{rid}", headers=ben).status_code == 404  # closed, and nothing of his in it
    r = client.post(f"/api/v1/rounds/{rid}/solve", headers=cora)
    assert (r.status_code, r.json["error"]["code"]) == (409, "illegal_transition")
    assert _invitees(ctx, pid) == ["dirk"]
    books()


def test_bids_and_remote_conflicts_through_the_api(ctx, client, make_member, token_for):
    cora = token_for(make_member("cora", role="coordinator"))
    anna = token_for(make_member("anna"))
    r = client.put("/api/v1/me/bids", json={"bids": {"education": 2, "food": -1, "housing": 0}}, headers=anna)
    assert r.status_code == 200 and r.json == {"bids": {"education": 2, "food": -1}}
    assert client.get("/api/v1/me/bids", headers=anna).json == {"bids": {"education": 2, "food": -1}}
    for bad, code in (({"education": True}, "bad_bid_level"), ({"astrology": 1}, "unknown_tag"), ([1], "wrong_type")):
        r = client.put("/api/v1/me/bids", json={"bids": bad}, headers=anna)
        assert (r.status_code, r.json["error"]["code"]) == (422, code)
    assert client.get("/api/v1/me/bids", headers=anna).json == {"bids": {"education": 2, "food": -1}}
    r = client.post(
        "/api/v1/remote-conflicts", json={"remote_reviewer": "Rev-7F@hu", "reason": "my cousin"}, headers=anna
    )
    assert r.status_code == 201 and r.json["remote_reviewer"] == "rev-7f@hu" and r.json["source"] == "member"
    r = client.post("/api/v1/remote-conflicts", json={"remote_reviewer": "rev-7f@hu"}, headers=anna)
    assert (r.status_code, r.json["error"]["code"]) == (409, "conflict_exists")
    r = client.post("/api/v1/remote-conflicts", json={"remote_reviewer": "no-at-sign"}, headers=anna)
    assert r.json["error"]["code"] == "bad_remote_address"
    pin = {"member_handle": "anna", "remote_reviewer": "kov@at"}
    assert client.post("/api/v1/coordinator/remote-conflicts", json=pin, headers=anna).status_code == 403
    r = client.post("/api/v1/coordinator/remote-conflicts", json=pin, headers=cora)
    assert r.status_code == 201 and r.json["source"] == "coordinator"
    listed = client.get("/api/v1/remote-conflicts", headers=anna).json["conflicts"]
    assert {c["remote_reviewer"] for c in listed} == {"rev-7f@hu", "kov@at"}
    pinned = next(c["id"] for c in listed if c["source"] == "coordinator")
    assert client.delete(f"/api/v1/remote-conflicts/{pinned}", headers=anna).json["error"]["code"] == "pinned"
    assert client.get("/api/v1/remote-conflicts?all=1", headers=anna).status_code == 403


def test_a_round_through_the_pages(app, ctx, make_member, books):
    make_member("cora", role="coordinator")
    make_member("anna")
    make_member("dirk", **REVIEWER)
    cora, anna = app.test_client(), app.test_client()
    login(cora, "cora@example.org")
    login(anna, "anna@example.org")
    deadline = (ctx.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    form = {
        "title": "<b>Spring</b>",
        "deadline": deadline,
        "reviews_per_proposal": "1",
        "min_load": "0",
        "max_load": "2",
    }
    r = anna.post("/rounds", data={**form, "csrf_token": csrf(anna, "/rounds")})
    assert r.status_code == 403
    assert cora.post("/rounds", data=form).status_code == 400  # no CSRF token
    r = cora.post("/rounds", data={**form, "csrf_token": csrf(cora, "/rounds")})
    assert r.status_code == 303
    rid = int(re.search(r"/rounds/(\d+)$", r.headers["Location"]).group(1))
    assert f'href="/rounds/{rid}">&lt;b&gt;Spring' in cora.get("/coordinator/").get_data(as_text=True)
    page = anna.get(f"/rounds/{rid}").get_data(as_text=True)
    assert "&lt;b&gt;Spring&lt;/b&gt;" in page and "Submit a proposal into this round" in page
    assert "Solve the round now" not in page
    r = anna.post(
        f"/rounds/{rid}/proposals",
        data={
            "csrf_token": csrf(anna, f"/rounds/{rid}"),
            "title": "Fridge",
            "summary": "A shared fridge",
            "full_text": "FULL",
            "tags": ["education"],
            "language": "en",
            "stage": "idea",
            "bounty": "2",
        },
    )
    assert r.status_code == 303
    pid = int(re.search(r"/proposals/(\d+)$", r.headers["Location"]).group(1))
    assert "Spring" in anna.get("/dashboard").get_data(as_text=True)
    r = cora.post(
        f"/rounds/{rid}/items",
        data={"csrf_token": csrf(cora, f"/rounds/{rid}"), "proposal_id": str(pid)},
        headers={"Referer": f"http://localhost/rounds/{rid}"},
    )
    assert r.status_code == 303
    assert "already_in_round" in cora.get(f"/rounds/{rid}").get_data(as_text=True)
    assert cora.post(f"/rounds/{rid}/solve", data={"csrf_token": csrf(cora, f"/rounds/{rid}")}).status_code == 303
    _wait(ctx, rid)
    page = cora.get(f"/rounds/{rid}").get_data(as_text=True)
    assert "Total affinity" in page and "dirk" in page and "<progress" in page
    assert _invitees(ctx, pid) == ["dirk"]
    books()


def test_a_solving_round_page_refreshes_itself(app, ctx, make_member, token_for, client):
    cora_m = make_member("cora", role="coordinator")
    cora = app.test_client()
    login(cora, "cora@example.org")
    r = client.post(
        "/api/v1/rounds",
        headers=token_for(cora_m),
        json={"title": "R", "deadline": iso(ctx.now() + timedelta(days=1)), "reviews_per_proposal": 1, "max_load": 1},
    )
    rid = r.json["id"]
    from node.services import rounds

    with ctx.db.write() as s:  # solving, with no thread running yet: what a visitor sees mid-solve
        rounds.start_solve(s, coordinator=s.get(Member, cora_m.id), round_id=rid, now=ctx.now())
    r = cora.get(f"/rounds/{rid}")
    assert r.headers["Refresh"] == "2" and '<meta http-equiv="refresh" content="2">' in r.get_data(as_text=True)
    assert rounds.run_solve(ctx, rid)
    r = cora.get(f"/rounds/{rid}")
    assert "Refresh" not in r.headers and 'http-equiv="refresh"' not in r.get_data(as_text=True)


def test_interests_and_remote_conflicts_pages(app, ctx, make_member):
    make_member("dirk", **REVIEWER)
    make_member("cora", role="coordinator")
    dirk, cora = app.test_client(), app.test_client()
    login(dirk, "dirk@example.org")
    login(cora, "cora@example.org")
    r = dirk.post("/interests", data={"csrf_token": csrf(dirk, "/interests"), "bid-education": "2", "bid-food": "-1"})
    assert r.status_code == 303
    page = dirk.get("/interests").get_data(as_text=True)
    assert re.search(r'name="bid-education">.*?<option value="2" selected>', page, re.S)
    r = dirk.post(
        "/remote-conflicts",
        data={"csrf_token": csrf(dirk, "/remote-conflicts"), "remote_reviewer": "bad address"},
        headers={"Referer": "http://localhost/remote-conflicts"},
    )
    assert r.status_code == 303 and "bad_remote_address" in dirk.get("/remote-conflicts").get_data(as_text=True)
    r = cora.post(
        "/remote-conflicts",
        data={
            "csrf_token": csrf(cora, "/remote-conflicts"),
            "member_handle": "dirk",
            "remote_reviewer": "kov@hu",
            "reason": "<i>family</i>",
        },
    )
    assert r.status_code == 303
    page = dirk.get("/remote-conflicts").get_data(as_text=True)
    assert "kov@hu" in page and "&lt;i&gt;family&lt;/i&gt;" in page
    make_member("anna")
    with ctx.db.write() as s:  # dirk's proposal: matching's need carries the pinned conflict
        dirk_m = s.query(Member).filter_by(handle="dirk").one()
        p = proposals.create_proposal(
            s, ctx.settings, author=dirk_m, now=ctx.now(), invite=False, data={**BODY, "reviews_wanted": 1}
        )
        assert [c.remote for c in proposals.need_for(s, p).conflicts] == ["kov@hu"]
