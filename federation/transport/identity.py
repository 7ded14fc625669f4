"""This node's identity: its signing keys (current and retired), node document and key rotation.

The current key's seed is <data>/signing_key; retired seeds move to <data>/keys/ so the
node can still sign requests with the old key until every peer has learned the new one.
"""

from __future__ import annotations

import os
import threading
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from node.keys import KEY_FILE, ensure_signing_key, load_signing_key
from protocol import (
    PROTOCOL_VERSION,
    Envelope,
    SigningKey,
    b64url_decode,
    b64url_encode,
    format_time,
    make_envelope,
    sign_envelope,
)

from .tables import LocalKey

DOCUMENT_PATH = "/.well-known/sifnet-node"
INBOX_PATH = "/federation/v1/inbox"
MESSAGES_PATH = "/federation/v1/messages"
SUMMARY_PATH = "/federation/v1/summary"


class Identity:
    """Access to this node's keys; one per app, safe across threads."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.data = ctx.settings.data_path
        self._lock = threading.Lock()
        self._current: SigningKey | None = None
        self._stamp: int | None = None

    def current_key(self) -> SigningKey:
        """The key in <data>/signing_key, re-read when another process (the CLI) rotated it."""
        with self._lock:
            path = self.data / KEY_FILE
            stamp = path.stat().st_mtime_ns if path.exists() else None
            if self._current is None or stamp != self._stamp:
                self._current = ensure_signing_key(self.data)
                self._stamp = (self.data / KEY_FILE).stat().st_mtime_ns
            return self._current

    def retired_key(self, kid: str) -> SigningKey | None:
        path = self.data / "keys" / _file_name(kid)
        if not path.exists():
            return None
        return SigningKey.from_seed(b64url_decode(path.read_text().strip()))

    def register_current(self, session, now: datetime) -> None:
        """Make sure the current key is listed (first start, or a fresh data folder)."""
        key = self.current_key()
        if session.get(LocalKey, key.key_id) is None:
            session.add(LocalKey(kid=key.key_id, public=key.public_key.b64, not_before=now))

    def keys(self, session) -> list[LocalKey]:
        return list(session.scalars(select(LocalKey).order_by(LocalKey.not_before)).all())

    def rotate(self, session, now: datetime) -> tuple[SigningKey, SigningKey, datetime]:
        """Switch to a new key; the old one stays valid for the grace period. Returns (old, new, old_end)."""
        with self._lock:
            old = self._current or load_signing_key(self.data)
            keys_dir = self.data / "keys"
            keys_dir.mkdir(exist_ok=True)
            _write_secret(keys_dir / _file_name(old.key_id), b64url_encode(old.seed))
            new = SigningKey.from_seed(os.urandom(32))
            tmp = self.data / (KEY_FILE + ".new")
            _write_secret(tmp, b64url_encode(new.seed))
            old_end = now + timedelta(hours=self.ctx.settings.key_grace_hours)
            row = session.get(LocalKey, old.key_id)
            if row is None:
                row = LocalKey(kid=old.key_id, public=old.public_key.b64, not_before=now)
                session.add(row)
            row.not_after = old_end
            session.add(LocalKey(kid=new.key_id, public=new.public_key.b64, not_before=now))
            session.flush()
            os.replace(tmp, self.data / KEY_FILE)  # the switch itself is one atomic rename
            self._current, self._stamp = new, (self.data / KEY_FILE).stat().st_mtime_ns
        return old, new, old_end

    def node_document(self, session, now: datetime) -> Envelope:
        """The self-signed node document: who we are, our keys (retired ones with end dates), endpoints."""
        s = self.ctx.settings
        base = s.base_url.rstrip("/")
        keys = []
        for row in self.keys(session):
            entry = {"kid": row.kid, "public": row.public, "not_before": format_time(row.not_before)}
            if row.not_after is not None:
                entry["not_after"] = format_time(row.not_after)
            keys.append(entry)
        body = {
            "node_id": s.node_id,
            "name": s.node_name,
            "country": s.country.upper(),
            "base_url": base,
            "keys": keys,
            "protocol_versions": [PROTOCOL_VERSION],
            "endpoints": {"inbox": base + INBOX_PATH, "document": base + DOCUMENT_PATH},
        }
        if s.directory_id:  # the node chose a directory: say where its signed summary is
            body["endpoints"]["summary"] = base + SUMMARY_PATH
        env = make_envelope(
            type="node_document", from_=s.node_id, to="*", created=now, body=body, id=f"doc-{uuid.uuid4().hex}"
        )
        return sign_envelope(env, self.current_key())


def new_envelope_id() -> str:
    return uuid.uuid4().hex


def _file_name(kid: str) -> str:
    return kid.replace(":", "_") + ".seed"


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
        fh.flush()
        os.fsync(fh.fileno())
