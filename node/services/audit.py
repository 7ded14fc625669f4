"""The audit log: every coordinator's and system's action, with who, when and what.

A service that acts calls `record` in its own transaction, so an action and its line are committed
together or not at all. Federation's services record through the same function (federation imports
node). Coordinators read the log on their page and as CSV, filtered by action, actor and date, newest
first, a page at a time (keyset on the id).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from flask_babel import gettext as _
from sqlalchemy import insert, select
from sqlalchemy.orm import Session
from sqlmodel import col

from .. import i18n
from ..clock import iso
from ..errors import ValidationError
from ..labels import LABELS
from ..tables import AuditEntry, Member, table_of

PAGE_SIZE = 50
_INSERT = insert(table_of(AuditEntry))


def record(
    session: Session, actor_id: int | None, action: str, subject: str, detail: Mapping[str, Any] | None, now: datetime
) -> None:
    """Write one line of the log: `actor_id` None is the node operator (CLI) or the node itself (a sweep).

    The action must have its words in node/labels.py, so that the page never shows a bare code;
    times in the detail are stored as ISO 8601 UTC.
    """
    if action not in LABELS["audit_action"]:
        raise ValueError(f"audit action {action!r} has no words in node/labels.py")
    values = {k: iso(v) if isinstance(v, datetime) else v for k, v in (detail or {}).items()}
    session.execute(
        _INSERT, {"at": now, "actor_id": actor_id, "action": action, "subject": subject[:120], "detail": values}
    )


NOBODY = 0  # Filters.actor_id for lines without an actor (member ids start at 1)


@dataclass(frozen=True)
class Filters:
    """What a coordinator narrowed the log to; None: everything."""

    action: str | None = None
    actor_id: int | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


OPERATOR = "operator"  # the actor filter's value for lines without a member: the operator's commands and sweeps


def filters_from(session: Session, args: Mapping[str, object]) -> Filters:
    """The filters of a query string: action (a code), actor (a handle, or `operator`), from and to (the
    reader's local days, both included). Anything else is refused with a code, so a typo never shows all."""
    action = args.get("action") or None
    if action is not None and (not isinstance(action, str) or action not in LABELS["audit_action"]):
        raise ValidationError(_("There is no such action in the audit trail."), code="invalid_action", field="action")
    since = i18n.parse_local_date(args.get("from"), "from")
    until = i18n.parse_local_date(args.get("to"), "to", end=True)
    if since is not None and until is not None and since >= until:
        raise ValidationError(_("The first day comes after the last one."), code="invalid_range", field="from")
    return Filters(action=action, actor_id=_actor_id(session, args.get("actor")), since=since, until=until)


def _actor_id(session: Session, handle: object) -> int | None:
    if handle in (None, ""):
        return None
    if handle == OPERATOR:
        return NOBODY
    found = session.scalars(select(col(Member.id)).where(col(Member.handle) == str(handle).lower())).first()
    if found is None:
        raise ValidationError(
            _("Nobody on this node has the handle “%(handle)s”.", handle=handle), code="member_not_found", field="actor"
        )
    return found


def page(
    session: Session, filters: Filters, *, before: int | None = None, size: int = PAGE_SIZE
) -> tuple[list[dict], int | None]:
    """One page of lines, newest first, and the cursor of the next (older) page or None."""
    rows = session.execute(_query(filters, before).limit(size + 1)).all()
    more = len(rows) > size
    rows = rows[:size]
    return _entries(session, rows), (rows[-1][0].id if more else None)


def every(session: Session, filters: Filters, chunk: int = 500) -> Iterator[dict]:
    """Every line the filters keep, newest first, read a chunk at a time (the CSV export)."""
    before = None
    while True:
        lines, before = page(session, filters, before=before, size=chunk)
        yield from lines
        if before is None:
            return


def _query(filters: Filters, before: int | None):
    stmt = (
        select(AuditEntry, col(Member.handle), col(Member.display_name))
        .outerjoin(Member, col(Member.id) == col(AuditEntry.actor_id))
        .order_by(col(AuditEntry.id).desc())
    )
    if filters.action:
        stmt = stmt.where(col(AuditEntry.action) == filters.action)
    if filters.actor_id == NOBODY:
        stmt = stmt.where(col(AuditEntry.actor_id).is_(None))
    elif filters.actor_id is not None:
        stmt = stmt.where(col(AuditEntry.actor_id) == filters.actor_id)
    if filters.since is not None:
        stmt = stmt.where(col(AuditEntry.at) >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(col(AuditEntry.at) < filters.until)
    if before is not None:
        stmt = stmt.where(col(AuditEntry.id) < before)
    return stmt


def _entries(session: Session, rows) -> list[dict]:
    member_ids = {int(e.subject.split(":", 1)[1]) for e, *_ in rows if _is_member_subject(e.subject)}
    names = _names(session, member_ids)
    return [
        {
            "id": entry.id,
            "at": entry.at,
            "actor_id": entry.actor_id,
            "actor": handle,
            "actor_name": name,
            "action": entry.action,
            "subject": entry.subject,
            "subject_name": _subject_name(entry.subject, names),
            "detail": dict(entry.detail or {}),
        }
        for entry, handle, name in rows
    ]


def _is_member_subject(subject: str) -> bool:
    kind, _sep, ident = subject.partition(":")
    return kind == "member" and ident.isdigit()


def _names(session: Session, member_ids: set[int]) -> dict[int, str]:
    if not member_ids:
        return {}
    stmt = select(col(Member.id), col(Member.handle)).where(col(Member.id).in_(member_ids))
    return cast(dict[int, str], dict(session.execute(stmt).tuples().all()))  # ids of stored members


def _subject_name(subject: str, names: dict[int, str]) -> str:
    """A member subject by handle (ids mean nothing to a reader); any other subject as stored."""
    if _is_member_subject(subject):
        return names.get(int(subject.split(":", 1)[1]), subject)
    return subject.partition(":")[2] or subject


def actors(session: Session) -> list[tuple[int, str]]:
    """Everyone who appears as an actor in the log, for the filter's choices: (id, handle)."""
    ids = select(col(AuditEntry.actor_id)).where(col(AuditEntry.actor_id).is_not(None)).distinct()
    rows = session.execute(
        select(col(Member.id), col(Member.handle)).where(col(Member.id).in_(ids)).order_by(col(Member.handle))
    )
    return [(member_id, handle) for member_id, handle in rows]
