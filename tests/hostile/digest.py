"""A digest of a node's WHOLE database: every row of every table, hashed in a stable order."""

from __future__ import annotations

import hashlib

from sqlalchemy import MetaData, select

# Tables left out of the comparison, each for a stated reason (the change is asserted on its own):
EXCLUDED = {
    # A failed login is counted on purpose (the login throttles read it); tests/hostile/test_login.py
    # checks that table on its own, and that nothing else changed.
    "login_throttles",
    # A refused web form is kept for the page it goes back to (node/web/form_echo.py), read once and
    # deleted; tests/node/test_form_echo.py checks it on its own.
    "form_echoes",
}


def db_digest(ctx, *, exclude: frozenset[str] | set[str] = frozenset(EXCLUDED)) -> dict[str, str]:
    """SHA-256 per table over every row, rows sorted by their repr, tables by name (SQLite or PostgreSQL)."""
    meta = _schema(ctx.db.engine)
    out: dict[str, str] = {}
    with ctx.db.engine.connect() as conn:
        for name in sorted(meta.tables):
            if name in exclude:
                continue
            rows = conn.execute(select(meta.tables[name])).all()
            digest = hashlib.sha256(str(len(rows)).encode())
            for row in sorted(repr(tuple(r)) for r in rows):
                digest.update(row.encode())
            out[name] = digest.hexdigest()
    return out


def _schema(engine) -> MetaData:
    # Reflected once per database: the schema does not change while a suite runs, and reflecting
    # forty tables twice per case would dominate the suite's time.
    meta = _SCHEMAS.get(engine.url)
    if meta is None:
        meta = _SCHEMAS[engine.url] = MetaData()
        meta.reflect(bind=engine)
    return meta


_SCHEMAS: dict = {}


def changed_tables(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Names of the tables whose digest differs (or that appeared or vanished)."""
    return sorted(t for t in set(before) | set(after) if before.get(t) != after.get(t))
