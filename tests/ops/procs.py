"""Production-shaped processes for tests: a node served by gunicorn, and `sifnet node worker`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

from tests.procs import REPO, NodeProcess, settings_env, sifnet_command


class Service:
    """One long-running command in its own process group, logging to a file."""

    def __init__(self, name: str, cmd: list[str], env: Mapping[str, str], log_path: Path) -> None:
        self.name, self.cmd, self.env, self.log_path = name, cmd, dict(env), log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> Service:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.cmd,
                env=self.env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def log_text(self, tail: int = 6000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:] if self.log_path.exists() else "(no log)"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self, timeout: float = 20) -> int:
        """SIGTERM the process group leader only (as systemd's KillMode=mixed does first); its exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"{self.name} ignored SIGTERM for {timeout}s\n{self.log_text()}") from None
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:  # never signal a reaped group (its id may be reused)
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def node_env(node: NodeProcess, extra: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The environment a production process of this node gets: SIFNET_* settings, data folder, port."""
    return settings_env({**node.settings, "data_dir": str(node.data_dir), "port": node.port, **(extra or {})})


def gunicorn(node: NodeProcess, *, workers: int, threads: int = 1, env: Mapping[str, str] | None = None) -> Service:
    """Serve an initialised node with gunicorn on its port (not started)."""
    exe = Path(sys.executable).with_name("gunicorn")
    cmd = [
        str(exe),
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--bind",
        f"127.0.0.1:{node.port}",
        "--graceful-timeout",
        "10",
        "node.wsgi:app",
    ]
    return Service(f"gunicorn {node.node_id}", cmd, {**node_env(node), **(env or {})}, node.data_dir / "gunicorn.log")


def worker(node: NodeProcess, env: Mapping[str, str] | None = None) -> Service:
    """`sifnet node worker` for an initialised node (not started)."""
    cmd = [*sifnet_command(), "node", "worker", "--data-dir", str(node.data_dir)]
    return Service(f"worker {node.node_id}", cmd, {**node_env(node), **(env or {})}, node.data_dir / "worker.log")


def wait_healthy(node: NodeProcess, service: Service, timeout: float = 60) -> None:
    """Wait until /readyz answers 200 for this node, failing early with the log if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not service.running:
            raise AssertionError(f"{service.name} exited with {service.proc.returncode}\n{service.log_text()}")
        try:
            if requests.get(f"{node.url}/readyz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{service.name} not ready after {timeout}s\n{service.log_text()}")
