"""Directory fixtures: a directory app on its own database, fake national nodes on loopback, listing helpers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from federation.directory import listings
from federation.directory.app import create_app, stop
from federation.directory.poller import poll_once
from tests.directory.fakes import FakeNode, network

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


# Two open calls the fakes serve as network-wide funding leads (the Funding page lists them).
FAKE_LEADS = {
    "be-vl": [
        {
            "ref": "f-1",
            "title": "Creative Europe: small-scale cooperation projects between cultural organisations",
            "url": "https://culture.ec.europa.eu/creative-europe/creative-europe-culture-strand/cooperation-projects",
            "deadline": "2099-04-30T15:00:00Z",
            "countries": ["BE", "NL"],
            "topics": ["culture", "community-building"],
            "description": "Projects of at least three organisations from three countries.",
        }
    ],
    "hu": [
        {
            "ref": "h-1",
            "title": "Rolling neighbourhood food fund",
            "url": "https://example.org/funds/neighbourhood-food",
            "countries": [],
            "topics": ["food"],
            "description": "Grants for community kitchens, all year.",
        }
    ],
}


@pytest.fixture
def polled_directory(directory_app, directory, fake_node) -> Iterator[str]:
    """The directory app on a loopback port, after polling five fake nodes (one of them then stopped); its URL."""
    nodes = {n.node_id: n for n in network(fake_node)}
    for node_id, leads in FAKE_LEADS.items():
        nodes[node_id].funding = list(leads)
    for node in nodes.values():
        list_node(directory, node)
    poll_once(directory)
    time.sleep(1.1)  # summaries are stored to the second
    nodes["nl"].body["members"] += 3  # a second summary, so that figures over time have a line
    poll_once(directory)
    nodes["at"].stop()
    poll_once(directory)
    server = make_server("127.0.0.1", 0, directory_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
