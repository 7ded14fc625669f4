"""What the devnet walk-throughs share: the devnet's node URLs, a member's API session, waiting.

Used by examples/cross_border_review.py and examples/clearing_cycle.py.
"""

from __future__ import annotations

import time
import tomllib
from pathlib import Path

import requests

CONFIG = Path(__file__).resolve().parent.parent / "deploy" / "devnet" / "devnet.toml"


class WalkError(Exception):
    """A step did not give what it should; the message says which."""


def node_urls(base_port: int) -> dict[str, str]:
    """node id -> URL of each devnet node started with this base port."""
    with CONFIG.open("rb") as fh:
        return {n["id"]: f"http://127.0.0.1:{base_port + n['offset']}" for n in tomllib.load(fh)["node"]}


class ApiSession:
    """One person's JSON API session on one node (logged in with email and password)."""

    def __init__(self, url: str, email: str, password: str) -> None:
        self.url, self.http = url, requests.Session()
        token = self.call("POST", "/tokens", {"email": email, "password": password}, expect=201)["token"]
        self.http.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, body: dict | None = None, expect: int = 200) -> dict:
        resp = self.http.request(method, f"{self.url}/api/v1{path}", json=body, timeout=30)
        if resp.status_code != expect:
            raise WalkError(f"{method} {self.url}/api/v1{path}: {resp.status_code} {resp.text[:300]}")
        return resp.json()


def wait_for(what: str, check, timeout: float, every: float = 0.5):
    """Poll until check() gives something truthy and return it; say what we waited for if it never does."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise WalkError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)
