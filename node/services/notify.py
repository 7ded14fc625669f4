"""Notifications: stored with the state change as kind and parameters, mailed after the commit by a sweep.

The text is rendered late (node.notices), in the recipient's language and time zone.
"""
from __future__ import annotations

import smtplib
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Mapping

from sqlalchemy import insert, select

from ..notices import stored_params, text_of
from ..scheduler import sweep
from ..settings import Settings
from ..tables import Member, Notification


def notify(session, *, member_id: int, kind: str, params: Mapping[str, Any], now: datetime) -> None:
    """Queue a notification of a kind declared in node/notices.py, with that kind's parameters."""
    # One Core statement: payments notify on their hot path, where an ORM flush costs several times this.
    session.execute(_INSERT_NOTIFICATION, {"member_id": member_id, "kind": kind,
                                           "params": stored_params(kind, params), "subject": "", "body": "",
                                           "created_at": now, "sent_at": None, "read_at": None})


_INSERT_NOTIFICATION = insert(Notification.__table__)


@sweep
def deliver_notifications(ctx) -> int:
    """Send queued notifications by SMTP, or write them to the mail folder in development."""
    with ctx.db.read() as s:
        pending = s.execute(
            select(Notification, Member).join(Member, Member.id == Notification.member_id)
            .where(Notification.sent_at.is_(None)).order_by(Notification.id).limit(200)
        ).all()
    sent = 0
    for note, member in pending:
        if member.status != "closed":
            message = _message(ctx.settings, note, member)
            if ctx.settings.smtp_host:
                with smtplib.SMTP(ctx.settings.smtp_host, ctx.settings.smtp_port, timeout=10) as smtp:
                    smtp.send_message(message)
            else:
                _write_to_folder(ctx.settings.data_path / "mail", note, message)
        with ctx.db.write() as s:
            row = s.get(Notification, note.id)
            if row.sent_at is None:
                row.sent_at = ctx.now()
                sent += 1
    return sent


def _message(settings: Settings, note: Notification, member: Member) -> EmailMessage:
    """The mail in the recipient's language and time zone (the node's when they chose none)."""
    language = member.language or settings.default_language
    subject, body = text_of(note, language=language, time_zone=member.time_zone or settings.time_zone,
                            settings=settings)
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = member.email
    message["Subject"] = f"[{settings.node_name}] {subject}"
    message["Message-ID"] = f"<notification-{note.id}@{settings.node_id}.sifnet.invalid>"
    message.set_content(body + f"\n\n-- \n{settings.node_name}: {settings.base_url}\n")
    # After set_content, which replaces every Content-* header; rows from before params are English.
    message["Content-Language"] = language if note.params is not None else "en"
    return message


def _write_to_folder(folder: Path, note: Notification, message: EmailMessage) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    # The file name is the notification id: writing it twice overwrites, never duplicates.
    (folder / f"{note.id:08d}-{note.kind}.eml").write_bytes(bytes(message))
