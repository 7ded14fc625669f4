"""This node's signed figures for the network directory: aggregates only, the initiatives that consented, and
the funding leads shared network-wide.

Served at GET /federation/v1/summary (a ``directory_summary`` envelope),
GET /federation/v1/initiatives (a ``directory_initiatives`` envelope) and GET /federation/v1/funding
(a ``directory_funding`` envelope), all addressed to the directory named by the ``directory_id``
setting: the node's coordinator chose to be listed there. Nothing personal leaves the node: counts,
a median, sums and positions, and leads without their posters.
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
from datetime import datetime, timedelta
from importlib import metadata

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import case, func, select

from node.tables import Account, Member, Proposal, Review, ReviewInvitation
from protocol import PROTOCOL_VERSION, Envelope, b64url_encode, canonical_json, make_envelope, sign_envelope

from federation.initiatives import funding as funding_service
from federation.initiatives import records as initiatives_service
from federation.transport.checkpoints import position_of
from federation.transport.identity import SUMMARY_PATH, new_envelope_id
from federation.tables import ChannelEntry, CrossBorderTransfer, Peer

INITIATIVES_PATH = "/federation/v1/initiatives"
FUNDING_PATH = "/federation/v1/funding"
TAG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
LANGUAGE_RE = re.compile(r"[a-z]{2,3}")

bp = Blueprint("federation_summary", __name__)


def software_version() -> str:
    try:
        return f"sifnet {metadata.version('sifnet')}"
    except metadata.PackageNotFoundError:  # running from a checkout that was never installed
        return "sifnet (unreleased)"


def member_figures(session, now: datetime) -> dict:
    """Approved members, those active in the last 30 and 180 days, and the SIF they hold."""
    active = Member.status == "active"

    def count(*where) -> int:
        return session.execute(select(func.count()).select_from(Member).where(active, *where)).scalar_one()

    held = session.execute(
        select(func.coalesce(func.sum(Account.balance), 0)).where(Account.kind == "member")
    ).scalar_one()
    return {
        "members": count(),
        "active_30d": count(Member.last_active_at >= now - timedelta(days=30)),
        "active_180d": count(Member.last_active_at >= now - timedelta(days=180)),
        # Overdrafts could make the sum negative in theory; the field counts SIF held, from 0.
        "sif_in_circulation": max(0, int(held)),
    }


def reviewer_pool(session) -> tuple[dict, dict]:
    """Shared reviewers (opted in to the pool) per expertise tag and per language."""
    rows = session.execute(
        select(Member.expertise, Member.languages).where(
            Member.status == "active", Member.is_reviewer.is_(True), Member.pool_consent.is_(True)
        )
    ).all()
    by_tag: dict[str, int] = {}
    by_language: dict[str, int] = {}
    for expertise, languages in rows:
        for tag in set(expertise or ()):
            if TAG_RE.fullmatch(tag):
                by_tag[tag] = by_tag.get(tag, 0) + 1
        for language in set(languages or ()):
            if LANGUAGE_RE.fullmatch(language):
                by_language[language] = by_language.get(language, 0) + 1
    return dict(sorted(by_tag.items())[:1000]), dict(sorted(by_language.items())[:200])


def proposal_figures(session) -> dict:
    """Open proposals, proposals with a submitted review, and the median days from acceptance to review."""
    open_count = session.execute(
        select(func.count()).select_from(Proposal).where(Proposal.status == "open")
    ).scalar_one()
    reviewed = session.execute(
        select(func.count(func.distinct(ReviewInvitation.proposal_id)))
        .select_from(Review)
        .join(ReviewInvitation, ReviewInvitation.id == Review.invitation_id)
    ).scalar_one()
    spans = session.execute(
        select(ReviewInvitation.responded_at, Review.submitted_at)
        .join(Review, Review.invitation_id == ReviewInvitation.id)
        .where(ReviewInvitation.responded_at.is_not(None))
    ).all()
    days = [max(0, (submitted - accepted).total_seconds() / 86400) for accepted, submitted in spans]
    median = min(3650, round(statistics.median(days))) if days else None
    return {"proposals_open": open_count, "proposals_reviewed": reviewed, "median_turnaround_days": median}


def cross_border(session) -> list[dict]:
    """Per peer: reviews given and received (the review_submit entries of our channels) and our position."""
    submits = dict(
        ((peer, direction), n)
        for peer, direction, n in session.execute(
            select(ChannelEntry.peer_id, ChannelEntry.direction, func.count())
            .where(ChannelEntry.type == "review_submit")
            .group_by(ChannelEntry.peer_id, ChannelEntry.direction)
        ).all()
    )
    out = []
    for peer in session.scalars(select(Peer).where(Peer.status != "pending").order_by(Peer.node_id).limit(256)):
        # position_statement's sign: positive when the peer owes this node (our position account is what we owe).
        out.append(
            {
                "peer": peer.node_id,
                "reviews_given": submits.get((peer.node_id, "out"), 0),
                "reviews_received": submits.get((peer.node_id, "in"), 0),
                "position": -position_of(session, peer.node_id),
            }
        )
    return out


PAYMENT_DAYS = {"30d": 30, "365d": 365, "all": None}  # protocol.messages.PAYMENT_PERIODS, in days


def payments(session, now: datetime) -> list[dict]:
    """Per peer: SIF paid to it and received from it by completed transfers (bounties included), per period.

    Every SIF that crosses a border is a fed_transfers row (a member's payment or a review bounty), one
    per side and transfer id, so a completed row counts once; it belongs to a period by when it completed.
    """
    done = CrossBorderTransfer.status == "completed"

    def total(period: str):
        days = PAYMENT_DAYS[period]
        if days is None:
            return func.coalesce(func.sum(CrossBorderTransfer.amount), 0)
        recent = CrossBorderTransfer.finished_at >= now - timedelta(days=days)
        return func.coalesce(func.sum(case((recent, CrossBorderTransfer.amount), else_=0)), 0)

    sums = {
        (peer, direction): [int(v) for v in values]
        for peer, direction, *values in session.execute(
            select(CrossBorderTransfer.peer_id, CrossBorderTransfer.direction, *map(total, PAYMENT_DAYS))
            .where(done)
            .group_by(CrossBorderTransfer.peer_id, CrossBorderTransfer.direction)
        ).all()
    }
    out = []
    for peer in session.scalars(select(Peer.node_id).where(Peer.status != "pending").order_by(Peer.node_id).limit(256)):
        paid, received = sums.get((peer, "out"), [0, 0, 0]), sums.get((peer, "in"), [0, 0, 0])
        row: dict = {"peer": peer}
        for n, period in enumerate(PAYMENT_DAYS):
            row[f"paid_{period}"], row[f"received_{period}"] = paid[n], received[n]
        out.append(row)
    return out


def clearings(session) -> list[dict]:
    """Clearing rounds this node applied, newest first, read from their certificates."""
    from federation.tables import SettlementPart

    rows = session.scalars(
        select(SettlementPart)
        .where(SettlementPart.state == "applied")
        .order_by(SettlementPart.applied_at.desc())
        .limit(64)
    ).all()
    out = []
    for part in rows:
        proposal = json.loads(part.certificate)["body"]["proposal"]["body"]
        out.append(
            {
                "round_id": part.round_id,
                "coordinator": part.coordinator,
                "applied": _wire_time(part.applied_at),
                "participants": proposal["participants"],
                "total_before": sum(d["amount"] for d in proposal["before"]),
                "total_after": sum(d["amount"] for d in proposal["after"]),
                "cleared": proposal["cleared"],
            }
        )
    return out


def _wire_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def initiatives_body(session, base_url: str) -> dict:
    return {
        "initiatives": [
            initiatives_service.public_record(row, base_url) for row in initiatives_service.listed_initiatives(session)
        ]
    }


def initiatives_hash(body: dict) -> str:
    """The hash a summary names, so that a directory fetches the initiatives only when they changed."""
    return b64url_encode(hashlib.sha256(canonical_json(body["initiatives"])).digest())


def summary_body(session, settings, now: datetime) -> dict:
    """The directory_summary body of this node, now."""
    by_tag, by_language = reviewer_pool(session)
    body = {
        **member_figures(session, now),
        "reviewers_by_tag": by_tag,
        "reviewers_by_language": by_language,
        **proposal_figures(session),
        "cross_border": cross_border(session),
        "payments": payments(session, now),
        "software_version": software_version(),
        "protocol_version": PROTOCOL_VERSION,
    }
    listed = initiatives_body(session, settings.base_url)
    if listed["initiatives"]:
        body["initiatives_hash"] = initiatives_hash(listed)
    done = clearings(session)
    if done:
        body["clearings"] = done
    leads = funding_service.directory_body(session, now)
    if leads["leads"]:
        body["funding_hash"] = funding_service.leads_hash(leads)
    return body


def signed(fed, type_name: str, body: dict, now: datetime) -> Envelope:
    env = make_envelope(
        type=type_name,
        from_=fed.node_id,
        to=fed.ctx.settings.directory_id,
        created=now,
        body=body,
        id=new_envelope_id(),
    )
    return sign_envelope(env, fed.identity.current_key())


def _serve(build) -> Response | tuple:
    fed = current_app.extensions["sifnet_federation"]
    ctx = fed.ctx
    if not ctx.settings.directory_id:
        return jsonify(
            {"error": {"code": "directory_not_set", "message": "this node is not listed in a network directory"}}
        ), 404
    now = ctx.now()
    with ctx.db.read() as session:
        env = build(session, fed, now)
    return Response(canonical_json(env.to_dict()), mimetype="application/json")


@bp.get(SUMMARY_PATH)
def summary():
    """This node's aggregate figures, signed for its directory."""
    return _serve(lambda s, fed, now: signed(fed, "directory_summary", summary_body(s, fed.ctx.settings, now), now))


@bp.get(INITIATIVES_PATH)
def initiatives():
    """The initiatives this node lists with their consent, signed for its directory."""
    return _serve(
        lambda s, fed, now: signed(fed, "directory_initiatives", initiatives_body(s, fed.ctx.settings.base_url), now)
    )


@bp.get(FUNDING_PATH)
def funding():
    """The funding leads this node shares with the network, signed for its directory."""
    return _serve(lambda s, fed, now: signed(fed, "directory_funding", funding_service.directory_body(s, now), now))
