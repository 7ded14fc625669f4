"""Two real nodes and the directory, each its own process on loopback: apply, approve, poll, show, lose a node."""

from __future__ import annotations

import re
import time

import pytest

from tests.directory.procs import DirectoryProcess
from tests.federation.conftest import FAST, peer_both, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def directory_process(tmp_path):
    proc = DirectoryProcess(tmp_path / "eu-dir", poll_seconds=1).init()
    try:
        yield proc.start()
    finally:
        proc.stop()


def node_row(directory: DirectoryProcess, node_id: str) -> dict:
    return next((r for r in directory.api("nodes")["nodes"] if r["node_id"] == node_id), {})


def test_two_nodes_listed_polled_and_one_lost(node_process, directory_process):
    directory = directory_process
    be = node_process("be-vl", directory_id="eu-dir", **FAST)
    hu = node_process("hu", country="HU", directory_id="eu-dir", **FAST)
    peer_both(be, hu)
    be.new_member("anna")
    hu.new_member("zoltan")
    assert be.client().login("anna@example.org").transfer("zoltan@hu", 3, "thanks").status_code == 201
    for node in (be, hu):
        assert "listed as i-" in node.cli("seed-initiatives").stdout
        applied = node.cli("directory-apply", directory.url).stdout
        fingerprint = re.search(r"working group: (\S+)", applied).group(1)
        directory.cli("approve", node.node_id, "--fingerprint", fingerprint)
    wait_until(
        lambda: all(node_row(directory, n).get("health") == "up" for n in ("be-vl", "hu")),
        timeout=20,
        what="both nodes up in the directory",
    )
    flows = wait_until(lambda: directory.api("flows")["payments"]["all"], timeout=20, what="the payment in the flows")
    assert flows == [{"from": "BE", "to": "HU", "amount": 3}]
    assert directory.api("flows")["positions"] == [{"from": "BE", "to": "HU", "amount": 3}]  # be-vl owes hu 3
    positions = wait_until(
        lambda: [p for p in directory.api("positions")["positions"] if p["state"] == "agree"],
        timeout=20,
        what="positions that agree",
    )
    assert positions == [
        {
            "node_a": "be-vl",
            "node_b": "hu",
            "a_says": -3,
            "b_says": 3,
            "sum": 0,
            "state": "agree",
            "debtor": "be-vl",
            "debtor_country": "BE",
            "creditor": "hu",
            "creditor_country": "HU",
            "amount": 3,
        }
    ]
    assert directory.api("totals")["totals"][0]["members"] == 4  # two members and two coordinators
    matches = directory.api(
        "scan?initiative=be-vl:"
        + next(i["ref"] for i in directory.api("initiatives")["initiatives"] if i["name"] == "Buurtkeuken Borgerhout")
    )
    assert matches["matches"][0]["country"] == "HU" and "food" in matches["matches"][0]["shared_interests"]
    hu.stop()
    stopped = time.monotonic()
    wait_until(
        lambda: node_row(directory, "hu").get("health") == "unreachable", timeout=10, what="hu marked unreachable"
    )
    assert time.monotonic() - stopped < 2 * directory.poll_seconds + 1.5  # within a polling period (and a poll)
    assert node_row(directory, "be-vl")["health"] == "up" and node_row(directory, "hu")["since"]
