"""Advice offers between nodes: our members' network-wide offers go to every active peer; peers' offers are kept
for our advice market.

Sending (a sweep, as for funding leads and reviewer pools): each active peer gets an
`advice_offer_snapshot` first (the first OFFERS_PER_MESSAGE offers, the rest as deltas), then
`advice_offer_delta` entries whenever what we share differs from what that peer was last sent
(fed_advice_offer_shares), written in the same transaction as the record of what was sent. An offer
leaves (a removal) when it is closed, its author withdraws consent, or the author leaves the node.
Only the protocol's `advice-offer` fields travel: the adviser as their pseudonym, never a name,
handle or address.

Receiving: kept in the node's advice_listings under the peer's node id and the offer's ref, with the
peer's country from its pinned node document, indexed for the market's search. A snapshot replaces
that peer's offers; a delta removes and upserts by ref; so an entry applied twice leaves the same
rows. Peers' offers are never passed on.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import delete, select

from node.lifecycle import LISTING
from node.services import advice_listings
from node.tables import AdviceListing, ListingSearchTerm, Member
from protocol import Envelope
from protocol.messages import OFFERS_PER_MESSAGE

from . import channels
from .tables import AdviceOfferShare, Peer

TAG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
REMOVALS_CHUNK = 5000


def offer_record(listing: AdviceListing, adviser: Member, country: str) -> dict:
    """The protocol's `advice-offer` of one of our offers: what is offered, and the adviser's pseudonym."""
    return {
        "ref": str(listing.id),
        "title": listing.title,
        "description": listing.description,
        # A node's own taxonomy may hold tags the wire's tag format does not allow: those stay home.
        "tags": [t for t in listing.tags if TAG_RE.fullmatch(t)][:16],
        "rate": listing.rate,
        "adviser": adviser.pseudonym,
        "country": country,
    }


def shared_records(session, country: str) -> dict[str, dict]:
    """What we share now: ref -> advice-offer, for every open network-wide offer of an active member here."""
    rows = session.execute(
        select(AdviceListing, Member)
        .join(Member, Member.id == AdviceListing.member_id)
        .where(
            AdviceListing.origin_node.is_(None),
            AdviceListing.kind == "offer",
            AdviceListing.status == "open",
            AdviceListing.network_wide.is_(True),
            Member.status == "active",
        )
        .order_by(AdviceListing.id)
    ).tuples()
    return {str(listing.id): offer_record(listing, adviser, country) for listing, adviser in rows}


# --- sending ------------------------------------------------------------------------------------------


def share_offers(fed) -> int:
    """Send every active peer what changed in our network-wide offers (a snapshot first); returns entries sent."""
    ctx = fed.ctx
    now, country = ctx.now(), ctx.settings.country
    with ctx.db.read() as s:
        peers = list(s.scalars(select(Peer.node_id).where(Peer.status == "active")).all())
        if not peers:
            return 0
        current = shared_records(s, country)
        sent_before = {row.peer_id: row.records for row in s.scalars(select(AdviceOfferShare)).all()}
    due = [p for p in peers if (p in sent_before and sent_before[p] != current) or (p not in sent_before and current)]
    sent = 0
    for peer_id in due:
        with ctx.db.write() as s:  # read again: another process may have sent it meanwhile
            sent += _share_with(s, fed, peer_id, shared_records(s, country), now)
    return sent


def _share_with(session, fed, peer_id: str, current: dict[str, dict], now: datetime) -> int:
    peer = session.get(Peer, peer_id)
    if peer is None or peer.status != "active":
        return 0
    share = session.get(AdviceOfferShare, peer_id)
    records = list(current.values())
    if share is None:
        if not records:
            return 0  # the first snapshot goes with the first offer shared
        body = {"offers": records[:OFFERS_PER_MESSAGE]}
        channels.append(session, fed, peer_id=peer_id, type_name="advice_offer_snapshot", now=now, body=body)
        session.add(AdviceOfferShare(peer_id=peer_id, records=current, snapshot_at=now, sent_at=now))
        return 1 + _send_deltas(session, fed, peer_id, records[OFFERS_PER_MESSAGE:], [], now)
    upserts = [record for ref, record in current.items() if share.records.get(ref) != record]
    removals = sorted(set(share.records) - set(current))
    if not upserts and not removals:
        return 0
    share.records, share.sent_at = current, now
    return _send_deltas(session, fed, peer_id, upserts, removals, now)


def _send_deltas(session, fed, peer_id: str, upserts: list, removals: list, now: datetime) -> int:
    sent = 0
    while upserts or removals:
        body = {"upserts": upserts[:OFFERS_PER_MESSAGE], "removals": removals[:REMOVALS_CHUNK]}
        upserts, removals = upserts[OFFERS_PER_MESSAGE:], removals[REMOVALS_CHUNK:]
        channels.append(session, fed, peer_id=peer_id, type_name="advice_offer_delta", now=now, body=body)
        sent += 1
    return sent


# --- receiving ------------------------------------------------------------------------------------------


def apply_snapshot(session, fed, peer: Peer, env: Envelope, now: datetime) -> None:
    """Every offer the peer shares (or the first of them): those we kept and it no longer lists go."""
    offers = {offer["ref"]: offer for offer in env.body["offers"]}  # a repeated ref: the last one counts
    kept = select(AdviceListing.id).where(
        AdviceListing.origin_node == peer.node_id, AdviceListing.origin_ref.not_in(list(offers))
    )
    _remove(session, kept)
    _upsert(session, peer, list(offers.values()), now)


def apply_delta(session, fed, peer: Peer, env: Envelope, now: datetime) -> None:
    """Changes to the peer's offers: removals first, then additions and updates by ref."""
    removals = env.body["removals"]
    if removals:
        _remove(
            session,
            select(AdviceListing.id).where(
                AdviceListing.origin_node == peer.node_id, AdviceListing.origin_ref.in_(removals)
            ),
        )
    _upsert(session, peer, list({offer["ref"]: offer for offer in env.body["upserts"]}.values()), now)


def _remove(session, ids) -> None:
    """Peers' offers that are no longer shared go, with their search terms (bookings keep their own copy)."""
    gone = list(session.scalars(ids).all())
    if gone:
        session.execute(delete(ListingSearchTerm).where(ListingSearchTerm.listing_id.in_(gone)))
        session.execute(delete(AdviceListing).where(AdviceListing.id.in_(gone)))


def _upsert(session, peer: Peer, records: list[dict], now: datetime) -> None:
    if not records:
        return
    kept = {
        row.origin_ref: row
        for row in session.scalars(
            select(AdviceListing).where(
                AdviceListing.origin_node == peer.node_id,
                AdviceListing.origin_ref.in_([r["ref"] for r in records]),
            )
        ).all()
    }
    for record in records:
        fields = {
            "title": record["title"],
            "description": record["description"],
            "tags": list(record["tags"]),
            "rate": record["rate"],
            # The country the peer's pinned document names: a node speaks for its own country only.
            "origin_country": peer.country or record["country"],
            "origin_adviser": record["adviser"],
        }
        row = kept.get(record["ref"])
        if row is None:
            row = AdviceListing(
                kind="offer",
                status=LISTING.initial,
                created_at=now,
                origin_node=peer.node_id,
                origin_ref=record["ref"],
                **fields,
            )
            session.add(row)
        else:
            for name, value in fields.items():
                setattr(row, name, value)
        advice_listings.index_listing(session, row)


def active_origins(session) -> set[str]:
    """The peers whose offers the market shows now: the active ones."""
    return set(session.scalars(select(Peer.node_id).where(Peer.status == "active")).all())
