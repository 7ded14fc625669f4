"""Real sifnet processes on loopback: the one helper the devnet, the benchmarks and the tests start them with.

A Process runs one command in its own process group (a signal reaches its children too, gunicorn's
workers), appending its output to a log file; one still running when the interpreter exits is
killed. A NodeProcess is a node's data folder, the `sifnet node` commands run on it and `sifnet node
run` as a Process; gunicorn() and worker() are its production-shaped processes. NodeClient is a small
client of a node's JSON API. No settings are implied: a caller passes what its nodes need (tests add
theirs in tests/procs.py; the `/_test/` hooks need `allow_clock_control`).
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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import requests

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"  # of the coordinator and the members these helpers create
COORDINATOR_EMAIL = "coordinator@example.org"
# Password hashing for throw-away nodes and apps: cheap, since nothing there needs protecting.
FAST_ARGON2: dict[str, Any] = {"argon2_memory_kib": 1024, "argon2_time_cost": 1}
# How long gunicorn keeps an idle connection open, as the systemd unit and the container entry point say.
GUNICORN_KEEP_ALIVE_SECONDS = 75
_LIVE: set[Process] = set()  # started and not reaped: killed when the interpreter exits


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sifnet_command() -> list[str]:
    """The console script of this venv, or the module when the package is not installed."""
    script = Path(sys.executable).with_name("sifnet")
    return [str(script)] if script.exists() else [sys.executable, "-m", "node.cli"]


def settings_env(settings: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The process environment: ours without inherited SIFNET_* values, plus SIFNET_<NAME> per setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIFNET_")}
    for name, value in (settings or {}).items():
        env[f"SIFNET_{name.upper()}"] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return env


def log_tail(path: Path, chars: int = 8000) -> str:
    """The end of a log file, or "(no log)"."""
    try:
        return path.read_text(errors="replace")[-chars:]
    except FileNotFoundError:
        return "(no log)"


def health_problem(url: str, *, node_id: str | None = None, path: str = "/healthz") -> str:
    """ "" when url+path answers 200 (with this node_id in its JSON when given), else what came instead."""
    try:
        resp = requests.get(f"{url}{path}", timeout=2)
        if resp.status_code == 200 and (node_id is None or resp.json().get("node_id") == node_id):
            return ""
        return f"{resp.status_code} {resp.text[:200]}"
    except (requests.RequestException, ValueError) as exc:
        return repr(exc)


class ProcessError(AssertionError):
    """A process, or a node's API, did not do what was asked; an AssertionError, so a test fails on it."""


class NodeStartError(ProcessError):
    """The process did not come up; the message carries the tail of its log."""


class Process:
    """One long-running command in its own process group, its output appended to a log file."""

    def __init__(self, name: str, cmd: Sequence[str], env: Mapping[str, str], log_path: Path) -> None:
        self.name, self.cmd, self.env, self.log_path = name, list(cmd), dict(env), Path(log_path)
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self, banner: str = "") -> Self:
        """Start the command in a new session (its group id is its pid); a banner line goes to the log first."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        with self.log_path.open("ab") as log:
            if banner:
                log.write(f"--- {banner}\n".encode())
                log.flush()
            self.popen = subprocess.Popen(
                self.cmd,
                env=self.env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _LIVE.add(self)
        return self

    @property
    def pid(self) -> int:
        if self.popen is None:
            raise RuntimeError(f"{self.name} was never started")
        return self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def exited(self) -> bool:
        """Started and gone."""
        return self.popen is not None and self.popen.poll() is not None

    def log_text(self, tail: int = 8000) -> str:
        return log_tail(self.log_path, tail)

    def wait_healthy(
        self,
        url: str,
        *,
        node_id: str | None = None,
        path: str = "/healthz",
        timeout: float = 30,
        interval: float = 0.05,
        tail: int = 8000,
    ) -> None:
        """Wait until url+path answers 200 (naming node_id when given); else NodeStartError with the log's tail.

        A process still running at the timeout is killed first.
        """
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if not self.running:
                _LIVE.discard(self)
                code = self.popen.returncode if self.popen else None
                raise NodeStartError(f"{self.name} exited with {code} during startup; log:\n{self.log_text(tail)}")
            last = health_problem(url, node_id=node_id, path=path)
            if not last:
                return
            time.sleep(interval)
        self.kill9()
        raise NodeStartError(f"{self.name} not healthy at {url} after {timeout}s ({last}); log:\n{self.log_text(tail)}")

    def signal(self, sig: int) -> None:
        """Send sig to the whole process group; never after the leader was reaped (its id may be reused)."""
        if self.running:
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM the process group, SIGKILL it when it has not gone within the timeout."""
        if self.popen is not None and self.running:
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(timeout)
        _LIVE.discard(self)

    def kill9(self) -> None:
        """SIGKILL the whole process group: no shutdown code runs."""
        if self.popen is not None and self.running:
            self.signal(signal.SIGKILL)
            self.popen.wait(10)
        _LIVE.discard(self)

    def terminate(self, timeout: float = 20) -> int:
        """SIGTERM the group leader only (as systemd's KillMode=mixed does first); its exit code.

        One that ignores it for the timeout is killed with its group, and that is a ProcessError.
        """
        if self.popen is None:
            return 0
        if self.running:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
                raise ProcessError(f"{self.name} ignored SIGTERM for {timeout}s\n{self.log_text(6000)}") from None
        _LIVE.discard(self)
        return self.popen.returncode

    def __repr__(self) -> str:
        return f"Process({self.name!r}, running={self.running})"


@atexit.register
def _kill_leftovers() -> None:
    for process in list(_LIVE):
        process.kill9()


def newest_link(bodies: list[str], email: str, path: str) -> str:
    """The token of the newest link to `path` (e.g. "/signup/confirm/") among mail bodies, oldest first."""
    links: list[str] = [token for body in bodies for token in re.findall(re.escape(path) + r"([\w.-]+)", body)]
    if not links:
        raise ProcessError(f"no link to {path} was mailed to {email}")
    return links[-1]


def _json(resp: requests.Response) -> dict[str, Any]:
    body: dict[str, Any] = resp.json()
    return body


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
            raise ProcessError(f"{method} {path}: expected {expect}, got {resp.status_code}: {resp.text[:500]}")
        return resp

    def signup(self, email: str, handle: str, password: str = PASSWORD) -> dict[str, Any]:
        """Sign up as a person does: ask, read the mailed link (the node's test mailbox), confirm."""
        body = {"email": email, "password": password, "display_name": handle.title(), "handle": handle}
        self.call("POST", "/signup", body, expect=202)
        return _json(self.call("POST", "/signup/confirm", {"token": self.mailed_token(email, "/signup/confirm/")}, 201))

    def mailed_token(self, email: str, path: str) -> str:
        """The token of the newest link to `path` mailed to `email` (only nodes that allow clock control)."""
        mails = self.http.get(f"{self.url}/_test/mails", params={"to": email}, timeout=self.timeout).json()["mails"]
        return newest_link([mail["body"] for mail in mails], email, path)

    def token(self, email: str, password: str = PASSWORD) -> str:
        return str(_json(self.call("POST", "/tokens", {"email": email, "password": password}, expect=201))["token"])

    def login(self, email: str, password: str = PASSWORD) -> NodeClient:
        """A new client acting as this member."""
        return NodeClient(self.url, self.token(email, password), self.timeout)

    def clone(self) -> NodeClient:
        """The same member on a new connection (for another thread)."""
        return NodeClient(self.url, self.api_token, self.timeout)

    def approve(self, member_id: int) -> dict[str, Any]:
        return _json(self.call("POST", f"/coordinator/members/{member_id}/approve", expect=200))

    def transfer(self, to: str, amount: Any, memo: str = "") -> requests.Response:
        return self.call("POST", "/transfers", {"to": to, "amount": amount, "memo": memo})

    def me(self) -> dict[str, Any]:
        return _json(self.call("GET", "/me", expect=200))

    def balance(self) -> int:
        return int(self.me()["balance"])

    def statement(self) -> dict[str, Any]:
        return _json(self.call("GET", "/me/statement", expect=200))

    def export(self) -> dict[str, Any]:
        return _json(self.call("GET", "/me/export", expect=200))

    def close(self) -> None:
        self.http.close()


class NodeProcess:
    """One node as a separate OS process: init, run, stop, kill -9, restart; its log is <data_dir>/node.log."""

    def __init__(
        self, data_dir: Path, node_id: str, *, port: int | None = None, settings: Mapping[str, Any] | None = None
    ) -> None:
        self.data_dir = Path(data_dir)
        self.node_id = node_id
        self.port = port or free_port()
        self.settings: dict[str, Any] = dict(settings or {})
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "node.log"

    def log_text(self, tail: int = 8000) -> str:
        return log_tail(self.log_path, tail)

    def cli(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run `sifnet node <args> --data-dir <data_dir>` with this node's settings environment."""
        cmd = [*sifnet_command(), "node", *args, "--data-dir", str(self.data_dir)]
        result = subprocess.run(
            cmd, env=settings_env(self.settings), cwd=REPO, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise ProcessError(
                f"{' '.join(args)} exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def init(self) -> Self:
        """Create the data folder, settings file, key and database; and a coordinator."""
        self.cli("init", "--node-id", self.node_id, "--port", str(self.port))
        self.cli("create-coordinator", "--email", COORDINATOR_EMAIL, "--password", PASSWORD, "--handle", "coord")
        return self

    def start(self, timeout: float = 30) -> Self:
        """Start `sifnet node run` and wait until /healthz answers with this node's id."""
        if self.running:
            raise RuntimeError(f"node {self.node_id} is already running")
        cmd = [*sifnet_command(), "node", "run", "--data-dir", str(self.data_dir)]
        env = settings_env({**self.settings, "port": self.port})
        self.process = Process(f"node {self.node_id}", cmd, env, self.log_path)
        self.process.start(f"start {time.strftime('%H:%M:%S')} port {self.port}")
        self.process.wait_healthy(self.url, node_id=self.node_id, timeout=timeout)
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.running

    @property
    def pid(self) -> int:
        """The running node's process id, which is also its process group's."""
        if self.process is None:
            raise RuntimeError(f"node {self.node_id} was never started")
        return self.process.pid

    def signal(self, sig: int) -> None:
        """Send sig to the node's process group (SIGSTOP freezes it), if it runs."""
        if self.process is not None:
            self.process.signal(sig)

    def stop(self, timeout: float = 10) -> None:
        """Ask the node to stop (SIGTERM), killing it if it does not within the timeout."""
        if self.process is not None:
            self.process.stop(timeout)

    def kill9(self) -> None:
        """SIGKILL the node's whole process group: no shutdown code runs."""
        if self.process is not None:
            self.process.kill9()

    def restart(self, timeout: float = 30) -> Self:
        self.stop()
        return self.start(timeout)

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
        return f"{type(self).__name__}({self.node_id!r}, {self.url}, running={self.running})"


def peer(a: NodeProcess, b: NodeProcess, trust_limit: int = 100) -> None:
    """a's coordinator adds b by URL and pins the fingerprint b's own document shows."""
    coord = a.coordinator()
    added = coord.call("POST", "/federation/peers", {"url": b.url}, expect=201).json()
    if added["status"] != "pending":
        raise ProcessError(f"{a.node_id} added {b.node_id} as {added['status']}, not pending")
    confirm = {"fingerprint": added["fingerprint"], "trust_limit": trust_limit}
    coord.call("POST", f"/federation/peers/{b.node_id}/confirm", confirm, expect=200)


def peer_both(a: NodeProcess, b: NodeProcess, a_trusts_b: int = 100, b_trusts_a: int = 100) -> None:
    peer(a, b, a_trusts_b)
    peer(b, a, b_trusts_a)


def node_env(node: NodeProcess, extra: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The environment a production process of this node gets: SIFNET_* settings, data folder, port."""
    return settings_env({**node.settings, "data_dir": str(node.data_dir), "port": node.port, **(extra or {})})


def gunicorn(node: NodeProcess, *, workers: int, threads: int = 1, env: Mapping[str, str] | None = None) -> Process:
    """Serve an initialised node with gunicorn on its port, logging to gunicorn.log (not started).

    With threads > 1 (gthread workers) connections are kept open as in deploy/systemd/sifnet-web.service.
    """
    exe = Path(sys.executable).with_name("gunicorn")
    cmd = [str(exe), "--workers", str(workers), "--threads", str(threads), "--bind", f"127.0.0.1:{node.port}"]
    cmd += ["--keep-alive", str(GUNICORN_KEEP_ALIVE_SECONDS), "--graceful-timeout", "10", "node.wsgi:app"]
    return Process(f"gunicorn {node.node_id}", cmd, {**node_env(node), **(env or {})}, node.data_dir / "gunicorn.log")


def worker(node: NodeProcess, env: Mapping[str, str] | None = None) -> Process:
    """`sifnet node worker` for an initialised node, logging to worker.log (not started)."""
    cmd = [*sifnet_command(), "node", "worker", "--data-dir", str(node.data_dir)]
    return Process(f"worker {node.node_id}", cmd, {**node_env(node), **(env or {})}, node.data_dir / "worker.log")
