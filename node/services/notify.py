"""Notifications: stored with the state change as kind and parameters, mailed after the commit by a sweep.

The text is rendered late (node.notices), in the recipient's language and time zone. send_mail
sends one mail at once, bypassing the queue (for a secret the database must not keep).
"""

from __future__ import annotations

import logging
import secrets
import smtplib
import threading
from collections.abc import Mapping
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, insert, select
from sqlalchemy.orm import Session
from sqlmodel import col

from ..context import NodeContext
from ..notices import stored_params, text_of
from ..settings import Settings
from ..tables import Member, Notification, table_of
from . import events
from .notifications import mailed_kinds_off

log = logging.getLogger(__name__)


def notify(session: Session, *, member_id: int, kind: str, params: Mapping[str, Any], now: datetime) -> None:
    """Queue a notification of a kind declared in node/notices.py, with that kind's parameters.

    The member's open pages are told in the same transaction (a `notification` event: node/live.py words it).
    """
    stored = stored_params(kind, params)
    # One Core statement: payments notify on their hot path, where an ORM flush costs several times this.
    result = session.execute(
        _INSERT_NOTIFICATION,
        {
            "member_id": member_id,
            "kind": kind,
            "params": stored,
            "subject": "",
            "body": "",
            "created_at": now,
            "sent_at": None,
            "read_at": None,
        },
    )
    inserted = cast(CursorResult[Any], result)  # DML gives a CursorResult; Session.execute is typed as Result
    key = inserted.inserted_primary_key
    assert key is not None  # a one-row INSERT has its key
    note = {"id": key[0], "kind": kind, "params": stored}
    events.record(session, member_id=member_id, kind="notification", data=note, now=now)


_INSERT_NOTIFICATION = insert(table_of(Notification))


def deliver_notifications(ctx: NodeContext) -> int:
    """Send queued notifications by SMTP (or to the mail folder in development), as each member wants.

    A kind the member does not want by mail (their setting, else the kind's default) is marked handled
    without a mail; it stays on their notifications page all the same.
    """
    with ctx.db.read() as s:
        pending = s.execute(
            select(Notification, Member)
            .join(Member, col(Member.id) == col(Notification.member_id))
            .where(col(Notification.sent_at).is_(None))
            .order_by(col(Notification.id))
            .limit(200)
        ).all()
        unwanted = mailed_kinds_off(s, {member.id for _note, member in pending})
    sent = 0
    for note, member in pending:
        if member.status != "closed" and (member.id, note.kind) not in unwanted:
            message = _message(ctx.settings, note, member)
            # The file name is the notification id: writing it twice overwrites, never duplicates.
            _transmit(ctx.settings, message, f"{note.id:08d}-{note.kind}.eml")
        with ctx.db.write() as s:
            row = s.get(Notification, note.id)
            assert row is not None
            if row.sent_at is None:
                row.sent_at = ctx.now()
                sent += 1
    return sent


def send_mail(settings, *, to: str, subject: str, body: str, kind: str, language: str = "") -> None:
    """Send one mail now, bypassing the queue: for a secret (a login link) the database must not keep.

    Over SMTP it goes from a thread of its own, so that the request answers as fast whether or not
    a mail went out (the login answer must not tell which emails have an account); the development
    mail folder is written at once, so tests read it without waiting.
    """
    name = f"{kind}-{secrets.token_hex(8)}"
    message = _compose(settings, to=to, subject=subject, body=body, message_id=name, language=language)
    if settings.smtp_host:
        threading.Thread(
            target=_transmit_logged, args=(settings, message, f"{name}.eml"), daemon=True, name="sifnet-mail"
        ).start()
    else:
        _transmit(settings, message, f"{name}.eml")


def _message(settings: Settings, note: Notification, member: Member) -> EmailMessage:
    """The mail in the recipient's language and time zone (the node's when they chose none)."""
    language = member.language or settings.default_language
    subject, body = text_of(
        note, language=language, time_zone=member.time_zone or settings.time_zone, settings=settings
    )
    # Rows from before params are English.
    return _compose(
        settings,
        to=member.email,
        subject=subject,
        body=body,
        message_id=f"notification-{note.id}",
        language=language if note.params is not None else "en",
    )


def _compose(settings, *, to: str, subject: str, body: str, message_id: str, language: str = "") -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = f"[{settings.node_name}] {subject}"
    message["Message-ID"] = f"<{message_id}@{settings.node_id}.sifnet.invalid>"
    message.set_content(body + f"\n\n-- \n{settings.node_name}: {settings.base_url}\n")
    if language:  # after set_content, which replaces every Content-* header
        message["Content-Language"] = language
    return message


def _transmit(settings, message: EmailMessage, file_name: str) -> None:
    """By SMTP, or into <data_dir>/mail when no SMTP server is set (development)."""
    if settings.smtp_host:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
            smtp.send_message(message)
    else:
        _write_to_folder(settings.data_path / "mail", file_name, message)


def _transmit_logged(settings, message: EmailMessage, file_name: str) -> None:
    try:
        _transmit(settings, message, file_name)
    except (OSError, smtplib.SMTPException):  # a thread's exception would be lost: say it in the log
        log.exception("could not send mail %s", file_name)


def _write_to_folder(folder: Path, file_name: str, message: EmailMessage) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / file_name).write_bytes(bytes(message))
