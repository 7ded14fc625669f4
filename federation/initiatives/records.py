"""Initiatives this node incubates, kept by its coordinators and listed in the network directory with consent.

An initiative is listed only while ``consent_at`` is set: the coordinator records that the
initiative agreed (and how). What the directory gets is public by that consent: name, summary,
interests, sectors, stage, city and a contact page on this node; never a person's email. A
visitor's message through that page reaches the initiative's contact member (or the
coordinators) as a notification.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select

from node.errors import ConflictError, NotFoundError, ValidationError
from node.services import members
from node.services.notify import notify
from node.services.validate import clean_list, clean_text
from node.settings import Settings
from node.tables import Member, Notification
from protocol.messages import MAX_INITIATIVES, STAGES

from .tables import Initiative

TAG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
FIELDS = ("name", "summary", "interests", "sectors", "stage", "city", "contact_handle")
# Suggested sectors; any tag is accepted, but shared words make initiatives comparable across countries.
SECTORS = (
    "social-economy",
    "community",
    "public-services",
    "education",
    "health-and-care",
    "housing",
    "food",
    "agriculture",
    "energy",
    "mobility",
    "culture",
    "technology",
    "retail",
    "repair",
    "employment",
)
CONTACT_LIMIT_PER_HOUR = 30
CONTACT_KIND = "initiative_contact"


def _tags(value: object, field: str, max_items: int, allowed=None) -> list[str]:
    tags = clean_list(value, field, allowed=allowed, max_items=max_items)
    bad = [t for t in tags if not TAG_RE.fullmatch(t)]
    if bad:
        raise ValidationError(
            _('"%(tag)s" is not a tag: use lower-case letters, digits and dashes only.', tag=bad[0]),
            code="bad_tag",
            field=field,
        )
    return tags


def _clean(session, settings: Settings, data: dict, partial: bool = False) -> dict:
    """The validated fields of ``data``; with partial, only those present."""
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ValidationError(
            ngettext(
                "An initiative has no field %(fields)s.",
                "An initiative has no fields %(fields)s.",
                len(unknown),
                fields=", ".join(unknown),
            ),
            code="unknown_field",
            field=unknown[0],
        )
    out: dict = {}
    if not partial or "name" in data:
        out["name"] = clean_text(data.get("name"), "name", 200, required=True)
    if not partial or "summary" in data:
        out["summary"] = clean_text(data.get("summary"), "summary", 500)
    if not partial or "interests" in data:
        out["interests"] = _tags(data.get("interests") or [], "interests", 16, members.taxonomy(settings))
    if not partial or "sectors" in data:
        out["sectors"] = _tags(data.get("sectors") or [], "sectors", 8)
    if not partial or "stage" in data:
        if data.get("stage") not in STAGES:
            raise ValidationError(
                _("Choose a stage: %(stages)s.", stages=", ".join(STAGES)), code="bad_choice", field="stage"
            )
        out["stage"] = data["stage"]
    if not partial or "city" in data:
        out["city"] = clean_text(data.get("city"), "city", 100)
    if not partial or "contact_handle" in data:
        out["contact_member_id"] = _contact_member(session, data.get("contact_handle"))
    return out


def _contact_member(session, handle: object) -> int | None:
    """The member who answers contact messages; empty means the coordinators."""
    text = clean_text(handle, "contact_handle", 32)
    if not text:
        return None
    member = members.find_by_handle(session, text)
    if member.status != "active":
        raise ValidationError(
            _("%(handle)s is not an active member.", handle=text), code="member_not_active", field="contact_handle"
        )
    return member.id


def create_initiative(session, settings: Settings, *, data: dict, now: datetime) -> Initiative:
    """Record an initiative (not listed until it consents)."""
    fields = _clean(session, settings, data)
    row = Initiative(ref=f"i-{uuid.uuid4().hex[:12]}", created_at=now, updated_at=now, **fields)
    session.add(row)
    session.flush()
    return row


def get_initiative(session, ref: str) -> Initiative:
    row = session.scalars(select(Initiative).where(Initiative.ref == ref)).first()
    if row is None:
        raise NotFoundError(_("There is no initiative %(ref)s.", ref=ref), code="initiative_not_found")
    return row


def update_initiative(session, settings: Settings, *, ref: str, data: dict, now: datetime) -> Initiative:
    """Change some fields of an initiative."""
    row = get_initiative(session, ref)
    for name, value in _clean(session, settings, data, partial=True).items():
        setattr(row, name, value)
    row.updated_at = now
    return row


def set_consent(session, *, ref: str, consent: object, note: object, now: datetime) -> Initiative:
    """Record that the initiative agreed to be listed (with how), or that it withdrew."""
    if not isinstance(consent, bool):
        raise ValidationError(_("Whether the initiative agreed is true or false."), code="wrong_type", field="consent")
    row = get_initiative(session, ref)
    if consent:
        text = clean_text(note, "note", 300, required=True)
        if row.consent_at is None:
            listed = session.execute(
                select(func.count()).select_from(Initiative).where(Initiative.consent_at.is_not(None))
            ).scalar_one()
            if listed >= MAX_INITIATIVES:
                raise ConflictError(
                    ngettext(
                        "A node lists at most %(num)d initiative.",
                        "A node lists at most %(num)d initiatives.",
                        MAX_INITIATIVES,
                    ),
                    code="too_many_listed",
                )
        row.consent_at, row.consent_note = now, text
    else:
        row.consent_at, row.consent_note = None, clean_text(note, "note", 300)
    row.updated_at = now
    return row


def all_initiatives(session) -> list[Initiative]:
    return list(session.scalars(select(Initiative).order_by(Initiative.name, Initiative.id)).all())


def listed_initiatives(session) -> list[Initiative]:
    """Initiatives that consented to be listed, in a stable order."""
    stmt = select(Initiative).where(Initiative.consent_at.is_not(None)).order_by(Initiative.ref)
    return list(session.scalars(stmt.limit(MAX_INITIATIVES)).all())


def public_record(row: Initiative, base_url: str) -> dict:
    """What the directory may show: the wire form of one listed initiative."""
    return {
        "ref": row.ref,
        "name": row.name,
        "summary": row.summary,
        "interests": list(row.interests),
        "sectors": list(row.sectors),
        "stage": row.stage,
        "city": row.city,
        "contact": contact_url(base_url, row.ref),
    }


def contact_url(base_url: str, ref: str) -> str:
    return f"{base_url.rstrip('/')}/initiatives/{ref}"


def listed_initiative(session, ref: str) -> Initiative:
    """A listed initiative for its public page; one that withdrew is not found."""
    row = get_initiative(session, ref)
    if row.consent_at is None:
        raise NotFoundError(_("There is no initiative %(ref)s.", ref=ref), code="initiative_not_found")
    return row


def send_contact(session, *, ref: str, name: object, email: object, message: object, now: datetime) -> int:
    """Pass a visitor's message to the initiative's contact member, or to every coordinator; returns how many."""
    row = listed_initiative(session, ref)
    sender = clean_text(name, "name", 120, required=True)
    reply_to = clean_text(email, "email", 254, required=True)
    if not members.EMAIL_RE.match(reply_to):
        raise ValidationError(_("This is not a valid email address."), code="invalid_email", field="email")
    text = clean_text(message, "message", 4000, required=True)
    recent = session.execute(
        select(func.count())
        .select_from(Notification)
        .where(Notification.kind == CONTACT_KIND, Notification.created_at >= now - timedelta(hours=1))
    ).scalar_one()
    if recent >= CONTACT_LIMIT_PER_HOUR:
        raise ConflictError(
            _("Too many contact messages this hour; please try again later."), code="contact_rate_limited", status=429
        )
    recipients = (
        [row.contact_member_id]
        if row.contact_member_id
        else list(
            session.scalars(select(Member.id).where(Member.role == "coordinator", Member.status == "active")).all()
        )
    )
    for member_id in recipients:
        notify(
            session,
            member_id=member_id,
            kind=CONTACT_KIND,
            now=now,
            params={"initiative": row.name, "sender": sender, "email": reply_to, "message": text},
        )
    return len(recipients)
