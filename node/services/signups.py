"""Signing up by mail: the account exists once the mailed link is opened, and asking tells nobody who has one.

A sign-up is checked field by field (every error at once), then answered alike whether or not the address
has an account: a new address gets a link to finish signing up (valid a day, once); an address that has an
account gets a mail saying so, with the way to log in or choose a new password. Only the owner of the
mailbox learns which. The request is kept (signup_requests) with the password's argon2 hash only, and a
new request for the same address replaces it. One mail per address every few minutes at most.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any, cast

from argon2 import PasswordHasher
from flask_babel import gettext as _
from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session
from sqlmodel import col

from .. import i18n
from ..context import NodeContext
from ..errors import DomainError
from ..labels import N_
from ..settings import Settings
from ..tables import Member, SignupRequest
from . import logins, members, notify

CONFIRM_PATH = "/signup/confirm/"  # the web page the mailed link opens
LINK_VALID = timedelta(days=1)
SUBJECT = N_("Finish signing up")
BODY = N_(
    "Welcome to %(node)s! To finish signing up as %(name)s, open this link within %(hours)s and confirm:\n\n"
    "%(link)s\n\nIf you did not sign up, ignore this mail: without the link no account is made."
)
TAKEN_SUBJECT = N_("You already have an account")
TAKEN_BODY = N_(
    "Someone, perhaps you, tried to sign up on %(node)s with this address, which already has an account. "
    "Log in here: %(login)s\n\nForgot your password? Choose a new one here: %(forgot)s\n\nIf it was not you, "
    "ignore this mail: nothing changed."
)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ask(
    session: Session,
    settings: Settings,
    *,
    email: object,
    password: object,
    display_name: object,
    handle: object = None,
    language: str = "",
    hasher: PasswordHasher,
    now: datetime,
) -> None:
    """Check a sign-up and mail its link (or, for an address with an account, say so to its owner)."""
    address, name, chosen = members.check_sign_up(
        session, email=email, password=password, display_name=display_name, handle=handle
    )
    existing = session.scalars(select(Member).where(col(Member.email) == address)).first()
    # Hashed alike in both cases: the answer takes as long (check_sign_up refused anything but a good password).
    password_hash = hasher.hash(cast(str, password))
    if not logins.mail_allowed(session, "signup:" + address, now):
        return
    language = language if i18n.is_language(language) else ""
    catalog = i18n.translations((existing.language if existing else language) or settings.default_language)
    base = settings.base_url.rstrip("/")
    if existing is not None:
        body = catalog.gettext(TAKEN_BODY) % {
            "node": settings.node_name,
            "login": base + "/login",
            "forgot": base + "/password/forgot",
        }
        subject = catalog.gettext(TAKEN_SUBJECT)
    else:
        token = secrets.token_urlsafe(32)
        session.execute(delete(SignupRequest).where(col(SignupRequest.email) == address))
        session.add(
            SignupRequest(
                email=address,
                token_hash=_hash(token),
                password_hash=password_hash,
                display_name=name,
                handle=cast(str, handle) if handle not in (None, "") else "",  # checked by check_sign_up
                language=language,
                created_at=now,
                expires_at=now + LINK_VALID,
            )
        )
        hours = int(LINK_VALID.total_seconds() // 3600)
        body = catalog.gettext(BODY) % {
            "node": settings.node_name,
            "name": f"{name} ({chosen}@{settings.node_id})",
            "hours": catalog.ngettext("%(num)s hour", "%(num)s hours", hours) % {"num": hours},
            "link": base + CONFIRM_PATH + token,
        }
        subject = catalog.gettext(SUBJECT)
    notify.send_mail(settings, to=address, subject=subject, body=body, kind="signup", language=language)


def request_for_link(session: Session, token: object, now: datetime) -> SignupRequest | None:
    """The sign-up a link finishes, while it is unused and unexpired (reading changes nothing)."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return None
    found = session.scalars(select(SignupRequest).where(col(SignupRequest.token_hash) == _hash(token))).first()
    return found if found is not None and found.expires_at > now else None


def confirm(session: Session, settings: Settings, *, token: object, now: datetime) -> Member:
    """Use the link up: the member is made (pending approval, or active where the node approves nobody)."""
    found = request_for_link(session, token, now)
    if found is None or session.scalars(select(Member).where(col(Member.email) == found.email)).first():
        raise DomainError(invalid_link_message(), code="signup_link_invalid", status=404)
    try:  # the handle asked for may have been taken meanwhile: then one is made from the email
        handle = members.pick_handle(session, found.handle or None, found.email)
    except DomainError:
        handle = members.pick_handle(session, None, found.email)
    member = members.create_member(
        session,
        settings,
        email=found.email,
        password_hash=found.password_hash,
        display_name=found.display_name,
        handle=handle,
        language=found.language,
        now=now,
    )
    session.delete(found)
    return member


def invalid_link_message() -> str:
    return _("This link was used already or has expired. Sign up again to get a new one.")


def forget_expired_requests(ctx: NodeContext) -> int:
    """Sweep: sign-ups whose link was never opened."""
    with ctx.db.write() as s:
        result = s.execute(delete(SignupRequest).where(col(SignupRequest.expires_at) <= ctx.now()))
        return (
            cast(CursorResult[Any], result).rowcount or 0
        )  # DML gives a CursorResult; Session.execute is typed as Result
