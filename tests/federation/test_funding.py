"""Funding leads between two real node processes: a network-wide lead reaches the peer, changes and a withdrawal
follow, redelivery changes nothing, and nothing about the poster crosses the border."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.procs import NodeClient, NodeProcess

from .conftest import FAST, peer_both, wait_until
from .forge import Forger, node_key
from .reviewnet import db_rows

pytestmark = pytest.mark.slow


def days_ahead(days: int) -> str:
    """A deadline this many days after the real now (node processes run on the real clock)."""
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT12:00:00Z")


LEAD = {
    "title": "Interreg North Sea: small projects",
    "url": "https://www.interregnorthsea.eu/small-projects",
    "deadline": days_ahead(400),
    "countries": ["BE", "NL", "DE"],
    "topics": ["circular-economy", "energy"],
    "description": "Pilot projects with partners in two countries.",
}


def leads_on(node: NodeProcess, origin: str) -> dict[str, tuple]:
    """ref -> (title, deadline set, topics) of the leads a node keeps from `origin`, read from its database."""
    rows = db_rows(node, "SELECT ref, title, deadline, topics FROM funding_leads WHERE origin_node = ?", origin)
    # SQLite gives the JSON column as text, PostgreSQL as the list.
    return {
        ref: (title, deadline is not None, topics if isinstance(topics, list) else json.loads(topics))
        for ref, title, deadline, topics in rows
    }


def listed(member: NodeClient) -> list[dict]:
    return member.call("GET", "/funding", expect=200).json()["leads"]


def test_a_network_wide_lead_reaches_the_peer_and_leaves_with_its_withdrawal(node_process):
    be = node_process("be-vl", country="BE", **FAST)
    hu = node_process("hu", country="HU", **FAST)
    anna, coord = be.new_member("anna"), be.coordinator()
    shared = anna.call("POST", "/funding", LEAD, expect=201).json()
    soon = anna.call(
        "POST", "/funding", {**LEAD, "title": "Closes soon", "deadline": days_ahead(10)}, expect=201
    ).json()
    anna.call("POST", "/funding", {**LEAD, "title": "Only for Flanders"}, expect=201)
    for lead in (shared, soon):
        coord.call("POST", f"/funding/{lead['id']}/network-wide", {"network_wide": True}, expect=200)

    peer_both(be, hu)  # the snapshot goes to the newly confirmed peer
    zoltan = hu.new_member("zoltan")
    seen = wait_until(lambda: len(listed(zoltan)) == 2 and listed(zoltan), what="both shared leads on hu")
    first = next(lead for lead in seen if lead["ref"] == shared["ref"])
    assert {k: first[k] for k in ("title", "url", "deadline", "countries", "topics", "description")} == LEAD
    assert (first["origin_node"], first["origin_country"], first["poster"], first["can_change"]) == (
        "be-vl",
        "BE",
        None,
        False,
    )
    types = [t for (t,) in db_rows(hu, "SELECT type FROM fed_channel_entries WHERE direction = 'in' ORDER BY seq")]
    assert types == ["funding_lead_snapshot"]
    raw = " ".join(e for (e,) in db_rows(hu, "SELECT envelope FROM fed_channel_entries WHERE direction = 'in'"))
    for personal in ("anna", "Anna", "example.org", "Only for Flanders"):  # no poster, and only what was shared
        assert personal not in raw

    anna.call("POST", f"/funding/{shared['id']}", {"title": "Interreg North Sea 2031"}, expect=200)
    wait_until(
        lambda: leads_on(hu, "be-vl").get(shared["ref"], ("",))[0] == "Interreg North Sea 2031", what="the edit on hu"
    )
    for node in (be, hu):  # both clocks, so that each still takes the other's signatures as current
        node.advance_clock(20 * 86400)  # "Closes soon" passed: it leaves the peer
    wait_until(lambda: list(leads_on(hu, "be-vl")) == [shared["ref"]], what="the closed lead gone from hu")

    # Redelivery of every entry be ever sent hu: acknowledged, and the leads stay exactly as they are.
    before = leads_on(hu, "be-vl")
    sent = [
        json.loads(e)
        for (e,) in db_rows(be, "SELECT envelope FROM fed_channel_entries WHERE direction = 'out' ORDER BY seq")
    ]
    moved = datetime.now(UTC).replace(microsecond=0) + timedelta(days=20)  # hu's clock
    answer = Forger(node_key(be.data_dir), "be-vl", "hu", hu.url).post(sent, created=moved)
    assert answer.status_code == 200, answer.text
    assert answer.json()["received_through"] == len(sent)
    assert leads_on(hu, "be-vl") == before
    assert db_rows(hu, "SELECT count(*) FROM funding_leads") == [(1,)]

    anna.call("POST", f"/funding/{shared['id']}/withdraw", expect=200)
    wait_until(lambda: listed(zoltan) == [], what="the withdrawal on hu")
    assert db_rows(hu, "SELECT count(*) FROM funding_leads") == [(0,)]
    assert [t for (t,) in db_rows(hu, "SELECT type FROM fed_channel_entries WHERE direction = 'in' ORDER BY seq")] == [
        "funding_lead_snapshot",
        "funding_lead_delta",
        "funding_lead_delta",
        "funding_lead_delta",
    ]


def test_a_coordinator_unsharing_a_lead_removes_it_from_the_peer(node_process):
    be = node_process("be-vl", country="BE", **FAST)
    hu = node_process("hu", country="HU", **FAST)
    peer_both(be, hu)
    anna, coord = be.new_member("anna"), be.coordinator()
    lead = anna.call("POST", "/funding", LEAD, expect=201).json()
    coord.call("POST", f"/funding/{lead['id']}/network-wide", {"network_wide": True}, expect=200)
    wait_until(lambda: list(leads_on(hu, "be-vl")) == [lead["ref"]], what="the lead on hu")
    coord.call("POST", f"/funding/{lead['id']}/network-wide", {"network_wide": False}, expect=200)
    wait_until(lambda: leads_on(hu, "be-vl") == {}, what="the lead gone from hu")
    assert anna.call("GET", f"/funding/{lead['id']}", expect=200).json()["status"] == "open"  # still listed at home
