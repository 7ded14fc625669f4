"""The node's Ed25519 signing key, kept in its data folder (mode 0600)."""

from __future__ import annotations

import os
from pathlib import Path

from protocol import SigningKey, b64url_decode, b64url_encode

KEY_FILE = "signing_key"


def ensure_signing_key(data_path: Path) -> SigningKey:
    """Load the node's signing key, creating one from fresh OS randomness on first use."""
    path = data_path / KEY_FILE
    if not path.exists():
        seed = os.urandom(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(b64url_encode(seed) + "\n")
    return load_signing_key(data_path)


def load_signing_key(data_path: Path) -> SigningKey:
    return SigningKey.from_seed(b64url_decode((data_path / KEY_FILE).read_text().strip()))
