"""Shared fixtures: a real node app on a real database, a fixed clock, member factories.

The database is SQLite in the node's data folder, or with SIFNET_TEST_DB=postgresql a fresh
PostgreSQL database per node (see tests/pg.py), for in-process apps and NodeProcess alike.
"""

from __future__ import annotations

import itertools
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from deploy.processes import FAST_ARGON2
from federation.state import federation_of
from node.app import create_app
from node.clock import FixedClock
from node.db import Database
from node.services import ledger, members
from node.settings import Settings
from tests import pg

# Fixtures every package's tests may request by name, without importing them: real node processes
# (tests/procs.py), one Chromium per session (a second sync Playwright would clash), one devnet per session.
pytest_plugins = ["tests.procs", "tests.browser_fixtures", "tests.devnet_fixture"]

START = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


def pytest_configure(config):
    if pg.lane_active():
        # A pooled psycopg connection left to the garbage collector (seen once in a federation test; the source is
        # not pinned down) warns whenever GC runs, often in a later test; its database was already dropped WITH
        # FORCE at the end of its own test, so the warning says nothing about the test it lands in.
        config.addinivalue_line(
            "filterwarnings", "ignore:.*psycopg.Connection.*was deleted while still open:ResourceWarning"
        )


@pytest.fixture(scope="session")
def pg_lane():
    """The PostgreSQL lane's databases, or None on the SQLite lane."""
    if not pg.lane_active():
        yield None
        return
    try:
        url, cluster = pg.obtain_server()
    except RuntimeError as exc:
        pytest.exit(f"PostgreSQL lane: {exc}", returncode=3)
    lane = pg.ACTIVE = pg.Lane(url)
    yield lane
    pg.ACTIVE = None
    lane.close()
    if cluster:
        cluster.stop()


@pytest.fixture(autouse=True)
def _database_lane(pg_lane, monkeypatch):
    """On the PostgreSQL lane, every node without a database_url gets its own fresh database."""
    if pg_lane is None:
        yield
        return
    lane_url = property(lambda self: self.database_url or pg_lane.database_for(self.data_path))
    monkeypatch.setattr(Settings, "db_url", lane_url)
    from tests import procs  # a plugin (pytest_plugins): imported by pytest first, for its assertion rewriting

    monkeypatch.setattr(procs, "database_for", pg_lane.database_for)
    yield
    pg_lane.drop_test_databases()


@pytest.fixture(scope="session", autouse=True)
def _sqlite_template(pg_lane, tmp_path_factory):
    """On the SQLite lane, a new node database starts as a copy of one migrated once per session.

    Alembic takes most of a second per app; every in-process app would migrate the same empty
    schema. The copy is the database `upgrade()` would have made (tests/node/test_upgrade.py
    still migrates for real, on its own engines). Node processes (NodeProcess) migrate as usual.
    """
    if pg_lane is not None or os.environ.get("SIFNET_TEST_TEMPLATE") == "0":  # "0": migrate each (benchmarks/quick.py)
        yield
        return
    template = tmp_path_factory.mktemp("template") / "node.db"
    scratch = Database(f"sqlite:///{template}")
    scratch.upgrade()
    scratch.dispose()
    real_upgrade = Database.upgrade

    def upgrade(self: Database) -> None:
        path = _sqlite_path(self.url)
        if path is not None and path.name == "node.db" and not path.exists():  # a new node's data folder
            shutil.copyfile(template, path)
            return
        real_upgrade(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Database, "upgrade", upgrade)
        yield


def _sqlite_path(url: str) -> Path | None:
    """The file of a file-backed SQLite URL (None for anything else)."""
    if not url.startswith("sqlite:///") or url == "sqlite:///:memory:":
        return None
    return Path(url[len("sqlite:///") :])


@pytest.fixture
def pg_database(pg_lane):
    """A fresh PostgreSQL database at the newest schema (its URL); skipped on the SQLite lane."""
    if pg_lane is None:
        pytest.skip("PostgreSQL lane only (SIFNET_TEST_DB=postgresql)")
    return pg_lane.migrated_database()


@pytest.fixture
def empty_database_url(pg_lane, tmp_path):
    """The URL of a new database without tables: PostgreSQL on its lane, else a SQLite file."""
    if pg_lane is None:
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return pg_lane.empty_database()


@pytest.fixture
def clock():
    return FixedClock(START)


@pytest.fixture
def app(tmp_path, clock):
    """A node app with its own data folder and database, migrated by Alembic."""
    app = create_app(
        {
            "data_dir": str(tmp_path / "node"),
            "node_id": "be-vl",
            "country": "BE",
            "welcome_grant": 10,
            "min_balance": -5,
            # An event stream read through the test client sends what is waiting and ends (a page walk must not
            # hang on /events for minutes); tests of long streams build their own app (tests/node/test_live.py).
            "live_stream_seconds": 0,
            **FAST_ARGON2,
        },
        clock=clock,
    )
    app.config["TESTING"] = True
    yield app
    if "sifnet_federation" in app.extensions:
        federation_of(app).stop()
    app.extensions["sifnet"].db.dispose()


@pytest.fixture
def ctx(app):
    return app.extensions["sifnet"]


@pytest.fixture
def client(app):
    return app.test_client()


_seq = itertools.count(1)


@pytest.fixture
def make_member(ctx):
    """Factory: an approved member (or coordinator) with the welcome grant."""

    def make(handle: str | None = None, *, role: str = "member", approve: bool = True, **profile):
        n = next(_seq)
        handle = handle or f"member{n}"
        with ctx.db.write() as s:
            member = members.sign_up(
                s,
                ctx.settings,
                email=f"{handle}@example.org",
                password=PASSWORD,
                display_name=handle.title(),
                handle=handle,
                now=ctx.now(),
                hasher=ctx.hasher,
            )
            if approve:
                members._activate(s, ctx.settings, member, actor=None, reason="test", now=ctx.now())
            member.role = role
            if profile:
                members.update_profile(s, ctx.settings, member=member, data=profile, now=ctx.now())
            s.flush()
            s.expunge(member)
        return member

    return make


@pytest.fixture
def token_for(ctx):
    """Factory: an API token header for a member."""

    def make(member) -> dict:
        with ctx.db.write() as s:
            token = members.create_token(s, member=member, name="test", now=ctx.now())
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
def books(ctx):
    """Call to assert the ledger invariant (balances sum to zero and agree with postings)."""

    def check():
        with ctx.db.read() as s:
            result = ledger.check_books(s)
        assert result.ok, result
        return result

    return check


def balance_of(ctx, member) -> int:
    with ctx.db.read() as s:
        return ledger.member_account(s, member.id).balance


def mailed_links(app, email: str, path: str) -> list[str]:
    """The tokens of the links to `path` (e.g. "/signup/confirm/") mailed to `email`, oldest first."""
    import re
    from email import message_from_bytes, policy

    folder = app.extensions["sifnet"].settings.data_path / "mail"
    tokens = []
    for file in sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
        mail = message_from_bytes(file.read_bytes(), policy=policy.default)
        if str(mail["To"]).lower() == email.lower():
            tokens += re.findall(re.escape(path) + r"([\w.-]+)", mail.get_content())
    return tokens


def sign_up_by_mail(app, body: dict):
    """Sign up through the API as a person does (ask, open the mailed link); the confirmation's answer."""
    client = app.test_client()
    asked = client.post("/api/v1/signup", json=body)
    assert asked.status_code == 202, asked.get_data(as_text=True)
    token = mailed_links(app, body["email"], "/signup/confirm/")[-1]
    return client.post("/api/v1/signup/confirm", json={"token": token})
