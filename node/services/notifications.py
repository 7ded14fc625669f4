"""A member's notifications: their history a page at a time, the unread count, marking read, and mail settings.

Every notification is kept in-app; a member's mail setting per kind decides only whether the mail
sweep (node/services/notify.py) also mails it. Without a saved setting a kind has its default from
node/notices.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from flask_babel import gettext as _
from sqlalchemy import CursorResult, bindparam, func, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from ..errors import ValidationError
from ..notices import NOTICES
from ..tables import MailPreference, Notification

PAGE_SIZE = 30

_UNREAD = (
    select(func.count())
    .select_from(Notification)
    .where(col(Notification.member_id) == bindparam("member_id"), col(Notification.read_at).is_(None))
)


def unread_count(session: Session, member_id: int) -> int:
    """How many of the member's notifications are not read yet (the menu shows it on every page)."""
    return int(session.execute(_UNREAD, {"member_id": member_id}).scalar_one())


def history(
    session: Session, member_id: int, *, before: int | None = None, size: int = PAGE_SIZE
) -> tuple[list[Notification], int | None]:
    """The member's notifications, newest first, and the cursor (an id) of the next older page, or None."""
    stmt = select(Notification).where(col(Notification.member_id) == member_id).order_by(col(Notification.id).desc())
    if before is not None:
        stmt = stmt.where(col(Notification.id) < before)
    rows = list(session.scalars(stmt.limit(size + 1)).all())
    more = len(rows) > size
    return rows[:size], (rows[size - 1].id if more else None)


def mark_all_read(session: Session, member_id: int, now: datetime) -> int:
    """Mark every unread notification of the member read; how many there were."""
    result = session.execute(
        update(Notification)
        .where(col(Notification.member_id) == member_id, col(Notification.read_at).is_(None))
        .values(read_at=now)
    )
    return cast(CursorResult[Any], result).rowcount or 0  # DML gives a CursorResult; Session.execute is typed as Result


def mail_settings(session: Session, member_id: int) -> dict[str, bool]:
    """For every notification kind, whether it is also mailed to the member (their choice, else the default)."""
    saved = dict(
        session.execute(
            select(col(MailPreference.kind), col(MailPreference.mail)).where(col(MailPreference.member_id) == member_id)
        )
        .tuples()
        .all()
    )
    return {kind: bool(saved.get(kind, notice.mail)) for kind, notice in NOTICES.items()}


def save_mail_settings(
    session: Session, member_id: int, wanted: Mapping[str, object], now: datetime
) -> dict[str, bool]:
    """Keep the member's choice for the kinds given ({kind: true|false}); other kinds keep theirs."""
    unknown = sorted(k for k in wanted if k not in NOTICES)
    if unknown:
        raise ValidationError(
            _("There is no notification kind %(kind)s.", kind=unknown[0]), code="unknown_kind", field=unknown[0]
        )
    for kind, value in wanted.items():
        if not isinstance(value, bool):
            raise ValidationError(
                _("Say true or false for each kind of notification."), code="invalid_setting", field=kind
            )
    for kind, value in wanted.items():
        assert isinstance(value, bool)  # checked above
        row = session.get(MailPreference, (member_id, kind))
        if row is None:
            session.add(MailPreference(member_id=member_id, kind=kind, mail=value, updated_at=now))
        elif row.mail != value:
            row.mail, row.updated_at = value, now
    session.flush()
    return mail_settings(session, member_id)


def mailed_kinds_off(session: Session, member_ids: set[int]) -> set[tuple[int, str]]:
    """(member, kind) pairs that must not be mailed, for a batch of the mail sweep: choices, then defaults."""
    if not member_ids:
        return set()
    saved = {
        (m, k): mail
        for m, k, mail in session.execute(
            select(col(MailPreference.member_id), col(MailPreference.kind), col(MailPreference.mail)).where(
                col(MailPreference.member_id).in_(member_ids)
            )
        ).all()
    }
    off = {pair for pair, mail in saved.items() if not mail}
    quiet = [kind for kind, notice in NOTICES.items() if not notice.mail]
    off |= {(m, k) for m in member_ids for k in quiet if saved.get((m, k)) is not True}
    return off
