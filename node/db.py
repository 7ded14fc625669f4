"""Database engine and transactions, on SQLite or PostgreSQL (chosen by the database URL).

SQLite runs in WAL mode with synchronous=FULL so an acknowledged write survives
kill -9. Write transactions start with BEGIN IMMEDIATE: the read-check-write of a
balance then cannot interleave with another writer (no lost update, no overdraft).

PostgreSQL gets the same guarantee from one transaction-scoped advisory lock that
every write transaction takes first (pg_advisory_xact_lock): writers run one at a
time, as on SQLite, so code that reads a value and then writes on it (a channel's
chain head, a conditional balance UPDATE) stays correct unchanged. It is coarse on
purpose: correct first; finer locks can come when a benchmark asks for them. Writes
run at READ COMMITTED, so each statement after the lock sees every earlier writer's
commit; reads run at REPEATABLE READ, one snapshot per read transaction as SQLite
gives. Sessions use the UTC time zone so timestamps read back the same on both.

Within one process, writers also queue on a lock before they begin: a waiting thread is
woken the moment the previous writer commits, instead of SQLite's busy handler polling
with sleeps of 1, 2, 5, ... ms (measured: benchmarks/ledger.py). Other processes (gunicorn
workers, the worker) still meet at the database's own lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from . import wakeup

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The advisory lock key every PostgreSQL write transaction holds (any constant; "SIF" in ASCII).
WRITE_LOCK_KEY = 0x534946
MIGRATE_LOCK_KEY = WRITE_LOCK_KEY + 1  # held (per session) while one process upgrades the schema


def normalize_url(url: str) -> str:
    """Use psycopg 3 for a plain postgresql:// (or postgres://) URL."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Database:
    """One node's database: an engine and helpers for read and write transactions."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.is_postgres = make_url(self.url).get_backend_name() == "postgresql"
        if self.is_sqlite:
            self.engine = create_engine(self.url, connect_args={"timeout": 30, "check_same_thread": False})
            _configure_sqlite(self.engine)
            self._read_engine = self.engine
        elif self.is_postgres:
            self.engine = create_engine(self.url, pool_pre_ping=True, connect_args={"options": "-c timezone=UTC"})
            _configure_postgres(self.engine)
            self._read_engine = self.engine.execution_options(isolation_level="REPEATABLE READ")
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True)
            self._read_engine = self.engine
        self._write_engine = self.engine.execution_options(sifnet_write=True)
        # fn(session) run at the start of every write transaction (node/idempotency.py claims its key there).
        self.write_hooks: list[Callable] = []
        # fn(session) run right after every write transaction commits (node/live.py wakes event streams there).
        self.commit_hooks: list[Callable] = []
        # Re-entrant: a nested write in one thread fails at the database lock as before, not here forever.
        self._writers = threading.RLock()
        # SQLite's stand-in for NOTIFY: wake-ups between this node's processes (None: its listeners poll).
        self.wakeups = wakeup.Wakeups.beside(make_url(self.url).database) if self.is_sqlite else None

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: committed on success, rolled back on any error."""
        with self._writers, Session(self._write_engine, expire_on_commit=False) as session:
            with session.begin():
                for hook in self.write_hooks:
                    hook(session)
                yield session
            for hook in self.commit_hooks:  # not reached when the block raised: nothing was committed
                hook(session)
            if self.wakeups is not None and session.info.get(_NOTIFY):
                self.wakeups.send(session.info[_NOTIFY])

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction; closing the session rolls it back but keeps loaded objects usable."""
        with Session(self._read_engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def listening(self, channel: str) -> Iterator[Callable[[float], bool]]:
        """wait(seconds): returns when a transaction that called notify_on_commit(channel) has committed, in any
        process (PostgreSQL LISTEN; on SQLite a wake-up socket, node/wakeup.py), or when the seconds are over;
        True when it was woken. Callers still read again after a timeout: a wake-up is a hint, not the data.
        On SQLite, commits through this same object do not wake it: its commit_hooks tell of those first."""
        if not self.is_postgres:
            with nullcontext() if self.wakeups is None else self.wakeups.listen(channel) as sock:
                yield _sleep if sock is None else (lambda seconds: wakeup.wait(sock, seconds))
            return
        raw = self.engine.raw_connection()
        conn = raw.driver_connection
        try:
            assert conn is not None
            conn.autocommit = True
            conn.execute(f"LISTEN {_channel_name(channel)}")

            def wait(seconds: float) -> bool:
                assert conn is not None
                return any(True for _note in conn.notifies(timeout=max(0.0, seconds), stop_after=1))

            yield wait
        finally:
            try:
                assert conn is not None
                conn.execute("UNLISTEN *")
                conn.autocommit = False
            finally:
                raw.close()

    def upgrade(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        from alembic import command

        if not self.is_postgres:
            command.upgrade(alembic_config(self.url), "head")
            return
        # Several processes (gunicorn workers, the worker) may start at once: one migrates, the others wait.
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATE_LOCK_KEY})")
            try:
                command.upgrade(alembic_config(self.url), "head")
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATE_LOCK_KEY})")

    def dispose(self) -> None:
        self.engine.dispose()


def notify_on_commit(session: Session, channel: str) -> None:
    """Wake the processes listening on the channel (Database.listening) when this transaction commits.

    PostgreSQL delivers a NOTIFY at commit and drops it on rollback; on SQLite, Database.write sends the
    wake-ups after the commit (none after a rollback).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {_channel_name(channel)}"))
    else:
        session.info.setdefault(_NOTIFY, set()).add(_channel_name(channel))


_NOTIFY = "sifnet_notify_channels"  # session.info: the channels a SQLite transaction wakes after its commit


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False


def _channel_name(channel: str) -> str:
    if not channel.replace("_", "").isalnum():
        raise ValueError(f"not a channel name: {channel!r}")
    return channel


def alembic_config(url: str):
    """An Alembic config pointing at the node's migrations and the given database."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised by every test
        # Let SQLAlchemy's begin event below emit BEGIN itself.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        if conn.get_execution_options().get("sifnet_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def _configure_postgres(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # psycopg opens the transaction itself; the lock is its first statement and lasts until commit/rollback.
        if conn.get_execution_options().get("sifnet_write"):
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
