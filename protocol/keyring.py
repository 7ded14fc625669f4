"""Which key belongs to which node, and when each key may sign."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from .errors import LocalProtocolError
from .keys import PublicKey
from .timefmt import parse_time, require_aware


@dataclass(frozen=True)
class KeyInfo:
    """A node's public key and the half-open interval [not_before, not_after) it signs in."""

    node_id: str
    public_key: PublicKey
    not_before: datetime | None = None
    not_after: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("not_before", "not_after"):
            value = getattr(self, name)
            if value is not None:
                require_aware(value, name)
        if self.not_before is not None and self.not_after is not None and self.not_after <= self.not_before:
            raise LocalProtocolError("bad_argument", "not_after must be later than not_before")

    @property
    def key_id(self) -> str:
        """Key id of the public key."""
        return self.public_key.key_id

    def valid_at(self, when: datetime) -> bool:
        """Whether an envelope created at ``when`` may be signed by this key."""
        if self.not_before is not None and when < self.not_before:
            return False
        return self.not_after is None or when < self.not_after


@dataclass(frozen=True)
class Keyring(Mapping[str, KeyInfo]):
    """A frozen mapping from key id to KeyInfo; build it with ``Keyring.of``."""

    _by_kid: Mapping[str, KeyInfo] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def of(cls, *infos: KeyInfo) -> Keyring:
        """Build a keyring from key infos.

        Raises:
            LocalProtocolError: code ``duplicate_kid`` if two different infos
                share a key id (an exact repeat is harmless and kept once).
        """
        by_kid: dict[str, KeyInfo] = {}
        for info in infos:
            if not isinstance(info, KeyInfo):
                raise LocalProtocolError("bad_argument", "Keyring.of takes KeyInfo values")
            known = by_kid.setdefault(info.key_id, info)
            if known != info:
                raise LocalProtocolError("duplicate_kid", f"two different entries for key {info.key_id}")
        return cls(MappingProxyType(by_kid))

    def __getitem__(self, key_id: str) -> KeyInfo:
        return self._by_kid[key_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_kid)

    def __len__(self) -> int:
        return len(self._by_kid)

    def __hash__(self) -> int:
        return hash(frozenset(self._by_kid.items()))


def key_infos_from_document(body: dict[str, Any]) -> tuple[KeyInfo, ...]:
    """The KeyInfos of the keys a node_document body lists, for its ``node_id``.

    ``body`` must have passed ``validate_body("node_document", body)``; to accept a
    new peer's first document, check its key's fingerprint against the pinned one,
    then verify the document with a keyring of these infos.
    """
    infos = []
    for entry in body["keys"]:
        not_before, not_after = (parse_time(entry[k]) if k in entry else None for k in ("not_before", "not_after"))
        infos.append(KeyInfo(body["node_id"], PublicKey.from_b64(entry["public"]), not_before, not_after))
    return tuple(infos)
