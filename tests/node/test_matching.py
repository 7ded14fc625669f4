"""Reviewer matching: the pure ranking with its explanations, every conflict kind, and the node's candidates."""

from __future__ import annotations

import pytest

from node.services.matching import Candidate, ConflictRecord, Need, exclusion_reason, rank_candidates


def cand(mid, expertise=(), languages=("en",), capacity=3, load=0, organisation="", helpfulness=None, rated=0, **kw):
    return Candidate(
        label=f"r{mid}",
        member_id=mid,
        expertise=tuple(expertise),
        languages=tuple(languages),
        capacity=capacity,
        load=load,
        organisation=organisation,
        helpfulness_avg=helpfulness,
        rated_reviews=rated,
        **kw,
    )


NEED = Need(author_id=1, author_organisation="Repair Lab", tags=("food", "housing"), language="en")


def test_ranks_known_data_by_expertise_language_load_and_helpfulness():
    people = [
        cand(13, expertise=["food"], helpfulness=5.0, rated=2),  # 250 + 200 + 150 + 150
        cand(12, expertise=["food", "housing"]),  # 500 + 200 + 150 + 75
        cand(14, expertise=["food", "housing"], languages=["nl"], load=2, helpfulness=1.0, rated=1),  # 500+0+50+0
        cand(15, expertise=["energy"]),  # 0 + 200 + 150 + 75
    ]
    ranked, excluded = rank_candidates(NEED, people)
    assert excluded == []
    assert [(r.candidate.member_id, r.rank, r.score) for r in ranked] == [
        (12, 1, 925),
        (13, 2, 750),
        (14, 3, 550),
        (15, 4, 425),
    ]
    assert ranked[0].parts == {"expertise": 1000, "language": 1000, "load": 1000, "helpfulness": 500}
    assert ranked[0].explanation == (
        "expertise: 2 of 2 tags (food, housing)",
        "language: speaks en",
        "load: 0 of 3 reviews open",
        "helpfulness: not rated yet (neutral)",
    )
    assert ranked[1].explanation[3] == "helpfulness: 5.0 of 5 over 2 rated reviews"
    assert ranked[2].explanation[1] == "language: does not list en"


def test_equal_scores_prefer_lighter_load_then_a_stable_order():
    # Same score: the heavier load is offset by better helpfulness (load 1/4 costs 37.5, help 4.0 gives +37.5).
    light, heavy = cand(21, ["food"], capacity=4), cand(20, ["food"], capacity=4, load=1, helpfulness=4.0)
    a, b = rank_candidates(NEED, [heavy, light])[0]
    assert a.score == b.score
    assert a.candidate.member_id == 21
    twins = rank_candidates(NEED, [cand(10, ["food"]), cand(9, ["food"])])[0]
    assert [r.candidate.member_id for r in twins] == [9, 10]


@pytest.mark.parametrize(
    "candidate, conflicts, reason",
    [
        (cand(1), (), "proposer"),
        (cand(2, organisation="  repair lab "), (), "same_organisation"),
        (cand(3), (ConflictRecord(member_id=1, other_member_id=3),), "conflict_declared"),  # by the author
        (cand(3), (ConflictRecord(member_id=3, other_member_id=1),), "conflict_declared"),  # by the reviewer
        (cand(4), (ConflictRecord(member_id=4, organisation="REPAIR LAB"),), "conflict_declared"),  # reviewer vs org
        (
            cand(5, organisation="Big Corp"),
            (ConflictRecord(member_id=1, organisation="big corp"),),
            "conflict_declared",
        ),
        (cand(6), (ConflictRecord(member_id=6, other_member_id=1, source="coordinator"),), "conflict_pinned"),
        (cand(7, load=3, capacity=3), (), "no_capacity"),
        (cand(8, capacity=0), (), "no_capacity"),
    ],
)
def test_each_exclusion_kind(candidate, conflicts, reason):
    need = Need(author_id=1, author_organisation="Repair Lab", tags=("food",), language="en", conflicts=conflicts)
    assert exclusion_reason(need, candidate) == reason
    ranked, excluded = rank_candidates(need, [candidate])
    assert ranked == [] and [e.reason for e in excluded] == [reason]


@pytest.mark.parametrize(
    "candidate, conflicts",
    [
        (cand(2, organisation=""), ()),  # empty organisations never match
        (cand(3), (ConflictRecord(member_id=3, other_member_id=9),)),  # a conflict with someone else
        (cand(4, organisation="Other"), (ConflictRecord(member_id=9, organisation="Other"),)),  # not the author's
        (cand(5), (ConflictRecord(member_id=5, organisation="Elsewhere"),)),
    ],
)
def test_unrelated_conflicts_do_not_exclude(candidate, conflicts):
    need = Need(author_id=1, author_organisation="", tags=("food",), language="en", conflicts=conflicts)
    assert exclusion_reason(need, candidate) is None


def test_already_invited_local_and_remote_are_skipped_and_remote_candidates_rank():
    remote = Candidate(
        label="rev-abc@hu",
        remote_node="hu",
        remote_handle="rev-abc",
        expertise=("food", "housing"),
        languages=("en",),
        capacity=2,
        load=0,
    )
    local = cand(2, ["food"])
    need = Need(author_id=1, author_organisation="", tags=("food", "housing"), language="en")
    ranked, _ = rank_candidates(need, [local, remote])
    assert [r.candidate.key for r in ranked] == ["remote:hu:rev-abc", "local:2"]
    skip = Need(
        author_id=1,
        author_organisation="",
        tags=("food",),
        language="en",
        already_invited=frozenset({"remote:hu:rev-abc", "local:2"}),
    )
    ranked, excluded = rank_candidates(skip, [local, remote])
    assert ranked == [] and {e.reason for e in excluded} == {"already_invited"}


# --- the node: candidates from real members and conflicts ----------------------------------------------

BODY = {
    "title": "Community fridge",
    "summary": "Share food",
    "full_text": "All the details",
    "tags": ["food"],
    "language": "en",
    "stage": "idea",
    "reviews_wanted": 1,
    "bounty": 1,
}


def test_node_candidates_rank_and_exclude_every_conflict_kind(client, make_member, token_for):
    author = make_member("author", organisation="Food Coop", expertise=["food"], is_reviewer=True, languages=["en"])
    coord = make_member("coord", role="coordinator")
    reviewer = dict(is_reviewer=True, languages=["en"])
    make_member("best", expertise=["food"], **reviewer)
    make_member("second", expertise=["housing"], **reviewer)
    make_member("colleague", expertise=["food"], organisation="FOOD COOP", **reviewer)
    make_member("byauthor", expertise=["food"], **reviewer)
    by_reviewer = make_member("byreviewer", expertise=["food"], **reviewer)
    orgconflict = make_member("orgconflict", expertise=["food"], **reviewer)
    make_member("pinned", expertise=["food"], **reviewer)
    make_member("full", expertise=["food"], review_capacity=0, **reviewer)
    make_member("notreviewer", expertise=["food"], languages=["en"])
    make_member("pending", approve=False)
    assert (
        client.post(
            "/api/v1/conflicts", headers=token_for(author), json={"other_handle": "byauthor", "reason": "my brother"}
        ).status_code
        == 201
    )
    assert (
        client.post("/api/v1/conflicts", headers=token_for(by_reviewer), json={"other_handle": "author"}).status_code
        == 201
    )
    assert (
        client.post("/api/v1/conflicts", headers=token_for(orgconflict), json={"organisation": "food coop"}).status_code
        == 201
    )
    r = client.post(
        "/api/v1/coordinator/conflicts",
        headers=token_for(coord),
        json={"member_handle": "pinned", "other_handle": "author", "reason": "former partners"},
    )
    assert r.status_code == 201 and r.json["source"] == "coordinator" and r.json["member"] == "pinned"
    # k=1 invites only the best; the rest of the list is what remains
    pid = client.post("/api/v1/proposals", headers=token_for(author), json=BODY).json["id"]
    seen = client.get(f"/api/v1/proposals/{pid}/candidates", headers=token_for(coord)).json
    assert [c["reviewer"] for c in seen["candidates"]] == ["second"]
    assert seen["candidates"][0]["explanation"][0] == "expertise: 0 of 1 tags"
    assert {e["reviewer"]: e["reason"] for e in seen["excluded"]} == {
        "author": "proposer",
        "best": "already_invited",
        "colleague": "same_organisation",
        "byauthor": "conflict_declared",
        "byreviewer": "conflict_declared",
        "orgconflict": "conflict_declared",
        "pinned": "conflict_pinned",
        "full": "no_capacity",
    }
    mine = client.get(f"/api/v1/proposals/{pid}/candidates", headers=token_for(author)).json
    assert "excluded" not in mine and [c["reviewer"] for c in mine["candidates"]] == ["second"]
    stranger = make_member("stranger")
    assert client.get(f"/api/v1/proposals/{pid}/candidates", headers=token_for(stranger)).status_code == 404


def test_conflict_declaration_refusals_change_nothing(client, ctx, make_member, token_for):
    anna = make_member("anna")
    make_member("bert")
    h = token_for(anna)
    cases = [
        ({}, 422, "conflict_target"),
        ({"other_handle": "bert", "organisation": "X"}, 422, "conflict_target"),
        ({"other_handle": "anna"}, 422, "self_conflict"),
        ({"other_handle": "nobody"}, 404, "member_not_found"),
        ({"organisation": "X", "colour": "red"}, 422, "unknown_field"),
    ]
    for body, status, code in cases:
        r = client.post("/api/v1/conflicts", headers=h, json=body)
        assert (r.status_code, r.json["error"]["code"]) == (status, code), body
    assert client.post("/api/v1/conflicts", headers=h, json={"organisation": "Acme"}).status_code == 201
    r = client.post("/api/v1/conflicts", headers=h, json={"organisation": "ACME"})
    assert (r.status_code, r.json["error"]["code"]) == (409, "conflict_exists")
    r = client.post("/api/v1/coordinator/conflicts", headers=h, json={"member_handle": "bert", "organisation": "Y"})
    assert (r.status_code, r.json["error"]["code"]) == (403, "coordinator_only")
    listed = client.get("/api/v1/conflicts", headers=h).json["conflicts"]
    assert [(c["organisation"], c["source"]) for c in listed] == [("Acme", "member")]
    assert client.get("/api/v1/conflicts?all=1", headers=h).status_code == 403


def test_node_ranking_uses_load_and_helpfulness_from_real_reviews(client, make_member, token_for):
    reviewer = dict(is_reviewer=True, languages=["en"])
    first, author = make_member("first"), make_member("author")
    make_member("amy", expertise=["food", "housing"], **reviewer)
    ben = make_member("ben", expertise=["energy", "food"], **reviewer)
    make_member("cal", expertise=["energy", "food"], **reviewer)
    # an earlier proposal on energy invites ben and cal; ben reviews and is rated 5, cal leaves it pending
    pid = client.post(
        "/api/v1/proposals", headers=token_for(first), json={**BODY, "tags": ["energy"], "reviews_wanted": 2}
    ).json["id"]
    ben_h = token_for(ben)
    inv = client.get("/api/v1/invitations", headers=ben_h).json["invitations"][0]["id"]
    client.post(f"/api/v1/invitations/{inv}/accept", headers=ben_h)
    review = client.post(
        f"/api/v1/invitations/{inv}/review",
        headers=ben_h,
        json={"shared_value": 3, "social_transformation": 3, "impact": 3, "confidence": 3, "feedback": "ok"},
    ).json
    client.post(f"/api/v1/reviews/{review['id']}/rate", headers=token_for(first), json={"helpfulness": 5})
    assert [
        i["reviewer"] for i in client.get(f"/api/v1/proposals/{pid}", headers=token_for(first)).json["invitations"]
    ] == ["ben", "cal"]
    # now food: ben 500+200+150+150, amy 500+200+150+75, cal 500+200+100+75 (1 of 3 open)
    p = client.post("/api/v1/proposals", headers=token_for(author), json=BODY).json
    assert [(i["reviewer"], i["rank"], i["score"]) for i in p["invitations"]] == [("ben", 1, 1000)]
    seen = client.get(f"/api/v1/proposals/{p['id']}/candidates", headers=token_for(author)).json["candidates"]
    assert [(c["reviewer"], c["rank"], c["score"]) for c in seen] == [("amy", 1, 925), ("cal", 2, 875)]
    assert seen[1]["parts"] == {"expertise": 1000, "language": 1000, "load": 667, "helpfulness": 500}
    assert "load: 1 of 3 reviews open" in seen[1]["explanation"]
