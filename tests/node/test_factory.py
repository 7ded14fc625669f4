"""The application factory: test config, no side effects beyond the data folder, independent apps."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from sqlalchemy import inspect

from node.app import create_app
from node.settings import SettingsError
from node.tables import Member
from tests.conftest import FAST_ARGON2, PASSWORD, sign_up_by_mail
from tests.procs import REPO


@pytest.fixture
def make_app(tmp_path):
    """Factory: a fresh app in its own data folder; databases are disposed at teardown."""
    apps = []

    def make(name: str, **config):
        app = create_app({"data_dir": str(tmp_path / name), "node_id": name, **FAST_ARGON2, **config})
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["sifnet"].db.dispose()


def test_test_config_overrides_settings(make_app):
    app = make_app("nl", country="NL", welcome_grant=3, secret_key="s3cret")
    settings = app.extensions["sifnet"].settings
    assert (settings.node_id, settings.country, settings.welcome_grant) == ("nl", "NL", 3)
    assert app.config["SECRET_KEY"] == "s3cret"
    assert app.config["SESSION_COOKIE_NAME"] == "sifnet_nl"
    assert app.test_client().get("/healthz").get_json() == {"status": "ok", "node_id": "nl"}


def test_unknown_test_config_is_refused(tmp_path):
    with pytest.raises(SettingsError, match="unknown settings: colour"):
        create_app({"data_dir": str(tmp_path), "colour": "red"})


def test_create_app_does_not_start_the_scheduler(make_app):
    app = make_app("at", scheduler="inprocess", sweep_seconds=1)
    app.test_client().get("/healthz")
    assert "sifnet_scheduler" not in app.extensions
    assert not [t.name for t in threading.enumerate() if "APScheduler" in t.name]
    # APScheduler's job store creates its table when a scheduler starts; it must not exist.
    tables = inspect(app.extensions["sifnet"].db.engine).get_table_names()
    assert "apscheduler_jobs" not in tables and "members" in tables


def test_create_app_starts_no_thread(make_app):
    """Background work starts only where a process asks for it (`sifnet node run`/`worker`), never here."""
    before = {t.ident for t in threading.enumerate()}
    app = make_app("at")
    app.test_client().get("/healthz")
    assert [t.name for t in threading.enumerate() if t.ident not in before] == []


def test_creating_an_app_writes_only_inside_its_data_folder(tmp_path, make_app):
    make_app("it")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["it"]
    assert {"node.db", "secret_key"} <= {p.name for p in (tmp_path / "it").iterdir()}
    assert (tmp_path / "it" / "secret_key").stat().st_mode & 0o777 == 0o600


def test_importing_the_node_has_no_side_effects(tmp_path):
    """Importing every node module starts no thread and creates no file (run in a clean interpreter)."""
    code = (
        "import importlib, pkgutil, threading, node\n"
        "for m in pkgutil.walk_packages(node.__path__, 'node.'):\n"
        "    if '.migrations' not in m.name: importlib.import_module(m.name)\n"
        "print(threading.active_count())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"
    assert list(tmp_path.iterdir()) == []


def test_two_apps_with_different_data_dirs_are_independent(make_app):
    be, hu = make_app("be-vl"), make_app("hu", welcome_grant=25)
    ctx_be, ctx_hu = be.extensions["sifnet"], hu.extensions["sifnet"]
    assert ctx_be.db.url != ctx_hu.db.url
    assert be.config["SECRET_KEY"] != hu.config["SECRET_KEY"]
    resp = sign_up_by_mail(be, {"email": "anna@example.org", "password": PASSWORD, "display_name": "Anna"})
    assert resp.status_code == 201
    with ctx_be.db.read() as s:
        assert s.query(Member).count() == 1
    with ctx_hu.db.read() as s:
        assert s.query(Member).count() == 0
    # The same email signs up again on the other node: its database never saw it.
    resp = sign_up_by_mail(hu, {"email": "anna@example.org", "password": PASSWORD, "display_name": "Anna"})
    assert resp.status_code == 201
    assert hu.test_client().get("/healthz").get_json()["node_id"] == "hu"
    assert ctx_hu.settings.welcome_grant == 25 and ctx_be.settings.welcome_grant == 10
