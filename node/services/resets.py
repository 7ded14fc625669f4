"""Forgotten passwords: a mailed link that works once and for an hour, asked for without learning who has an account.

Asking answers the same whether or not an account uses the address (the page and the API); only the
account's owner reads the answer, in their mailbox. The link is a token signed with the node's secret that
names the member, its expiry and a fingerprint of the password and session version it was made for, so it
needs no table and stops working once the password changes (used once), or when the member logs out
everywhere. One mail per address every few minutes at most, so nobody can flood a mailbox.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import cast

from argon2 import PasswordHasher
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from sqlmodel import col

from .. import i18n
from ..errors import DomainError
from ..labels import N_
from ..settings import Settings
from ..tables import ApiToken, LoginThrottle, Member
from . import logins, notify
from .members import check_password, clean_email

RESET_PATH = "/password/reset/"  # the web page the mailed link opens
LINK_VALID = timedelta(hours=1)
SUBJECT = N_("Choose a new password")
BODY = N_(
    "Someone, we hope you, asked to choose a new password for your account on %(node)s.\n\nTo choose it, "
    "open this link within %(minutes)s:\n\n%(link)s\n\nThe link works once. If you did not ask for it, "
    "ignore this mail: your password stays as it is."
)


def _signer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt="sifnet-password-reset")


def _fingerprint(member: Member) -> str:
    """Changes when the password or the session version does: a link made before no longer fits."""
    return hashlib.sha256(f"{member.password_hash}\n{member.session_version}".encode()).hexdigest()[:24]


def ask_for_link(session: Session, settings: Settings, *, email: object, secret: str, now: datetime) -> None:
    """Mail a link to the account using `email`, if there is one that may log in; else do nothing, quietly."""
    address = clean_email(email)
    member = session.scalars(select(Member).where(col(Member.email) == address)).first()
    if (
        member is None
        or member.status not in ("active", "pending")
        or not logins.mail_allowed(session, "reset:" + address, now)
    ):
        return
    token = _signer(secret).dumps({"m": member.id, "f": _fingerprint(member), "e": int((now + LINK_VALID).timestamp())})
    language = member.language or settings.default_language
    catalog = i18n.translations(language)
    body = catalog.gettext(BODY) % {
        "node": settings.node_name,
        "link": settings.base_url.rstrip("/") + RESET_PATH + token,
        "minutes": logins.in_words(int(LINK_VALID.total_seconds()), catalog),
    }
    notify.send_mail(
        settings, to=member.email, subject=catalog.gettext(SUBJECT), body=body, kind="password-reset", language=language
    )


def member_for_link(session: Session, *, token: object, secret: str, now: datetime) -> Member | None:
    """The member a link is good for now, or None (forged, expired, used, or the account closed)."""
    if not isinstance(token, str) or len(token) > 500:
        return None
    try:
        data = _signer(secret).loads(token)
        member_id, fingerprint, expires = int(data["m"]), str(data["f"]), int(data["e"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    member = session.get(Member, member_id)
    if member is None or member.status not in ("active", "pending") or expires <= now.timestamp():
        return None
    return member if _fingerprint(member) == fingerprint else None


def set_new_password(
    session: Session, *, token: object, password: object, secret: str, hasher: PasswordHasher, now: datetime
) -> Member:
    """Use a link up: the new password; every session and API token ends; the account's login wait is lifted."""
    member = member_for_link(session, token=token, secret=secret, now=now)
    if member is None:
        raise DomainError(invalid_link_message(), code="reset_link_invalid", status=404)
    check_password(password)
    member.password_hash = hasher.hash(cast(str, password))  # check_password refused anything else
    member.session_version += 1
    member.last_active_at = now
    session.execute(
        delete(ApiToken).where(col(ApiToken.member_id) == member.id)
    )  # made with the old password, maybe not by them
    session.execute(delete(LoginThrottle).where(col(LoginThrottle.key) == logins.account_key(member.email)))
    return member


def invalid_link_message() -> str:
    return _("This link was used already or has expired. Ask for a new one on the log-in page.")
