"""Shared reviewer pools between real node processes: what is shared, consent withdrawn, suspended peers."""

from __future__ import annotations

import json

import pytest

from .conftest import wait_until
from .reviewnet import db_rows, invitation_states, pool_of, propose, reviewer, start_nodes, wait_in_pool, wait_incoming

pytestmark = pytest.mark.slow
REVIEWER_FIELDS = {"handle", "expertise", "languages", "open_slots", "turnaround_days", "reviews_done", "helpfulness"}


def test_pool_carries_only_the_listed_fields_and_follows_load(node_process):
    nodes = start_nodes(node_process, "it", "hu")
    it, hu = nodes["it"], nodes["hu"]
    zsofia, profile = reviewer(hu, "zsofia", ["education", "digital-inclusion"], capacity=2, languages=("hu", "en"))
    reviewer(hu, "bence", ["education"], consent=False)  # reviews at home only: never shared
    wait_in_pool(it, "hu", profile["pseudonym"])
    shared = pool_of(it, "hu")
    assert list(shared) == [profile["pseudonym"]]
    record = shared[profile["pseudonym"]]
    assert {k: record[k] for k in REVIEWER_FIELDS} == {
        "handle": profile["pseudonym"],
        "expertise": ["education", "digital-inclusion"],
        "languages": ["hu", "en"],
        "open_slots": 2,
        "turnaround_days": 14,
        "reviews_done": 0,
        "helpfulness": None,
    }

    # What crossed the border, read from the receiving node's own log: the listed fields, nothing personal.
    bodies = [
        json.loads(text)["body"]
        for (text,) in db_rows(
            it, "SELECT envelope FROM fed_channel_entries WHERE direction = 'in' AND type LIKE 'reviewer_pool_%'"
        )
    ]
    people = [r for body in bodies for r in body.get("reviewers", []) + body.get("upserts", [])]
    assert people and all(set(r) == REVIEWER_FIELDS for r in people)
    raw = " ".join(text for (text,) in db_rows(it, "SELECT envelope FROM fed_channel_entries WHERE direction = 'in'"))
    for personal in ("zsofia", "Zsofia", "Cooperative", "bence", "example.org"):
        assert personal not in raw

    giulia = it.new_member("giulia")
    propose(giulia, tags=["education"])
    wait_incoming(zsofia)
    wait_until(lambda: pool_of(it, "hu")[profile["pseudonym"]]["open_slots"] == 1, what="the delta with one slot taken")


def test_consent_withdrawn_removes_the_reviewer_everywhere(node_process):
    nodes = start_nodes(node_process, "it", "hu", "at")
    it, hu, at = nodes["it"], nodes["hu"], nodes["at"]
    zsofia, profile = reviewer(hu, "zsofia", ["education"])
    for node in (it, at):
        wait_in_pool(node, "hu", profile["pseudonym"])

    zsofia.call("PATCH", "/me", {"pool_consent": False}, expect=200)
    for node in (it, at):
        wait_in_pool(node, "hu", profile["pseudonym"], present=False)
    assert db_rows(it, "SELECT count(*) FROM fed_pool_reviewers") == [(0,)]

    giulia = it.new_member("giulia")
    created = propose(giulia, tags=["education"])
    assert created["invitations"] == [] and created["waiting_for_reviewers"]
    candidates = giulia.call("GET", f"/proposals/{created['id']}/candidates", expect=200).json()["candidates"]
    assert candidates == []


def test_suspended_peers_reviewers_are_left_out(node_process):
    nodes = start_nodes(node_process, "it", "hu", "at")
    it, hu, at = nodes["it"], nodes["hu"], nodes["at"]
    _, best = reviewer(hu, "zsofia", ["education", "digital-inclusion"])
    lena, other = reviewer(at, "lena", ["education"])
    wait_in_pool(it, "hu", best["pseudonym"])
    wait_in_pool(it, "at", other["pseudonym"])
    giulia = it.new_member("giulia")
    probe = propose(giulia, tags=["education", "digital-inclusion"], wanted=1)
    assert invitation_states(giulia, probe["id"]) == [(f"{best['pseudonym']}@hu", "invited")]  # hu's is the best
    giulia.call("POST", f"/proposals/{probe['id']}/withdraw", expect=200)

    it.coordinator().call("POST", "/federation/peers/hu/suspend", {"reason": "under review"}, expect=200)
    created = propose(giulia, tags=["education", "digital-inclusion"], wanted=1)
    assert invitation_states(giulia, created["id"]) == [(f"{other['pseudonym']}@at", "invited")]
    listed = giulia.call("GET", f"/proposals/{created['id']}/candidates", expect=200).json()["candidates"]
    assert all(c["remote_node"] != "hu" for c in listed)
    wait_incoming(lena)
    figures = {p["peer"]: p for p in it.coordinator().call("GET", "/federation/reviews", expect=200).json()["peers"]}
    assert figures["hu"]["status"] == "suspended" and figures["hu"]["pool_received"] == 1  # kept, not used

    it.coordinator().call("POST", "/federation/peers/hu/resume", expect=200)
    listed = giulia.call("GET", f"/proposals/{created['id']}/candidates", expect=200).json()["candidates"]
    assert any(c["remote_node"] == "hu" for c in listed)
