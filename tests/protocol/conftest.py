"""Factories for protocol tests: fixed keys per node, a fixed clock, envelopes.

The fixtures are stateless, so they are session-scoped (and safe under hypothesis).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from protocol import (
    ChannelRef,
    Envelope,
    KeyInfo,
    Keyring,
    SigningKey,
    genesis_hash,
    make_envelope,
    sign_envelope,
    verify_envelope,
)

NOW = datetime(2026, 1, 15, 10, 0, 30, tzinfo=UTC)
CREATED = "2026-01-15T10:00:00Z"
MAX_SKEW = timedelta(minutes=5)
MAX_AGE = timedelta(hours=1)
NODES = ("be-vl", "nl", "at", "it", "hu")


def node_key(node_id: str, generation: int = 0) -> SigningKey:
    """The fixed test key of ``node_id``: seed = sha256("<node_id>/<generation>")."""
    return SigningKey.from_seed(hashlib.sha256(f"{node_id}/{generation}".encode()).digest())


def transfer_body(**changes: object) -> dict:
    """A valid transfer body, with ``changes`` applied."""
    body = {"transfer_id": "t-0001", "payer": "anna", "payee": "bela", "amount": 250, "memo": "Thanks"}
    body.update(changes)
    return body


@pytest.fixture(scope="session")
def key_for():
    """Factory: the fixed signing key of a node id."""
    return node_key


@pytest.fixture(scope="session")
def keyring() -> Keyring:
    """The current keys of the five devnet nodes, without validity limits."""
    return Keyring.of(*(KeyInfo(n, node_key(n).public_key) for n in NODES))


@pytest.fixture(scope="session")
def now() -> datetime:
    """The injected clock: 30 s after the standard ``created``."""
    return NOW


@pytest.fixture(scope="session")
def signed_transfer():
    """Factory: a signed transfer envelope from ``from_`` to ``to`` (channel seq 1 by default)."""

    def build(from_: str = "be-vl", to: str = "hu", *, seq: int = 1, prev: str | None = None, **body) -> Envelope:
        env = make_envelope(
            type="transfer",
            from_=from_,
            to=to,
            created=CREATED,
            body=transfer_body(**body),
            id=f"env-{from_}-{seq}",
            channel=ChannelRef(seq, prev or genesis_hash(from_, to)),
        )
        return sign_envelope(env, node_key(from_))

    return build


@pytest.fixture(scope="session")
def verify(keyring, now):
    """Factory: verify_envelope with the test keyring and clock, overridable per call."""

    def run(env: Envelope, **overrides):
        args = dict(keyring=keyring, expected_to="hu", now=now, max_skew=MAX_SKEW, max_age=MAX_AGE)
        args.update(overrides)
        return verify_envelope(env, **args)

    return run
