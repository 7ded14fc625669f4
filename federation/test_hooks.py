"""Development/test only (setting `allow_clock_control`): make this node act as a careless peer.

The chaos tests use these to send what a correct node never sends: a transfer under an id it
already used, and a review invitation with far-future deadlines. The receiving node must
answer each exactly once and keep every invariant. One more hook counts, per peer, the federation
requests this node answered and the connections (client ports) they came over, so a test can see
connections kept alive.
"""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import func, select
from sqlmodel import col

from federation.payments.transfers import _INSERT_TRANSFER, REUSE_MARK, TRANSFER, _transfer_values
from federation.state import federation_of
from federation.tables import CrossBorderTransfer, PoolReviewer
from federation.transport import channels
from federation.transport.peers import position_account
from node.api.base import json_body
from node.context import node_ctx
from node.errors import ConflictError, NotFoundError
from node.services import ledger
from protocol import format_time

bp = Blueprint("federation_test_hooks", __name__, url_prefix="/_test/federation")


@bp.post("/reuse-transfer")
def reuse_transfer():
    """Send another transfer entry under the id of one of our earlier transfers (`transfer_id`, else the newest).

    `same: true` repeats its body exactly (no money moves: the sender moved it once, under that
    id); otherwise a different transfer (memo changed) moves the payer's SIF again, recorded as
    `<id>-reuse-<n>`, which the peer must bounce so that the payer gets it back.
    """
    fed = federation_of()
    data = json_body()
    with fed.ctx.db.write() as session:
        now = fed.ctx.now()
        outgoing = select(CrossBorderTransfer).where(col(CrossBorderTransfer.direction) == "out")
        if "transfer_id" in data:
            outgoing = outgoing.where(col(CrossBorderTransfer.transfer_id) == str(data["transfer_id"]))
        else:  # the newest transfer this node sent itself (not one of these reuses)
            outgoing = outgoing.where(~col(CrossBorderTransfer.transfer_id).contains(REUSE_MARK)).order_by(
                col(CrossBorderTransfer.id).desc()
            )
        first = session.scalars(outgoing).first()
        if first is None:
            raise NotFoundError("no outgoing transfer with that id", code="transfer_not_found")
        body = {
            "transfer_id": first.transfer_id,
            "payer": first.local_handle,
            "payee": first.remote_handle,
            "amount": first.amount,
            "memo": first.memo,
        }
        if data.get("same") is not True:
            reused = session.execute(
                select(func.count())
                .select_from(CrossBorderTransfer)
                .where(col(CrossBorderTransfer.transfer_id).startswith(first.transfer_id + REUSE_MARK))
            ).scalar_one()
            local_id = f"{first.transfer_id}{REUSE_MARK}{reused + 1}"
            body["memo"] = f"reused id {reused + 1}"
            assert first.local_member_id is not None, "an outgoing transfer names its payer"
            ledger.post(
                session,
                kind="cross_border_out",
                memo=f"to {first.remote_handle}@{first.peer_id} (reused id)",
                now=now,
                ref=f"xfer:{local_id}:out",
                actor_id=first.local_member_id,
                legs=[
                    ledger.Leg(ledger.member_account(session, first.local_member_id), -first.amount),
                    ledger.Leg(position_account(session, first.peer_id, now), first.amount),
                ],
            )
            session.execute(
                _INSERT_TRANSFER,
                _transfer_values(
                    transfer_id=local_id,
                    direction="out",
                    peer_id=first.peer_id,
                    local_member_id=first.local_member_id,
                    local_handle=first.local_handle,
                    remote_handle=first.remote_handle,
                    amount=first.amount,
                    memo=body["memo"],
                    status=TRANSFER.initial,
                    created_at=now,
                ),
            )
        seq = channels.append(session, fed, peer_id=first.peer_id, type_name="transfer", now=now, body=body)
    return jsonify({"seq": seq, "body": body}), 201


@bp.post("/far-invite")
def far_invite():
    """Invite a reviewer of a peer's shared pool with deadlines `days` ahead (the peer must decline it)."""
    fed = federation_of()
    data = json_body()
    days = data.get("days")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 36500:
        raise ConflictError("days: 1..36500", code="invalid_input")
    with fed.ctx.db.write() as session:
        now = fed.ctx.now()
        reviewer = session.scalars(
            select(PoolReviewer)
            .where(col(PoolReviewer.peer_id) == str(data.get("peer", "")))
            .order_by(PoolReviewer.handle)
        ).first()
        if reviewer is None:
            raise NotFoundError("that peer shares no reviewer", code="no_reviewer")
        invite_id = "far-" + uuid.uuid4().hex
        accept_by = now + timedelta(days=days)
        body = {
            "invite_id": invite_id,
            "proposal_ref": "p-far",
            "reviewer_handle": reviewer.handle,
            "title": "Far-future invitation",
            "summary": "Holds a slot for a long time.",
            "tags": [],
            "language": "en",
            "bounty": 1,
            "accept_by": format_time(accept_by),
            "due_by": format_time(accept_by + timedelta(days=14)),
        }
        channels.append(session, fed, peer_id=reviewer.peer_id, type_name="review_invite", now=now, body=body)
    return jsonify({"invite_id": invite_id, "peer": reviewer.peer_id}), 201


class ConnectionsSeen:
    """Per sending peer, the federation requests this process answered and the client ports they came from."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[int, set[str]]] = {}

    def note(self) -> None:
        sender = request.headers.get("Sifnet-From")
        if not sender or not request.path.startswith("/federation/v1/"):
            return
        client = f"{request.environ.get('REMOTE_ADDR')}:{request.environ.get('REMOTE_PORT')}"
        with self._lock:
            count, clients = self._seen.get(sender, (0, set()))
            self._seen[sender] = (count + 1, clients | {client})

    def counts(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {peer: {"requests": n, "connections": len(c)} for peer, (n, c) in self._seen.items()}


@bp.get("/connections")
def connections():
    """Per peer, the federation requests it sent here and over how many connections (keep-alive tests)."""
    return jsonify({"peers": current_app.extensions["sifnet_connections_seen"].counts()})


def register(app) -> None:
    if node_ctx(app).settings.allow_clock_control:
        app.register_blueprint(bp)
        seen = app.extensions["sifnet_connections_seen"] = ConnectionsSeen()
        app.before_request(seen.note)
