"""Federation fixtures: real node processes on loopback, peered through their coordinators' API."""

from __future__ import annotations

import time

import pytest

from deploy.processes import peer as peer  # re-exported: the federation tests peer their nodes with it
from deploy.processes import peer_both
from tests.procs import NodeProcess

FAST = {
    "retry_base_seconds": 1,
    "retry_max_seconds": 4,
    "sweep_seconds": 1,
    "checkpoint_seconds": 3600,
    "require_approval": False,
}


def wait_until(check, timeout: float = 20.0, interval: float = 0.05, what: str = "condition"):
    """Poll until check() is truthy; return its value or fail with what was last seen."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last value {last!r}")


def peer_state(node: NodeProcess, other: str) -> dict:
    peers = node.coordinator().call("GET", "/federation/peers", expect=200).json()["peers"]
    return next(p for p in peers if p["node_id"] == other)


def check_books(node: NodeProcess) -> None:
    result = node.cli("check-books")
    assert "OK" in result.stdout, result.stdout


@pytest.fixture
def pair(node_process):
    """Two peered nodes, be-vl and hu, each trusting the other for 100 SIF."""
    a = node_process("be-vl", **FAST)
    b = node_process("hu", **FAST)
    peer_both(a, b)
    return a, b
