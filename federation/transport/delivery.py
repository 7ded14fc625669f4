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
from datetime import timedelta

import requests

from . import channels
from .connections import send_signed
from .httpsig import sign_request
from .identity import INBOX_PATH
from .tables import ChannelEntry, Peer

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A delivery attempt failed; the entries stay queued."""


def deliver(fed, peer_id: str, *, max_rounds: int = 50) -> int:
    """Send every unacknowledged entry to a peer, in batches. Returns how many the peer confirmed."""
    confirmed = 0
    with fed.peer_lock(peer_id):
        for _ in range(max_rounds):
            ctx = fed.ctx
            with ctx.db.read() as session:
                peer = session.get(Peer, peer_id)
                if peer is None or peer.status != "active":
                    return confirmed
                batch = channels.unacked(session, peer_id, ctx.settings.delivery_batch)
                key = fed.request_key_for(session, peer_id)
            if not batch:
                return confirmed
            try:
                receipt = _post_batch(fed, peer, batch, key)
            except DeliveryError as exc:
                _record_failure(fed, peer_id, str(exc))
                return confirmed
            through = receipt["received_through"]
            if "resend_from" in receipt:
                through = min(through, int(receipt["resend_from"]) - 1)
            with ctx.db.write() as session:
                confirmed += channels.mark_acked(session, peer_id, through, ctx.now())
                _record_success(session, peer_id, ctx.now())
            if through < batch[0].seq and "resend_from" not in receipt:
                _record_failure(fed, peer_id, f"peer confirmed only up to {through}")
                return confirmed
    return confirmed


def _post_batch(fed, peer: Peer, batch: list[ChannelEntry], key) -> dict:
    # Stored envelopes are canonical JSON already: join them as they are instead of parsing them again.
    body = b'{"entries":[' + b",".join(e.envelope.encode() for e in batch) + b"]}"
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


def _record_success(session, peer_id: str, now) -> None:
    peer = session.get(Peer, peer_id)
    peer.last_contact_at, peer.failures, peer.next_attempt_at, peer.last_error = now, 0, None, ""


def _record_failure(fed, peer_id: str, error: str) -> None:
    ctx = fed.ctx
    with ctx.db.write() as session:
        peer = session.get(Peer, peer_id)
        peer.failures += 1
        delay = min(ctx.settings.retry_base_seconds * 2 ** min(peer.failures - 1, 30), ctx.settings.retry_max_seconds)
        peer.next_attempt_at = ctx.now() + timedelta(seconds=delay)
        peer.last_error = error[:500]
    log.info("delivery to %s failed (%s); next try in %ss", peer_id, error[:120], delay)


def retry_due(fed) -> int:
    """Deliver to every active peer with a backlog whose retry time has come (the scheduler's job)."""
    ctx = fed.ctx
    now = ctx.now()
    with ctx.db.read() as session:
        peers = [
            p.node_id
            for p in session.query(Peer).filter(Peer.status == "active").all()
            if (p.next_attempt_at is None or p.next_attempt_at <= now) and channels.backlog(session, p.node_id)
        ]
    return sum(deliver(fed, peer_id) for peer_id in peers)


class Kicker:
    """A background thread that delivers to a peer as soon as an entry for it is committed."""

    def __init__(self, fed) -> None:
        self.fed = fed
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def kick(self, peer_id: str) -> None:
        """Queue a delivery; the thread starts on the first kick, not when the app is created."""
        with self._start_lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name=f"delivery-{self.fed.node_id}", daemon=True)
                self.thread.start()
        self.queue.put(peer_id)

    def stop(self) -> None:
        if self.thread is not None:
            self.queue.put(None)

    def _run(self) -> None:
        while True:
            peer_id = self.queue.get()
            if peer_id is None:
                return
            pending = {peer_id}
            while not self.queue.empty():  # coalesce a burst of kicks into one delivery per peer
                more = self.queue.get()
                if more is None:
                    return
                pending.add(more)
            for pid in sorted(pending):
                try:
                    deliver(self.fed, pid)
                except Exception:  # a bug here must not kill the thread; the sweep retries
                    log.exception("delivery to %s crashed", pid)
