"""`sifnet directory ...` and the node's directory commands, run in-process through the console script's main."""

from __future__ import annotations

import os
import threading
import tomllib

import pytest
from werkzeug.serving import make_server

from federation.cli import main
from federation.directory.settings import load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in [n for n in os.environ if n.startswith("SIFNET_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SIFNET_ARGON2_MEMORY_KIB", "1024")
    monkeypatch.setenv("SIFNET_ARGON2_TIME_COST", "1")


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_init_list_approve_poll_and_delist(tmp_path, capsys, fake_node):
    data = str(tmp_path / "dir")
    code, out, _ = run(
        capsys,
        "directory",
        "init",
        "--data-dir",
        data,
        "--directory-id",
        "eu-dir",
        "--port",
        "5199",
        "--poll-seconds",
        "5",
    )
    assert code == 0 and "directory eu-dir initialised" in out and "fingerprint" in out
    settings = tomllib.loads((tmp_path / "dir" / "settings.toml").read_text())
    assert settings["base_url"] == "http://127.0.0.1:5199" and settings["poll_seconds"] == 5
    assert (tmp_path / "dir" / "signing_key").stat().st_mode & 0o777 == 0o600
    assert run(capsys, "directory", "init", "--data-dir", data)[0] == 2  # exists: needs --force
    node = fake_node("hu", "HU")
    code, out, _ = run(capsys, "directory", "list-node", node.url, "--data-dir", data)
    assert code == 0 and node.fingerprint in out and "waiting for approval" in out
    code, _, err = run(capsys, "directory", "approve", "hu", "--fingerprint", "AAAA", "--data-dir", data)
    assert code == 1 and "fingerprint_mismatch" in err
    code, out, _ = run(capsys, "directory", "approve", "hu", "--fingerprint", node.fingerprint, "--data-dir", data)
    assert code == 0 and "hu is listed" in out
    code, out, _ = run(capsys, "directory", "poll", "--data-dir", data)
    assert code == 0 and "hu" in out and "up" in out and "1 nodes polled" in out
    node.mode = "bad_signature"
    code, out, _ = run(capsys, "directory", "poll", "--data-dir", data)
    assert code == 1 and "refused" in out and "bad_signature" in out
    code, out, _ = run(capsys, "directory", "nodes", "--data-dir", data)
    assert "listed" in out and "refused" in out and node.fingerprint in out
    assert run(capsys, "directory", "delist", "hu", "--data-dir", data)[0] == 0
    assert run(capsys, "directory", "delist", "hu", "--data-dir", data)[0] == 1


def test_directory_settings_come_from_file_environment_and_overrides(tmp_path, monkeypatch):
    data = tmp_path / "dir"
    data.mkdir()
    (data / "settings.toml").write_text('poll_seconds = 7\nname = "Test directory"\n')
    monkeypatch.setenv("SIFNET_DIRECTORY_POLL_SECONDS", "9")
    settings = load_settings({"data_dir": str(data), "slow_ms": 10})
    assert (settings.poll_seconds, settings.name, settings.slow_ms) == (9, "Test directory", 10)
    (data / "settings.toml").write_text("nonsense = 1\n")
    with pytest.raises(Exception, match="unknown setting"):
        load_settings({"data_dir": str(data)})


def test_every_directory_setting_has_help():
    from federation.directory.settings import SETTINGS

    assert all(s.help.strip().endswith(".") for s in SETTINGS)
    assert len({s.name for s in SETTINGS}) == len(SETTINGS)


@pytest.fixture
def served_directory(make_directory):
    app = make_directory()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_a_node_applies_only_to_the_directory_it_chose(tmp_path, capsys, served_directory):
    node = str(tmp_path / "node")
    assert run(capsys, "node", "init", "--data-dir", node, "--node-id", "be-vl", "--port", "5198")[0] == 0
    code, _, err = run(capsys, "node", "directory-apply", served_directory, "--data-dir", node)
    assert code == 1 and "directory_not_chosen" in err and 'directory_id = "eu-dir"' in err


def test_seed_initiatives_lists_demo_initiatives_once(tmp_path, capsys):
    node = str(tmp_path / "node")
    run(capsys, "node", "init", "--data-dir", node, "--node-id", "hu", "--country", "HU", "--port", "5197")
    code, out, _ = run(capsys, "node", "seed-initiatives", "--data-dir", node)
    assert code == 0 and out.count("listed as i-") == 4 and "Napenergia Falu" in out
    code, out, _ = run(capsys, "node", "seed-initiatives", "--data-dir", node)
    assert code == 0 and out.count("already there") == 4
