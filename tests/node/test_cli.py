"""The `sifnet node ...` command line, run in-process through node.cli.main (and once as a real script)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import tomllib

import pytest

from node.cli import main
from node.settings import load_settings
from tests.procs import REPO, sifnet_command

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No SIFNET_* from the caller's shell; fast password hashing."""
    for name in [n for n in os.environ if n.startswith("SIFNET_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SIFNET_ARGON2_MEMORY_KIB", "1024")
    monkeypatch.setenv("SIFNET_ARGON2_TIME_COST", "1")


@pytest.fixture
def data(tmp_path):
    return tmp_path / "node"


def init(data, *extra: str) -> int:
    return main(["node", "init", "--data-dir", str(data), "--node-id", "be-vl", "--port", "5123", *extra])


def coordinators(data) -> list[tuple[str, str, str]]:
    with sqlite3.connect(data / "node.db") as db:
        return db.execute("select email, role, status from members where role = 'coordinator'").fetchall()


def test_init_creates_folder_settings_key_and_database(data, capsys):
    assert init(data) == 0
    out = capsys.readouterr().out
    assert "node be-vl initialised" in out and "fingerprint" in out
    with (data / "settings.toml").open("rb") as fh:
        written = tomllib.load(fh)
    assert written["node_id"] == "be-vl" and written["port"] == 5123
    assert written["base_url"] == "http://127.0.0.1:5123"
    assert (data / "signing_key").stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(data / "node.db") as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master where type='table'")}
    assert {"members", "accounts", "postings", "alembic_version"} <= tables


def test_second_init_refuses_without_force(data, capsys):
    assert init(data) == 0
    key = (data / "signing_key").read_text()
    capsys.readouterr()
    assert main(["node", "init", "--data-dir", str(data), "--node-id", "other"]) == 2
    assert "settings.toml exists; use --force" in capsys.readouterr().err
    assert load_settings({"data_dir": str(data)}, environ={}).node_id == "be-vl"
    assert main(["node", "init", "--data-dir", str(data), "--node-id", "other", "--force"]) == 0
    assert load_settings({"data_dir": str(data)}, environ={}).node_id == "other"
    assert (data / "signing_key").read_text() == key, "--force must never replace the node's key"


def test_create_coordinator_makes_an_active_coordinator(data, capsys):
    init(data)
    assert (
        main(
            [
                "node",
                "create-coordinator",
                "--data-dir",
                str(data),
                "--email",
                "Coord@Example.org",
                "--password",
                PASSWORD,
                "--handle",
                "coord",
            ]
        )
        == 0
    )
    assert "coordinator coord@be-vl (coord@example.org) is active" in capsys.readouterr().out
    assert coordinators(data) == [("coord@example.org", "coordinator", "active")]


def test_create_coordinator_takes_the_password_from_the_environment(data, monkeypatch):
    init(data)
    monkeypatch.setenv("SIFNET_COORDINATOR_PASSWORD", PASSWORD)
    assert main(["node", "create-coordinator", "--data-dir", str(data), "--email", "c@example.org"]) == 0
    assert coordinators(data) == [("c@example.org", "coordinator", "active")]


def test_check_books_prints_ok_and_exits_0(data, capsys):
    init(data)
    main(["node", "create-coordinator", "--data-dir", str(data), "--email", "c@example.org", "--password", PASSWORD])
    capsys.readouterr()
    assert main(["node", "check-books", "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith("-> OK") and "sum=0" in out


def test_check_books_exits_1_when_the_books_do_not_balance(data, capsys):
    init(data)
    main(["node", "create-coordinator", "--data-dir", str(data), "--email", "c@example.org", "--password", PASSWORD])
    with sqlite3.connect(data / "node.db") as db:  # a balance changed behind the ledger's back
        db.execute("update accounts set balance = balance + 1 where kind = 'member'")
    capsys.readouterr()
    assert main(["node", "check-books", "--data-dir", str(data)]) == 1
    assert "BROKEN" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["create-coordinator", "--password", PASSWORD], 2, "--email is required"),
        (["create-coordinator", "--email", "not-an-email", "--password", PASSWORD], 1, "error [invalid_email]"),
        (["create-coordinator", "--email", "c@example.org", "--password", "short"], 1, "error [weak_password]"),
    ],
)
def test_bad_input_exits_non_zero_with_a_message(data, capsys, argv, code, message):
    init(data)
    capsys.readouterr()
    assert main(["node", *argv, "--data-dir", str(data)]) == code
    assert message in capsys.readouterr().err


def test_bad_setting_in_the_environment_is_reported(data, capsys, monkeypatch):
    init(data)
    monkeypatch.setenv("SIFNET_PORT", "eighty")
    capsys.readouterr()
    assert main(["node", "check-books", "--data-dir", str(data)]) == 1
    assert "error [settings_error]: setting port: expected an integer, got 'eighty'" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["node", "frobnicate"], ["node", "init", "--port", "eighty"], []])
def test_argument_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "usage: sifnet" in capsys.readouterr().err


def test_console_script_runs(tmp_path):
    """The installed entry point works as a real process (the harness in tests/procs.py relies on it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIFNET_")}
    result = subprocess.run(
        [*sifnet_command(), "node", "init", "--data-dir", str(tmp_path / "n"), "--node-id", "x"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "SIFNET_ARGON2_MEMORY_KIB": "1024"},
    )
    assert result.returncode == 0, result.stderr
    assert "node x initialised" in result.stdout


def test_reindex_search_rebuilds_the_directory_and_market_terms(data, capsys):
    init(data)
    assert main(["node", "seed-demo", "--data-dir", str(data)]) == 0
    with sqlite3.connect(data / "node.db") as db:
        before = db.execute("select count(*) from member_search_terms").fetchone()[0]
        listings = db.execute("select count(*) from listing_search_terms").fetchone()[0]
        db.execute("delete from member_search_terms")
        db.execute("delete from listing_search_terms")
    assert before > 0 and listings > 0
    capsys.readouterr()
    assert main(["node", "reindex-search", "--data-dir", str(data)]) == 0
    assert "6 members listed in the directory" in capsys.readouterr().out
    with sqlite3.connect(data / "node.db") as db:
        assert db.execute("select count(*) from member_search_terms").fetchone()[0] == before
        assert db.execute("select count(*) from listing_search_terms").fetchone()[0] == listings
