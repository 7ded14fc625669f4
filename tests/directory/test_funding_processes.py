"""A node and the directory as real processes: a network-wide funding lead is listed in the directory, and leaves it."""

from __future__ import annotations

import re

import pytest
import requests

from tests.directory.procs import DirectoryProcess
from tests.federation.conftest import FAST, wait_until
from tests.federation.test_funding import LEAD

pytestmark = pytest.mark.slow


@pytest.fixture
def directory_process(tmp_path):
    proc = DirectoryProcess(tmp_path / "eu-dir", poll_seconds=1).init()
    try:
        yield proc.start()
    finally:
        proc.stop()


def test_the_directory_lists_a_network_wide_lead_and_drops_it_when_withdrawn(node_process, directory_process):
    directory = directory_process
    be = node_process("be-vl", directory_id="eu-dir", **FAST)
    fingerprint = re.search(r"working group: (\S+)", be.cli("directory-apply", directory.url).stdout).group(1)
    directory.cli("approve", "be-vl", "--fingerprint", fingerprint)
    anna, coord = be.new_member("anna"), be.coordinator()
    lead = anna.call("POST", "/funding", LEAD, expect=201).json()
    anna.call("POST", "/funding", {**LEAD, "title": "Only for Flanders"}, expect=201)
    coord.call("POST", f"/funding/{lead['id']}/network-wide", {"network_wide": True}, expect=200)

    (listed,) = wait_until(lambda: directory.api("funding")["funding"], timeout=20, what="the lead in the directory")
    assert {k: listed[k] for k in ("title", "url", "countries", "topics", "description")} == {
        k: LEAD[k] for k in ("title", "url", "countries", "topics", "description")
    }
    assert (listed["node_id"], listed["origin_country"], listed["ref"]) == ("be-vl", "BE", lead["ref"])
    assert "anna" not in repr(listed).lower()
    page = requests.get(f"{directory.url}/funding", timeout=10).text
    assert LEAD["title"] in page and "Only for Flanders" not in page
    assert directory.api("funding?topic=energy")["funding"] and not directory.api("funding?topic=food")["funding"]

    anna.call("POST", f"/funding/{lead['id']}/withdraw", expect=200)
    wait_until(lambda: directory.api("funding")["funding"] == [], timeout=20, what="the lead gone from the directory")
