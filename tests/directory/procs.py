"""The directory as a real process: `sifnet directory init` and `sifnet directory run` on a loopback port."""

from __future__ import annotations

import subprocess
from pathlib import Path

import requests

from deploy.processes import REPO, Process, free_port, log_tail, settings_env, sifnet_command


class DirectoryProcess:
    """One directory service in its own process group, logging to <data_dir>/directory.log."""

    def __init__(self, data_dir: Path, *, directory_id: str = "eu-dir", poll_seconds: int = 1) -> None:
        self.data_dir, self.directory_id, self.poll_seconds = Path(data_dir), directory_id, poll_seconds
        self.port = free_port()
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return settings_env()

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        """Run `sifnet directory <args> --data-dir <data_dir>`; fail loudly on a non-zero exit."""
        cmd = [*sifnet_command(), "directory", *args, "--data-dir", str(self.data_dir)]
        result = subprocess.run(cmd, env=self.env(), cwd=REPO, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise AssertionError(
                f"directory {' '.join(args)} exited {result.returncode}\n{result.stdout}{result.stderr}"
            )
        return result

    def init(self) -> DirectoryProcess:
        self.cli(
            "init",
            "--directory-id",
            self.directory_id,
            "--port",
            str(self.port),
            "--poll-seconds",
            str(self.poll_seconds),
        )
        return self

    def start(self, timeout: float = 30) -> DirectoryProcess:
        cmd = [*sifnet_command(), "directory", "run", "--data-dir", str(self.data_dir)]
        self.process = Process(f"directory {self.directory_id}", cmd, self.env(), self.data_dir / "directory.log")
        self.process.start().wait_healthy(self.url, node_id=self.directory_id, timeout=timeout, tail=6000)
        return self

    def log_text(self) -> str:
        return log_tail(self.data_dir / "directory.log", 6000)

    def api(self, name: str):
        return requests.get(f"{self.url}/api/v1/{name}", timeout=10).json()

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill9()
