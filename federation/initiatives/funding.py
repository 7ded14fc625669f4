"""Funding leads between nodes: ours that a coordinator marked network-wide go to every active peer and to the
directory; peers' leads are kept for our Funding page.

Sending (a sweep, as for reviewer pools): each active peer gets a `funding_lead_snapshot` first, then a
`funding_lead_delta` whenever what we share differs from what that peer was last sent
(fed_funding_shares), written in the same transaction as the record of what was sent. A lead leaves
(a removal) when it is withdrawn, no longer network-wide, or its deadline passed. Only the
protocol's `funding-lead` fields travel, never who posted it.

Receiving: kept in the node's funding_leads under the peer's node id and the lead's ref (unique),
with the peer's country. A snapshot replaces that peer's leads; a delta removes and upserts by
ref; so an entry applied twice leaves the same rows. Peers' leads are never passed on.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from sqlalchemy import delete, select

from node.services import funding
from node.tables import FundingLead
from protocol import Envelope, b64url_encode, canonical_json, format_time, parse_time

from . import channels
from .tables import FundingShare, Peer

TAG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")


def lead_record(lead: FundingLead) -> dict:
    """The protocol's `funding-lead` object of one of our leads: the lead, nothing about its poster."""
    record = {
        "ref": lead.ref,
        "title": lead.title,
        "url": lead.url,
        "countries": list(lead.countries),
        # A node's own taxonomy may hold tags the wire's tag format does not allow: those stay home.
        "topics": [t for t in lead.topics if TAG_RE.fullmatch(t)][:16],
        "description": lead.description,
    }
    if lead.deadline is not None:
        record["deadline"] = format_time(lead.deadline)
    return record


def shared_records(session, now: datetime) -> dict[str, dict]:
    """What we share now: ref -> funding-lead, at most 100, soonest deadline first."""
    return {lead.ref: lead_record(lead) for lead in funding.network_leads(session, now)}


def directory_body(session, now: datetime) -> dict:
    """The directory_funding body: the same leads the peers get."""
    return {"leads": list(shared_records(session, now).values())}


def leads_hash(body: dict) -> str:
    """The hash a summary names, so that a directory fetches the leads only when they changed."""
    return b64url_encode(hashlib.sha256(canonical_json(body["leads"])).digest())


# --- sending ------------------------------------------------------------------------------------------


def share_leads(fed) -> int:
    """Send every active peer what changed in our network-wide leads (a snapshot first); returns entries sent."""
    ctx = fed.ctx
    now = ctx.now()
    with ctx.db.read() as s:
        peers = list(s.scalars(select(Peer.node_id).where(Peer.status == "active")).all())
        if not peers:
            return 0
        current = shared_records(s, now)
        sent_before = {row.peer_id: row.records for row in s.scalars(select(FundingShare)).all()}
    due = [p for p in peers if (p in sent_before and sent_before[p] != current) or (p not in sent_before and current)]
    sent = 0
    for peer_id in due:
        with ctx.db.write() as s:  # read again: another process may have sent it meanwhile
            sent += _share_with(s, fed, peer_id, now)
    return sent


def _share_with(session, fed, peer_id: str, now: datetime) -> int:
    peer = session.get(Peer, peer_id)
    if peer is None or peer.status != "active":
        return 0
    current = shared_records(session, now)
    share = session.get(FundingShare, peer_id)
    if share is None:
        if not current:
            return 0  # the first snapshot goes with the first lead shared
        body = {"leads": list(current.values())}
        channels.append(session, fed, peer_id=peer_id, type_name="funding_lead_snapshot", now=now, body=body)
        session.add(FundingShare(peer_id=peer_id, records=current, snapshot_at=now, sent_at=now))
        return 1
    upserts = [record for ref, record in current.items() if share.records.get(ref) != record]
    removals = sorted(set(share.records) - set(current))
    if not upserts and not removals:
        return 0
    body = {"upserts": upserts, "removals": removals}
    channels.append(session, fed, peer_id=peer_id, type_name="funding_lead_delta", now=now, body=body)
    share.records, share.sent_at = current, now
    return 1


# --- receiving ------------------------------------------------------------------------------------------


def apply_snapshot(session, fed, peer: Peer, env: Envelope, now: datetime) -> None:
    """Every lead the peer shares: those we kept and it no longer lists go."""
    leads = {lead["ref"]: lead for lead in env.body["leads"]}  # a repeated ref: the last one counts
    session.execute(
        delete(FundingLead).where(FundingLead.origin_node == peer.node_id, FundingLead.ref.not_in(list(leads)))
    )
    _upsert(session, peer, list(leads.values()), now)


def apply_delta(session, fed, peer: Peer, env: Envelope, now: datetime) -> None:
    """Changes to the peer's leads: removals first, then additions and updates by ref."""
    removals = env.body["removals"]
    if removals:
        session.execute(
            delete(FundingLead).where(FundingLead.origin_node == peer.node_id, FundingLead.ref.in_(removals))
        )
    _upsert(session, peer, list({lead["ref"]: lead for lead in env.body["upserts"]}.values()), now)


def _upsert(session, peer: Peer, records: list[dict], now: datetime) -> None:
    if not records:
        return
    kept = {
        row.ref: row
        for row in session.scalars(
            select(FundingLead).where(
                FundingLead.origin_node == peer.node_id, FundingLead.ref.in_([r["ref"] for r in records])
            )
        ).all()
    }
    for record in records:
        fields = {
            "title": record["title"],
            "url": record["url"],
            "deadline": parse_time(record["deadline"]) if "deadline" in record else None,
            "countries": list(record["countries"]),
            "topics": list(record["topics"]),
            "description": record["description"],
            "origin_country": peer.country,
        }
        row = kept.get(record["ref"])
        if row is None:
            session.add(
                FundingLead(ref=record["ref"], origin_node=peer.node_id, created_at=now, updated_at=now, **fields)
            )
            continue
        for name, value in fields.items():
            setattr(row, name, value)
        row.updated_at = now
