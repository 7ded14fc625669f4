"""`make devnet` smoke test: five real node processes come up, peer, pay across borders, and come back."""

from __future__ import annotations

import random
import socket
import sqlite3
import subprocess
import sys
import tomllib

import pytest

from tests.procs import REPO

pytestmark = pytest.mark.slow
NODES = ("be-vl", "nl", "at", "it", "hu")


def free_port_range(count: int = len(NODES)) -> int:
    """A base port with `count` free loopback ports after it."""
    for _ in range(50):
        base = random.randrange(20000, 40000)
        try:
            for port in range(base, base + count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port range found")


def run_devnet(data_dir, base_port: int) -> str:
    """`deploy/devnet.py --check` with its own data folder; fail with the output when it fails."""
    result = subprocess.run(
        [sys.executable, "deploy/devnet.py", "--check", "--data-dir", str(data_dir), "--base-port", str(base_port)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Check passed" in output, output
    return output


def cross_border_rows(data_dir, node_id: str) -> list[tuple]:
    with sqlite3.connect(data_dir / node_id / "node.db") as db:
        return db.execute("SELECT memo, direction, status FROM fed_transfers ORDER BY id").fetchall()


def test_devnet_comes_up_peered_and_comes_back_without_redoing_anything(tmp_path):
    data_dir, base = tmp_path / "devnet", free_port_range()
    first = run_devnet(data_dir, base)
    for node_id in NODES:
        assert f"{node_id:<6} initialised, demo data seeded" in first
    assert "Peering: 20 links confirmed" in first
    assert first.count("SIF completed") == 5
    assert f"http://127.0.0.1:{base + 4}" in first and "coordinator@hu.example" in first
    assert "sif-demo-2026" in first
    # Each node's advice market lists the four offers the other nodes' demo advisers share network-wide.
    assert "Advice offers from other countries in each market: be-vl 4, nl 4, at 4, it 4, hu 4" in first
    after_first = {node_id: cross_border_rows(data_dir, node_id) for node_id in NODES}

    second = run_devnet(data_dir, base)
    for node_id in NODES:
        assert f"{node_id:<6} reused" in second
        assert (data_dir / node_id / "node.log").stat().st_size > 0
        assert not (data_dir / node_id / "node.pid").exists()  # stopped, and said so
    assert "Peering: 0 links confirmed" in second
    # The demo payments are made once: the second start found them and added none.
    assert {node_id: cross_border_rows(data_dir, node_id) for node_id in NODES} == after_first
    assert ("Thank you for the community kitchen visit in Budapest", "out", "completed") in after_first["it"]
    assert ("Thank you for the community kitchen visit in Budapest", "in", "completed") in after_first["hu"]
    languages = {}
    for name in (*NODES, "eu-dir"):
        with (data_dir / name / "settings.toml").open("rb") as fh:
            stored = tomllib.load(fh)
        languages[name] = (stored["default_language"], stored["time_zone"])
    assert languages == {
        "be-vl": ("nl", "Europe/Brussels"),
        "nl": ("nl", "Europe/Amsterdam"),
        "at": ("de", "Europe/Vienna"),
        "it": ("it", "Europe/Rome"),
        "hu": ("hu", "Europe/Budapest"),
        "eu-dir": ("en", "Europe/Brussels"),
    }


def test_devnet_refuses_a_port_that_does_not_match_its_data(tmp_path):
    data_dir, base = tmp_path / "devnet", free_port_range()
    (data_dir / "be-vl").mkdir(parents=True)
    (data_dir / "be-vl" / "settings.toml").write_text(
        f'node_id = "be-vl"\nport = {base + 50}\ndata_dir = "{data_dir / "be-vl"}"\n'
    )
    result = subprocess.run(
        [sys.executable, "deploy/devnet.py", "--check", "--data-dir", str(data_dir), "--base-port", str(base)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert f"--base-port {base + 50}" in result.stderr
