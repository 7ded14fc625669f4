"""The per-app bundle of settings, database, clock, password hasher and mailer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from argon2 import PasswordHasher
from flask import Flask, current_app

from .clock import SystemClock
from .db import Database
from .registry import Registry
from .settings import Settings

if TYPE_CHECKING:
    from .services.advice_listings import RemoteAdvice
    from .services.export import ExportPart
    from .services.proposals import RemoteReviews
    from .services.statement import Describer
    from .sweeps import Sweep


class Stoppable(Protocol):
    """What node needs of federation's running parts: to stop them (its delivery thread, its connections)."""

    def stop(self) -> None: ...


@dataclass
class NodeContext:
    """What services need from the running node; one per Flask app."""

    settings: Settings
    db: Database
    clock: SystemClock
    hasher: PasswordHasher
    sweeps: Registry[Sweep] = field(default_factory=lambda: Registry("sweep"))
    # How each transaction kind reads on a member's statement (node/services/counterparties.py; federation
    # adds the cross-border kinds at start-up).
    statement_kinds: Registry[Describer] = field(default_factory=lambda: Registry("statement kind"))
    # The parts of a member's data export (node/services/export.py; federation adds those about other nodes).
    export_parts: Registry[ExportPart] = field(default_factory=lambda: Registry("export part"))
    # Set by the app factory when federation is wired in (node never imports it): the federation
    # object (node only stops it), and the hooks through which proposals reach reviewers on peer nodes.
    federation: Stoppable | None = None
    remote_reviews: RemoteReviews | None = None
    # Shows peers' shared advice offers and books them across the border (federation/advice/booker_side.py).
    remote_advice: RemoteAdvice | None = None
    # Pays an address of another node: callable(session, payer=, to=, amount=, memo=, now=) -> dict, with
    # .check(address) asking the payee's node first (node/services/payments.py).
    remote_payments: Any = None
    # Review rounds being solved in a thread of this process, by round id (node/services/rounds.py).
    round_threads: dict = field(default_factory=dict)

    def now(self):
        return self.clock.now()


def node_ctx(app: Flask | None = None) -> NodeContext:
    """The context of an app (by default the current one), set by the app factory."""
    ctx: NodeContext = (app or current_app).extensions["sifnet"]
    return ctx
