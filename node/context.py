"""The per-app bundle of settings, database, clock, password hasher and mailer."""
from __future__ import annotations

from dataclasses import dataclass, field

from argon2 import PasswordHasher
from flask import current_app

from .clock import SystemClock
from .db import Database
from .settings import Settings


@dataclass
class NodeContext:
    """What services need from the running node; one per Flask app."""

    settings: Settings
    db: Database
    clock: SystemClock
    hasher: PasswordHasher
    # Wired-in extensions (federation) keep their per-app objects here.
    extensions: dict = field(default_factory=dict)

    def now(self):
        return self.clock.now()


def node_ctx() -> NodeContext:
    """The context of the current Flask app."""
    return current_app.extensions["sifnet"]
