"""The per-app federation object: identity, connections to peers, delivery kicker and per-peer locks."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from federation.transport import channels
from federation.transport.connections import PeerConnections
from federation.transport.identity import Identity
from node.registry import Registry
from protocol import SigningKey, parse_json

if TYPE_CHECKING:
    from node.context import NodeContext

_LISTENER_INSTALLED = False


class Federation:
    """Everything a node needs to talk to its peers; one per Flask app."""

    def __init__(self, ctx: NodeContext, *, start_kicker: bool = True) -> None:
        from federation.transport.delivery import Kicker

        self.ctx = ctx
        self.node_id = ctx.settings.node_id
        self.identity = Identity(ctx)
        self.connections = PeerConnections()
        self.timeout = 10.0
        self.max_skew = timedelta(seconds=ctx.settings.fed_max_skew_seconds)
        self.max_age = timedelta(seconds=ctx.settings.fed_max_age_seconds)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self.kicker = Kicker(self) if start_kicker else None
        self._held = threading.local()
        # When the checkpoint sweep exchanges the next signed checkpoint with each peer (federation/jobs.py).
        self.next_checkpoint: dict[str, datetime] = {}
        # Filled by federation.handlers.register_handlers when the app starts.
        self.channel_handlers: Registry = Registry("channel message type")
        self.direct_handlers: Registry = Registry("direct message type")
        self.settlement_handlers: Registry = Registry("settlement message type")
        self.payee_resolvers: Registry = Registry("payee resolver")
        _install_commit_listener()

    def http_for(self, peer):
        """The session (kept-alive connections) for requests to this peer (a Peer row: its id and base URL)."""
        return self.connections.session(peer.node_id, peer.base_url)

    @contextmanager
    def peer_lock(self, peer_id: str):
        """One delivery at a time per peer in this process (keeps batches in order)."""
        with self._locks_guard:
            lock = self._locks.setdefault(peer_id, threading.Lock())
        with lock:
            yield

    def after_commit(self, session: Session, peer_id: str) -> None:
        """Deliver to the peer once the current transaction has committed."""
        session.info.setdefault("fed_kicks", (self, set()))[1].add(peer_id)

    @contextmanager
    def kicks_held(self):
        """Collect this thread's delivery kicks instead of sending them; yields the set to kick later.

        The inbox holds them until its answer is sent, so delivering our answering entries does not
        compete with answering the peer. If the block fails, the kicks go out at once.
        """
        held: set[str] = set()
        self._held.peers = held
        try:
            yield held
        except BaseException:
            self._held.peers = None
            self.kick(held)
            raise
        finally:
            self._held.peers = None

    def kick(self, peer_ids) -> None:
        """Start delivering to these peers (collected instead while this thread holds its kicks)."""
        held = getattr(self._held, "peers", None)
        if held is not None:
            held.update(peer_ids)
        elif self.kicker is not None:
            for peer_id in peer_ids:
                self.kicker.kick(peer_id)

    def kick_later(self, peer_id: str, delay: float) -> None:
        """Deliver to the peer after `delay` seconds, unless a delivery to it happens first."""
        if self.kicker is not None:
            self.kicker.kick_later(peer_id, delay)

    def request_key_for(self, session: Session, peer_id: str) -> SigningKey:
        """Sign requests with the old key until the peer has applied our newest key rotation."""
        # Our OLDEST rotation the peer has not applied: its old key is the newest key the peer surely knows (later
        # rotations it learns from the same batch; the newest one's old key may be one it never learnt).
        rotation = channels.first_unacked(session, peer_id, "key_rotation")
        if rotation is not None:
            envelope = cast(dict, parse_json(rotation.encode()))  # our own stored entry: a JSON object
            old_kid = envelope["body"]["old_kid"]
            old = self.identity.retired_key(old_kid)
            if old is not None:
                return old
        return self.identity.current_key()

    def stop(self) -> None:
        """Stop the delivery thread and close the connections to peers."""
        if self.kicker is not None:
            self.kicker.stop()
        self.connections.close()


def _install_commit_listener() -> None:
    global _LISTENER_INSTALLED
    if _LISTENER_INSTALLED:
        return
    # After a rollback a kick is harmless: delivery finds nothing new to send.

    @event.listens_for(Session, "after_commit")
    def _kick_after_commit(session: Session) -> None:
        kicks = session.info.pop("fed_kicks", None)
        if kicks is None:
            return
        fed, peers = kicks
        fed.kick(peers)

    _LISTENER_INSTALLED = True


def federation_of(app: Flask | None = None) -> Federation:
    """The Federation object of an app (by default the current one), set when federation is wired in."""
    fed: Federation = (app or current_app).extensions["sifnet_federation"]
    return fed


def federation_in(ctx: NodeContext) -> Federation:
    """The Federation object wired into a node's context (node knows it only as something to stop)."""
    assert ctx.federation is not None, "federation is not wired into this node"
    return cast(Federation, ctx.federation)
