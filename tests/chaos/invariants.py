"""The network's invariants after a chaos run, read from each node's SQLite database (read-only).

A pure function of the data folders and the list of acknowledged writes, so it can also be
fed a deliberately broken copy (the self-check in test_chaos.py). Each violation names its
invariant with a letter: (a) books, (b) positions, (c) conservation, (d) transfers,
(e) escrow, (f) chain, (g) acked, (h) disputes.
"""
from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from protocol import Envelope, KeyInfo, Keyring, ProtocolError, PublicKey, check_chain, parse_json

FINAL_BOOKINGS = ("confirmed", "paid", "refunded", "cancelled", "split")
FINAL_PROPOSALS = ("completed", "withdrawn", "closed")


@dataclass(frozen=True)
class Violation:
    """One broken invariant: its name (e.g. 'b:positions') and what was seen."""

    invariant: str
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant} {self.detail}"


@dataclass(frozen=True)
class Ack:
    """A write the workload saw acknowledged (HTTP 201): it must survive every kill."""

    node: str
    kind: str  # pay | xpay | advice_book | proposal_new
    handle: str
    ref: str  # txn id, transfer id, booking id or proposal id
    amount: int


def connect(db_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)


class NodeView:
    """Read-only access to one node's database."""

    def __init__(self, node_id: str, data_dir: Path) -> None:
        self.node_id = node_id
        self.db = Path(data_dir) / "node.db"

    def rows(self, sql: str, *args) -> list[tuple]:
        with closing(connect(self.db)) as con:
            return con.execute(sql, args).fetchall()

    def one(self, sql: str, *args):
        rows = self.rows(sql, *args)
        return rows[0][0] if rows else None

    def balance(self, ref: str) -> int | None:
        return self.one("select balance from accounts where ref = ?", ref)

    def peers(self) -> list[str]:
        return [r[0] for r in self.rows("select node_id from fed_peers order by node_id")]

    def has_table(self, name: str) -> bool:
        return bool(self.one("select count(*) from sqlite_master where type='table' and name=?", name))


def check_network(dirs: dict[str, Path], acks: list[Ack] = ()) -> list[Violation]:
    """Every invariant over the whole network; an empty list means all hold."""
    views = {node_id: NodeView(node_id, d) for node_id, d in dirs.items()}
    out: list[Violation] = []
    for check in (check_books, check_positions, check_conservation, check_transfers, check_escrow,
                  check_chains, check_disputes):
        out += check(views)
    out += check_acks(views, acks)
    return out


def check_books(views: dict[str, NodeView]) -> list[Violation]:
    """(a) per node: balances sum to 0, each balance is its postings' sum, each transaction sums to 0."""
    out = []
    for v in views.values():
        total = v.one("select coalesce(sum(balance), 0) from accounts")
        if total != 0:
            out.append(Violation("a:books", f"{v.node_id}: balances sum to {total}"))
        for ref, bal, posted in v.rows(
                "select a.ref, a.balance, coalesce(sum(p.amount), 0) from accounts a "
                "left join postings p on p.account_id = a.id group by a.id having a.balance != coalesce(sum(p.amount), 0)"):
            out.append(Violation("a:books", f"{v.node_id}: account {ref} balance {bal} != postings {posted}"))
        for txn_id, s in v.rows("select txn_id, sum(amount) from postings group by txn_id having sum(amount) != 0"):
            out.append(Violation("a:books", f"{v.node_id}: transaction {txn_id} sums to {s}"))
    return out


def _pairs(views: dict[str, NodeView]):
    """Every peered ordered pair (a, b) with both databases at hand."""
    for a, va in views.items():
        for b in va.peers():
            if b in views:
                yield va, views[b]


def check_positions(views: dict[str, NodeView]) -> list[Violation]:
    """(b) for every peered pair: A's position towards B mirrors B's towards A."""
    out = []
    for va, vb in _pairs(views):
        if va.node_id > vb.node_id:
            continue
        pa, pb = va.balance(f"position:{vb.node_id}") or 0, vb.balance(f"position:{va.node_id}") or 0
        if pa + pb != 0:
            out.append(Violation("b:positions", f"{va.node_id}->{vb.node_id} position {pa}, "
                                                f"{vb.node_id}->{va.node_id} position {pb}: sum {pa + pb}"))
    return out


def check_conservation(views: dict[str, NodeView]) -> list[Violation]:
    """(c) the network's member and escrow balances equal the SIF issued: federation made or lost nothing."""
    held = issued = 0
    other: dict[str, int] = {}
    for v in views.values():
        for kind, total in v.rows("select kind, coalesce(sum(balance), 0) from accounts group by kind"):
            if kind in ("member", "escrow"):
                held += total
            elif kind == "issuance":
                issued -= total
            elif kind != "position":
                other[kind] = other.get(kind, 0) + total
    out = []
    if held != issued:
        out.append(Violation("c:conservation", f"members+escrow hold {held}, issued {issued}: "
                                               f"federation {'created' if held > issued else 'destroyed'} "
                                               f"{abs(held - issued)}"))
    for kind, total in other.items():
        if total:
            out.append(Violation("c:conservation", f"accounts of kind {kind} hold {total}"))
    return out


def check_transfers(views: dict[str, NodeView]) -> list[Violation]:
    """(d) each cross-border transfer has one final state, the same on both sides; nothing pending."""
    out = []
    rows = {}
    for v in views.values():
        for tid, direction, peer, status, amount in v.rows(
                "select transfer_id, direction, peer_id, status, amount from fed_transfers"):
            rows[(v.node_id, tid, direction)] = (peer, status, amount)
    for (node, tid, direction), (peer, status, amount) in sorted(rows.items()):
        if status not in ("completed", "bounced"):
            out.append(Violation("d:transfers", f"{direction} transfer {tid[:8]} on {node} is {status}"))
        if peer not in views:
            continue
        other = rows.get((peer, tid, "in" if direction == "out" else "out"))
        if other is None:
            out.append(Violation("d:transfers", f"{direction} transfer {tid[:8]} {node}<->{peer} has no "
                                                f"{'in' if direction == 'out' else 'out'}-row on {peer}"))
            continue
        if direction == "out" and (other[0] != node or other[1] != status or other[2] != amount):
            out.append(Violation("d:transfers", f"transfer {tid[:8]} {node}->{peer}: out {status} {amount}, "
                                                f"in {other[1]} {other[2]} (from {other[0]})"))
    return out


def check_escrow(views: dict[str, NodeView]) -> list[Violation]:
    """(e) no escrow left behind for a final advice session or proposal; no escrow below zero."""
    out = []
    for v in views.values():
        for ref, bal in v.rows("select ref, balance from accounts where kind = 'escrow' and balance < 0"):
            out.append(Violation("e:escrow", f"{v.node_id}: {ref} is negative ({bal})"))
        if v.has_table("advice_bookings"):
            marks = ",".join("?" * len(FINAL_BOOKINGS))
            for bid, status, bal in v.rows(
                    f"select b.id, b.status, a.balance from advice_bookings b join accounts a on "
                    f"a.ref = 'escrow:advice:' || b.id where b.status in ({marks}) and a.balance != 0", *FINAL_BOOKINGS):
                out.append(Violation("e:escrow", f"{v.node_id}: advice session {bid} is {status} with {bal} in escrow"))
        if v.has_table("proposals"):
            marks = ",".join("?" * len(FINAL_PROPOSALS))
            for pid, status, bal in v.rows(
                    f"select p.id, p.status, a.balance from proposals p join accounts a on "
                    f"a.ref = 'escrow:proposal:' || p.id where p.status in ({marks}) and a.balance != 0",
                    *FINAL_PROPOSALS):
                out.append(Violation("e:escrow", f"{v.node_id}: proposal {pid} is {status} with {bal} in escrow"))
    return out


def _time(text: str | None) -> datetime | None:
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def check_chains(views: dict[str, NodeView]) -> list[Violation]:
    """(f) A's out-log and B's in-log agree entry by entry, and B's copy verifies with B's keys of A."""
    out = []
    for va, vb in _pairs(views):
        a, b = va.node_id, vb.node_id
        sent = va.rows("select seq, entry_hash, acked_at from fed_channel_entries where peer_id=? and direction='out' "
                       "order by seq", b)
        got = vb.rows("select seq, entry_hash, envelope from fed_channel_entries where peer_id=? and direction='in' "
                      "order by seq", a)
        if [(s, h) for s, h, _ in sent] != [(s, h) for s, h, _ in got]:
            diff = _first_difference([(s, h) for s, h, _ in sent], [(s, h) for s, h, _ in got])
            out.append(Violation("f:chain", f"{a}->{b}: {a} sent {len(sent)} entries, {b} holds {len(got)}; {diff}"))
            continue
        unacked = [s for s, _, acked in sent if acked is None]
        if unacked:
            out.append(Violation("f:chain", f"{a}->{b}: entries {unacked[:5]} never acknowledged"))
        keys = vb.rows("select public, not_before, not_after from fed_peer_keys where peer_id=?", a)
        keyring = Keyring.of(*[KeyInfo(a, PublicKey.from_b64(pub), _time(nb), _time(na)) for pub, nb, na in keys])
        try:
            entries = [Envelope.from_dict(parse_json(env.encode())) for _, _, env in got]
            report = check_chain(entries, sender=a, receiver=b, keyring=keyring)
        except ProtocolError as exc:
            out.append(Violation("f:chain", f"{a}->{b}: {b}'s copy does not verify: {exc.code} {exc}"))
            continue
        if list(report.hashes) != [h for _, h, _ in got]:
            out.append(Violation("f:chain", f"{a}->{b}: stored entry hashes differ from the envelopes' hashes"))
    return out


def _first_difference(left: list, right: list) -> str:
    for i, (x, y) in enumerate(zip(left, right)):
        if x != y:
            return f"first difference at seq {x[0]}: {x[1][:10]} vs {y[1][:10]}"
    return f"one log stops at seq {min(len(left), len(right))}"


def check_disputes(views: dict[str, NodeView]) -> list[Violation]:
    """(h) no checkpoint found a disagreement (a dispute after a clean run is a false alarm or a real loss)."""
    out = []
    for v in views.values():
        for peer, kind, detail in v.rows("select peer_id, kind, detail from fed_disputes where status='open'"):
            out.append(Violation("h:disputes", f"{v.node_id} has an open {kind} with {peer}: {detail[:200]}"))
    return out


def check_acks(views: dict[str, NodeView], acks) -> list[Violation]:
    """(g) every acknowledged payment, booking and proposal is in the payer's books after all the kills."""
    out = []
    for ack in acks:
        v = views.get(ack.node)
        if v is None:
            continue
        member_id = v.one("select id from members where handle = ?", ack.handle)
        problem = _ack_problem(v, ack, member_id)
        if problem:
            out.append(Violation("g:acked", f"{ack.kind} {ack.ref} by {ack.handle}@{ack.node} ({ack.amount}): {problem}"))
    return out


def _ack_problem(v: NodeView, ack: Ack, member_id: int | None) -> str:
    if member_id is None:
        return "the member is gone"
    account = f"member:{member_id}"
    if ack.kind == "pay":
        posted = v.one("select p.amount from postings p join accounts a on a.id = p.account_id "
                       "where p.txn_id = ? and a.ref = ?", int(ack.ref), account)
        return "" if posted == -ack.amount else f"payer's posting is {posted}"
    if ack.kind == "xpay":
        row = v.rows("select local_member_id, amount from fed_transfers where transfer_id=? and direction='out'", ack.ref)
        if row != [(member_id, ack.amount)]:
            return f"out-row is {row}"
        posted = v.one("select p.amount from postings p join ledger_txns t on t.id = p.txn_id join accounts a on "
                       "a.id = p.account_id where t.ref = ? and a.ref = ?", f"xfer:{ack.ref}:out", account)
        return "" if posted == -ack.amount else f"payer's posting is {posted}"
    if ack.kind == "advice_book":
        hold = v.one("select count(*) from ledger_txns where ref = ?", f"advice:{ack.ref}:hold")
        return "" if hold == 1 else "no escrow hold for the booking"
    if ack.kind == "proposal_new":
        hold = v.one("select count(*) from ledger_txns where ref = ?", f"proposal:{ack.ref}:escrow")
        return "" if hold == 1 else "no escrow for the proposal"
    return f"unknown ack kind {ack.kind}"
