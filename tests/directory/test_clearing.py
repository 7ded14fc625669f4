"""The directory coordinates a clearing round: real node processes and a real directory process on loopback."""

from __future__ import annotations

import itertools
import json
import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests
from werkzeug.serving import make_server

from federation.directory import listings
from federation.directory.app import create_app, stop
from federation.directory.clearing import DirectoryCoordinator, recent_rounds, sweep
from federation.directory.tables import Listing
from federation.settlement import coordinator as rounds
from node.clock import FixedClock
from node.keys import load_signing_key
from protocol import Envelope
from tests.conftest import START
from tests.directory.procs import DirectoryProcess
from tests.federation.conftest import FAST, check_books, peer_both, wait_until
from tests.procs import free_port

pytestmark = pytest.mark.slow
NODES = (("it", "IT", "giulia"), ("hu", "HU", "anna"), ("at", "AT", "selin"))
ADMIN_PASSWORD = "working-group-2026"


@pytest.fixture
def directory_process(tmp_path):
    proc = DirectoryProcess(tmp_path / "eu-dir", poll_seconds=1).init()
    with (proc.data_dir / "settings.toml").open("a") as fh:
        fh.write("\nclearing_interval_hours = 0\n")  # only the button starts a round in this test
    proc.cli("add-admin", "wg", "--password", ADMIN_PASSWORD)
    try:
        yield proc.start()
    finally:
        proc.stop()


@pytest.fixture
def listed_cycle(node_process, directory_process):
    """it, hu and at peered pairwise, listed in the directory, each having pinned the directory's key."""
    directory = directory_process
    fingerprint = load_signing_key(directory.data_dir).public_key.fingerprint
    nodes, members = {}, {}
    for node_id, country, handle in NODES:
        nodes[node_id] = node_process(node_id, country=country, directory_id="eu-dir", **FAST)
        members[node_id] = nodes[node_id].new_member(handle)
    for a, b in itertools.combinations(nodes, 2):
        peer_both(nodes[a], nodes[b])
    for node in nodes.values():
        applied = node.cli("directory-apply", directory.url, "--fingerprint", fingerprint).stdout
        assert "pinned the key of eu-dir" in applied, applied
        directory.cli("approve", node.node_id, "--fingerprint", re.search(r"working group: (\S+)", applied).group(1))
    return directory, nodes, members


def positions(nodes) -> dict[str, dict[str, int]]:
    return {
        n: {
            p["node_id"]: p["position"]
            for p in node.coordinator().call("GET", "/federation/peers", expect=200).json()["peers"]
        }
        for n, node in nodes.items()
    }


def assert_books(nodes, pos) -> None:
    """Each node's books balance and every pair's positions mirror."""
    for node in nodes.values():
        check_books(node)
    for a, b in itertools.combinations(pos, 2):
        assert pos[a][b] + pos[b][a] == 0, (a, b, pos)


def press_start(directory: DirectoryProcess) -> requests.Response:
    """The working group logs in and presses "Start a clearing round now", as a person would."""
    http = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', http.get(f"{directory.url}/admin/login").text).group(1)
    page = http.post(
        f"{directory.url}/admin/login",
        data={"username": "wg", "password": ADMIN_PASSWORD, "csrf_token": token, "next": "/admin/"},
    )
    assert "Start a clearing round now" in page.text, page.text[:500]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return http.post(f"{directory.url}/admin/clearing/start", data={"csrf_token": token})


def test_the_directory_clears_a_cycle_and_every_node_keeps_its_net(listed_cycle):
    directory, nodes, members = listed_cycle
    for (payer, payee), amount in zip((("it", "anna@hu"), ("hu", "selin@at"), ("at", "giulia@it")), (7, 5, 6)):
        assert members[payer].transfer(payee, amount).status_code == 201
    wait_until(
        lambda: all(
            p["entries_pending"] == 0
            for n in nodes.values()
            for p in n.coordinator().call("GET", "/federation/peers", expect=200).json()["peers"]
        ),
        timeout=30,
        what="every channel drained",
    )
    before = positions(nodes)
    assert_books(nodes, before)
    assert before["it"] == {"hu": 7, "at": -6} and before["hu"] == {"it": -7, "at": 5}

    page = press_start(directory)
    assert page.status_code == 200 and "SIF cleared" in page.text, page.text[:500]
    row = directory.api("clearing-rounds")["rounds"][0]
    assert row["state"] == "settled" and row["participants"] == ["at", "hu", "it"], row
    assert (row["total_before"], row["total_after"], row["cleared"]) == (18, 2, 16)
    after = positions(nodes)
    assert_books(nodes, after)
    assert {n: sum(p.values()) for n, p in after.items()} == {n: sum(p.values()) for n, p in before.items()}
    assert after["it"] == {"hu": 1, "at": 0} and after["hu"] == {"it": -1, "at": -1}

    # Every node applied it once, knows the directory ran it, and verifies every signature of its certificate.
    certificate = requests.get(f"{directory.url}/api/v1/clearing-rounds/{row['round_id']}/certificate").json()
    assert certificate["from"] == "eu-dir" and len(certificate["body"]["acceptances"]) == 3
    for node in nodes.values():
        entry = node.coordinator().call("GET", f"/federation/settlements/{row['round_id']}", expect=200).json()
        assert (entry["coordinator"], entry["participation"]) == ("eu-dir", "applied"), entry
        page = node.coordinator().call("GET", "/federation/settlements", expect=200)
        assert row["round_id"] in page.text
    # The directory's clearing history (from the nodes' signed summaries) shows the round it ran.
    history = wait_until(
        lambda: [c for c in directory.api("clearing")["clearing"] if c["round_id"] == row["round_id"]],
        timeout=20,
        what="the round in the directory's clearing history",
    )
    assert history[0]["coordinator"] == "eu-dir" and history[0]["cleared"] == 16
    assert history[0]["reported_by"] == "at, hu, it"


def test_a_node_that_did_not_pin_the_directory_refuses_its_round(node_process, directory_process):
    directory = directory_process
    a = node_process("it", country="IT", directory_id="eu-dir", **FAST)
    b = node_process("hu", country="HU", directory_id="eu-dir", **FAST)
    peer_both(a, b)
    for node in (a, b):
        applied = node.cli("directory-apply", directory.url).stdout  # no --fingerprint: nothing pinned
        assert "directory-pin" in applied
        directory.cli("approve", node.node_id, "--fingerprint", re.search(r"working group: (\S+)", applied).group(1))
    page = press_start(directory)
    assert page.status_code == 200
    row = directory.api("clearing-rounds")["rounds"][0]
    assert row["state"] == "collecting" and "unknown_peer" in row["reason"], row


# --- a directory in this process (served on loopback), whose transport loses answers ------------------------


class OffsetClock:
    """The real time plus an offset we move, as the nodes' clocks are moved (signatures stay fresh)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


class LossyCoordinator(DirectoryCoordinator):
    """The directory's coordinator, with a network that loses some answers (after the node acted on the message)."""

    def __init__(self, directory, lose) -> None:
        super().__init__(directory)
        self.lose, self.lost = lose, []

    def ask(self, node_id: str, env: Envelope) -> dict:
        if env.type == "settlement_certificate" and self.lose(node_id, env):
            self.lost.append((node_id, env.type))  # lost on the way there: never delivered
            return {"error": {"code": "unreachable", "message": "the certificate was lost"}}
        answer = super().ask(node_id, env)
        if env.type != "settlement_certificate" and self.lose(node_id, env):
            self.lost.append((node_id, answer))  # delivered and answered; the answer lost on the way back
            return {"error": {"code": "unreachable", "message": "the answer was lost"}}
        return answer


@pytest.fixture
def served(tmp_path, node_process):
    """A directory served from this process; it, hu, at listed in it (pinned both ways) after paying round a cycle."""
    port, clock = free_port(), OffsetClock()
    app = create_app(
        {"data_dir": str(tmp_path / "eu-dir"), "base_url": f"http://127.0.0.1:{port}", "clearing_interval_hours": 0},
        clock=clock,
    )
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        d = app.extensions["sifnet_directory"]
        nodes, members = {}, {}
        for node_id, country, handle in NODES:
            nodes[node_id] = node_process(node_id, country=country, directory_id="eu-dir", **FAST)
            members[node_id] = nodes[node_id].new_member(handle)
        for a, b in itertools.combinations(nodes, 2):
            peer_both(nodes[a], nodes[b])
        for node in nodes.values():
            node.cli("directory-pin", d.settings.base_url, "--fingerprint", d.key.public_key.fingerprint)
            doc = listings.fetch_candidate(node.url, d)
            with d.db.write() as s:
                listings.apply(s, doc, directory_id=d.id, now=d.now())
                listings.approve(s, node_id=node.node_id, fingerprint=doc.fingerprint, now=d.now())
        for (payer, payee), amount in zip((("it", "anna@hu"), ("hu", "selin@at"), ("at", "giulia@it")), (7, 5, 6)):
            assert members[payer].transfer(payee, amount).status_code == 201
        wait_until(
            lambda: all(
                p["entries_pending"] == 0
                for n in nodes.values()
                for p in n.coordinator().call("GET", "/federation/peers", expect=200).json()["peers"]
            ),
            timeout=30,
            what="every channel drained",
        )
        yield d, clock, nodes
    finally:
        server.shutdown()
        stop(app)


def participation(node, round_id: str) -> str:
    return node.coordinator().call("GET", f"/federation/settlements/{round_id}", expect=200).json()["participation"]


def test_a_lost_acceptance_is_answered_again_with_the_same_signed_acceptance(served):
    d, _, nodes = served
    before = positions(nodes)
    co = LossyCoordinator(
        d, lambda node_id, env: env.type == "settlement_proposal" and all(n != node_id for n, _ in co.lost)
    )  # each node's first acceptance is lost
    round_id = rounds.start_round(co, include_self=False)
    with d.db.read() as s:
        row = rounds.get_round(s, round_id)
        assert row.state == "proposed" and row.reason.count("the answer was lost") == 3, row.reason
    assert {n: participation(node, round_id) for n, node in nodes.items()} == dict.fromkeys(nodes, "accepted")
    # Asked again with the very same proposal, each node answers with the acceptance it signed the first time.
    assert rounds.advance_round(co, round_id) == "settled"
    with d.db.read() as s:
        certificate = json.loads(rounds.get_round(s, round_id).certificate)
    lost = {node_id: answer["acceptance"] for node_id, answer in co.lost}
    assert {a["from"]: a for a in certificate["body"]["acceptances"]} == lost
    after = positions(nodes)
    assert_books(nodes, after)
    assert {n: sum(p.values()) for n, p in after.items()} == {n: sum(p.values()) for n, p in before.items()}
    assert sum(max(0, v) for p in after.values() for v in p.values()) == 2


def test_a_missed_certificate_is_a_dispute_on_both_sides_until_redelivery_heals_it(served):
    d, clock, nodes = served
    before = positions(nodes)
    missing = {"at"}
    co = LossyCoordinator(d, lambda node_id, env: env.type == "settlement_certificate" and node_id in missing)
    round_id = rounds.start_round(co, include_self=False)
    assert rounds.advance_round(co, round_id) == "certified"
    assert {n: participation(node, round_id) for n, node in nodes.items()} == {
        "it": "applied",
        "hu": "applied",
        "at": "accepted",
    }
    # Past the deadline and the apply window: the round is undelivered, at's participation lapses.
    late = 300 + 3600 + 60
    for node in nodes.values():
        node.advance_clock(late)
    clock.offset += timedelta(seconds=late)
    assert rounds.sweep_rounds(co) >= 1
    with d.db.read() as s:
        assert rounds.get_round(s, round_id).state == "undelivered"
    wait_until(lambda: participation(nodes["at"], round_id) == "lapsed", what="at's participation lapsed")
    diverged = positions(nodes)
    assert diverged["at"]["hu"] + diverged["hu"]["at"] != 0
    # Each checkpoint exchange shows the divergence; both coordinators of each pair have a dispute.
    for a, b in (("hu", "at"), ("it", "at")):
        result = nodes[a].coordinator().call("POST", f"/federation/peers/{b}/checkpoint", expect=200).json()
        assert not result["agrees"] and "the peer never applied round" in result["problems"][0], result
    for n in nodes:
        disputes = [x for x in open_disputes(nodes[n]) if "settlement certificate was missed" in x["detail"]]
        assert len(disputes) == (2 if n == "at" else 1), (n, disputes)
    assert round_id in open_disputes(nodes["at"])[0]["detail"]
    # Delivered after all: applied once, the pairs mirror, the checkpoints agree and the disputes close.
    missing.clear()
    rounds.sweep_rounds(co)
    with d.db.read() as s:
        row = rounds.get_round(s, round_id)
        assert row.state == "settled", row.reason
        body = json.loads(row.certificate)["body"]
    assert participation(nodes["at"], round_id) == "applied"
    again = co.ask("at", rounds._certificate(co, body, d.now()))
    assert again["status"] == "already_applied"
    after = positions(nodes)
    assert_books(nodes, after)
    assert {n: sum(p.values()) for n, p in after.items()} == {n: sum(p.values()) for n, p in before.items()}
    # at checkpoints with each peer the late certificate changed at its next sweep, not a period later: the node
    # clocks stand still now, so no periodic checkpoint is due; both sides' disputes close.
    wait_until(lambda: all(open_disputes(node) == [] for node in nodes.values()), timeout=20, what="disputes closed")
    for a, b in (("hu", "at"), ("it", "at")):
        result = nodes[a].coordinator().call("POST", f"/federation/peers/{b}/checkpoint", expect=200).json()
        assert result == {"agrees": True, "problems": []}, result


def open_disputes(node) -> list[dict]:
    rows = node.coordinator().call("GET", "/federation/disputes", expect=200).json()["disputes"]
    return [x for x in rows if x["status"] == "open"]


def test_the_schedule_counts_from_the_first_listing_then_from_the_last_round(make_directory, tmp_path):
    clock = FixedClock(START)
    app = make_directory(clock=clock, clearing_interval_hours=24)
    d = app.extensions["sifnet_directory"]
    with d.db.write() as s:
        for node_id in ("it", "hu"):  # listed nodes that do not answer: a round starts and waits for them
            s.add(
                Listing(
                    node_id=node_id,
                    base_url=f"http://127.0.0.1:{free_port()}",
                    summary_url="",
                    status="listed",
                    applied_at=START,
                    approved_at=START,
                )
            )
    clock.advance(23 * 3600)
    assert sweep(d) == 0 and recent_rounds(d) == []
    clock.advance(3600)
    assert sweep(d) == 1
    [row] = recent_rounds(d)
    assert row["state"] == "collecting" and row["participants"] == ["hu", "it"] and "unreachable" in row["reason"]
    clock.advance(3600)  # past its deadline: abandoned, and the next one is due a day after it started
    sweep(d)
    assert [r["state"] for r in recent_rounds(d)] == ["abandoned"]
    clock.advance(22 * 3600)
    assert sweep(d) == 0
    clock.advance(3600)
    assert sweep(d) == 1 and [r["state"] for r in recent_rounds(d)] == ["collecting", "abandoned"]
