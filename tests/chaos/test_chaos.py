"""The seeded chaos harness: a short run in `make test`, and proof that its invariant checker can fail."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from .conftest import SHORT_SEEDS
from .invariants import check_network

pytestmark = [pytest.mark.chaos, pytest.mark.slow]


def test_short_run_keeps_every_invariant(short_run):
    assert [r.seed for r in short_run] == list(SHORT_SEEDS)
    for r in short_run:  # the run did real work under real faults, or it proves nothing
        assert r.ops["xpay"] > 0 and r.ops["pay"] > 0, r.line()
        assert sum(v for k, v in r.faults.items() if k != "skew_s") > 0, r.line()
    # Seed 6 of the short run plans every federation-wide kind: cross-border reviews, consent, rounds.
    new_kinds = ("xproposal_new", "xreview_step", "consent", "clock_jump", "settle")
    assert all(sum(r.ops[k] for r in short_run) > 0 for k in new_kinds), [r.line() for r in short_run]
    failures = [f"{r.line()}\n" + "\n".join(f"    {v}" for v in r.violations[1:10]) for r in short_run if not r.ok]
    assert not failures, "replay with `make chaos SEED=<n> NODES=3`:\n" + "\n".join(failures)


@pytest.fixture
def clean_copy(short_run, tmp_path):
    """A copy of the data folders of a seed that passed, with the workload's acknowledged writes."""
    passed = [r for r in short_run if r.ok]
    if not passed:
        pytest.skip("no seed of the short run passed; its own test reports why")
    # The seed with the most cross-border reviews and rounds, so their checks have rows to find.
    result = max(passed, key=lambda r: (r.ops["settle"] + r.ops["xproposal_new"], -r.seed))
    dirs = {}
    for node, path in result.dirs.items():
        dirs[node] = tmp_path / node
        shutil.copytree(path, dirs[node], ignore=shutil.ignore_patterns("node.log", "mail"))
    assert check_network(dirs, result.acks) == []  # the untouched copy is clean
    return dirs, result.acks


def _edit(db_dir: Path, *statements: str) -> None:
    with closing(sqlite3.connect(db_dir / "node.db")) as con:
        for sql in statements:
            assert con.execute(sql).rowcount != 0, sql
        con.commit()


def _with_rows(dirs: dict, sql: str) -> Path:
    """The first data folder whose database has a row for sql."""
    for path in dirs.values():
        with closing(sqlite3.connect(path / "node.db")) as con:
            if con.execute(sql).fetchone():
                return path
    pytest.skip(f"no node has a row for {sql}")


TAMPERING = {
    "a:books": [
        "update accounts set balance = balance + 1 where id = (select min(id) from accounts where kind='member')"
    ],
    "b:positions": [
        "update accounts set balance = balance + 2 where id = (select min(id) from accounts where kind='position')",
        "update accounts set balance = balance - 2 where kind = 'issuance'",
    ],
    "c:conservation": [
        "update accounts set balance = balance + 3 where id = (select min(id) from accounts where kind='member')",
        "update accounts set balance = balance - 3 where id = (select min(id) from accounts where kind='position')",
    ],
    "d:transfers": [
        "update fed_transfers set status = 'bounced' where id = (select min(id) from fed_transfers "
        "where direction='in' and status='completed')"
    ],
    "e:escrow": [
        "insert into accounts (kind, ref, balance, closed, created_at) values "
        "('escrow', 'escrow:advice:999999', -1, 0, '2026-01-01 00:00:00')",
        "update accounts set balance = balance + 1 where kind = 'issuance'",
    ],
    "f:chain": [
        "update fed_channel_entries set envelope = replace(envelope, '\"amount\":', '\"amount\":1') "
        "where id = (select min(id) from fed_channel_entries where direction='in' and type='transfer')"
    ],
    "j:reviews": [
        "update fed_incoming_invitations set invite_id = 'forged' || invite_id "
        "where id = (select min(id) from fed_incoming_invitations)"
    ],
    "l:rounds": [
        "update fed_settlement_rounds set state = 'certified' "
        "where round_id = (select min(round_id) from fed_settlement_rounds)"
    ],
    "m:advice": [
        "update fed_remote_bookings set status = case status when 'cancelled' then 'declined' else 'cancelled' end "
        "where id = (select min(id) from fed_remote_bookings where side = 'adviser')"
    ],
    "h:disputes": [
        "insert into fed_disputes (peer_id, kind, detail, status, opened_at, resolution) "
        "select node_id, 'position_mismatch', 'planted', 'open', '2026-01-01 00:00:00', '' from fed_peers limit 1"
    ],
}
NEEDS = {
    "d:transfers": "select 1 from fed_transfers where direction='in' and status='completed'",
    "f:chain": "select 1 from fed_channel_entries where direction='in' and type='transfer'",
    "j:reviews": "select 1 from fed_incoming_invitations",
    "l:rounds": "select 1 from fed_settlement_rounds",
    "m:advice": "select 1 from fed_remote_bookings where side = 'adviser'",
}


@pytest.mark.parametrize("invariant", sorted(TAMPERING))
def test_checker_finds_a_tampered_database(clean_copy, invariant):
    dirs, acks = clean_copy
    target = _with_rows(dirs, NEEDS.get(invariant, "select 1"))
    _edit(target, *TAMPERING[invariant])
    found = {v.invariant for v in check_network(dirs, acks)}
    assert invariant in found, found


def test_checker_finds_a_lost_acknowledged_payment(clean_copy):
    dirs, acks = clean_copy
    ack = next(a for a in acks if a.kind == "pay")
    # Rewrite the payer's side of the acknowledged payment as if the node had never written it.
    _edit(
        dirs[ack.node],
        f"update postings set account_id = (select id from accounts where kind='issuance') "
        f"where txn_id = {int(ack.ref)} and amount < 0",
    )
    found = {v.invariant for v in check_network(dirs, acks)}
    assert "g:acked" in found, found


@pytest.mark.parametrize(
    "seed, options",
    [
        # BUG-1: a checkpoint whose answer a partition ate answered 500; now 502 peer_unreachable.
        (23, {"ops": 50, "members": 3}),
        # BUG-2: two key rotations before a peer applied the first stalled that channel for good.
        (137, {"ops": 50}),
    ],
    ids=["seed_23_checkpoint_answer_lost", "seed_137_two_rotations_while_peer_down"],
)
def test_regression_seed(seed, options, tmp_path):
    import dataclasses

    from .conftest import SHORT
    from .harness import run_many

    (result,) = run_many([seed], dataclasses.replace(SHORT, **options), tmp_path, keep=False)
    assert result.ok, result.line() + "\n" + "\n".join(str(v) for v in result.violations[:10])


def test_checker_finds_feedback_kept_on_one_side_only(clean_copy):
    """(m) feedback on a booking abroad that only one node holds (or on one that did not take place) is found."""
    dirs, acks = clean_copy
    target = _with_rows(dirs, NEEDS["m:advice"])
    _edit(
        target,
        "insert into fed_remote_feedback (booking_id, author, rating, comment, created_at) "
        "select min(id), 'booker', 5, 'planted', '2026-01-01 00:00:00' from fed_remote_bookings where side = 'adviser'",
    )
    found = {v.invariant for v in check_network(dirs, acks)}
    assert "m:advice" in found, found
