"""Federation's scheduled work: delivery retries, checkpoints, clearing rounds, pools, funding leads, advice abroad."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlmodel import col

from federation.state import federation_in
from federation.tables import Peer

if TYPE_CHECKING:
    from node.context import NodeContext

log = logging.getLogger(__name__)


def register_sweeps(sweeps) -> None:
    """Add federation's sweeps to the node's (run after the node's own)."""
    for fn in (
        retry_deliveries,
        exchange_checkpoints,
        advance_clearing_rounds,
        share_reviewer_pools,
        share_funding_leads,
        share_advice_offers,
        pay_unchallenged_claims_abroad,
    ):
        sweeps.add(fn.__name__, fn)


def retry_deliveries(ctx: NodeContext) -> int:
    """Deliver to every peer whose backlog is due for another try."""
    from federation.transport.delivery import retry_due

    fed = federation_in(ctx)
    return retry_due(fed) if fed is not None else 0


def exchange_checkpoints(ctx: NodeContext) -> int:
    """Every checkpoint_seconds, exchange a signed checkpoint with each active peer; at once after a certificate.

    A certificate we applied late leaves the peer with a dispute (a missed certificate) until an
    agreeing checkpoint: the first sweep after any applied certificate checkpoints with each peer
    it changed, so the pair confirms it mirrors without waiting for the period.
    """
    from federation.transport.checkpoints import exchange_checkpoint, last_applied_with

    fed = federation_in(ctx)
    now, period = ctx.now(), timedelta(seconds=ctx.settings.checkpoint_seconds)
    due = fed.next_checkpoint
    with ctx.db.read() as session:
        peers = [p.node_id for p in session.query(Peer).filter(col(Peer.status) == "active").all()]
        applied = last_applied_with(session)
    done = 0
    for peer_id in peers:
        tried = due[peer_id] - period if peer_id in due else None
        # The clock counts whole seconds: an attempt in the second of the apply may have come before it.
        settled_since = peer_id in applied and (tried is None or applied[peer_id] >= tried)
        if tried is not None and due[peer_id] > now and not settled_since:
            continue
        due[peer_id] = now + period
        try:
            exchange_checkpoint(fed, peer_id)
            done += 1
        except Exception as exc:  # an unreachable peer is normal; the next period tries again
            log.info("checkpoint with %s failed: %s", peer_id, exc)
    return done


def advance_clearing_rounds(ctx: NodeContext) -> int:
    """Clearing rounds: deadlines, retries and certificate delivery; a scheduled round when one is due."""
    from federation.settlement.coordinator import sweep_rounds

    fed = federation_in(ctx)
    return sweep_rounds(fed) if fed is not None else 0


def share_reviewer_pools(ctx: NodeContext) -> int:
    """Send each active peer our reviewer pool: a snapshot first, then the changes."""
    from federation.reviews.pools import share_pools

    fed = federation_in(ctx)
    return share_pools(fed) if fed is not None else 0


def share_funding_leads(ctx: NodeContext) -> int:
    """Send each active peer our network-wide funding leads: a snapshot first, then the changes."""
    from federation.initiatives.funding import share_leads

    fed = federation_in(ctx)
    return share_leads(fed) if fed is not None else 0


def share_advice_offers(ctx: NodeContext) -> int:
    """Send each active peer our members' network-wide advice offers: a snapshot first, then the changes."""
    from federation.advice.offers import share_offers

    fed = federation_in(ctx)
    return share_offers(fed) if fed is not None else 0


def pay_unchallenged_claims_abroad(ctx: NodeContext) -> int:
    """Pay the advisers abroad of claimed sessions our members booked once the dispute period passed."""
    from federation.advice.booker_side import pay_unchallenged_claims

    return pay_unchallenged_claims(ctx)
