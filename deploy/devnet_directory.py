"""The European working group's directory as a devnet service, and listing the nodes in it."""

from __future__ import annotations

import subprocess
import time
import tomllib
from pathlib import Path
from typing import Any

import requests

from federation.directory.settings import write_settings_file
from node.demo import DEMO_PASSWORD
from node.keys import load_signing_key

DIRECTORY_ID = "eu-dir"
ADMIN_USER = "admin"  # the working group's web admin on the devnet; its password is the demo password
# Re-applied on every start, like the nodes' settings: the working group meets in Brussels and writes English.
SETTINGS = {"default_language": "en", "time_zone": "Europe/Brussels"}


class DevnetDirectory:
    """`sifnet directory init` once, then `sifnet directory run`; lists every node after peering."""

    def __init__(self, service_cls, sifnet_command, clean_env, repo: Path, error_cls) -> None:
        self.service_cls, self.sifnet_command, self.clean_env = service_cls, sifnet_command, clean_env
        self.repo, self.error_cls = repo, error_cls

    def make(self, port: int, data_root: Path):
        outer = self
        base: Any = self.service_cls  # a class given at run time: the devnet's service

        class DirectoryService(base):
            """The directory: its own key, database and poller."""

            def sifnet(self, *args: str) -> str:
                cmd = [*outer.sifnet_command(), "directory", *args, "--data-dir", str(self.data_dir)]
                result = subprocess.run(
                    cmd, env=outer.clean_env(), cwd=outer.repo, capture_output=True, text=True, timeout=120
                )
                self.log(f"$ sifnet directory {args[0]}\n{result.stdout}{result.stderr}".rstrip())
                if result.returncode != 0:
                    raise outer.error_cls(
                        f"directory: `sifnet directory {' '.join(args)}` exited "
                        f"{result.returncode}:\n{result.stdout}{result.stderr}"
                    )
                return result.stdout

            def prepare(self) -> list[str]:
                done = []
                if not (self.data_dir / "settings.toml").exists():
                    self.data_dir.mkdir(parents=True, exist_ok=True)
                    self.sifnet(
                        "init",
                        "--directory-id",
                        DIRECTORY_ID,
                        "--name",
                        "European SIF network directory",
                        "--port",
                        str(self.port),
                        "--poll-seconds",
                        "5",
                    )
                    done.append("initialised")
                settings_file = self.data_dir / "settings.toml"
                with settings_file.open("rb") as fh:
                    values = tomllib.load(fh)
                if {**values, **SETTINGS} != values:
                    write_settings_file(settings_file, {**values, **SETTINGS})
                marker = self.data_dir / "admin-added"  # data made before the web admin existed gets one too
                if not marker.exists():
                    marker.write_text(self.sifnet("add-admin", ADMIN_USER, "--password", DEMO_PASSWORD))
                    done.append(f"working-group admin {ADMIN_USER} added")
                return done

            def command(self) -> list[str]:
                return [*outer.sifnet_command(), "directory", "run", "--data-dir", str(self.data_dir)]

        return DirectoryService(DIRECTORY_ID, port, data_root / DIRECTORY_ID)


def directory_lines(directory) -> list[str]:
    """Where the directory is and how the working group logs in to approve nodes."""
    return [
        f"Directory of the European working group: {directory.url}",
        f"  working-group admin: {directory.url}/admin/login  user {ADMIN_USER}  password {DEMO_PASSWORD}",
    ]


def list_nodes(directory, nodes: dict) -> int:
    """Each node applies to the directory and the working group approves it with the pinned fingerprint.

    Each node pins the directory's key too (the fingerprint read from the directory's data folder),
    so that it takes part in the clearing rounds the directory runs.
    """
    listed = {
        row["node_id"]: row for row in requests.get(f"{directory.url}/api/v1/nodes", timeout=30).json().get("nodes", [])
    }
    fingerprint = load_signing_key(directory.data_dir).public_key.fingerprint
    made = 0
    for node_id, node in nodes.items():
        pinned = node.data_dir / "directory-pinned"  # data made before clearing rounds existed gets a pin too
        if not pinned.exists():
            pinned.write_text(node.sifnet("directory-pin", directory.url, "--fingerprint", fingerprint))
        row = listed.get(node_id)
        if row is not None and row.get("health") != "pending":
            continue
        if row is None:
            node.sifnet("directory-apply", directory.url)
        directory.sifnet("approve", node_id, "--fingerprint", node.fingerprint())
        made += 1
    return made


def wait_all_up(directory, node_ids, timeout: float = 30) -> list[str]:
    """Problems left once the directory had a poll period or two to see every node up."""
    deadline = time.monotonic() + timeout
    health = {}
    while time.monotonic() < deadline:
        rows = requests.get(f"{directory.url}/api/v1/nodes", timeout=30).json().get("nodes", [])
        health = {r["node_id"]: r.get("health") for r in rows}
        if all(health.get(n) == "up" for n in node_ids):
            return []
        time.sleep(0.5)
    return [f"directory sees {n} as {health.get(n)}" for n in node_ids if health.get(n) != "up"]
