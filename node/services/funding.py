"""Funding leads: grant calls, funds and investors that members post for each other.

Any active member posts a lead; its poster or a coordinator edits and withdraws it; a coordinator
marks it network-wide, and federation then shares it with every active peer and the directory
(federation/initiatives/funding.py). Leads a peer shared are stored here too, under the peer's node id and the
peer's ref, and are read-only. The topics members follow and the deadline reminders are in
node/services/topics.py.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from flask_babel import gettext as _
from sqlalchemy import String, case, cast, func, or_, select

from .. import countries
from ..errors import ForbiddenError, IllegalTransitionError, NotFoundError, ValidationError
from ..i18n import parse_local_datetime
from ..lifecycle import FUNDING_LEAD
from ..settings import Settings
from ..tables import FundingLead, Member
from . import members
from .validate import Fields, clean_bool, clean_datetime, clean_int, clean_list, clean_text, refuse_unknown_fields

FIELDS = ("title", "url", "deadline", "countries", "topics", "description")
PAGE_SIZE = 20
MAX_COUNTRIES = 64  # the wire's bound (protocol.messages.FUNDING_LEAD)
MAX_TOPICS = 16
MAX_SHARED = 100  # leads one node shares (protocol.messages.LEADS_PER_MESSAGE for the directory)
# What the wire's url format allows, less the characters a link must escape: one lead stays small on the wire.
URL_RE = re.compile(r"https?://[\x21-\x7e]+")
URL_UNSAFE = frozenset('"<>\\^`{|}')
DAY_RE = re.compile(r"\d{4}-\d\d-\d\d")
LOCAL_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?")
END_OF_DAY = "23:59"  # a deadline given as a day closes at the end of it, in the poster's time zone


@dataclass(frozen=True)
class Page:
    """One page of the Funding list."""

    leads: list[FundingLead]
    number: int
    pages: int
    total: int


# --- checking input -------------------------------------------------------------------------------


def _url(value: object) -> str:
    text = clean_text(value, "url", 2048, required=True)
    try:
        host = urlsplit(text).hostname
    except ValueError:  # an unbalanced [ in the host part
        host = None
    if not URL_RE.fullmatch(text) or URL_UNSAFE & set(text) or not host:
        raise ValidationError(
            _("Link: please give a full web address, starting with http:// or https://, without spaces."),
            code="bad_url",
            field="url",
        )
    return text


def _countries(value: object) -> list[str]:
    if isinstance(value, str):
        value = [v for v in (p.strip() for p in value.split(",")) if v]
    if not isinstance(value, list) or not all(isinstance(code, str) for code in value):
        raise ValidationError(
            _("Countries: please give a list of country codes."), code="wrong_type", field="countries"
        )
    codes = list(dict.fromkeys(code.strip().upper() for code in value))
    unknown = [code for code in codes if not countries.is_country(code)]
    if unknown:
        raise ValidationError(
            _("Countries: “%(code)s” is not a country of the list.", code=unknown[0][:8]),
            code="unknown_country",
            field="countries",
        )
    if len(codes) > MAX_COUNTRIES:
        raise ValidationError(
            _("Countries: please choose at most %(num)s.", num=MAX_COUNTRIES), code="too_many", field="countries"
        )
    return codes


def deadline_of(value: object, zone: str) -> datetime | None:
    """A deadline as aware UTC in whole seconds: a day (closing at its end) or a time without an offset are read
    in ``zone``; an ISO 8601 time with an offset as it says. Empty: no deadline."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        if isinstance(value, str) and (DAY_RE.fullmatch(value.strip()) or LOCAL_RE.fullmatch(value.strip())):
            text = value.strip()
            moment = parse_local_datetime(text if "T" in text else f"{text}T{END_OF_DAY}", "deadline", zone)
        else:
            moment = clean_datetime(value, "deadline")
    except OverflowError:  # the first hours of year 1 in a zone east of UTC: before any datetime
        raise ValidationError(_("Deadline: please give a real date."), code="invalid_time", field="deadline") from None
    return moment.replace(microsecond=0)


def _deadline(value: object, zone: str, now: datetime, before: datetime | None = None) -> datetime | None:
    moment = deadline_of(value, zone)
    # A lead whose deadline passed can still be edited without moving it; a new deadline must lie ahead.
    if moment is not None and moment <= now and moment != before:
        raise ValidationError(
            _("Deadline: this day has passed; please give a deadline in the future."),
            code="deadline_past",
            field="deadline",
        )
    return moment


def _clean(settings: Settings, data: dict, *, zone: str, now: datetime, lead: FundingLead | None = None) -> dict:
    """The checked fields of ``data``; for an edit (``lead`` given) only the fields present."""
    refuse_unknown_fields(data, FIELDS)
    out: dict = {}
    present = (lambda name: name in data) if lead is not None else (lambda name: True)
    fields = Fields()
    if present("title"):
        out["title"] = fields(clean_text, data.get("title"), "title", 200, required=True)
    if present("url"):
        out["url"] = fields(_url, data.get("url"))
    if present("deadline"):
        out["deadline"] = fields(_deadline, data.get("deadline"), zone, now, lead.deadline if lead else None)
    if present("countries"):
        out["countries"] = fields(_countries, data.get("countries") or [])
    if present("topics"):
        topics = data.get("topics") or []
        allowed = members.taxonomy(settings)
        out["topics"] = fields(clean_list, topics, "topics", allowed=allowed, max_items=MAX_TOPICS)
    if present("description"):
        out["description"] = fields(clean_text, data.get("description"), "description", 1000)
    fields.done()
    return out


# --- posting, editing, withdrawing ----------------------------------------------------------------


def post_lead(session, settings: Settings, *, member: Member, data: dict, zone: str, now: datetime) -> FundingLead:
    """An active member posts a lead (only on this node, until a coordinator marks it network-wide)."""
    members.require_active(member)
    fields = _clean(settings, data, zone=zone, now=now)
    lead = FundingLead(ref=f"f-{uuid.uuid4().hex[:16]}", poster_id=member.id, created_at=now, updated_at=now, **fields)
    session.add(lead)
    session.flush()
    member.last_active_at = now
    return lead


def get_lead(session, lead_id: int, viewer: Member) -> FundingLead:
    """A lead; a withdrawn one only for its poster and coordinators."""
    lead = session.get(FundingLead, lead_id)
    if lead is None or (lead.status != "open" and not _may_change(lead, viewer)):
        raise NotFoundError(_("There is no such funding lead."), code="funding_lead_not_found")
    return lead


def _may_change(lead: FundingLead, member: Member) -> bool:
    return not lead.origin_node and (lead.poster_id == member.id or is_coordinator(member))


def is_coordinator(member: Member) -> bool:
    return member.role == "coordinator" and member.status == "active"


def _changeable(session, member: Member, lead_id: int) -> FundingLead:
    members.require_active(member)
    lead = get_lead(session, lead_id, member)
    if lead.origin_node:
        raise ForbiddenError(
            _("This lead was shared by another node; only that node can change it."), code="lead_from_peer"
        )
    if not _may_change(lead, member):
        raise ForbiddenError(
            _("Only the member who posted this lead, or a coordinator, can change it."), code="not_poster"
        )
    return lead


def _require_open(lead: FundingLead) -> FundingLead:
    """Only an open lead changes; the refusal says what the lead is now."""
    if lead.status != "open":
        raise IllegalTransitionError(FUNDING_LEAD.refusal(lead.status))
    return lead


def update_lead(
    session, settings: Settings, *, member: Member, lead_id: int, data: dict, zone: str, now: datetime
) -> FundingLead:
    """The poster or a coordinator changes some fields of an open lead."""
    lead = _require_open(_changeable(session, member, lead_id))
    for name, value in _clean(settings, data, zone=zone, now=now, lead=lead).items():
        setattr(lead, name, value)
    lead.updated_at = now
    return lead


def withdraw_lead(session, *, member: Member, lead_id: int, now: datetime) -> FundingLead:
    """The poster or a coordinator withdraws a lead; shared, it leaves peers and the directory with the next delta."""
    lead = _changeable(session, member, lead_id)
    FUNDING_LEAD.move(lead, "withdrawn")
    lead.withdrawn_at, lead.updated_at = now, now
    return lead


def set_network_wide(session, *, member: Member, lead_id: int, network_wide: object, now: datetime) -> FundingLead:
    """A coordinator shares an open lead of this node with the network, or stops sharing it."""
    wanted = clean_bool(network_wide, "network_wide")
    members.require_coordinator(member)
    lead = _require_open(_changeable(session, member, lead_id))
    lead.network_wide, lead.updated_at = wanted, now
    return lead


# --- reading ----------------------------------------------------------------------------------------


def list_leads(
    session,
    settings: Settings,
    *,
    now: datetime,
    topic: object = None,
    country: object = None,
    past: bool = False,
    page: object = 1,
) -> Page:
    """Open leads, here and from peers: upcoming deadlines first, then those without one; past ones only
    with ``past`` (last). A country filter keeps the leads open to any country too."""
    stmt = select(FundingLead).where(FundingLead.status == "open")
    if not past:
        stmt = stmt.where(or_(FundingLead.deadline.is_(None), FundingLead.deadline > now))
    if topic not in (None, ""):
        (tag,) = clean_list([topic], "topic", allowed=members.taxonomy(settings), max_items=1)
        # Lists are stored as JSON; matching the quoted value avoids prefix hits.
        stmt = stmt.where(cast(FundingLead.topics, String).contains(f'"{tag}"', autoescape=True))
    if country not in (None, ""):
        (code,) = _countries([country])
        listed = cast(FundingLead.countries, String)
        stmt = stmt.where(or_(listed.contains(f'"{code}"', autoescape=True), listed == "[]"))
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    pages = max(1, math.ceil(total / PAGE_SIZE))
    number = min(clean_int(page if page not in (None, "") else 1, "page", 1, 100_000), pages)
    soon = case((FundingLead.deadline.is_(None), 1), (FundingLead.deadline <= now, 2), else_=0)
    rows = session.scalars(
        stmt.order_by(soon, FundingLead.deadline, FundingLead.id.desc())
        .offset((number - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    return Page(list(rows), number, pages, total)


def my_leads(session, member_id: int) -> list[FundingLead]:
    """The leads a member posted, withdrawn ones too, newest first."""
    stmt = select(FundingLead).where(FundingLead.poster_id == member_id).order_by(FundingLead.id.desc())
    return list(session.scalars(stmt.limit(200)).all())


def network_leads(session, now: datetime) -> list[FundingLead]:
    """This node's leads that travel: network-wide, open, deadline ahead or none; soonest deadline first."""
    stmt = select(FundingLead).where(
        FundingLead.origin_node == "",
        FundingLead.network_wide.is_(True),
        FundingLead.status == "open",
        or_(FundingLead.deadline.is_(None), FundingLead.deadline > now),
    )
    soon = case((FundingLead.deadline.is_(None), 1), else_=0)
    return list(session.scalars(stmt.order_by(soon, FundingLead.deadline, FundingLead.ref).limit(MAX_SHARED)).all())


def lead_view(lead: FundingLead, poster: Member | None, viewer: Member, now: datetime) -> dict:
    """A lead as pages and the API show it; a lead from a peer names its node and country, never a person."""
    return {
        "id": lead.id,
        "ref": lead.ref,
        "title": lead.title,
        "url": lead.url,
        "deadline": lead.deadline,
        "past": lead.deadline is not None and lead.deadline <= now,
        "countries": list(lead.countries),
        "topics": list(lead.topics),
        "description": lead.description,
        "network_wide": lead.network_wide,
        "status": lead.status,
        "origin_node": lead.origin_node or None,
        "origin_country": lead.origin_country or None,
        "poster": poster.handle if poster else None,
        "poster_name": poster.display_name if poster else None,
        "created_at": lead.created_at,
        "updated_at": lead.updated_at,
        "can_change": _may_change(lead, viewer) and lead.status == "open",
    }


def views(session, leads: list[FundingLead], viewer: Member, now: datetime) -> list[dict]:
    """lead_view of each lead, with the posters read in one query."""
    ids = {lead.poster_id for lead in leads if lead.poster_id}
    posters = {m.id: m for m in session.scalars(select(Member).where(Member.id.in_(ids))).all()} if ids else {}
    return [lead_view(lead, posters.get(lead.poster_id), viewer, now) for lead in leads]
