"""Directory fixtures: a directory app on its own database, fake national nodes on loopback, listing helpers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from federation.directory import listings
from federation.directory.app import create_app, stop
from tests.directory.fakes import FakeNode

FAST = {"poll_timeout_ms": 1000, "slow_ms": 400, "poll_concurrency": 8}


@pytest.fixture
def make_directory(tmp_path) -> Iterator:
    """Factory: make_directory(**settings) -> a directory Flask app (its poller not started); closed at teardown."""
    apps = []

    def make(clock=None, **settings):
        app = create_app({"data_dir": str(tmp_path / f"directory{len(apps)}"), **FAST, **settings}, clock=clock)
        app.config["TESTING"] = True
        apps.append(app)
        return app

    yield make
    for app in apps:
        stop(app)


@pytest.fixture
def directory_app(make_directory):
    return make_directory()


@pytest.fixture
def directory(directory_app):
    return directory_app.extensions["sifnet_directory"]


@pytest.fixture
def fake_node() -> Iterator:
    """Factory: fake_node(node_id, country, **options) -> a started FakeNode; all stopped at teardown."""
    nodes = []

    def make(node_id: str, country: str = "BE", **options) -> FakeNode:
        node = FakeNode(node_id, country, **options).start()
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        node.stop()


def apply_node(directory, node: FakeNode):
    doc = listings.fetch_candidate(node.url, directory)
    with directory.db.write() as s:
        return listings.apply(s, doc, directory_id=directory.id, now=directory.now()).node_id


def list_node(directory, node: FakeNode) -> None:
    """Apply and approve, reading the fake node's own fingerprint back."""
    apply_node(directory, node)
    with directory.db.write() as s:
        listings.approve(s, node_id=node.node_id, fingerprint=node.fingerprint, now=directory.now())
