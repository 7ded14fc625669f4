"""Polling fake national nodes over loopback: verification, refusals shown as such, timeouts, history."""

from __future__ import annotations

import time

import pytest

from federation.directory import listings, network
from federation.directory.poller import poll_once
from federation.directory.tables import InitiativeRecord, Listing, PollRecord, Refusal, SummaryRecord
from node.errors import ConflictError, ValidationError
from tests.directory.conftest import apply_node, list_node

INITIATIVE = {
    "ref": "i-1",
    "name": "Repair café",
    "summary": "Fixing things",
    "interests": ["circular-economy"],
    "sectors": ["repair"],
    "stage": "pilot",
    "city": "Ghent",
}


def listing(directory, node_id: str) -> Listing:
    with directory.db.read() as s:
        return s.get(Listing, node_id)


def health(report) -> dict[str, tuple[str, str]]:
    return {o.node_id: (o.health, o.code) for o in report.outcomes}


def test_a_listed_node_is_polled_verified_and_recorded(directory, fake_node):
    node = fake_node("be-vl", "BE", initiatives=[INITIATIVE])
    list_node(directory, node)
    report = poll_once(directory)
    assert health(report) == {"be-vl": ("up", "")}
    row = listing(directory, "be-vl")
    assert row.summary["members"] == 10 and row.health == "up" and row.down_since is None
    assert row.fingerprint == node.fingerprint and row.latency_ms is not None
    with directory.db.read() as s:
        assert s.query(SummaryRecord).count() == 1 and s.query(PollRecord).count() == 1
        assert [i.name for i in s.query(InitiativeRecord).all()] == ["Repair café"]
    assert node.hits == {"/.well-known/sifnet-node": 1, "/federation/v1/summary": 1, "/federation/v1/initiatives": 1}
    poll_once(directory)  # same figures, same initiatives: no new stored summary, initiatives not fetched again
    with directory.db.read() as s:
        assert s.query(SummaryRecord).count() == 1 and s.query(PollRecord).count() == 2
    assert node.hits["/federation/v1/initiatives"] == 1
    node.body["members"] = 11
    node.initiatives.append({**INITIATIVE, "ref": "i-2", "name": "Tool library"})
    poll_once(directory)
    with directory.db.read() as s:
        assert s.query(SummaryRecord).count() == 2 and s.query(InitiativeRecord).count() == 2
    assert node.hits["/federation/v1/initiatives"] == 2


def test_pending_and_delisted_nodes_are_not_polled(directory, fake_node):
    pending = fake_node("nl", "NL")
    apply_node(directory, pending)
    gone = fake_node("at", "AT")
    list_node(directory, gone)
    with directory.db.write() as s:
        listings.delist(s, node_id="at", now=directory.now())
    assert poll_once(directory).outcomes == ()
    assert pending.hits.get("/federation/v1/summary") is None and gone.hits.get("/federation/v1/summary") is None


@pytest.mark.parametrize(
    "mode, code",
    [("bad_signature", "bad_signature"), ("wrong_recipient", "wrong_recipient"), ("impostor", "origin_mismatch")],
)
def test_a_summary_that_does_not_verify_is_refused_and_shown(directory, directory_app, fake_node, mode, code):
    good = fake_node("be-vl", "BE")
    bad = fake_node("hu", "HU")
    list_node(directory, good)
    list_node(directory, bad)
    bad.mode = mode
    assert health(poll_once(directory)) == {"be-vl": ("up", ""), "hu": ("refused", code)}
    row = listing(directory, "hu")
    assert row.summary is None and row.down_since is not None
    with directory.db.read() as s:
        assert [(r.node_id, r.source, r.code) for r in s.query(Refusal).all()] == [("hu", "poll", code)]
        assert network.totals(network.listed(s))["members"] == 10  # the refused figures count nowhere
    poll_once(directory)
    with directory.db.read() as s:
        assert s.query(Refusal).count() == 1  # one refusal per spell, not one per poll
    page = directory_app.test_client().get("/").get_data(as_text=True)
    assert 'class="badge refused"' in page and code in page
    assert directory_app.test_client().get("/api/v1/refusals").get_json()["refusals"][0]["code"] == code


def test_a_summary_from_an_unlisted_node_is_refused_and_shown(directory, directory_app, fake_node):
    listed = fake_node("be-vl", "BE")
    list_node(directory, listed)
    stranger = fake_node("xx", "FR")
    pending = fake_node("nl", "NL")
    apply_node(directory, pending)
    client = directory_app.test_client()
    for node in (stranger, pending):
        answer = client.post(
            "/api/v1/summaries", data=node.answer("/federation/v1/summary"), content_type="application/json"
        )
        assert answer.status_code == 403 and answer.get_json()["error"]["code"] == "not_listed"
    accepted = client.post(
        "/api/v1/summaries", data=listed.answer("/federation/v1/summary"), content_type="application/json"
    )
    assert accepted.status_code == 202
    with directory.db.read() as s:
        assert sorted((r.node_id, r.code) for r in s.query(Refusal).all()) == [
            ("nl", "not_listed"),
            ("xx", "not_listed"),
        ]
        assert s.get(Listing, "nl").summary is None and s.get(Listing, "be-vl").summary["members"] == 10
    page = client.get("/").get_data(as_text=True)
    assert "not_listed" in page and "xx" in page
    listed.mode = "bad_signature"
    refused = client.post(
        "/api/v1/summaries", data=listed.answer("/federation/v1/summary"), content_type="application/json"
    )
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "bad_signature"


def test_a_slow_node_does_not_delay_the_others(make_directory, fake_node):
    """Three nodes that never answer in time cost the poll one timeout, not three."""
    directory = make_directory(poll_timeout_ms=1000, poll_concurrency=8).extensions["sifnet_directory"]
    fast = [fake_node(f"fast{i}", "BE") for i in range(3)]
    slow = [fake_node(f"slow{i}", "NL", delay=2.5) for i in range(3)]
    for node in fast + slow:
        list_node(directory, node)
    report = poll_once(directory)
    outcome = health(report)
    assert all(outcome[n.node_id] == ("up", "") for n in fast)
    assert all(outcome[n.node_id] == ("unreachable", "timeout") for n in slow)
    assert report.seconds < 1.9, f"the poll took {report.seconds:.2f}s: the slow nodes were waited for in turn"


def test_slow_answers_are_waited_for_in_parallel_and_shown_as_slow(make_directory, fake_node):
    directory = make_directory(poll_timeout_ms=3000, slow_ms=300, poll_concurrency=8).extensions["sifnet_directory"]
    nodes = [fake_node(f"n{i}", "AT", delay=0.6) for i in range(4)] + [fake_node("quick", "IT")]
    for node in nodes:
        list_node(directory, node)
    report = poll_once(directory)
    assert {o.node_id: o.health for o in report.outcomes} == {
        "n0": "slow",
        "n1": "slow",
        "n2": "slow",
        "n3": "slow",
        "quick": "up",
    }
    assert report.seconds < 1.5, f"4 answers of 0.6 s took {report.seconds:.2f}s together: not in parallel"


def test_unreachable_since_when_and_back(directory, fake_node):
    node = fake_node("it", "IT")
    list_node(directory, node)
    poll_once(directory)
    node.stop()
    first = poll_once(directory)
    assert health(first)["it"] == ("unreachable", "connection_failed")
    since = listing(directory, "it").down_since
    assert since == first.started_at
    poll_once(directory)
    assert listing(directory, "it").down_since == since  # still the first failure
    with directory.db.read() as s:
        assert network.uptime(s, since.replace(year=2000)) == {"it": 33}


def test_approval_needs_the_right_fingerprint_and_a_new_key_waits_for_approval(directory, fake_node):
    node = fake_node("hu", "HU")
    apply_node(directory, node)
    with directory.db.write() as s, pytest.raises(ValidationError) as info:
        listings.approve(s, node_id="hu", fingerprint="AAAA-" + node.fingerprint[5:], now=directory.now())
    assert info.value.code == "fingerprint_mismatch"
    with directory.db.write() as s:
        listings.approve(s, node_id="hu", fingerprint=node.fingerprint.lower().replace("-", " "), now=directory.now())
    with directory.db.write() as s, pytest.raises(ConflictError):
        listings.approve(s, node_id="hu", fingerprint=node.fingerprint, now=directory.now())
    node.rekey()
    assert health(poll_once(directory))["hu"] == ("refused", "unknown_key")
    apply_node(directory, node)  # the node applies again with its new key: still listed, old key still pinned
    assert listing(directory, "hu").status == "listed"
    assert health(poll_once(directory))["hu"] == ("refused", "unknown_key")
    with directory.db.write() as s:
        listings.approve(s, node_id="hu", fingerprint=node.fingerprint, now=directory.now())
    assert health(poll_once(directory))["hu"] == ("up", "")


def test_an_older_summary_than_the_last_is_refused(directory, directory_app, fake_node):
    node = fake_node("nl", "NL")
    list_node(directory, node)
    old = node.answer("/federation/v1/summary")
    time.sleep(1.1)  # summaries are dated to the second
    poll_once(directory)
    answer = directory_app.test_client().post("/api/v1/summaries", data=old, content_type="application/json")
    assert answer.status_code == 409 and answer.get_json()["error"]["code"] == "stale_summary"


def test_too_many_open_applications_are_refused(directory, fake_node, monkeypatch):
    monkeypatch.setattr(listings, "MAX_PENDING", 1)
    apply_node(directory, fake_node("be-vl", "BE"))
    with pytest.raises(ConflictError) as info:
        apply_node(directory, fake_node("nl", "NL"))
    assert info.value.code == "too_many_pending"
