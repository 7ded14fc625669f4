"""The devnet of deploy/devnet/devnet.toml as a test fixture: five real nodes with demo data and the directory.

One devnet per test session (starting it takes most of a minute), shared by the browser tests that walk it.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
import time
import tomllib

import pytest
import requests

from federation.directory import listings
from federation.directory.settings import load_settings
from federation.directory.store import open_directory
from tests.procs import REPO


def load_devnet():
    """deploy/devnet.py as a module (deploy/ is scripts, not a package)."""
    if "sifnet_devnet" not in sys.modules:
        spec = importlib.util.spec_from_file_location("sifnet_devnet", REPO / "deploy" / "devnet.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["sifnet_devnet"] = module
        spec.loader.exec_module(module)
    return sys.modules["sifnet_devnet"]


def free_base_port() -> int:
    """A base port with the directory's port below it and the five nodes' ports after it all free."""
    for base in range(21001, 40000, 97):
        try:
            for port in range(base - 1, base + 5):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port range")


@pytest.fixture(scope="session")
def devnet(tmp_path_factory):
    """The devnet of deploy/devnet/devnet.toml: five real nodes with demo data, peered, paying across borders,
    and the directory listing four of them; hu has applied and waits for the working group."""
    dn = load_devnet()
    with dn.CONFIG.open("rb") as fh:
        config = tomllib.load(fh)
    net = dn.Devnet(config, tmp_path_factory.mktemp("devnet"), free_base_port())
    try:
        began = time.monotonic()
        net.start()
        started = time.monotonic()
        net.peer_all()
        apply_and_approve(net, approve=[n for n in net.nodes if n != "hu"])
        net.pay_all()
        assert dn.wait_all_up(net.directory, [n for n in net.nodes if n != "hu"]) == []
        print(f"devnet: started in {started - began:.1f}s, peered, listed and up in {time.monotonic() - began:.1f}s")
        yield net
    finally:
        net.stop()


def apply_and_approve(net, approve: list[str]) -> None:
    """Every node applies through the directory's API; the working group approves some, as the CLI would.

    Done here rather than with deploy/devnet_directory.list_nodes: that starts two processes per node.
    """
    for node in net.nodes.values():
        resp = requests.post(f"{net.directory.url}/api/v1/applications", json={"url": node.url}, timeout=30)
        assert resp.status_code == 201, resp.text
    d = open_directory(load_settings({"data_dir": str(net.directory.data_dir)}, environ={}))
    try:
        with d.db.write() as s:
            for node_id in approve:
                listings.approve(s, node_id=node_id, fingerprint=net.nodes[node_id].fingerprint(), now=d.now())
    finally:
        d.close()
