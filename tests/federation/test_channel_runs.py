"""Receiving channel entries in runs (one commit per run): each entry still applied once, stored with it, in order."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from federation.transport import channels, peers
from federation.transport.inbox import record_nonce
from federation.transport.refusal import Refusal
from federation.tables import ChannelEntry, CrossBorderTransfer, SeenNonce
from node.app import create_app
from node.services import ledger, members
from node.tables import LedgerTxn
from protocol import canonical_json, entry_hash, genesis_hash
from tests.conftest import FAST_ARGON2, PASSWORD
from tests.federation.forge import Forger, node_key


@pytest.fixture
def receiver(tmp_path, clock):
    """be-vl in-process with hu (a second in-process app) as a confirmed peer, and a payee anna."""
    hu = create_app(
        {"data_dir": str(tmp_path / "hu"), "node_id": "hu", **FAST_ARGON2}, clock=clock, start_delivery=False
    )
    app = create_app(
        {"data_dir": str(tmp_path / "be"), "node_id": "be-vl", "require_approval": False, **FAST_ARGON2},
        clock=clock,
        start_delivery=False,
    )
    ctx, fed = app.extensions["sifnet"], app.extensions["sifnet_federation"]
    hu_ctx, hu_fed = hu.extensions["sifnet"], hu.extensions["sifnet_federation"]
    with hu_ctx.db.read() as s:
        raw = canonical_json(hu_fed.identity.node_document(s, hu_ctx.now()).to_dict())
    doc = peers.verify_document(raw, now=ctx.now(), max_skew=fed.max_skew)
    with ctx.db.write() as s:
        peers.add_peer(s, doc, own_node_id="be-vl", now=ctx.now())
        peers.confirm_peer(s, node_id="hu", fingerprint=doc.fingerprint, trust_limit=10**6, now=ctx.now())
        members.sign_up(
            s,
            ctx.settings,
            email="anna@example.org",
            password=PASSWORD,
            display_name="Anna",
            handle="anna",
            now=ctx.now(),
            hasher=ctx.hasher,
        )
    forger = Forger(node_key(tmp_path / "hu"), "hu", "be-vl", "http://unused")
    yield app, forger
    for a in (app, hu):
        a.extensions["sifnet"].db.dispose()


def _transfers(forger: Forger, count: int, now) -> list:
    out, prev = [], genesis_hash("hu", "be-vl")
    for seq in range(1, count + 1):
        out.append(forger.transfer(seq, prev, "anna", 1, created=now))
        prev = entry_hash(out[-1])
    return out


def _counts(ctx) -> tuple[int, int, int]:
    with ctx.db.read() as s:
        stored = s.scalar(select(func.count()).select_from(ChannelEntry).where(ChannelEntry.direction == "in"))
        applied = s.scalar(select(func.count()).select_from(CrossBorderTransfer))
        txns = s.scalar(select(func.count()).select_from(LedgerTxn).where(LedgerTxn.kind == "cross_border_in"))
        return stored, applied, txns


def _receive(app, entries, **kw):
    ctx, fed = app.extensions["sifnet"], app.extensions["sifnet_federation"]
    with ctx.db.read() as s:
        fresh = channels.check_entries(s, fed, "hu", entries, ctx.now())
    return channels.receive_entries(fed, "hu", fresh, ctx.now(), **kw)


def test_entries_beyond_one_run_apply_once_and_redelivery_changes_nothing(receiver):
    app, forger = receiver
    ctx = app.extensions["sifnet"]
    entries = _transfers(forger, channels.APPLY_RUN * 2 + 3, ctx.now())
    receipt = _receive(app, entries)
    assert (receipt.through, receipt.last_hash) == (len(entries), entry_hash(entries[-1]))
    assert _counts(ctx) == (len(entries),) * 3
    assert _receive(app, entries).through == len(entries)
    assert _counts(ctx) == (len(entries),) * 3
    with ctx.db.read() as s:
        assert ledger.check_books(s).ok


def test_a_failing_entry_leaves_nothing_and_the_ones_before_it_commit(receiver, monkeypatch):
    app, forger = receiver
    ctx = app.extensions["sifnet"]
    entries = _transfers(forger, 8, ctx.now())
    handlers = app.extensions["sifnet_federation"].channel_handlers._entries  # a test double in the app's registry
    apply_transfer = handlers["transfer"]
    bad = entries[5].body["transfer_id"]

    def flaky(session, fed, peer, env, now):
        apply_transfer(session, fed, peer, env, now)  # writes first, then fails: all of it must go
        if env.body["transfer_id"] == bad:
            raise RuntimeError("handler bug")

    monkeypatch.setitem(handlers, "transfer", flaky)
    with pytest.raises(RuntimeError, match="handler bug"):
        _receive(app, entries)
    assert _counts(ctx) == (5, 5, 5)
    monkeypatch.setitem(handlers, "transfer", apply_transfer)
    assert _receive(app, entries).through == 8  # the sender's retry applies the rest, once
    assert _counts(ctx) == (8, 8, 8)


def test_the_first_step_shares_the_first_transaction(receiver):
    app, forger = receiver
    ctx = app.extensions["sifnet"]
    entries = _transfers(forger, 5, ctx.now())
    nonce = lambda session: record_nonce(session, "hu", "nonce-1", ctx.now())  # noqa: E731
    assert _receive(app, entries[:3], first=nonce).through == 3
    with pytest.raises(Refusal):  # the nonce again: refused, and nothing of that request is applied
        _receive(app, entries[3:], first=nonce)
    assert _counts(ctx) == (3, 3, 3)
    with ctx.db.read() as s:
        assert s.get(SeenNonce, "nonce-1") is not None
    assert _receive(app, [], first=lambda s: record_nonce(s, "hu", "nonce-2", ctx.now())).through == 3
    with ctx.db.read() as s:
        assert s.get(SeenNonce, "nonce-2") is not None
