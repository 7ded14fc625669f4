"""deploy/: every setting it names exists and is documented, the env template is current, the files fit together."""

from __future__ import annotations

import configparser
import importlib.util
import os
import re
import subprocess
from pathlib import Path

import yaml

from federation.directory import settings as directory_settings
from node.settings import SETTINGS

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NODE = {f"SIFNET_{s.name.upper()}": s for s in SETTINGS}
DIRECTORY = {directory_settings.ENV_PREFIX + s.name.upper(): s for s in directory_settings.SETTINGS}
NODES = {"be-vl", "nl", "at", "it", "hu"}


def _env_template_module():
    spec = importlib.util.spec_from_file_location("env_template", DEPLOY / "env_template.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def named_settings() -> dict[str, set[str]]:
    """SIFNET_* name -> the deploy/ files naming it (devnet files run the node directly with a settings file)."""
    found: dict[str, set[str]] = {}
    for path in DEPLOY.rglob("*"):
        if path.is_file() and path.suffix not in (".pyc",):
            for name in re.findall(r"SIFNET_[A-Z0-9_]*[A-Z0-9]", path.read_text(errors="replace")):
                found.setdefault(name, set()).add(str(path.relative_to(DEPLOY)))
    return found


def test_every_setting_named_in_deploy_exists_and_has_help():
    named = named_settings()
    assert "SIFNET_SCHEDULER" in named and "SIFNET_DIRECTORY_HOST" in named  # the scan does find names
    unknown = {
        n: files
        for n, files in named.items()
        if n not in NODE and n not in DIRECTORY and n != directory_settings.ENV_PREFIX.rstrip("_")
    }
    assert not unknown, f"not a setting: {unknown}"
    for name in named:
        setting = NODE.get(name) or DIRECTORY.get(name)
        if setting is not None:
            assert len(setting.help) > 15, f"{name} has no real help text"


def test_the_checker_can_fail():
    assert "SIFNET_NO_SUCH_THING" not in NODE and "SIFNET_DIRECTORY_NOPE" not in DIRECTORY


def test_env_template_lists_every_setting_and_is_current():
    template = (DEPLOY / "sifnet.env.example").read_text()
    assert template == _env_template_module().render(), "run: python deploy/env_template.py"
    listed = re.findall(r"^#?(SIFNET_[A-Z0-9_]+)=", template, re.M)
    assert sorted(listed) == sorted(NODE), "each setting exactly once"
    for setting in SETTINGS:  # each with its help right above it
        first_words = setting.help.split()[0]
        block = template.split(f"SIFNET_{setting.name.upper()}=")[0].rsplit("\n\n", 1)[-1]
        assert block.startswith(f"# {first_words}"), setting.name
    assert re.search(r"^SIFNET_SCHEDULER=worker$", template, re.M)


def test_env_template_reads_the_same_in_a_shell_as_declared(tmp_path):
    """`set -a; . sifnet.env` (as the README does) yields every value as the template means it."""
    from node.settings import load_settings

    module = _env_template_module()
    every_line_on = re.sub(r"^#(SIFNET_)", r"\1", (DEPLOY / "sifnet.env.example").read_text(), flags=re.M)
    env_file = tmp_path / "sifnet.env"
    env_file.write_text(every_line_on)
    dumped = subprocess.run(
        ["sh", "-c", f"set -a; . '{env_file}'; env -0"],
        capture_output=True,
        check=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    ).stdout.decode()
    environ = dict(item.split("=", 1) for item in dumped.split("\0") if item.startswith("SIFNET_"))
    settings = load_settings(environ=environ)
    for setting in SETTINGS:
        assert getattr(settings, setting.name) == module.PRODUCTION.get(setting.name, setting.default), setting.name


def test_compose_runs_five_nodes_each_with_a_worker_the_directory_and_postgres():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "directory"} <= set(services)
    for node in NODES:
        web, worker = services[node], services[f"{node}-worker"]
        assert web["command"] == ["web"] and worker["command"] == ["worker"]
        assert web["environment"] == worker["environment"], node
        assert web["environment"]["SIFNET_NODE_ID"] == node
        assert web["environment"]["SIFNET_SCHEDULER"] == "worker"
        assert web["environment"]["SIFNET_DATABASE_URL"].startswith("postgresql://")
        assert web["volumes"] == worker["volumes"]  # one data folder: signing key and settings
        assert worker["depends_on"] == {node: {"condition": "service_healthy"}}
    databases = re.findall(r"CREATE DATABASE (\w+);", (DEPLOY / "docker" / "postgres-init.sql").read_text())
    assert sorted(databases) == sorted(
        s["environment"]["SIFNET_DATABASE_URL"].rsplit("/", 1)[1] for name, s in services.items() if name in NODES
    )


def test_systemd_units_run_gunicorn_and_the_worker():
    units = {}
    for name in ("sifnet-web.service", "sifnet-worker.service"):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.read_string((DEPLOY / "systemd" / name).read_text().replace("\\\n", " "))
        units[name] = parser["Service"]
    assert "gunicorn" in units["sifnet-web.service"]["ExecStart"]
    assert "node.wsgi:app" in units["sifnet-web.service"]["ExecStart"]
    assert "--preload" not in units["sifnet-web.service"]["ExecStart"]
    assert units["sifnet-worker.service"]["ExecStart"].endswith("sifnet node worker")
    for unit in units.values():
        assert unit["EnvironmentFile"] == "/etc/sifnet/sifnet.env"
        assert "/run/sifnet-metrics" in unit["ReadWritePaths"]
    assert "/run/sifnet-metrics" in (DEPLOY / "systemd" / "sifnet-tmpfiles.conf").read_text()


def test_nginx_example_keeps_the_signed_target_uri():
    conf = (DEPLOY / "nginx" / "sifnet.conf").read_text()
    # proxy_pass without a URI part: nginx passes the request's path and query untouched.
    assert set(re.findall(r"proxy_pass (\S+);", conf)) == {"http://sifnet_node"}
    for header in ("X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-For"):
        assert f"proxy_set_header {header}" in conf
    assert "rewrite" not in conf.replace("no rewrite", "")


def _seconds(text: str) -> int:
    return int(text.removesuffix("s"))


def test_gunicorn_keeps_connections_open_longer_than_nginx_does():
    from deploy.processes import GUNICORN_KEEP_ALIVE_SECONDS

    conf = (DEPLOY / "nginx" / "sifnet.conf").read_text()
    upstream = re.search(r"upstream sifnet_node \{(.*?)\}", conf, re.S).group(1)
    assert re.search(r"^\s*keepalive \d+;", upstream, re.M), "nginx keeps no idle connection to gunicorn"
    nginx_idle = _seconds(re.search(r"keepalive_timeout (\d+s?);", upstream).group(1))
    # Upstream keep-alive needs HTTP/1.1 and an empty Connection header wherever nginx proxies to the node.
    locations = re.findall(r"location [^{]*\{(.*?)\}", conf, re.S)
    proxied = [body for body in locations if "proxy_pass" in body]
    assert proxied and all(
        "proxy_http_version 1.1;" in body and 'proxy_set_header Connection "";' in body for body in proxied
    )
    commands = {
        "systemd": (DEPLOY / "systemd" / "sifnet-web.service").read_text().replace("\\\n", " "),
        "container": (DEPLOY / "docker" / "entrypoint.sh").read_text().replace("\\\n", " "),
    }
    for where, text in commands.items():
        command = re.search(r"gunicorn (--workers .*?) node\.wsgi:app", text).group(1)
        keep_alive = int(re.search(r"--keep-alive (\d+)", command).group(1))
        assert keep_alive == GUNICORN_KEEP_ALIVE_SECONDS > nginx_idle, where
        threads = re.search(r"--threads \"?(?:\$\{WEB_THREADS:-)?(\d+)", command).group(1)
        assert int(threads) >= 2, f"{where}: sync workers (one thread) close every connection"
