"""`sifnet node backup` while a node runs and writes, `sifnet node restore` into a fresh node (both database lanes)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from federation.tables import ChannelEntry, LocalKey, PeerKey
from node.db import Database
from node.services import ledger
from node.tables import Account, Posting
from protocol import Envelope, KeyInfo, Keyring, PublicKey, check_chain, keys_before, parse_json
from tests.federation.conftest import FAST, peer_both, peer_state, wait_until
from tests.procs import NodeProcess

pytestmark = pytest.mark.slow


def node_db(node: NodeProcess) -> Database:
    return Database(node.settings.get("database_url") or f"sqlite:///{node.data_dir / 'node.db'}")


def snapshot(node: NodeProcess) -> dict:
    """The node's ledger and channels as plain values: postings, balances, chains, books, keys."""
    db = node_db(node)
    try:
        with db.read() as s:
            return {
                "postings": s.execute(
                    select(Posting.txn_id, Posting.account_id, Posting.amount, Posting.balance_after).order_by(
                        Posting.id
                    )
                ).all(),
                "balances": dict(s.execute(select(Account.id, Account.balance)).all()),
                "entries": {(e.peer_id, e.direction, e.seq): e.envelope for e in s.scalars(select(ChannelEntry))},
                "peer_keys": [(k.peer_id, k.public, k.not_before, k.not_after) for k in s.scalars(select(PeerKey))],
                "local_keys": [(k.public, k.not_before, k.not_after) for k in s.scalars(select(LocalKey))],
                "books": ledger.check_books(s),
            }
    finally:
        db.dispose()


def check_chains(snap: dict, own_id: str) -> int:
    """Every channel (each peer, each direction) verifies end to end; returns how many entries were checked."""
    checked = 0
    for peer_id, direction in {(p, d) for p, d, _ in snap["entries"]}:
        seqs = sorted(seq for p, d, seq in snap["entries"] if (p, d) == (peer_id, direction))
        entries = [Envelope.from_dict(parse_json(snap["entries"][(peer_id, direction, q)].encode())) for q in seqs]
        sender, receiver = (own_id, peer_id) if direction == "out" else (peer_id, own_id)
        keys = (
            [(own_id, *k) for k in snap["local_keys"]]
            if direction == "out"
            else [k for k in snap["peer_keys"] if k[0] == peer_id]
        )
        keyring = Keyring.of(*(KeyInfo(node, PublicKey.from_b64(pub), nb, na) for node, pub, nb, na in keys))
        check_chain(entries, sender=sender, receiver=receiver, keyring=keys_before(entries, keyring))
        checked += len(entries)
    return checked


def balances_at(snap: dict, last_txn: int) -> dict[int, int]:
    """Each account's balance right after transaction last_txn (0 before its first posting)."""
    out = {account: 0 for account in snap["balances"]}
    for txn_id, account, _amount, after in snap["postings"]:
        if txn_id <= last_txn:
            out[account] = after
    return out


def local_traffic(a: NodeProcess, stop: threading.Event) -> list[int]:
    """Two members pay each other 1 SIF back and forth until told to stop; the statuses."""
    bob, carol = a.new_member("bob"), a.new_member("carol")
    statuses: list[int] = []

    def run() -> None:
        pairs = [(bob, "carol"), (carol, "bob")]
        while not stop.is_set():
            payer, payee = pairs[len(statuses) % 2]
            statuses.append(payer.transfer(payee, 1, "during backup").status_code)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    stop.thread = thread
    return statuses


def test_online_backup_restores_into_a_fresh_node(node_process, pg_lane, tmp_path):
    a, b = node_process("be-vl", **FAST), node_process("hu", **FAST)
    peer_both(a, b)
    anna, zoltan = a.new_member("anna"), b.new_member("zoltan")
    assert anna.transfer("zoltan@hu", 4, "cross-border").status_code == 201
    assert zoltan.transfer("anna@be-vl", 1).status_code == 201
    wait_until(lambda: anna.balance() == 7 and zoltan.balance() == 13, what="cross-border payments applied")
    wait_until(
        lambda: peer_state(a, "hu")["entries_pending"] == 0 and peer_state(b, "be-vl")["entries_pending"] == 0,
        what="quiet channels",
    )
    stop = threading.Event()
    statuses = local_traffic(a, stop)
    wait_until(lambda: len(statuses) >= 5, what="traffic before the backup")
    backup_file = tmp_path / "be-vl.tar.gz"
    out = a.cli("backup", str(backup_file)).stdout  # while the node runs and writes
    stop.set()
    stop.thread.join(30)
    assert "written to" in out and backup_file.exists()
    assert set(statuses) == {201} and len(statuses) >= 5
    original = snapshot(a)
    a.stop()  # the machine is gone; the backup comes back on a fresh data folder at the same address

    restored = NodeProcess(
        tmp_path / "restored",
        "be-vl",
        port=a.port,
        settings={**FAST, "database_url": pg_lane.empty_database()} if pg_lane else FAST,
    )
    out = restored.cli("restore", str(backup_file)).stdout
    assert "restored into" in out
    assert (restored.data_dir / "signing_key").read_text() == (a.data_dir / "signing_key").read_text()
    assert (restored.data_dir / "secret_key").read_text() == (a.data_dir / "secret_key").read_text()
    copy = snapshot(restored)
    assert copy["books"].ok and original["books"].ok, (copy["books"], original["books"])
    # The copy is the original as it stood at one moment: a prefix of its postings, with the same balances then.
    last_txn = max(txn for txn, *_ in copy["postings"])
    assert copy["postings"] == [p for p in original["postings"] if p[0] <= last_txn]
    assert copy["balances"] == {k: v for k, v in balances_at(original, last_txn).items() if k in copy["balances"]}
    assert set(copy["entries"].items()) == set(original["entries"].items())  # no channel traffic during the backup
    assert check_chains(copy, "be-vl") >= 4
    assert copy["local_keys"] == original["local_keys"] and copy["peer_keys"] == original["peer_keys"]

    restored.start()
    try:
        anna2 = restored.client().login("anna@example.org")
        assert anna2.balance() == 7
        assert zoltan.transfer("anna@be-vl", 2, "after restore").status_code == 201
        wait_until(lambda: anna2.balance() == 9, what="the peer's payment reached the restored node")
        assert anna2.transfer("zoltan@hu", 1).status_code == 201
        wait_until(lambda: zoltan.balance() == 12, what="the restored node's payment reached hu")
        after = snapshot(restored)
        assert after["books"].ok and check_chains(after, "be-vl") >= 6
    finally:
        restored.kill9()


def test_restore_refuses_a_used_data_folder_or_database(tmp_path, pg_lane):
    node = NodeProcess(tmp_path / "a", "be-vl")
    node.init()
    backup_file = tmp_path / "a.tar.gz"
    node.cli("backup", str(backup_file))
    refused = node.cli("restore", str(backup_file), check=False)  # its own, non-empty data folder
    assert refused.returncode == 1 and "data_dir_not_empty" in refused.stderr
    if pg_lane:  # a migrated (non-empty) database
        target = NodeProcess(tmp_path / "b", "be-vl", settings={"database_url": pg_lane.migrated_database()})
        refused = target.cli("restore", str(backup_file), check=False)
        assert refused.returncode == 1 and "database_not_empty" in refused.stderr
    else:
        other = tmp_path / "b"
        other.mkdir()
        Path(other / "node.db").write_bytes((node.data_dir / "node.db").read_bytes())
        refused = NodeProcess(tmp_path / "c", "be-vl").cli(
            "restore", str(backup_file), "--database-url", f"sqlite:///{other / 'node.db'}", check=False
        )
        assert refused.returncode == 1 and "database_not_empty" in refused.stderr
