"""Before paying across the border: ask the payee's node whether the handle exists and takes payments.

The payer's node sends a signed GET (RFC 9421, like every federation request) to
`/federation/v1/payees/<handle>` and keeps the answer briefly, so a member who pays the
same person twice does not wait twice. Only an answer of the payee's node refuses a
payment; when the node cannot be asked (away, slow), the payment goes ahead and a bounce
remains the fallback. The answer says only whether the handle takes payments: nothing else
about the member, and only to an authenticated, active peer.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

import requests
from flask import Blueprint, jsonify
from sqlalchemy import select
from sqlmodel import col

from federation.state import Federation, federation_of
from federation.tables import Peer
from federation.transport import refusal
from federation.transport.connections import send_signed
from federation.transport.httpsig import sign_request
from federation.transport.inbox import authenticate
from node.tables import Member

PAYEES_PATH = "/federation/v1/payees/"
CACHE_SECONDS = 60.0
ASK_TIMEOUT = 3.0  # seconds: a payer waits this long at most before the payment goes ahead unchecked
HANDLE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")

bp = Blueprint("federation_payees", __name__)
refusal.register(bp)


@dataclass(frozen=True)
class PayeeAnswer:
    """What the payee's node said: whether the handle takes payments, and if not, why."""

    accepts: bool
    reason_code: str = ""


@bp.get(PAYEES_PATH + "<handle>")
def payee(handle: str):
    """Answer an active peer whether `handle` is a member here who can be paid."""
    fed = federation_of()
    authenticate(fed, b"")  # read-only: a replayed question gets the same answer, so its nonce is not kept
    found = None
    if HANDLE.fullmatch(handle):
        with fed.ctx.db.read() as session:
            found = session.scalars(select(col(Member.status)).where(col(Member.handle) == handle)).first()
    if found == "active":
        return jsonify({"payee": handle, "accepts": True})
    return jsonify({"payee": handle, "accepts": False, "reason_code": "unknown_payee"})


class PayeeChecks:
    """The payer's side: asks peers about payees, remembering each answer for CACHE_SECONDS."""

    def __init__(self, fed: Federation) -> None:
        self.fed = fed
        self._answers: dict[tuple[str, str], tuple[float, PayeeAnswer]] = {}
        self._lock = threading.Lock()

    def check(self, node_id: str, handle: str) -> PayeeAnswer | None:
        """The payee node's answer, or None when it could not be asked (the payment then goes ahead)."""
        cached = self.cached(node_id, handle)
        if cached is not None:
            return cached
        answer = self._ask(node_id, handle)
        if answer is not None:
            with self._lock:
                if len(self._answers) > 10_000:
                    self._answers.clear()
                self._answers[(node_id, handle)] = (time.monotonic(), answer)
        return answer

    def cached(self, node_id: str, handle: str) -> PayeeAnswer | None:
        """The answer kept from asking within CACHE_SECONDS, or None."""
        with self._lock:
            kept = self._answers.get((node_id, handle))
        if kept is not None and time.monotonic() - kept[0] < CACHE_SECONDS:
            return kept[1]
        return None

    def _ask(self, node_id: str, handle: str) -> PayeeAnswer | None:
        fed = self.fed
        with fed.ctx.db.read() as session:
            peer = session.get(Peer, node_id)
            if peer is None or peer.status != "active":
                return None
            key = fed.request_key_for(session, node_id)
            base_url = peer.base_url
        url = base_url.rstrip("/") + PAYEES_PATH + handle

        def signed_headers() -> dict[str, str]:
            own, now = fed.node_id, fed.ctx.now()
            return sign_request(method="GET", url=url, body=b"", from_node=own, to_node=node_id, key=key, now=now)

        try:
            http = fed.connections.session(node_id, base_url)
            response = send_signed(http, "GET", url, b"", signed_headers, timeout=ASK_TIMEOUT)
            data = response.json() if response.status_code == 200 else None
        except (requests.RequestException, ValueError):
            return None
        if not isinstance(data, dict) or data.get("payee") != handle or not isinstance(data.get("accepts"), bool):
            return None
        return PayeeAnswer(data["accepts"], str(data.get("reason_code", ""))[:64])
