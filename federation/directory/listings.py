"""Listing nodes: a node applies by URL, the working group approves it by reading its key fingerprint back.

Like peering: the directory fetches the node's self-signed document, shows the key's
fingerprint, and pins the document's keys only when the working group confirms that
fingerprint with the node's coordinator. A listed node that changed its key applies again;
its new keys wait as a candidate until approved, and the old pinned keys stay in force.
"""

from __future__ import annotations

import json
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func, select

from federation.transport.peers import PeerDocument, fetch_document, normalise_fingerprint
from node.errors import ConflictError, NotFoundError, ValidationError
from node.lifecycle import lifecycle
from protocol import KeyInfo, Keyring, PublicKey, parse_time

from .tables import AdminAction, Listing

SUMMARY_PATH = "/federation/v1/summary"
INITIATIVES_PATH = "/federation/v1/initiatives"
FUNDING_PATH = "/federation/v1/funding"
MAX_PENDING = 100  # open applications; keeps a public apply form from filling the table
OPERATOR = "(operator)"  # the audit trail's name for the command line; no account can be named so


def audit(
    session, *, username: str, action: str, now: datetime, node_id: str = "", fingerprint: str = "", reason: str = ""
) -> None:
    """One line of the working group's audit trail (admin_actions), in the caller's transaction."""
    session.add(
        AdminAction(
            at=now, username=username[:64], action=action, node_id=node_id, fingerprint=fingerprint, reason=reason[:500]
        )
    )


# An application waits for the working group: approved it is listed, refused or delisted it is
# delisted (an application of a node never listed is refused by deleting it); a delisted node may
# apply again. A listed node's new key waits as a candidate without changing its state.
LISTING = lifecycle(
    "directory listing",
    "pending",
    table=Listing,
    pending="listed delisted",
    listed="delisted",
    delisted="pending",
)


def fetch_candidate(url: object, directory, timeout: float = 10.0) -> PeerDocument:
    """Fetch and verify a node's document (outside any transaction)."""
    return fetch_document(url, now=directory.now(), max_skew=directory.max_skew, timeout=timeout)


def _candidate(doc: PeerDocument, now: datetime) -> dict:
    endpoints = json.loads(doc.raw)["body"]["endpoints"]
    return {
        "name": doc.name,
        "country": doc.country,
        "base_url": doc.base_url,
        "summary_url": endpoints.get("summary") or doc.base_url.rstrip("/") + SUMMARY_PATH,
        "keys": list(doc.keys),
        "fingerprint": doc.fingerprint,
        "fetched_at": now.isoformat(),
    }


def apply(session, doc: PeerDocument, *, directory_id: str, now: datetime) -> Listing:
    """Record an application (or a listed node's new key) as a candidate waiting for approval."""
    if doc.node_id == directory_id:
        raise ValidationError(_("That is the address of this directory itself."), code="listing_is_self", field="url")
    row = session.get(Listing, doc.node_id)
    if row is None:
        waiting = session.execute(
            select(func.count()).select_from(Listing).where(Listing.status == "pending")
        ).scalar_one()
        if waiting >= MAX_PENDING:
            raise ConflictError(
                _("Too many applications are waiting for approval; please try again later."),
                code="too_many_pending",
                status=429,
            )
        row = Listing(
            node_id=doc.node_id, base_url=doc.base_url, summary_url="", status=LISTING.initial, applied_at=now
        )
        session.add(row)
    elif row.status == "delisted":
        LISTING.move(row, "pending")
    row.candidate = _candidate(doc, now)
    row.applied_at = now
    if row.status == "pending":  # a listed node keeps its shown identity until the new key is approved
        row.name, row.country = doc.name, doc.country
    return row


def get_listing(session, node_id: str) -> Listing:
    row = session.get(Listing, node_id)
    if row is None:
        raise NotFoundError(_("No node %(node)s applied here.", node=node_id), code="listing_not_found")
    return row


def approve(session, *, node_id: str, fingerprint: object, now: datetime, by: str = OPERATOR) -> Listing:
    """Pin the candidate's keys: the working group read the fingerprint back and it matches; audited as ``by``."""
    row = get_listing(session, node_id)
    if not row.candidate:
        raise ConflictError(_("%(node)s has no application waiting.", node=node_id), code="nothing_to_approve")
    if normalise_fingerprint(fingerprint) != normalise_fingerprint(row.candidate["fingerprint"]):
        raise ValidationError(
            _("The fingerprint does not match the node's key. Read it back with its coordinator again."),
            code="fingerprint_mismatch",
            field="fingerprint",
        )
    cand = row.candidate
    row.name, row.country, row.base_url = cand["name"], cand["country"], cand["base_url"]
    row.summary_url, row.keys, row.fingerprint = cand["summary_url"], cand["keys"], cand["fingerprint"]
    if row.status != "listed":  # a listed node's new key is approved without a change of state
        LISTING.move(row, "listed")
    row.approved_at, row.candidate, row.delisted_at = now, None, None
    if row.health == "refused":  # refused for the key that is now replaced; the next poll tells
        row.health = "new"
    audit(session, username=by, action="approve", node_id=node_id, fingerprint=row.fingerprint, now=now)
    return row


def delist(session, *, node_id: str, now: datetime, by: str = OPERATOR, reason: str = "") -> Listing:
    """Stop polling a node and hide it; its history stays; audited as ``by``."""
    row = get_listing(session, node_id)
    if row.status == "delisted":
        raise ConflictError(_("%(node)s is not listed.", node=node_id), code="not_listed")
    audit(session, username=by, action="delist", node_id=node_id, fingerprint=row.fingerprint, reason=reason, now=now)
    LISTING.move(row, "delisted")
    row.delisted_at, row.candidate = now, None
    return row


def keyring_of(keys: list[dict], node_id: str) -> Keyring:
    """The pinned keys of one node, with their validity."""
    return Keyring.of(
        *[
            KeyInfo(
                node_id,
                PublicKey.from_b64(k["public"]),
                parse_time(k["not_before"]) if k.get("not_before") else None,
                parse_time(k["not_after"]) if k.get("not_after") else None,
            )
            for k in keys
        ]
    )


def listings(session, *, include_delisted: bool = False) -> list[Listing]:
    stmt = select(Listing).order_by(Listing.country, Listing.node_id)
    if not include_delisted:
        stmt = stmt.where(Listing.status != "delisted")
    return list(session.scalars(stmt).all())
