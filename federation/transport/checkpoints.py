"""Checkpoints: peers exchange signed statements of their chain points and bilateral position.

A checkpoint is compared only where both sides speak of the same point: the hash of the
entry at a given seq must match, and positions must mirror when neither side has entries
in flight. A mismatch opens a dispute for both coordinators; nothing is repaired silently.
Positions on the wire have the sign of position_statement (positive: the peer owes us); our
position account's balance has the other sign (positive: we owe the peer).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import requests
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from federation.tables import ChannelEntry, Checkpoint, Dispute, Peer, SettledPair, SettlementPart
from federation.transport import channels
from federation.transport.httpsig import sign_request
from federation.transport.identity import MESSAGES_PATH, new_envelope_id
from node.errors import DomainError
from node.lifecycle import lifecycle
from node.services import audit
from node.tables import Account
from protocol import Envelope, ProtocolError, canonical_json, format_time, make_envelope, sign_envelope

if TYPE_CHECKING:
    from federation.state import Federation

# A disagreement between two nodes' books: a coordinator resolves it (resolve_dispute), or it ends by
# itself with the first agreeing checkpoint when only a missed settlement certificate caused it.
DISPUTE = lifecycle("federation dispute", "open", table=Dispute, open="resolved", resolved="")


def position_of(session: Session, peer_id: str) -> int:
    """Our position account's balance towards a peer: positive when we owe it (the ledger's sign)."""
    account = session.scalars(select(Account).where(col(Account.ref) == f"position:{peer_id}")).first()
    return account.balance if account else 0


def settled_of(session: Session, peer_id: str) -> tuple[int, int]:
    """How much applied settlement certificates changed our position towards a peer, and how many did."""
    row = session.get(SettledPair, peer_id)
    return (row.settled, row.settlements) if row else (0, 0)


def last_applied_with(session: Session) -> dict[str, datetime]:
    """When we last applied a settlement certificate that changed our position towards each peer."""
    rows = session.execute(
        select(col(SettlementPart.changes), col(SettlementPart.applied_at))
        .where(col(SettlementPart.state) == "applied")
        .order_by(col(SettlementPart.applied_at).desc())
        .limit(64)
    ).all()
    last: dict[str, datetime] = {}
    for changes, applied_at in rows:
        for peer_id in json.loads(changes or "{}"):
            last.setdefault(peer_id, applied_at)
    return last


def make_checkpoint(session: Session, fed: Federation, peer_id: str, now: datetime) -> Envelope:
    """Our signed view of the pair: last entry sent, last entry applied, our position."""
    sent = channels.chain_point(session, fed.node_id, peer_id, "out")
    received = channels.chain_point(session, fed.node_id, peer_id, "in")
    settled, settlements = settled_of(session, peer_id)
    body = {
        "as_of": format_time(now),
        "sent": {"seq": sent[0], "hash": sent[1]},
        "received": {"seq": received[0], "hash": received[1]},
        "position": -position_of(session, peer_id),
        "settled": -settled,
        "settlements": settlements,
    }  # the SPEC's sign: positive when the peer owes us
    env = make_envelope(type="checkpoint", from_=fed.node_id, to=peer_id, created=now, body=body, id=new_envelope_id())
    return sign_envelope(env, fed.request_key_for(session, peer_id))


def compare(session: Session, fed: Federation, peer_id: str, theirs: dict) -> list[str]:
    """Differences between a peer's checkpoint and our books; empty when they agree."""
    problems = []
    for their_side, our_direction in (("sent", "in"), ("received", "out")):
        point = theirs[their_side]
        if point["seq"] == 0:
            continue
        ours = session.scalars(
            select(ChannelEntry).where(
                col(ChannelEntry.peer_id) == peer_id,
                col(ChannelEntry.direction) == our_direction,
                ChannelEntry.seq == point["seq"],
            )
        ).first()
        if ours is not None and ours.entry_hash != point["hash"]:
            problems.append(
                f"entry {point['seq']} of the {our_direction} channel differs: "
                f"ours {ours.entry_hash}, theirs {point['hash']}"
            )
        if ours is None and our_direction == "out":
            problems.append(f"they applied our entry {point['seq']}, which we never sent")
    our_sent = channels.chain_point(session, fed.node_id, peer_id, "out")
    our_received = channels.chain_point(session, fed.node_id, peer_id, "in")
    quiet = theirs["sent"]["seq"] == our_received[0] and theirs["received"]["seq"] == our_sent[0]
    ours_settled, ours_count = settled_of(session, peer_id)
    ours_pos, ours_settled = -position_of(session, peer_id), -ours_settled  # in the wire's sign, like theirs
    theirs_settled, theirs_count = theirs.get("settled", 0), theirs.get("settlements", 0)
    # The two sides apply a settlement certificate at different moments: what the channels moved must
    # mirror always, and the whole positions once both have applied the same number of settlements.
    if quiet and (theirs["position"] - theirs_settled) + (ours_pos - ours_settled) != 0:
        problems.append(
            f"positions do not mirror: ours {ours_pos}, theirs {theirs['position']} "
            f"(of which settlements: ours {ours_settled}, theirs {theirs_settled})"
        )
    elif quiet and theirs_count == ours_count and theirs["position"] + ours_pos != 0:
        problems.append(
            f"positions do not mirror after {ours_count} settlements: ours {ours_pos}, theirs {theirs['position']}"
        )
    elif quiet and theirs_count != ours_count:
        missed = missed_certificate(session, fed, peer_id, fed.ctx.now())
        if missed:
            problems.append(
                f"positions do not mirror: {MISSED} ({ours_count} settlements applied here, "
                f"{theirs_count} there; ours {ours_pos}, theirs {theirs['position']}; {missed})"
            )
    return problems


MISSED = "a settlement certificate was missed"


def missed_certificate(session: Session, fed: Federation, peer_id: str, now: datetime) -> str:
    """Why a different count of applied settlements with a quiet peer is no longer a certificate on its way.

    A participant waits for a certificate until the round's deadline plus the apply window; after
    that the pair diverges until the certificate is delivered after all. Empty while one may still come.
    """
    window = timedelta(seconds=fed.ctx.settings.settlement_apply_seconds)
    parts = session.scalars(
        select(SettlementPart)
        .where(col(SettlementPart.state).in_(("accepted", "applied", "lapsed")))
        .order_by(col(SettlementPart.created_at).desc())
        .limit(64)
    ).all()
    ours = [p for p in parts if peer_id in json.loads(p.changes or "{}")]
    if any(p.state == "accepted" or (p.deadline is not None and now <= p.deadline + window) for p in ours):
        return ""
    lapsed = [p.round_id for p in ours if p.state == "lapsed"]
    if lapsed:
        return f"round {', '.join(lapsed)} lapsed here without its certificate"
    applied = [p.round_id for p in ours if p.state == "applied"][:3]
    # With no round of ours involving the peer, nothing here says a certificate was missed.
    return f"the peer never applied round {', '.join(applied)}" if applied else ""


def receive_checkpoint(fed: Federation, peer: Peer, env: Envelope) -> dict:
    """Direct-message handler: compare, record, and open a dispute on any mismatch."""
    ctx = fed.ctx
    with ctx.db.write() as session:
        problems = compare(session, fed, peer.node_id, env.body)
        record_checkpoint(session, peer.node_id, env, problems, ctx.now())
        answer = make_checkpoint(session, fed, peer.node_id, ctx.now())
    return {"agrees": not problems, "problems": problems, "checkpoint": answer.to_dict()}


def record_checkpoint(session: Session, peer_id: str, env: Envelope, problems: list[str], now: datetime) -> None:
    """Keep a peer's checkpoint and what we found; open a dispute on a mismatch.

    A dispute opened only because a settlement certificate was missed ends with the first agreeing
    checkpoint: the certificate was delivered after all and applied once, so the books mirror again.
    """
    session.add(
        Checkpoint(
            peer_id=peer_id,
            envelope=canonical_json(env.to_dict()).decode(),
            received_at=now,
            agrees=not problems,
            detail="; ".join(problems)[:2000],
        )
    )
    if problems:
        open_dispute(session, peer_id, "; ".join(problems), now)
        return
    for dispute in session.scalars(
        select(Dispute).where(col(Dispute.peer_id) == peer_id, col(Dispute.status) == "open")
    ):
        if dispute.detail.startswith(f"positions do not mirror: {MISSED}"):
            DISPUTE.move(dispute, "resolved")
            dispute.resolved_at = now
            dispute.resolution = "the missed settlement certificate was delivered and applied; the checkpoint agrees"


def open_dispute(session: Session, peer_id: str, detail: str, now: datetime) -> Dispute:
    """Open a dispute unless the same one is already open."""
    kind = "position_mismatch" if "positions" in detail else "chain_mismatch"
    existing = session.scalars(
        select(Dispute).where(col(Dispute.peer_id) == peer_id, col(Dispute.status) == "open", col(Dispute.kind) == kind)
    ).first()
    if existing is not None:
        return existing
    dispute = Dispute(peer_id=peer_id, kind=kind, detail=detail[:2000], status=DISPUTE.initial, opened_at=now)
    session.add(dispute)
    return dispute


def exchange_checkpoint(fed: Federation, peer_id: str) -> dict:
    """Send our checkpoint to a peer, and compare the one it answers with (both sides then know)."""
    from federation.transport.peers import get_peer, keyring_of
    from protocol import Envelope as Env
    from protocol import verify_envelope

    ctx = fed.ctx
    with ctx.db.read() as session:
        peer = get_peer(session, peer_id)
        env = make_checkpoint(session, fed, peer_id, ctx.now())
        key = fed.request_key_for(session, peer_id)
    body = canonical_json(env.to_dict())
    url = peer.base_url.rstrip("/") + MESSAGES_PATH
    headers = sign_request(
        method="POST", url=url, body=body, from_node=fed.node_id, to_node=peer_id, key=key, now=ctx.now()
    )
    # A lost or garbled answer is the peer's problem, never a 500 here.
    try:
        response = fed.http_for(peer).post(url, data=body, headers=headers, timeout=fed.timeout, allow_redirects=False)
        answer = json.loads(response.content)
        if response.status_code != 200:
            return {"error": answer.get("error") if isinstance(answer, dict) else None}
        theirs = Env.from_dict(answer["checkpoint"])
    except (requests.RequestException, ValueError, KeyError, TypeError, ProtocolError) as exc:
        raise DomainError(
            _(
                "%(node)s did not answer with a usable checkpoint (%(error)s).",
                node=peer_id,
                error=exc.__class__.__name__,
            ),
            code="peer_unreachable",
            status=502,
        ) from None
    with ctx.db.write() as session:
        try:
            verify_envelope(
                theirs,
                keyring=keyring_of(session, peer_id),
                expected_to=fed.node_id,
                now=ctx.now(),
                max_skew=fed.max_skew,
                max_age=fed.max_age,
            )
        except ProtocolError as exc:
            raise DomainError(
                _("The checkpoint of %(node)s does not verify: %(problem)s", node=peer_id, problem=exc.message),
                code=f"checkpoint_{exc.code}",
                status=502,
            ) from None
        problems = compare(session, fed, peer_id, theirs.body)
        record_checkpoint(session, peer_id, theirs, problems, ctx.now())
    return {"agrees": not problems, "problems": problems}


def resolve_dispute(
    session: Session, dispute_id: int, resolution: object, now: datetime, actor_id: int | None = None
) -> Dispute:
    """A coordinator marks a dispute resolved, saying how (kept in the audit log with who and when)."""
    from node.errors import ConflictError, NotFoundError, ValidationError

    dispute = session.get(Dispute, dispute_id)
    if dispute is None:
        raise NotFoundError(_("There is no such dispute."), code="dispute_not_found")
    if dispute.status != "open":
        raise ConflictError(_("This dispute is already resolved."), code="dispute_resolved")
    if not isinstance(resolution, str) or not resolution.strip():
        raise ValidationError(_("Describe how the dispute was resolved."), code="missing_field", field="resolution")
    DISPUTE.move(dispute, "resolved")
    dispute.resolution, dispute.resolved_at = resolution.strip()[:1000], now
    detail = {"peer": dispute.peer_id, "kind": dispute.kind, "resolution": dispute.resolution}
    audit.record(session, actor_id, "federation_dispute_resolved", f"dispute:{dispute.id}", detail, now)
    return dispute
