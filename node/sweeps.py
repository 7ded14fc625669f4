"""The node's deadline sweeps: the one list of them, in the order the scheduler runs them.

Each sweep takes the NodeContext and returns how many things it moved; each moves a row only
from the state it expects, so running twice (or in two processes) has its effect once.
"""

from __future__ import annotations

from collections.abc import Callable

from .registry import Registry

Sweep = Callable[..., int]


def register_sweeps(sweeps: Registry[Sweep]) -> None:
    """Add the node's own sweeps (federation adds its own in federation.jobs.register_sweeps)."""
    from . import idempotency
    from .services import advice, events, notify, reviews, rounds, signups, topics
    from .web import form_echo

    for fn in (
        notify.deliver_notifications,
        advice.pay_unchallenged_claims,
        reviews.expire_invitations,
        reviews.time_out_reviews,
        reviews.remind_reviewers,
        reviews.retry_matching,
        rounds.solve_due_rounds,
        topics.remind_funding_deadlines,
        form_echo.forget_old_echoes,
        signups.forget_expired_requests,
        events.forget_old_events,
        idempotency.forget_old_keys,
    ):
        sweeps.add(fn.__name__, fn)
