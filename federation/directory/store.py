"""The directory's per-process bundle: settings, its own database, clock and signing key."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from node.clock import SystemClock
from node.db import Database
from node.keys import ensure_signing_key
from protocol import PROTOCOL_VERSION, Envelope, SigningKey, format_time, make_envelope, sign_envelope

from .settings import DirectorySettings
from .tables import DirectoryModel

DOCUMENT_PATH = "/.well-known/sifnet-node"
APPLY_PATH = "/api/v1/applications"


@dataclass
class Directory:
    """What the directory's services need: settings, database, clock and key."""

    settings: DirectorySettings
    db: Database
    clock: SystemClock
    key: SigningKey

    @property
    def id(self) -> str:
        return self.settings.directory_id

    def now(self):
        return self.clock.now()

    @property
    def max_skew(self) -> timedelta:
        return timedelta(seconds=self.settings.max_skew_seconds)

    @property
    def max_age(self) -> timedelta:
        return timedelta(seconds=self.settings.max_age_seconds)

    def document(self) -> Envelope:
        """The directory's self-signed description, in the node_document form, so nodes can pin its key.

        The directory takes no channel entries: its "inbox" endpoint is where nodes apply.
        """
        base = self.settings.base_url.rstrip("/")
        key = self.key.public_key
        body = {
            "node_id": self.id,
            "name": self.settings.name,
            "country": "EU",
            "base_url": base,
            "keys": [{"kid": key.key_id, "public": key.b64}],
            "protocol_versions": [PROTOCOL_VERSION],
            "endpoints": {"inbox": base + APPLY_PATH, "document": base + DOCUMENT_PATH},
        }
        env = make_envelope(
            type="node_document",
            from_=self.id,
            to="*",
            created=format_time(self.now()),
            body=body,
            id=f"doc-{uuid.uuid4().hex}",
        )
        return sign_envelope(env, self.key)

    def close(self) -> None:
        self.db.dispose()


def open_directory(settings: DirectorySettings, clock: SystemClock | None = None) -> Directory:
    """Open (creating on first use) the directory's data folder, key and database."""
    data = settings.data_path
    data.mkdir(parents=True, exist_ok=True)
    key = ensure_signing_key(data)  # <data>/signing_key, mode 0600, like a node's
    db = Database(settings.db_url)
    DirectoryModel.metadata.create_all(db.engine)
    return Directory(settings=settings, db=db, clock=clock or SystemClock(), key=key)
