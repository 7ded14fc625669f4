"""Real node processes over loopback HTTP, for integration, durability and federation tests.

A NodeProcess owns one data folder and runs `sifnet node run` in its own process
group, logging to <data_dir>/node.log. The `node_process` fixture factory starts
as many nodes as a test needs and kills every one of them at teardown, also when
the test fails; an atexit hook covers an interrupted pytest run.

Tests import the fixture: `from tests.procs import node_process  # noqa: F401`.
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"
COORDINATOR_EMAIL = "coordinator@example.org"
# Fast password hashing and no sleeping through deadlines; a test may override any of these.
TEST_SETTINGS: dict[str, Any] = {"argon2_memory_kib": 1024, "argon2_time_cost": 1, "allow_clock_control": True}
_LIVE: set[NodeProcess] = set()
# On the PostgreSQL lane tests/conftest.py sets this: data folder -> the node's database URL.
database_for: Callable[[Path], str] | None = None


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sifnet_command() -> list[str]:
    """The console script of this venv, or the module when the package is not installed."""
    script = Path(sys.executable).with_name("sifnet")
    return [str(script)] if script.exists() else [sys.executable, "-m", "node.cli"]


def settings_env(settings: Mapping[str, Any]) -> dict[str, str]:
    """The process environment: ours without inherited SIFNET_* values, plus SIFNET_<NAME> per setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIFNET_")}
    for name, value in settings.items():
        env[f"SIFNET_{name.upper()}"] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return env


class NodeStartError(AssertionError):
    """The node process did not come up; the message carries its log."""


def newest_link(bodies: list[str], email: str, path: str) -> str:
    """The token of the newest link to `path` (e.g. "/signup/confirm/") among mail bodies, oldest first."""
    links = [token for body in bodies for token in re.findall(re.escape(path) + r"([\w.-]+)", body)]
    if not links:
        raise AssertionError(f"no link to {path} was mailed to {email}")
    return links[-1]


def mailed_link_in_folder(data_dir: Path, email: str, path: str) -> str:
    """The same from a node's development mail folder (<data_dir>/mail), for nodes without test hooks."""
    from email import message_from_bytes, policy

    bodies = []
    for file in sorted((data_dir / "mail").glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
        mail = message_from_bytes(file.read_bytes(), policy=policy.default)
        if str(mail["To"]).lower() == email.lower():
            bodies.append(mail.get_content())
    return newest_link(bodies, email, path)


class NodeClient:
    """A small client of one node's JSON API (one requests.Session: use one client per thread)."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 30) -> None:
        self.url = url
        self.api_token = token
        self.timeout = timeout
        self.http = requests.Session()
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, json: Any = None, expect: int | None = None) -> requests.Response:
        """Send a request to /api/v1<path>; with expect, fail loudly on another status."""
        resp = self.http.request(method, f"{self.url}/api/v1{path}", json=json, timeout=self.timeout)
        if expect is not None and resp.status_code != expect:
            raise AssertionError(f"{method} {path}: expected {expect}, got {resp.status_code}: {resp.text[:500]}")
        return resp

    def signup(self, email: str, handle: str, password: str = PASSWORD) -> dict:
        """Sign up as a person does: ask, read the mailed link (the node's test mailbox), confirm."""
        self.call(
            "POST",
            "/signup",
            {"email": email, "password": password, "display_name": handle.title(), "handle": handle},
            expect=202,
        )
        return self.call("POST", "/signup/confirm", {"token": self.mailed_token(email, "/signup/confirm/")}, 201).json()

    def mailed_token(self, email: str, path: str) -> str:
        """The token of the newest link to `path` mailed to `email` (only nodes that allow clock control)."""
        mails = self.http.get(f"{self.url}/_test/mails", params={"to": email}, timeout=self.timeout).json()["mails"]
        return newest_link([mail["body"] for mail in mails], email, path)

    def token(self, email: str, password: str = PASSWORD) -> str:
        return self.call("POST", "/tokens", {"email": email, "password": password}, expect=201).json()["token"]

    def login(self, email: str, password: str = PASSWORD) -> NodeClient:
        """A new client acting as this member."""
        return NodeClient(self.url, self.token(email, password), self.timeout)

    def clone(self) -> NodeClient:
        """The same member on a new connection (for another thread)."""
        return NodeClient(self.url, self.api_token, self.timeout)

    def approve(self, member_id: int) -> dict:
        return self.call("POST", f"/coordinator/members/{member_id}/approve", expect=200).json()

    def transfer(self, to: str, amount: Any, memo: str = "") -> requests.Response:
        return self.call("POST", "/transfers", {"to": to, "amount": amount, "memo": memo})

    def me(self) -> dict:
        return self.call("GET", "/me", expect=200).json()

    def balance(self) -> int:
        return self.me()["balance"]

    def statement(self) -> dict:
        return self.call("GET", "/me/statement", expect=200).json()

    def export(self) -> dict:
        return self.call("GET", "/me/export", expect=200).json()

    def close(self) -> None:
        self.http.close()


class NodeProcess:
    """One node as a separate OS process: init, run, stop, kill -9, restart."""

    def __init__(
        self, data_dir: Path, node_id: str, *, port: int | None = None, settings: Mapping[str, Any] | None = None
    ) -> None:
        self.data_dir = Path(data_dir)
        self.node_id = node_id
        self.port = port or free_port()
        self.settings = {**TEST_SETTINGS, **(settings or {})}
        if database_for is not None and "database_url" not in self.settings:
            self.settings["database_url"] = database_for(self.data_dir)
        self.proc: subprocess.Popen | None = None
        self._log_fh = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "node.log"

    def log_text(self, tail: int = 8000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except FileNotFoundError:
            return "(no log)"

    def cli(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run `sifnet node <args> --data-dir <data_dir>` with this node's settings environment."""
        cmd = [*sifnet_command(), "node", *args, "--data-dir", str(self.data_dir)]
        result = subprocess.run(
            cmd, env=settings_env(self.settings), cwd=REPO, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def init(self) -> NodeProcess:
        """Create the data folder, settings file, key and database; and a coordinator."""
        self.cli("init", "--node-id", self.node_id, "--port", str(self.port))
        self.cli("create-coordinator", "--email", COORDINATOR_EMAIL, "--password", PASSWORD, "--handle", "coord")
        return self

    def start(self, timeout: float = 30) -> NodeProcess:
        """Start `sifnet node run` and wait until /healthz answers with this node's id."""
        if self.running:
            raise RuntimeError(f"node {self.node_id} is already running")
        self._log_fh = self.log_path.open("ab")
        self._log_fh.write(f"--- start {time.strftime('%H:%M:%S')} port {self.port}\n".encode())
        self._log_fh.flush()
        self.proc = subprocess.Popen(
            [*sifnet_command(), "node", "run", "--data-dir", str(self.data_dir)],
            env=settings_env({**self.settings, "port": self.port}),
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _LIVE.add(self)
        self._wait_healthy(timeout)
        return self

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._reap()
                raise NodeStartError(
                    f"node {self.node_id} exited with {self.proc.returncode} during startup; log:\n{self.log_text()}"
                )
            try:
                resp = requests.get(f"{self.url}/healthz", timeout=2)
                if resp.status_code == 200 and resp.json().get("node_id") == self.node_id:
                    return
                last = f"{resp.status_code} {resp.text[:200]}"
            except requests.RequestException as exc:
                last = repr(exc)
            time.sleep(0.05)
        self.kill9()
        raise NodeStartError(
            f"node {self.node_id} not healthy at {self.url} after {timeout}s ({last}); log:\n{self.log_text()}"
        )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)  # start_new_session: the group id is the child's pid
        except ProcessLookupError:
            pass

    def stop(self, timeout: float = 10) -> None:
        """Ask the node to stop (SIGTERM), killing it if it does not within the timeout."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait(timeout)
        self._reap()

    def kill9(self) -> None:
        """SIGKILL the node's whole process group: no shutdown code runs."""
        if self.proc is None:
            return
        if self.proc.poll() is None:  # never signal a group whose leader is gone (its id may be reused)
            self._signal_group(signal.SIGKILL)
            self.proc.wait(10)
        self._reap()

    def _reap(self) -> None:
        _LIVE.discard(self)
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None

    def restart(self, timeout: float = 30) -> NodeProcess:
        self.stop()
        return self.start(timeout)

    def advance_clock(self, seconds: int) -> str:
        """Move the node's clock forward (needs allow_clock_control, on by default here); returns its new now."""
        resp = requests.post(f"{self.url}/_test/clock", json={"advance_seconds": seconds}, timeout=30)
        if resp.status_code != 200:
            raise AssertionError(f"clock control refused: {resp.status_code} {resp.text[:300]}")
        return resp.json()["now"]

    def test_hook(self, name: str, body: dict) -> requests.Response:
        """POST to one of the node's /_test/ hooks (allow_clock_control), e.g. federation/reuse-transfer."""
        return requests.post(f"{self.url}/_test/{name}", json=body, timeout=30)

    def client(self, token: str | None = None) -> NodeClient:
        return NodeClient(self.url, token)

    def coordinator(self) -> NodeClient:
        return self.client().login(COORDINATOR_EMAIL)

    def new_member(self, handle: str, coordinator: NodeClient | None = None) -> NodeClient:
        """Sign up a member (approved by the coordinator when the node requires it) and log in."""
        anon = self.client()
        email = f"{handle}@example.org"
        profile = anon.signup(email, handle)
        if profile["status"] == "pending":
            (coordinator or self.coordinator()).approve(profile["id"])
        return anon.login(email)

    def __repr__(self) -> str:
        return f"NodeProcess({self.node_id!r}, {self.url}, running={self.running})"


def wait_for(predicate: Callable[[], Any], timeout: float = 20, what: str = "condition", interval: float = 0.05):
    """Poll predicate until it returns something truthy (returned) or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@atexit.register
def _kill_leftovers() -> None:
    for node in list(_LIVE):
        node.kill9()


@pytest.fixture
def node_process(tmp_path) -> Iterator:
    """Factory: node_process(node_id, **settings) -> a started NodeProcess; all are killed at teardown."""
    nodes: list[NodeProcess] = []

    def make(node_id: str, *, start: bool = True, **settings: Any) -> NodeProcess:
        node = NodeProcess(tmp_path / node_id, node_id, settings=settings)
        nodes.append(node)
        node.init()
        return node.start() if start else node

    try:
        yield make
    finally:
        for node in nodes:
            node.kill9()
