"""The network's invariants after a chaos run, read from each node's SQLite database (read-only).

A pure function of the data folders and the list of acknowledged writes, so it can also be
fed a deliberately broken copy (the self-check in test_chaos.py). Each violation names its
invariant with a letter: (a) books, (b) positions, (c) conservation, (d) transfers,
(e) escrow, (f) chain, (g) acked, (h) disputes, (j) reviews (cross-border invitations), (l) rounds
(clearing rounds), (m) advice abroad (each booking across a border and its feedback, on both nodes).
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from federation.transport.checkpoints import MISSED
from protocol import Envelope, KeyInfo, Keyring, ProtocolError, PublicKey, check_chain, keys_before, parse_json

FINAL_BOOKINGS = ("confirmed", "paid", "refunded", "cancelled", "declined", "split")
FINAL_PROPOSALS = ("completed", "withdrawn", "closed")
OPEN_INVITATIONS = ("invited", "accepted")
ROUNDS_NOT_OVER = ("collecting", "computed", "proposed", "certified", "undelivered")


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
    for check in (
        check_books,
        check_positions,
        check_conservation,
        check_transfers,
        check_escrow,
        check_chains,
        check_disputes,
        check_reviews,
        check_invitation_bounds,
        check_rounds,
        check_advice_abroad,
    ):
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
            "left join postings p on p.account_id = a.id group by a.id having a.balance != coalesce(sum(p.amount), 0)"
        ):
            out.append(Violation("a:books", f"{v.node_id}: account {ref} balance {bal} != postings {posted}"))
        for txn_id, s in v.rows("select txn_id, sum(amount) from postings group by txn_id having sum(amount) != 0"):
            out.append(Violation("a:books", f"{v.node_id}: transaction {txn_id} sums to {s}"))
    return out


def _pairs(views: dict[str, NodeView]):
    """Every peered ordered pair (a, b) with both databases at hand."""
    for _a, va in views.items():
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
            out.append(
                Violation(
                    "b:positions",
                    f"{va.node_id}->{vb.node_id} position {pa}, "
                    f"{vb.node_id}->{va.node_id} position {pb}: sum {pa + pb}",
                )
            )
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
        out.append(
            Violation(
                "c:conservation",
                f"members+escrow hold {held}, issued {issued}: "
                f"federation {'created' if held > issued else 'destroyed'} "
                f"{abs(held - issued)}",
            )
        )
    for kind, total in other.items():
        if total:
            out.append(Violation("c:conservation", f"accounts of kind {kind} hold {total}"))
    return out


# federation/payments/transfers.py: how the careless-peer hook records a transfer under a reused id
REUSE_MARK = "-reuse-"


def check_transfers(views: dict[str, NodeView]) -> list[Violation]:
    """(d) each cross-border transfer has one final state, the same on both sides; nothing pending.

    A transfer the careless-peer hook sent under a reused id (recorded as `<id>-reuse-<n>` by its
    sender, with no row of its own at the receiver) must have come back bounced as transfer_id_reused,
    and the receiver must hold the first transfer of that id.
    """
    out = []
    rows = {}
    for v in views.values():
        for tid, direction, peer, status, amount, reason in v.rows(
            "select transfer_id, direction, peer_id, status, amount, reason_code from fed_transfers"
        ):
            rows[(v.node_id, tid, direction)] = (peer, status, amount, reason)
    for (node, tid, direction), (peer, status, amount, reason) in sorted(rows.items()):
        if status not in ("completed", "bounced"):
            out.append(Violation("d:transfers", f"{direction} transfer {tid[:8]} on {node} is {status}"))
        if peer not in views:
            continue
        if REUSE_MARK in tid:
            original = tid.split(REUSE_MARK)[0]
            if (status, reason) != ("bounced", "transfer_id_reused") or (peer, original, "in") not in rows:
                out.append(
                    Violation(
                        "d:transfers",
                        f"reused id {tid[:8]}{tid[32:]} {node}->{peer}: {status} "
                        f"({reason}), first transfer there: {(peer, original, 'in') in rows}",
                    )
                )
            continue
        other = rows.get((peer, tid, "in" if direction == "out" else "out"))
        if other is None:
            out.append(
                Violation(
                    "d:transfers",
                    f"{direction} transfer {tid[:8]} {node}<->{peer} has no "
                    f"{'in' if direction == 'out' else 'out'}-row on {peer}",
                )
            )
            continue
        if direction == "out" and (other[0] != node or other[1] != status or other[2] != amount):
            out.append(
                Violation(
                    "d:transfers",
                    f"transfer {tid[:8]} {node}->{peer}: out {status} {amount}, "
                    f"in {other[1]} {other[2]} (from {other[0]})",
                )
            )
    return out


# The node's defaults for what a peer's invitation may ask (node/settings.py); the cluster keeps them.
MAX_ACCEPT_DAYS, MAX_DUE_DAYS = 30, 60


def check_invitation_bounds(views: dict[str, NodeView]) -> list[Violation]:
    """(l) no node holds a peer's invitation whose deadlines lie beyond its bounds (slot starvation)."""
    out = []
    for v in views.values():
        for invite_id, peer, received, accept_by, due_by in v.rows(
            "select invite_id, peer_id, received_at, accept_by, due_by from fed_incoming_invitations"
        ):
            start, accept, due = _time(received), _time(accept_by), _time(due_by)
            if accept - start > timedelta(days=MAX_ACCEPT_DAYS) or due - start > timedelta(days=MAX_DUE_DAYS):
                out.append(
                    Violation(
                        "l:invitations",
                        f"{v.node_id} holds {peer}'s invitation {invite_id[:12]} "
                        f"to accept by {accept_by}, due {due_by} (received {received})",
                    )
                )
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
                f"a.ref = 'escrow:advice:' || b.id where b.status in ({marks}) and a.balance != 0",
                *FINAL_BOOKINGS,
            ):
                out.append(Violation("e:escrow", f"{v.node_id}: advice session {bid} is {status} with {bal} in escrow"))
        if v.has_table("proposals"):
            marks = ",".join("?" * len(FINAL_PROPOSALS))
            for pid, status, bal in v.rows(
                f"select p.id, p.status, a.balance from proposals p join accounts a on "
                f"a.ref = 'escrow:proposal:' || p.id where p.status in ({marks}) and a.balance != 0",
                *FINAL_PROPOSALS,
            ):
                out.append(Violation("e:escrow", f"{v.node_id}: proposal {pid} is {status} with {bal} in escrow"))
    return out


def _time(text: str | None) -> datetime | None:
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def check_chains(views: dict[str, NodeView]) -> list[Violation]:
    """(f) A's out-log and B's in-log agree entry by entry, and B's copy verifies with B's keys of A."""
    out = []
    for va, vb in _pairs(views):
        a, b = va.node_id, vb.node_id
        sent = va.rows(
            "select seq, entry_hash, acked_at from fed_channel_entries where peer_id=? and direction='out' "
            "order by seq",
            b,
        )
        got = vb.rows(
            "select seq, entry_hash, envelope from fed_channel_entries where peer_id=? and direction='in' order by seq",
            a,
        )
        if [(s, h) for s, h, _ in sent] != [(s, h) for s, h, _ in got]:
            diff = _first_difference([(s, h) for s, h, _ in sent], [(s, h) for s, h, _ in got])
            out.append(Violation("f:chain", f"{a}->{b}: {a} sent {len(sent)} entries, {b} holds {len(got)}; {diff}"))
            continue
        unacked = [s for s, _, acked in sent if acked is None]
        if unacked:
            out.append(Violation("f:chain", f"{a}->{b}: entries {unacked[:5]} never acknowledged"))
        try:
            entries = [Envelope.from_dict(parse_json(env.encode())) for _, _, env in got]
            report = check_chain(entries, sender=a, receiver=b, keyring=_pinned_keyring(vb, a, entries))
        except ProtocolError as exc:
            out.append(Violation("f:chain", f"{a}->{b}: {b}'s copy does not verify: {exc.code} {exc}"))
            continue
        if list(report.hashes) != [h for _, h, _ in got]:
            out.append(Violation("f:chain", f"{a}->{b}: stored entry hashes differ from the envelopes' hashes"))
    return out


def _pinned_keyring(v: NodeView, peer: str, entries: list[Envelope]) -> Keyring:
    """The peer's keys as the node knew them before this chain (checking it learns its rotations again)."""
    keys = v.rows("select public, not_before, not_after from fed_peer_keys where peer_id=?", peer)
    return keys_before(
        entries, Keyring.of(*[KeyInfo(peer, PublicKey.from_b64(pub), _time(nb), _time(na)) for pub, nb, na in keys])
    )


def _first_difference(left: list, right: list) -> str:
    for _i, (x, y) in enumerate(zip(left, right)):
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
            out.append(
                Violation("g:acked", f"{ack.kind} {ack.ref} by {ack.handle}@{ack.node} ({ack.amount}): {problem}")
            )
    return out


def _ack_problem(v: NodeView, ack: Ack, member_id: int | None) -> str:
    if member_id is None:
        return "the member is gone"
    account = f"member:{member_id}"
    if ack.kind == "pay":
        posted = v.one(
            "select p.amount from postings p join accounts a on a.id = p.account_id where p.txn_id = ? and a.ref = ?",
            int(ack.ref),
            account,
        )
        return "" if posted == -ack.amount else f"payer's posting is {posted}"
    if ack.kind == "xpay":
        row = v.rows(
            "select local_member_id, amount from fed_transfers where transfer_id=? and direction='out'", ack.ref
        )
        if row != [(member_id, ack.amount)]:
            return f"out-row is {row}"
        posted = v.one(
            "select p.amount from postings p join ledger_txns t on t.id = p.txn_id join accounts a on "
            "a.id = p.account_id where t.ref = ? and a.ref = ?",
            f"xfer:{ack.ref}:out",
            account,
        )
        return "" if posted == -ack.amount else f"payer's posting is {posted}"
    if ack.kind == "advice_book":
        hold = v.one("select count(*) from ledger_txns where ref = ?", f"advice:{ack.ref}:hold")
        return "" if hold == 1 else "no escrow hold for the booking"
    if ack.kind == "xadvice_book":
        hold = v.one("select count(*) from ledger_txns where ref = ?", f"xadvice:{ack.ref}:hold")
        return "" if hold == 1 else "no escrow hold for the booking abroad"
    if ack.kind == "proposal_new":
        hold = v.one("select count(*) from ledger_txns where ref = ?", f"proposal:{ack.ref}:escrow")
        return "" if hold == 1 else "no escrow for the proposal"
    return f"unknown ack kind {ack.kind}"


def check_reviews(views: dict[str, NodeView]) -> list[Violation]:
    """(j) each cross-border invitation has matching states on the proposer's and the reviewer's node.

    Open states must be the same on both sides; a submitted review is submitted on both, with its
    bounty paid once; an invitation the proposer ended (expired, withdrawn, refused) is over on the
    reviewer's side too, where an answer that crossed the end may stand if the end reached it.
    """
    out = []
    sent = {}
    for v in views.values():
        for row in v.rows(
            "select l.invite_id, l.peer_id, l.end_sent, l.transfer_id, i.id, i.status from "
            "fed_review_links l join review_invitations i on i.id = l.invitation_id"
        ):
            sent[(v.node_id, row[0])] = row
    got = {}
    for v in views.values():
        for invite_id, peer, status, end_reason in v.rows(
            "select invite_id, peer_id, status, end_reason from fed_incoming_invitations"
        ):
            got[(peer, invite_id)] = (v.node_id, status, end_reason)
    for (node, invite_id), (_, peer, end_sent, transfer_id, inv_id, status) in sorted(sent.items()):
        if peer not in views:
            continue
        theirs = got.get((node, invite_id))
        if theirs is None and _declined_at_once(views[peer], node, invite_id):
            theirs = (peer, "declined", "")  # no row there: its node declined for the reviewer on arrival
        problem = _review_problem(views[node], inv_id, status, end_sent, transfer_id, theirs)
        if problem:
            out.append(Violation("j:reviews", f"invitation {inv_id} of {node} to {peer} ({invite_id[:8]}): {problem}"))
    for (peer, invite_id), (node, status, _) in sorted(got.items()):
        if peer in views and (peer, invite_id) not in sent:
            out.append(Violation("j:reviews", f"{node} holds a {status} invitation {invite_id[:8]} {peer} never sent"))
    return out


def _declined_at_once(v: NodeView, proposer: str, invite_id: str) -> bool:
    """Whether the reviewer's node answered the invite with a review_decline of its own (keeping no row)."""
    return bool(
        v.one(
            "select count(*) from fed_channel_entries where peer_id = ? and direction = 'out' and "
            "type = 'review_decline' and envelope like ?",
            proposer,
            f'%"invite_id":"{invite_id}"%',
        )
    )


def _review_problem(v: NodeView, inv_id: int, status: str, end_sent: str, transfer_id: str, theirs) -> str:
    their_status, their_end = (theirs[1], theirs[2]) if theirs else (None, "")
    if status in OPEN_INVITATIONS:
        return "" if their_status == status else f"{status} here, {their_status} there"
    if status == "submitted":
        paid = v.one("select count(*) from ledger_txns where ref = ?", f"review:{inv_id}:bounty")
        if paid != 1 or not transfer_id:
            return f"submitted with {paid} bounty postings, transfer {transfer_id!r}"
        return "" if their_status == "submitted" else f"submitted here, {their_status} there"
    if status == "declined":
        return "" if their_status == "declined" else f"declined here, {their_status} there"
    # expired, timed_out, cancelled: ended here, told there by a review_cancel
    if not end_sent:
        return f"{status} here but no review_cancel was sent"
    if their_status is None or their_status in OPEN_INVITATIONS:
        return f"{status} here, {their_status} there"
    if their_status == "submitted" and their_end != end_sent:
        return f"{status} here, submitted there without the end ({their_end!r}) arriving"
    return ""


def open_rounds(v: NodeView) -> list[str]:
    """Clearing rounds this node coordinates that are not over yet (the quiet wait waits for them)."""
    if not v.has_table("fed_settlement_rounds"):
        return []
    marks = ",".join("?" * len(ROUNDS_NOT_OVER))
    return [
        f"{rid[:8]}:{state}"
        for rid, state in v.rows(
            f"select round_id, state from fed_settlement_rounds where state in ({marks})", *ROUNDS_NOT_OVER
        )
    ]


def disputes_ending(v: NodeView) -> list[str]:
    """Open disputes that end by themselves: a missed certificate, closed by the first agreeing checkpoint after it
    is applied (the quiet wait waits for them; one still open after it is a violation like any dispute)."""
    if not v.has_table("fed_disputes"):
        return []
    return [
        f"missed certificate with {peer}"
        for (peer,) in v.rows(
            "select peer_id from fed_disputes where status = 'open' and detail like ?",
            f"positions do not mirror: {MISSED}%",
        )
    ]


def check_rounds(views: dict[str, NodeView]) -> list[Violation]:
    """(l) each clearing round is settled on every participant or on none, its set-off posted exactly once."""
    out = []
    for v in views.values():
        for rid, state, participants in v.rows("select round_id, state, participants from fed_settlement_rounds"):
            for p in json.loads(participants):
                if p in views:
                    problem = _round_problem(views[p], rid, state)
                    if problem:
                        out.append(
                            Violation("l:rounds", f"round {rid[:8]} by {v.node_id} is {state}; on {p}: {problem}")
                        )
    for v in views.values():
        for rid, coordinator, _part in v.rows(
            "select round_id, coordinator, state from fed_settlement_parts where state = 'applied'"
        ):
            if (
                coordinator in views
                and views[coordinator].one("select state from fed_settlement_rounds where round_id = ?", rid)
                != "settled"
            ):
                out.append(
                    Violation("l:rounds", f"{v.node_id} applied round {rid[:8]} that {coordinator} did not settle")
                )
        for txn_id, legs, total in v.rows(
            "select t.id, sum(a.kind != 'position'), sum(p.amount) from ledger_txns t join postings p on "
            "p.txn_id = t.id join accounts a on a.id = p.account_id where t.kind = 'settlement' group by t.id"
        ):
            if legs or total:
                out.append(
                    Violation(
                        "l:rounds",
                        f"{v.node_id}: settlement {txn_id} moves more than positions ({legs} other legs, net {total})",
                    )
                )
    return out


def _round_problem(v: NodeView, round_id: str, state: str) -> str:
    part = v.rows("select state, changes from fed_settlement_parts where round_id = ?", round_id)
    posted = v.one("select count(*) from ledger_txns where ref = ?", f"settle:{round_id}")
    if state in ROUNDS_NOT_OVER:
        return "the round is not over after heal and quiet"
    if state != "settled":  # abandoned or empty: nothing anywhere
        applied = bool(part) and part[0][0] == "applied"
        return f"{posted} postings, part {part[0][0] if part else None}" if posted or applied else ""
    if not part or part[0][0] != "applied":
        return f"part is {part[0][0] if part else 'missing'}"
    expected = 1 if json.loads(part[0][1] or "{}") else 0
    return "" if posted == expected else f"{posted} settlement postings, expected {expected}"


FINAL_ABROAD = ("declined", "cancelled", "confirmed", "paid", "refunded", "split")


def check_advice_abroad(views: dict[str, NodeView]) -> list[Violation]:
    """(m) each booking across a border is in the same state on the booker's and the adviser's node; its escrow at
    the booker's node is held while it is open and empty once it ended, with exactly one release posting; a paid one
    went out as one transfer. A booking the adviser's node refused on arrival exists only at the booker's (declined,
    or cancelled when the booker's cancel crossed the refusal)."""
    out: list[Violation] = []
    booked, advised = {}, {}
    for v in views.values():
        if not v.has_table("fed_remote_bookings"):
            continue
        for row_id, side, peer, ref, status, amount, share, transfer in v.rows(
            "select id, side, peer_id, booking_ref, status, amount, provider_amount, transfer_id "
            "from fed_remote_bookings"
        ):
            (booked if side == "booker" else advised)[(v.node_id, peer, ref)] = (
                row_id,
                status,
                amount,
                share,
                transfer,
            )
    for (node, peer, ref), (row_id, status, amount, share, transfer) in sorted(booked.items()):
        where = f"booking {row_id} of {node} at {peer} ({ref[:8]})"
        theirs = advised.pop((peer, node, ref), None)
        if peer in views:
            if theirs is None and status not in ("declined", "cancelled"):
                out.append(Violation("m:advice", f"{where} is {status} here, unknown there"))
            elif theirs is not None and theirs[1] != status:
                out.append(Violation("m:advice", f"{where} is {status} here, {theirs[1]} there"))
        problem = _abroad_money(views[node], row_id, status, amount, share, transfer)
        if problem:
            out.append(Violation("m:advice", f"{where} ({status}): {problem}"))
    for (node, peer, ref), (_, status, *_rest) in sorted(advised.items()):
        if peer in views:
            out.append(Violation("m:advice", f"{node} holds a {status} booking {ref[:8]} {peer} never made"))
    return out + _abroad_feedback(views)


def _abroad_feedback(views: dict[str, NodeView]) -> list[Violation]:
    """(m) feedback on a session abroad is kept only on one that took place, and both nodes hold the same."""
    kept: dict[tuple, dict[str, set]] = {}
    out: list[Violation] = []
    for v in views.values():
        if not v.has_table("fed_remote_feedback"):
            continue
        for side, peer, ref, status, author, rating in v.rows(
            "select b.side, b.peer_id, b.booking_ref, b.status, f.author, f.rating "
            "from fed_remote_feedback f join fed_remote_bookings b on b.id = f.booking_id"
        ):
            if status not in ("confirmed", "paid", "split"):
                out.append(Violation("m:advice", f"{v.node_id} keeps feedback on a {status} booking {ref[:8]}"))
            pair = (v.node_id, peer) if side == "booker" else (peer, v.node_id)
            kept.setdefault((*pair, ref), {}).setdefault(v.node_id, set()).add((author, rating))
    for (booker, adviser, ref), by_node in sorted(kept.items()):
        if booker in views and adviser in views and by_node.get(booker) != by_node.get(adviser):
            out.append(Violation("m:advice", f"feedback on booking {ref[:8]} of {booker} at {adviser}: {by_node}"))
    return out


def _abroad_money(v: NodeView, row_id: int, status: str, amount: int, share, transfer: str) -> str:
    held = v.balance(f"escrow:xadvice:{row_id}")
    releases = v.rows("select ref from ledger_txns where ref like ?", f"xadvice:{row_id}:%")
    steps = sorted(ref.rsplit(":", 1)[1] for (ref,) in releases)
    if status not in FINAL_ABROAD:
        return "" if held == amount and steps == ["hold"] else f"open with {held} in escrow, postings {steps}"
    if held != 0 or len(steps) != 2 or "hold" not in steps:
        return f"ended with {held} in escrow, postings {steps}"
    paid = bool(share)
    if paid != bool(transfer) or (
        paid and v.one("select count(*) from fed_transfers where transfer_id = ? and direction = 'out'", transfer) != 1
    ):
        return f"adviser's share {share}, transfer {transfer!r}"
    return ""
