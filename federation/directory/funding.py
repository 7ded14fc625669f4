"""Funding leads in the directory: what listed nodes share network-wide, kept from their signed directory_funding.

The poller stores a node's leads when its summary's funding_hash changed (replace_leads); the
Funding page and the API read them here. Only lead data is kept: the nodes send no poster.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import delete, insert, or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from node.errors import ValidationError
from protocol import parse_time

from .tables import FundingRecord, FundingSource, Listing

FILTERS = ("topic", "country", "origin")


def known_hashes(session: Session) -> dict[str, str]:
    """node id -> the funding_hash of the leads held for it."""
    return {row.node_id: row.funding_hash for row in session.scalars(select(FundingSource)).all()}


def replace_leads(session: Session, node_id: str, leads: list[dict], funding_hash: str, at: datetime) -> None:
    """A node's verified leads replace those held for it, with the hash they were checked against."""
    session.execute(delete(FundingRecord).where(col(FundingRecord.node_id) == node_id))
    if leads:
        session.execute(insert(FundingRecord), [_row(node_id, lead, at) for lead in leads])
    source = session.get(FundingSource, node_id)
    if source is None:
        session.add(FundingSource(node_id=node_id, funding_hash=funding_hash, updated_at=at))
    else:
        source.funding_hash, source.updated_at = funding_hash, at


def _row(node_id: str, lead: dict, at: datetime) -> dict:
    return {
        "node_id": node_id,
        "ref": lead["ref"],
        "title": lead["title"],
        "url": lead["url"],
        "deadline": parse_time(lead["deadline"]) if "deadline" in lead else None,
        "countries": list(lead["countries"]),
        "topics": list(lead["topics"]),
        "description": lead["description"],
        "updated_at": at,
    }


def check_filters(args) -> dict[str, str]:
    """The page's and the API's filters: a topic tag, an applicant's country, the sharing node's country."""
    chosen = {name: (args.get(name) or "").strip() for name in FILTERS}
    for name in ("country", "origin"):
        chosen[name] = chosen[name].upper()
        if chosen[name] and not (len(chosen[name]) == 2 and chosen[name].isascii() and chosen[name].isalpha()):
            raise ValidationError(
                _("Please give a country as its two-letter code, such as BE or HU."), code="bad_country", field=name
            )
    if len(chosen["topic"]) > 64:
        raise ValidationError(_("There is no such topic."), code="bad_topic", field="topic")
    return chosen


def leads(session: Session, now: datetime, *, topic: str = "", country: str = "", origin: str = "") -> list[dict]:
    """Leads of listed nodes whose deadline (if any) is ahead, soonest first; a country filter keeps the leads
    open to any country."""
    stmt = (
        select(FundingRecord, col(Listing.country), col(Listing.name))
        .join(Listing, col(Listing.node_id) == col(FundingRecord.node_id))
        .where(
            col(Listing.status) == "listed",
            or_(col(FundingRecord.deadline).is_(None), col(FundingRecord.deadline) > now),
        )
    )
    if origin:
        stmt = stmt.where(col(Listing.country) == origin)
    rows = session.execute(stmt).all()
    out = [
        {
            "node_id": lead.node_id,
            "ref": lead.ref,
            "origin_country": origin_country,
            "node_name": node_name,
            "title": lead.title,
            "url": lead.url,
            "deadline": lead.deadline,
            "countries": list(lead.countries),
            "topics": list(lead.topics),
            "description": lead.description,
        }
        for lead, origin_country, node_name in rows
        if (not topic or topic in lead.topics) and (not country or not lead.countries or country in lead.countries)
    ]
    # Filtered in Python: a directory holds at most 100 leads per node, and JSON lists query differently per database.
    return sorted(out, key=lambda r: (r["deadline"] is None, r["deadline"] or now, r["node_id"], r["ref"]))


def choices(rows: list[dict]) -> dict[str, list[str]]:
    """The topics, applicants' countries and origin countries the filters offer: those the leads have."""
    return {
        "topics": sorted({t for r in rows for t in r["topics"]}),
        "countries": sorted({c for r in rows for c in r["countries"]}),
        "origins": sorted({r["origin_country"] for r in rows}),
    }
