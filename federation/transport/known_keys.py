"""Every key this node knows (its own, its peers', its directory's), read with one statement and parsed once."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import literal, null, select, union_all
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import CompoundSelect
from sqlmodel import col

from federation.tables import DirectoryKey, LocalKey, PeerKey
from protocol import KeyInfo, Keyring, PublicKey

PEER, OWN, DIRECTORY = "peer", "own", "directory"

# One statement for the three tables: the inbox authenticates a request and checks its entries with this
# one read. Ordered, so the same keys always give the same rows (the cache's key below).
_EVERY_KEY: CompoundSelect = union_all(
    select(
        literal(PEER).label("source"),
        col(PeerKey.kid),
        col(PeerKey.peer_id).label("node_id"),
        col(PeerKey.public),
        col(PeerKey.not_before),
        col(PeerKey.not_after),
    ),
    select(
        literal(OWN),
        col(LocalKey.kid),
        literal(""),
        col(LocalKey.public),
        col(LocalKey.not_before),
        col(LocalKey.not_after),
    ),
    select(
        literal(DIRECTORY),
        col(DirectoryKey.kid),
        col(DirectoryKey.directory_id),
        col(DirectoryKey.public),
        null(),
        null(),
    ),
).order_by("source", "kid")


@dataclass(frozen=True)
class KnownKeys:
    """The keys as they stood when read: the whole network's, the peers' alone, and those rotations retired."""

    network: Keyring
    peers: Keyring
    retired: Mapping[str, frozenset[str]]

    def retired_of(self, peer_id: str) -> frozenset[str]:
        """The peer's keys that a key_rotation on its channel retired (they carry an end date)."""
        return self.retired.get(peer_id, frozenset())


# Parsed by the exact rows they were built from: the rows are read on every call, so a new, rotated or
# expired key (written by this process or another) is a new cache key, never a stale hit.
_CACHE: dict[tuple, KnownKeys] = {}
_CACHE_MAX = 16
_LOCK = threading.Lock()


def known_keys(session: Session, own_id: str) -> KnownKeys:
    """Every key this node knows, of any node; a key id belongs to exactly one node here."""
    rows = (own_id, *(tuple(row) for row in session.execute(_EVERY_KEY)))
    keys = _CACHE.get(rows)
    if keys is None:
        keys = _parse(own_id, rows[1:])
        with _LOCK:
            if len(_CACHE) >= _CACHE_MAX:
                _CACHE.clear()
            _CACHE[rows] = keys
    return keys


def _parse(own_id: str, rows: tuple[Any, ...]) -> KnownKeys:
    peers: list[KeyInfo] = []
    others: list[KeyInfo] = []
    retired: dict[str, set[str]] = {}
    for source, kid, node_id, public, not_before, not_after in rows:
        info = KeyInfo(own_id if source == OWN else node_id, PublicKey.from_b64(public), not_before, not_after)
        (peers if source == PEER else others).append(info)
        if source == PEER and not_after is not None:
            retired.setdefault(node_id, set()).add(kid)
    return KnownKeys(
        network=Keyring.of(*peers, *others),
        peers=Keyring.of(*peers),
        retired=MappingProxyType({node: frozenset(kids) for node, kids in retired.items()}),
    )
