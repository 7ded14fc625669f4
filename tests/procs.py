"""Real node processes over loopback, for integration, durability and federation tests.

The processes themselves are deploy/processes.py's (shared with the devnet and the benchmarks); this
module adds what tests want: NodeProcess with the test settings (fast password hashing, clock
control and the /_test/ hooks) and, on the PostgreSQL lane, its own database; and the `node_process`
fixture factory, which starts as many nodes as a test needs and kills every one of them at teardown,
also when the test fails (deploy/processes.py kills leftovers of an interrupted run at exit).

Every test may request the fixture by name: tests/conftest.py lists this module in `pytest_plugins`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Self

import pytest
import requests

from deploy import processes
from deploy.processes import (
    COORDINATOR_EMAIL,
    FAST_ARGON2,
    PASSWORD,
    REPO,
    NodeClient,
    NodeStartError,
    free_port,
    newest_link,
    settings_env,
    sifnet_command,
)
from node.cli import add_coordinator, init_node
from node.context import node_ctx

# Re-exported: tests name the shared helpers through this module.
__all__ = [
    "COORDINATOR_EMAIL",
    "PASSWORD",
    "REPO",
    "TEST_SETTINGS",
    "NodeClient",
    "NodeProcess",
    "NodeStartError",
    "free_port",
    "mailed_link_in_folder",
    "newest_link",
    "node_process",
    "settings_env",
    "sifnet_command",
    "wait_for",
]

# Fast password hashing and no sleeping through deadlines; a test may override any of these.
TEST_SETTINGS: dict[str, Any] = {**FAST_ARGON2, "allow_clock_control": True}
# On the PostgreSQL lane tests/conftest.py sets this: data folder -> the node's database URL.
database_for: Callable[[Path], str] | None = None
_INIT_LOCK = threading.Lock()


class NodeProcess(processes.NodeProcess):
    """A node process with the test settings; it can move its clock and act through the /_test/ hooks."""

    def __init__(
        self, data_dir: Path, node_id: str, *, port: int | None = None, settings: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(data_dir, node_id, port=port, settings={**TEST_SETTINGS, **(settings or {})})
        if database_for is not None and "database_url" not in self.settings:
            self.settings["database_url"] = database_for(self.data_dir)

    def init(self) -> Self:
        """What the harness's `sifnet node init` and `create-coordinator` do, in this process.

        Each of those commands is a Python process that spends about 1.3 s of CPU importing and building the
        app before its work, and every test paid that twice per node; here the app is built once per node (and,
        on the SQLite lane, its database is a copy of the session's migrated template). The node itself still
        runs as its own process, and tests/node/test_cli.py runs the commands themselves.
        """
        with _INIT_LOCK:  # the chaos templates init nodes in threads; building Flask apps concurrently is not promised
            app = init_node(
                self.data_dir, {"node_id": self.node_id, "port": self.port}, environ=settings_env(self.settings)
            )
            try:
                add_coordinator(app, email=COORDINATOR_EMAIL, password=PASSWORD, handle="coord")
            finally:
                node_ctx(app).db.dispose()
        return self

    def advance_clock(self, seconds: int) -> str:
        """Move the node's clock forward (needs allow_clock_control, on by default here); returns its new now."""
        resp = requests.post(f"{self.url}/_test/clock", json={"advance_seconds": seconds}, timeout=30)
        if resp.status_code != 200:
            raise AssertionError(f"clock control refused: {resp.status_code} {resp.text[:300]}")
        return resp.json()["now"]

    def test_hook(self, name: str, body: dict) -> requests.Response:
        """POST to one of the node's /_test/ hooks (allow_clock_control), e.g. federation/reuse-transfer."""
        return requests.post(f"{self.url}/_test/{name}", json=body, timeout=30)


def mailed_link_in_folder(data_dir: Path, email: str, path: str) -> str:
    """The token of the newest link to `path` in a node's development mail folder (<data_dir>/mail)."""
    from email import message_from_bytes, policy

    bodies = []
    for file in sorted((data_dir / "mail").glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
        mail = message_from_bytes(file.read_bytes(), policy=policy.default)
        if str(mail["To"]).lower() == email.lower():
            bodies.append(mail.get_content())
    return newest_link(bodies, email, path)


def wait_for(predicate: Callable[[], Any], timeout: float = 20, what: str = "condition", interval: float = 0.05):
    """Poll predicate until it returns something truthy (returned) or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def node_process(tmp_path) -> Iterator:
    """Factory: node_process(node_id, **settings) -> a started NodeProcess; all are killed at teardown."""
    nodes: list[NodeProcess] = []

    def make(node_id: str, *, start: bool = True, **settings: Any) -> NodeProcess:
        node = NodeProcess(tmp_path / node_id, node_id, settings=settings)
        nodes.append(node)
        node.init()
        return node.start() if start else node

    try:
        yield make
    finally:
        for node in nodes:
            node.kill9()
