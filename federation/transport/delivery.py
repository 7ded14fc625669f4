"""Delivery: send a peer our unacknowledged channel entries, right after the commit and again with backoff.

No HTTP call happens inside a database transaction. Delivery never gives up: a peer that is
away for days gets everything once it is back (the delay between tries is capped, not the tries).
Batches go over the peer's kept-alive connections (federation/transport/connections.py); a connection that
breaks before the answer is tried once more before the attempt counts as failed.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import requests
from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from federation.tables import ChannelEntry, Peer, table_of
from federation.transport import channels
from federation.transport.connections import send_signed
from federation.transport.httpsig import sign_request
from federation.transport.identity import INBOX_PATH
from federation.transport.peers import get_peer
from federation.transport.refusal import Refusal
from protocol import Envelope
from protocol.errors import RemoteProtocolError

if TYPE_CHECKING:
    from federation.state import Federation

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A delivery attempt failed; the entries stay queued."""


def deliver(fed: Federation, peer_id: str, *, max_rounds: int = 50) -> int:
    """Send every unacknowledged entry to a peer, in batches. Returns how many the peer confirmed.

    Each request acknowledges what we applied of the peer's channel, and the entries the peer hands back in
    its answer are checked and applied here, in the transaction that records the peer's receipt.
    """
    confirmed = 0
    with fed.peer_lock(peer_id):
        for _ in range(max_rounds):
            ctx = fed.ctx
            with ctx.db.read() as session:
                peer = session.execute(_PEER, {"node_id": peer_id}).first()
                if peer is None or peer.status != "active":
                    return confirmed
                batch = channels.unacked(session, peer_id, ctx.settings.delivery_batch)
                key = fed.request_key_for(session, peer_id)
                applied = channels.chain_point(session, fed.node_id, peer_id, "in")
            if not batch:
                return confirmed
            try:
                receipt = _post_batch(fed, peer, batch, key, applied)
            except DeliveryError as exc:
                _record_failure(fed, peer_id, str(exc))
                return confirmed
            through = receipt["received_through"]
            if "resend_from" in receipt:
                through = min(through, int(receipt["resend_from"]) - 1)
            confirmed += _take_receipt(fed, peer_id, through, receipt.get("entries"))
            if through < batch[0].seq and "resend_from" not in receipt:
                _record_failure(fed, peer_id, f"peer confirmed only up to {through}")
                return confirmed
    return confirmed


def _take_receipt(fed: Federation, peer_id: str, through: int, handed_back: object) -> int:
    """Mark our entries up to `through` acknowledged; apply the peer's entries handed back. Returns how many."""
    ctx = fed.ctx
    marked = 0

    def acknowledge(session: Session) -> None:
        nonlocal marked
        marked = channels.mark_acked(session, peer_id, through, ctx.now())
        _record_success(session, peer_id, ctx.now())

    answers = _answers(fed, peer_id, handed_back) if handed_back is not None else []
    if not answers:  # one write, without the chain point and peer that applying entries reads
        with ctx.db.write() as session:
            acknowledge(session)
        return marked
    try:
        channels.receive_entries(fed, peer_id, answers, ctx.now(), first=acknowledge)
    except Exception as exc:  # the acknowledgement is committed; the rest comes again through our inbox
        log.warning("an entry %s handed back failed (%s); it comes again by delivery", peer_id, exc)
    return marked


def _answers(fed: Federation, peer_id: str, raw: object) -> list[Envelope]:
    """The peer's entries handed back with its receipt that continue our copy of its channel (checked, read-only).

    The answer itself is not signed: each entry is, and chains to the one before, as in our inbox.
    """
    try:
        envelopes = channels.batch_of(raw, peer_id, fed.node_id)
        with fed.ctx.db.read() as session:
            return channels.check_entries(session, fed, peer_id, envelopes, fed.ctx.now())
    except (Refusal, RemoteProtocolError) as exc:
        log.warning("%s handed back entries this node does not take (%s); they come again by delivery", peer_id, exc)
        return []


def _post_batch(fed: Federation, peer: Row, batch: list[ChannelEntry], key, applied: tuple[int, str]) -> dict:
    """POST a batch to the peer (its node_id and base_url, as `_PEER` read them); the peer's receipt."""
    # Stored envelopes are canonical JSON already: join them as they are instead of parsing them again.
    entries = b'"entries":[' + b",".join(e.envelope.encode() for e in batch) + b"]}"
    if applied[0] > 0:
        ack = json.dumps(channels.Receipt(*applied).to_dict(), separators=(",", ":"))  # an ack reads as a receipt
        body = b'{"ack":' + ack.encode() + b"," + entries
    else:
        body = b"{" + entries
    url = peer.base_url.rstrip("/") + INBOX_PATH

    def signed_headers() -> dict[str, str]:
        now = fed.ctx.now()
        return sign_request(
            method="POST", url=url, body=body, from_node=fed.node_id, to_node=peer.node_id, key=key, now=now
        )

    try:
        # A batch may be sent twice (a broken connection's retry, two processes delivering): the peer
        # applies each entry once by its seq and acknowledges one it already has, so nothing applies twice.
        response = send_signed(fed.http_for(peer), "POST", url, body, signed_headers, timeout=fed.timeout)
    except requests.RequestException as exc:
        raise DeliveryError(f"{exc.__class__.__name__}: {exc}") from None
    if response.status_code != 200:
        raise DeliveryError(f"HTTP {response.status_code}: {response.text[:300]}")
    try:
        receipt = json.loads(response.content)
        int(receipt["received_through"])
    except (ValueError, KeyError, TypeError):
        raise DeliveryError("the peer's answer is not a receipt") from None
    return receipt


def _record_success(session: Session, peer_id: str, now) -> None:
    session.execute(_SUCCESS, {"peer": peer_id, "now": now})


# Core statements on the peers table: each delivery reads its peer and records its success.
_PEERS = table_of(Peer)
_PEER = select(_PEERS.c.node_id, _PEERS.c.base_url, _PEERS.c.status).where(_PEERS.c.node_id == bindparam("node_id"))
_SUCCESS = (
    update(_PEERS)
    .where(_PEERS.c.node_id == bindparam("peer"))
    .values(last_contact_at=bindparam("now"), failures=0, next_attempt_at=None, last_error="")
)


def _record_failure(fed: Federation, peer_id: str, error: str) -> None:
    ctx = fed.ctx
    with ctx.db.write() as session:
        peer = get_peer(session, peer_id)
        peer.failures += 1
        delay = min(ctx.settings.retry_base_seconds * 2 ** min(peer.failures - 1, 30), ctx.settings.retry_max_seconds)
        peer.next_attempt_at = ctx.now() + timedelta(seconds=delay)
        peer.last_error = error[:500]
    log.info("delivery to %s failed (%s); next try in %ss", peer_id, error[:120], delay)


def retry_due(fed: Federation) -> int:
    """Deliver to every active peer with a backlog whose retry time has come (the scheduler's job).

    Entries written within the hand-back grace are left to the kicks: they were just delivered or handed back,
    and the peer's next request may acknowledge them. (Entries dated after now, from before the clock was set
    back, are not young: they are retried.)
    """
    ctx = fed.ctx
    now = ctx.now()
    young = (now - timedelta(milliseconds=ctx.settings.handback_grace_ms), now)
    with ctx.db.read() as session:
        peers = [
            p.node_id
            for p in session.query(Peer).filter(col(Peer.status) == "active").all()
            if (p.next_attempt_at is None or p.next_attempt_at <= now)
            and channels.backlog(session, p.node_id, except_written=young)
        ]
    return sum(deliver(fed, peer_id) for peer_id in peers)


class Kicker:
    """A background thread that delivers to a peer as soon as an entry for it is committed, or at a set time."""

    def __init__(self, fed: Federation) -> None:
        self.fed = fed
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._later: dict[str, float] = {}  # peer -> when to deliver (time.monotonic), unless it happens first

    def kick(self, peer_id: str) -> None:
        """Queue a delivery; the thread starts on the first kick, not when the app is created."""
        self._start()
        self.queue.put(peer_id)

    def kick_later(self, peer_id: str, delay: float) -> None:
        """Deliver after `delay` seconds; a peer already waiting keeps its earlier time (no starving)."""
        self._start()
        with self._lock:
            self._later.setdefault(peer_id, time.monotonic() + delay)
        self.queue.put(_RECKON)

    def _start(self) -> None:
        with self._lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name=f"delivery-{self.fed.node_id}", daemon=True)
                self.thread.start()

    def stop(self) -> None:
        if self.thread is not None:
            self.queue.put(None)

    def _next(self) -> str | None:
        """The next kick, or _RECKON when a set time came first."""
        with self._lock:
            wait = min(self._later.values(), default=None)
        try:
            return self.queue.get(timeout=None if wait is None else max(0.0, wait - time.monotonic()))
        except queue.Empty:
            return _RECKON

    def _due(self, pending: set[str]) -> set[str]:
        """Take the peers whose time came, and those kicked now (their delivery covers what was waiting)."""
        now = time.monotonic()
        with self._lock:
            due = {peer for peer, when in self._later.items() if when <= now} | (pending & set(self._later))
            for peer in due:
                del self._later[peer]
        return pending | due

    def _run(self) -> None:
        while True:
            peer_id = self._next()
            if peer_id is None:
                return
            pending = {peer_id}
            while not self.queue.empty():  # coalesce a burst of kicks into one delivery per peer
                more = self.queue.get()
                if more is None:
                    return
                pending.add(more)
            for pid in sorted(self._due(pending - {_RECKON})):
                try:
                    deliver(self.fed, pid)
                except Exception:  # a bug here must not kill the thread; the sweep retries
                    log.exception("delivery to %s crashed", pid)


_RECKON = ""  # a queue item that wakes the thread to look at the set times (no peer has an empty id)
