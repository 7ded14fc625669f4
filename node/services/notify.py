"""Notifications: stored with the state change, mailed after the commit by a sweep."""
from __future__ import annotations

import smtplib
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import insert, select

from ..scheduler import sweep
from ..tables import Member, Notification


def notify(session, *, member_id: int, kind: str, subject: str, body: str, now: datetime) -> None:
    """Queue a notification for a member in the current transaction."""
    # One Core statement: payments notify on their hot path, where an ORM flush costs several times this.
    session.execute(_INSERT_NOTIFICATION, {"member_id": member_id, "kind": kind, "subject": subject[:200],
                                           "body": body[:8000], "created_at": now, "sent_at": None, "read_at": None})


_INSERT_NOTIFICATION = insert(Notification.__table__)


@sweep
def deliver_notifications(ctx) -> int:
    """Send queued notifications by SMTP, or write them to the mail folder in development."""
    with ctx.db.read() as s:
        pending = s.execute(
            select(Notification, Member.email, Member.status).join(Member, Member.id == Notification.member_id)
            .where(Notification.sent_at.is_(None)).order_by(Notification.id).limit(200)
        ).all()
    sent = 0
    for note, email, status in pending:
        if status != "closed":
            message = _message(ctx.settings, note, email)
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


def _message(settings, note: Notification, email: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = email
    message["Subject"] = f"[{settings.node_name}] {note.subject}"
    message["Message-ID"] = f"<notification-{note.id}@{settings.node_id}.sifnet.invalid>"
    message.set_content(note.body + f"\n\n-- \n{settings.node_name}: {settings.base_url}\n")
    return message


def _write_to_folder(folder: Path, note: Notification, message: EmailMessage) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    # The file name is the notification id: writing it twice overwrites, never duplicates.
    (folder / f"{note.id:08d}-{note.kind}.eml").write_bytes(bytes(message))
