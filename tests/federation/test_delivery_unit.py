"""Delivery in-process, the peer's HTTP answers played by `responses`: backoff, cap, acknowledgement, resend,
the one retry of a broken connection."""

from __future__ import annotations

import json
from http.client import RemoteDisconnected

import pytest
import requests
import responses
from sqlalchemy import func, select
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from federation.state import federation_of
from federation.tables import ChannelEntry, Peer
from federation.transport import channels, delivery, peers
from node.app import create_app
from protocol import canonical_json
from tests.conftest import FAST_ARGON2

PEER_URL = "http://hu.example.test"


@pytest.fixture
def fed_app(apps):
    return apps[0]


@pytest.fixture
def apps(tmp_path, clock):
    """be-vl in-process, with hu as a confirmed peer whose document came from a second in-process app (hu's app
    signs the entries hu hands back; nothing serves it: its answers are played by `responses`)."""
    hu = create_app(
        {"data_dir": str(tmp_path / "hu"), "node_id": "hu", "base_url": PEER_URL, **FAST_ARGON2},
        clock=clock,
        start_delivery=False,
    )
    app = create_app(
        {
            "data_dir": str(tmp_path / "be"),
            "node_id": "be-vl",
            "retry_base_seconds": 2,
            "retry_max_seconds": 60,
            **FAST_ARGON2,
        },
        clock=clock,
        start_delivery=False,
    )
    _confirm(app, hu)
    _confirm(hu, app)
    yield app, hu
    for a in (app, hu):
        a.extensions["sifnet"].db.dispose()


def _confirm(app, other) -> None:
    """`app` confirms `other` as its peer, from the node document `other` signs."""
    ctx, fed = app.extensions["sifnet"], federation_of(app)
    other_ctx, other_fed = other.extensions["sifnet"], federation_of(other)
    with other_ctx.db.read() as s:
        raw = canonical_json(other_fed.identity.node_document(s, other_ctx.now()).to_dict())
    doc = peers.verify_document(raw, now=ctx.now(), max_skew=fed.max_skew)
    with ctx.db.write() as s:
        peers.add_peer(s, doc, own_node_id=fed.node_id, now=ctx.now())
        peers.confirm_peer(s, node_id=doc.node_id, fingerprint=doc.fingerprint, trust_limit=50, now=ctx.now())


def _append(app, n: int) -> None:
    ctx, fed = app.extensions["sifnet"], federation_of(app)
    with ctx.db.write() as s:
        for i in range(n):
            channels.append(
                s, fed, peer_id="hu", type_name="transfer_receipt", body={"transfer_id": f"t{i}"}, now=ctx.now()
            )


def _peer(app) -> Peer:
    with app.extensions["sifnet"].db.read() as s:
        return s.get(Peer, "hu")


@responses.activate
def test_failures_back_off_exponentially_up_to_the_cap_and_never_drop(fed_app, clock):
    _append(fed_app, 3)
    responses.post(f"{PEER_URL}/federation/v1/inbox", status=503, body="down")
    fed = federation_of(fed_app)
    delays = []
    for _ in range(8):
        assert delivery.deliver(fed, "hu") == 0
        peer = _peer(fed_app)
        delays.append((peer.next_attempt_at - clock.now()).total_seconds())
        clock.advance(delays[-1])
    assert delays == [2, 4, 8, 16, 32, 60, 60, 60]
    assert peer.failures == 8 and "503" in peer.last_error
    with fed_app.extensions["sifnet"].db.read() as s:
        assert channels.backlog(s, "hu") == 3  # nothing dropped
    # The sweep only retries when the time has come.
    responses.replace(responses.POST, f"{PEER_URL}/federation/v1/inbox", json={"received_through": 3, "last_hash": "x"})
    assert delivery.retry_due(fed) == 3
    peer = _peer(fed_app)
    assert peer.failures == 0 and peer.next_attempt_at is None and peer.last_contact_at == clock.now()


@responses.activate
def test_batches_are_signed_and_a_gap_receipt_triggers_a_resend(fed_app):
    _append(fed_app, 3)
    seen = []

    def inbox(request):
        body = json.loads(request.body)
        seen.append([e["channel"]["seq"] for e in body["entries"]])
        assert request.headers["Sifnet-From"] == "be-vl" and request.headers["Sifnet-To"] == "hu"
        assert "Signature" in request.headers and request.headers["Content-Digest"].startswith("sha-256=")
        if len(seen) == 1:  # the peer says it has only the first entry: resend from 2
            return 200, {}, json.dumps({"received_through": 1, "last_hash": "h1", "resend_from": 2})
        return 200, {}, json.dumps({"received_through": 3, "last_hash": "h3"})

    responses.add_callback(responses.POST, f"{PEER_URL}/federation/v1/inbox", callback=inbox)
    assert delivery.deliver(federation_of(fed_app), "hu") == 3
    assert seen == [[1, 2, 3], [2, 3]]


@responses.activate
def test_a_receipt_that_is_not_json_counts_as_a_failure(fed_app):
    _append(fed_app, 1)
    responses.post(f"{PEER_URL}/federation/v1/inbox", body="<html>proxy error</html>", status=200)
    assert delivery.deliver(federation_of(fed_app), "hu") == 0
    assert _peer(fed_app).failures == 1 and "receipt" in _peer(fed_app).last_error


def test_suspended_peer_gets_nothing(fed_app):
    _append(fed_app, 1)
    ctx = fed_app.extensions["sifnet"]
    with ctx.db.write() as s:
        peers.suspend_peer(s, node_id="hu", reason="audit", now=ctx.now())
    with responses.RequestsMock() as mock:  # any HTTP call would fail this test
        assert delivery.deliver(federation_of(fed_app), "hu") == 0
        assert len(mock.calls) == 0


def _aborted() -> requests.ConnectionError:
    """What requests raises when a connection closes before any answer (a kept-alive one the peer just closed)."""
    return requests.ConnectionError(ProtocolError("Connection aborted.", RemoteDisconnected("closed")))


def _refused() -> requests.ConnectionError:
    """What requests raises when no connection could be made."""
    url = f"{PEER_URL}/federation/v1/inbox"
    return requests.ConnectionError(MaxRetryError(None, url, NewConnectionError(None, "Connection refused")))


@responses.activate
def test_a_broken_connection_is_tried_once_more_signed_afresh_and_is_no_failure(fed_app):
    _append(fed_app, 2)
    nonces = []

    def inbox(request):
        nonces.append(request.headers["Signature-Input"].split('nonce="')[1].split('"')[0])
        if len(nonces) == 1:
            raise _aborted()
        return 200, {}, json.dumps({"received_through": 2, "last_hash": "h2"})

    responses.add_callback(responses.POST, f"{PEER_URL}/federation/v1/inbox", callback=inbox)
    assert delivery.deliver(federation_of(fed_app), "hu") == 2
    assert len(nonces) == 2 and nonces[0] != nonces[1]  # the same batch, under a new request signature
    peer = _peer(fed_app)
    assert (peer.failures, peer.last_error) == (0, "")


@pytest.mark.parametrize(
    ("errors", "tries"),
    [([_aborted(), _aborted()], 2), ([_refused()], 1)],
    ids=["broken-twice", "refused"],
)
@responses.activate
def test_a_second_break_or_a_refused_connection_is_a_failure(fed_app, errors, tries):
    _append(fed_app, 1)
    for error in errors:
        responses.post(f"{PEER_URL}/federation/v1/inbox", body=error)
    responses.post(f"{PEER_URL}/federation/v1/inbox", json={"received_through": 1, "last_hash": "h1"})
    assert delivery.deliver(federation_of(fed_app), "hu") == 0
    assert len(responses.calls) == tries
    peer = _peer(fed_app)
    assert peer.failures == 1 and "ConnectionError" in peer.last_error


def _hu_entries(hu, n: int) -> list[str]:
    """n entries on hu's channel towards be-vl, signed by hu, as hu stores them (canonical JSON)."""
    ctx, fed = hu.extensions["sifnet"], federation_of(hu)
    with ctx.db.write() as s:
        for i in range(n):
            channels.append(
                s, fed, peer_id="be-vl", type_name="transfer_receipt", body={"transfer_id": f"r{i}"}, now=ctx.now()
            )
    with ctx.db.read() as s:
        return [e.envelope for e in channels.unacked(s, "be-vl", 100)]


def _receipt(through: int, entries: list) -> str:
    body = ",".join(e if isinstance(e, str) else json.dumps(e) for e in entries)
    return f'{{"received_through":{through},"last_hash":"h","entries":[{body}]}}'


@responses.activate
def test_entries_handed_back_are_applied_once_and_acknowledged_in_the_next_request(apps):
    app, hu = apps
    handed = _hu_entries(hu, 2)
    bodies = []

    def inbox(request):
        bodies.append(json.loads(request.body))
        seq = bodies[-1]["entries"][-1]["channel"]["seq"]
        return 200, {}, _receipt(seq, handed)  # hu hands back both entries every time, until acknowledged

    responses.add_callback(responses.POST, f"{PEER_URL}/federation/v1/inbox", callback=inbox)
    fed, ctx = federation_of(app), app.extensions["sifnet"]
    _append(app, 1)
    assert delivery.deliver(fed, "hu") == 1
    _append(app, 1)
    assert delivery.deliver(fed, "hu") == 1  # handed back again: already applied, nothing happens twice
    with ctx.db.read() as s:
        applied = channels.chain_point(s, "be-vl", "hu", "in")
        stored = s.execute(select(func.count()).select_from(ChannelEntry).where(ChannelEntry.direction == "in"))
        assert stored.scalar_one() == 2
    assert applied[0] == 2
    assert "ack" not in bodies[0]  # nothing of hu's was applied yet
    assert bodies[1]["ack"] == {"received_through": 2, "last_hash": applied[1]}
    assert (_peer(app).failures, _peer(app).last_error) == (0, "")


@pytest.mark.parametrize(
    "handed",
    [
        [{"not": "an envelope"}],
        "not a list",
    ],
    ids=["not-an-envelope", "not-a-list"],
)
@responses.activate
def test_entries_handed_back_that_do_not_check_are_dropped_and_the_receipt_still_counts(fed_app, handed):
    entries = handed if isinstance(handed, list) else None
    body = _receipt(1, entries) if entries is not None else '{"received_through":1,"last_hash":"h","entries":"x"}'
    responses.post(f"{PEER_URL}/federation/v1/inbox", body=body)
    _append(fed_app, 1)
    assert delivery.deliver(federation_of(fed_app), "hu") == 1
    ctx = fed_app.extensions["sifnet"]
    with ctx.db.read() as s:
        assert channels.chain_point(s, "be-vl", "hu", "in")[0] == 0 and channels.backlog(s, "hu") == 0
    assert _peer(fed_app).failures == 0


@responses.activate
def test_an_entry_handed_back_by_a_third_node_is_not_applied(apps):
    app, hu = apps
    forged = json.loads(_hu_entries(hu, 1)[0])
    forged["from"] = "nl"  # re-labelled: no longer hu's, and its signature no longer holds either
    responses.post(f"{PEER_URL}/federation/v1/inbox", body=_receipt(1, [forged]))
    _append(app, 1)
    assert delivery.deliver(federation_of(app), "hu") == 1
    with app.extensions["sifnet"].db.read() as s:
        assert channels.chain_point(s, "be-vl", "hu", "in")[0] == 0


@responses.activate
def test_the_retry_sweep_leaves_entries_within_the_handback_grace_to_the_kicks(fed_app, clock):
    fed = federation_of(fed_app)
    responses.post(f"{PEER_URL}/federation/v1/inbox", json={"received_through": 1, "last_hash": "h1"})
    _append(fed_app, 1)
    assert delivery.retry_due(fed) == 0 and len(responses.calls) == 0  # just written: its kick (or the peer's ack)
    clock.advance(3)  # past the grace of 2 s: the sweep sends it
    assert delivery.retry_due(fed) == 1 and len(responses.calls) == 1


@responses.activate
def test_the_retry_sweep_sends_entries_dated_after_now_when_the_clock_was_set_back(fed_app, clock):
    fed = federation_of(fed_app)
    responses.post(f"{PEER_URL}/federation/v1/inbox", json={"received_through": 1, "last_hash": "h1"})
    _append(fed_app, 1)
    clock.advance(-3600)  # the node's clock was an hour ahead: its entries are not young, they are late
    assert delivery.retry_due(fed) == 1 and len(responses.calls) == 1


def test_an_answer_hands_back_all_unacknowledged_entries_or_none(apps):
    """A payment's answer or two ride back; a backlog does not (it is delivered beside the peer's next batch)."""
    _app, hu = apps
    few = _hu_entries(hu, channels.OFFER_ENTRIES)
    with hu.extensions["sifnet"].db.read() as s:
        assert channels.offer(s, "be-vl") == tuple(few)
    _hu_entries(hu, 1)
    with hu.extensions["sifnet"].db.read() as s:
        assert channels.offer(s, "be-vl") == ()
