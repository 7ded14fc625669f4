"""Every key a node knows, read in one statement and parsed once: a rotation (a peer's or our own) is seen at once."""

from __future__ import annotations

import pytest

from federation.transport import channels, keys, peers
from federation.transport.known_keys import known_keys
from node.app import create_app
from protocol import Envelope, canonical_json, parse_json
from tests.conftest import FAST_ARGON2


def _app(tmp_path, node_id: str, clock):
    return create_app(
        {"data_dir": str(tmp_path / node_id), "node_id": node_id, **FAST_ARGON2}, clock=clock, start_delivery=False
    )


def _peer(app, other) -> None:
    """`app` pins `other`'s key and confirms it (as its coordinator would, by fingerprint)."""
    ctx, fed = app.extensions["sifnet"], app.extensions["sifnet_federation"]
    other_ctx, other_fed = other.extensions["sifnet"], other.extensions["sifnet_federation"]
    with other_ctx.db.read() as s:
        raw = canonical_json(other_fed.identity.node_document(s, other_ctx.now()).to_dict())
    doc = peers.verify_document(raw, now=ctx.now(), max_skew=fed.max_skew)
    with ctx.db.write() as s:
        peers.add_peer(s, doc, own_node_id=fed.node_id, now=ctx.now())
        peers.confirm_peer(s, node_id=doc.node_id, fingerprint=doc.fingerprint, trust_limit=100, now=ctx.now())


@pytest.fixture
def pair(tmp_path, clock):
    """be-vl and hu in-process, each the other's confirmed peer."""
    be, hu = _app(tmp_path, "be-vl", clock), _app(tmp_path, "hu", clock)
    _peer(be, hu)
    _peer(hu, be)
    yield be, hu
    for app in (be, hu):
        app.extensions["sifnet"].db.dispose()


def _keys(app):
    ctx = app.extensions["sifnet"]
    with ctx.db.read() as s:
        return known_keys(s, app.extensions["sifnet_federation"].node_id)


def _current_kid(app) -> str:
    return app.extensions["sifnet_federation"].identity.current_key().key_id


def test_each_key_is_known_as_its_nodes(pair):
    be, hu = pair
    known = _keys(be)
    assert known.peers[_current_kid(hu)].node_id == "hu"
    assert known.network[_current_kid(hu)].node_id == "hu"
    assert known.network[_current_kid(be)].node_id == "be-vl"
    assert _current_kid(be) not in known.peers  # our own key never authenticates a peer's request
    assert known.retired_of("hu") == frozenset()
    assert _keys(be) is known  # the same rows: parsed once


def test_a_peers_rotation_is_seen_by_the_next_read(pair, clock):
    be, hu = pair
    before, old_kid = _keys(be), _current_kid(hu)
    hu_fed, hu_ctx = hu.extensions["sifnet_federation"], hu.extensions["sifnet"]
    keys.rotate_key(hu_fed)
    with hu_ctx.db.read() as s:
        (entry,) = channels.unacked(s, "be-vl", 10)
    rotation = Envelope.from_dict(parse_json(entry.envelope.encode()))
    ctx, fed = be.extensions["sifnet"], be.extensions["sifnet_federation"]
    with ctx.db.read() as s:
        fresh = channels.check_entries(s, fed, "hu", [rotation], ctx.now())
    assert channels.receive_entries(fed, "hu", fresh, ctx.now()).through == 1
    after = _keys(be)
    new_kid = _current_kid(hu)
    assert new_kid != old_kid and new_kid not in before.peers
    assert after.peers[new_kid].node_id == "hu"
    assert after.retired_of("hu") == {old_kid}
    assert after.peers[old_kid].not_after is not None  # kept, so old entries and requests still verify


def test_our_own_rotation_is_seen_by_the_next_read(pair):
    be, _hu = pair
    old_kid = _current_kid(be)
    keys.rotate_key(be.extensions["sifnet_federation"])
    known = _keys(be)
    assert known.network[_current_kid(be)].node_id == "be-vl"
    assert known.network[old_kid].not_after is not None
    assert known.retired_of("be-vl") == frozenset()  # retired kids are a peer's, learned from its channel
