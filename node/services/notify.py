"""Notifications: stored with the state change, mailed after the commit by a sweep; send_mail for one at once."""
from __future__ import annotations

import logging
import secrets
import smtplib
import threading
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import insert, select

from ..scheduler import sweep
from ..tables import Member, Notification

log = logging.getLogger(__name__)


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
            # The file name is the notification id: writing it twice overwrites, never duplicates.
            _transmit(ctx.settings, message, f"{note.id:08d}-{note.kind}.eml")
        with ctx.db.write() as s:
            row = s.get(Notification, note.id)
            if row.sent_at is None:
                row.sent_at = ctx.now()
                sent += 1
    return sent


def send_mail(settings, *, to: str, subject: str, body: str, kind: str) -> None:
    """Send one mail now, bypassing the queue: for a secret (a login link) the database must not keep.

    Over SMTP it goes from a thread of its own, so that the request answers as fast whether or not
    a mail went out (the login answer must not tell which emails have an account); the development
    mail folder is written at once, so tests read it without waiting.
    """
    name = f"{kind}-{secrets.token_hex(8)}"
    message = _compose(settings, to=to, subject=subject, body=body, message_id=name)
    if settings.smtp_host:
        threading.Thread(target=_transmit_logged, args=(settings, message, f"{name}.eml"), daemon=True,
                         name="sifnet-mail").start()
    else:
        _transmit(settings, message, f"{name}.eml")


def _message(settings, note: Notification, email: str) -> EmailMessage:
    return _compose(settings, to=email, subject=note.subject, body=note.body, message_id=f"notification-{note.id}")


def _compose(settings, *, to: str, subject: str, body: str, message_id: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = f"[{settings.node_name}] {subject}"
    message["Message-ID"] = f"<{message_id}@{settings.node_id}.sifnet.invalid>"
    message.set_content(body + f"\n\n-- \n{settings.node_name}: {settings.base_url}\n")
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
