"""The directory as a real process: `sifnet directory init` and `sifnet directory run` on a loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import requests

from tests.procs import REPO, free_port, sifnet_command


class DirectoryProcess:
    """One directory service in its own process group, logging to <data_dir>/directory.log."""

    def __init__(self, data_dir: Path, *, directory_id: str = "eu-dir", poll_seconds: int = 1) -> None:
        self.data_dir, self.directory_id, self.poll_seconds = Path(data_dir), directory_id, poll_seconds
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if not k.startswith("SIFNET_")}

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
        self._log = (self.data_dir / "directory.log").open("ab")
        self.proc = subprocess.Popen(
            [*sifnet_command(), "directory", "run", "--data-dir", str(self.data_dir)],
            env=self.env(),
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the directory exited: {self.log_text()}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).json().get("node_id") == self.directory_id:
                    return self
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.05)
        raise AssertionError(f"the directory did not come up: {self.log_text()}")

    def log_text(self) -> str:
        path = self.data_dir / "directory.log"
        return path.read_text(errors="replace")[-6000:] if path.exists() else "(no log)"

    def api(self, name: str):
        return requests.get(f"{self.url}/api/v1/{name}", timeout=10).json()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group leader is alive, so its group id is ours
            self.proc.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None
