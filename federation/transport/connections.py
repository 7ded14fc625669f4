"""Connections to peers: one requests.Session per peer, a small pool of kept-alive HTTP/1.1 connections.

Deliveries, sweeps, payee checks, checkpoints and clearing rounds to one peer share its session, so
they reuse its connections instead of opening one per request. Several threads may use a session at
once (the delivery thread, web threads asking about a payee, the sweeps): its urllib3 pool hands each
request a connection of its own, and the session keeps no other state (cookies are refused: requests
between nodes are signed, never carried by a cookie).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from http.cookiejar import DefaultCookiePolicy

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ProtocolError

log = logging.getLogger(__name__)
POOL_SIZE = 4  # connections kept open per peer; more requests at once each open one that is not kept


class PeerConnections:
    """The sessions of one node's peers, each made for the peer's base URL; replaced when that URL changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[str, requests.Session]] = {}

    def session(self, peer_id: str, base_url: str) -> requests.Session:
        """The peer's session; a new one (the old one closed) when the peer's URL is not the one it was made for."""
        with self._lock:
            known = self._sessions.get(peer_id)
            if known is not None and known[0] == base_url:
                return known[1]
            session = _new_session(base_url)
            self._sessions[peer_id] = (base_url, session)
        if known is not None:
            known[1].close()  # a request still using it finishes; its connection is then closed, not kept
        return session

    def close(self) -> None:
        """Close every peer's connections (the node stops); a later request opens a new session."""
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for _, session in sessions:
            session.close()


def _new_session(base_url: str) -> requests.Session:
    session = requests.Session()
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=POOL_SIZE)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    # The environment's proxy and CA bundle are read once, for this peer's URL, instead of on every request
    # (requests looks them up per request, about 0.14 ms each; a changed environment needs a restart anyway).
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    session.trust_env = False
    return session


def broken_connection(exc: requests.RequestException) -> bool:
    """The connection closed or reset before any answer (not a refused connection, not a timeout)."""
    return isinstance(exc, requests.ConnectionError) and bool(exc.args) and isinstance(exc.args[0], ProtocolError)


def send_signed(
    session: requests.Session,
    method: str,
    url: str,
    body: bytes,
    sign: Callable[[], dict[str, str]],
    *,
    timeout: float,
) -> requests.Response:
    """Send a request with headers from `sign()`; once more, signed afresh, when the connection broke first.

    A peer may close a kept-alive connection just as we reuse it (its idle timeout): that is no sign of
    the peer being away, so one retry follows, and only a second break is the caller's failure. Whether
    the first request reached the peer is unknown, so the retry carries a new signature (a repeated
    nonce would be refused as a replay) over the same body. Only requests that are safe to receive
    twice may come here: a batch of channel entries is applied once by seq (an entry already applied
    is acknowledged and changes nothing), and a payee question changes nothing.
    """
    try:
        return _send(session, method, url, body, sign(), timeout)
    except requests.ConnectionError as exc:
        if not broken_connection(exc):
            raise
        log.info("connection to %s broke before an answer (%s); trying once more", url, exc.__class__.__name__)
    return _send(session, method, url, body, sign(), timeout)


def _send(
    session: requests.Session, method: str, url: str, body: bytes, headers: dict[str, str], timeout: float
) -> requests.Response:
    """One request straight to the session's connection pool (its adapter), with the session's proxies and CA.

    Session.request merges settings, hooks and cookies and follows redirects on every call: about 0.23 ms per
    request on loopback, on every payment's delivery. A signed request is never redirected (its signature covers
    its URL): a peer's 3xx is its answer, which the caller refuses as it refuses any other non-200.
    """
    prepared = requests.Request(method, url, data=body, headers=headers).prepare()
    adapter = session.get_adapter(url)
    return adapter.send(prepared, timeout=timeout, proxies=session.proxies, verify=session.verify, cert=session.cert)
