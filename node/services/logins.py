"""Logins: the password check behind two throttles (per client address, per account) and the unlock link.

The rule. Each client address (an IPv6 address counts as its /64) and each account email has a
row of recent failures; an email that belongs to nobody gets one too, so that the answers never
tell which emails have an account. After `max` failures a key has to wait before its next
attempt: 1 s, doubling with every further failure, up to the key's longest wait. Failures are
forgotten once none came for `login_window_seconds`.

An attempt made while its key waits is refused at once: the password is not checked (so the
refusal tells nothing about it) and nothing is recorded (so refusals do not lengthen the wait).
Each real guess therefore costs an attacker a full wait, and keeping an account waiting costs
them a real guess per wait (at most `login_account_max_wait_seconds`), from addresses that the
address throttle slows in turn. The owner is never locked out: when the account starts waiting,
its owner is mailed a one-time link (at most one mail per window); the browser that confirms it
skips the account's wait for `login_trusted_days` (the address wait still applies) and logs in
with the password as usual. A successful login clears the account's failures, but at the address
it takes back only its own attempt: logging in to one's own account does not wipe the failures
an address made against others.

Attempts are counted before the password is checked, in a short write transaction, and the slow
argon2 check runs outside any transaction: concurrent attempts cannot slip past the count, and no
lock is held while hashing. A correct password then takes its count back.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

import flask_babel
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from babel.support import NullTranslations
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from .. import i18n
from ..context import NodeContext
from ..errors import AuthError, DomainError, RateLimitedError
from ..labels import N_
from ..settings import Settings
from ..tables import LoginThrottle, Member
from . import notify

UNLOCK_PATH = "/login/unlock/"  # the web route that shows and confirms an unlock link
ACCOUNT_WAIT = _l(
    "Too many failed logins for this email. Try again in %(wait)s. If an account exists for this "
    "email, its owner has been mailed a link to log in from their browser without waiting."
)
ADDRESS_WAIT = _l("Too many failed logins from your network address. Try again in %(wait)s.")
# The unlock mail, in the account owner's language (their saved one, else the node's).
UNLOCK_SUBJECT = N_("Log in without waiting")
UNLOCK_BODY = N_(
    "Someone tried to log in to your account with a wrong password several times, so logins for your "
    "email now have to wait a little between attempts.\n\nTo log in now without waiting, open this link "
    "in the browser you use and confirm:\n\n%(link)s\n\nThe link works once, within %(minutes)s; it "
    "replaces any earlier one. It does not log you in: you still need your password. If the failed "
    "logins were not yours, nobody got in: they did not have your password."
)


@dataclass(frozen=True, slots=True)
class TrustedDevice:
    """A browser that confirmed an unlock link: it skips the wait of this member's account until `until`."""

    member_id: int
    session_version: int
    until: datetime


@dataclass(frozen=True, slots=True)
class _Attempt:
    """One login attempt's keys, what it is checked against, and what counting it changed at the address."""

    email: str
    address_key: str
    account_key: str
    member: Member | None
    address_wait_before: datetime | None
    address_wait_set: datetime | None


def address_key(address: str | None) -> str:
    """The throttle key of a client address; an IPv6 address counts as its /64 (one subscriber's block)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return "address:unknown"
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.version == 6:
        return f"address:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"address:{ip}"


def account_key(email: str) -> str:
    return f"account:{email}"


def normal_email(email: object) -> str:
    return str(email or "").strip().lower()[:254]


def wait_after(failures: int, max_failures: int, max_wait: int) -> int:
    """Seconds a key waits after its `failures`-th failure: none before max_failures, then 1, 2, 4, ... capped."""
    if failures < max_failures:
        return 0
    return min(2 ** min(failures - max_failures, 32), max_wait)


def log_in(
    ctx: NodeContext, *, email: object, password: object, address: str | None, trusted: TrustedDevice | None = None
) -> Member:
    """Check a login through both throttles; mail the unlock link when an account starts waiting.

    Returns the member (detached). Raises RateLimitedError (login_rate_limited, with retry_after)
    without checking the password while the address or the account waits, and AuthError
    (bad_credentials) for a wrong email or password, the same whether or not the email exists.
    """
    now, settings, email = ctx.now(), ctx.settings, normal_email(email)
    with ctx.db.read() as session:  # a flood of refused attempts never takes the write lock
        _refuse_while_waiting(session, email=email, address=address, trusted=trusted, now=now)
    with ctx.db.write() as session:
        attempt = _count_attempt(session, settings, email=email, address=address, trusted=trusted, now=now)
    ok = _password_matches(ctx.hasher, attempt.member, password)
    member = mail = None
    with ctx.db.write() as session:
        if ok:
            member = _succeed(session, attempt, now)
        else:
            mail = _unlock_mail_due(session, settings, attempt, now)
    if mail is not None:  # after the commit: the token's hash is stored before the link leaves
        _send_unlock_mail(settings, *mail)
    if not ok:
        raise AuthError(_("wrong email or password"), code="bad_credentials")
    assert member is not None  # a password matched, so there is a member
    return member


def _refuse_while_waiting(
    session: Session, *, email: str, address: str | None, trusted: TrustedDevice | None, now: datetime
) -> Member | None:
    """Refuse while the address, or the account (unless this browser is trusted for it), waits."""
    wait = _seconds_left(session.get(LoginThrottle, address_key(address)), now)
    if wait:
        raise RateLimitedError(
            str(ADDRESS_WAIT) % {"wait": in_words(wait)}, code="login_rate_limited", retry_after=wait
        )
    member = session.scalars(select(Member).where(col(Member.email) == email)).first() if email else None
    if not _is_trusted(trusted, member, now):
        wait = _seconds_left(session.get(LoginThrottle, account_key(email)), now)
        if wait:
            raise RateLimitedError(
                str(ACCOUNT_WAIT) % {"wait": in_words(wait)}, code="login_rate_limited", retry_after=wait
            )
    return member


def _count_attempt(
    session: Session,
    settings: Settings,
    *,
    email: str,
    address: str | None,
    trusted: TrustedDevice | None,
    now: datetime,
) -> _Attempt:
    """Check again (another process may have counted meanwhile), then count the attempt as a failure."""
    _forget_old_rows(session, settings, now)
    member = _refuse_while_waiting(session, email=email, address=address, trusted=trusted, now=now)
    window = timedelta(seconds=settings.login_window_seconds)
    at_address = _row(session, address_key(address), now)
    before = at_address.blocked_until
    _count_failure(
        at_address, now, window, settings.login_address_max_failures, settings.login_address_max_wait_seconds
    )
    _count_failure(
        _row(session, account_key(email), now),
        now,
        window,
        settings.login_max_failures,
        settings.login_account_max_wait_seconds,
    )
    return _Attempt(
        email=email,
        address_key=at_address.key,
        account_key=account_key(email),
        member=member,
        address_wait_before=before,
        address_wait_set=at_address.blocked_until,
    )


def _succeed(session: Session, attempt: _Attempt, now: datetime) -> Member:
    """Clear the account's failures, take this attempt's count back at the address, note the activity."""
    session.execute(delete(LoginThrottle).where(col(LoginThrottle.key) == attempt.account_key))
    at_address = session.get(LoginThrottle, attempt.address_key)
    if at_address is not None and at_address.failures > 0:
        at_address.failures -= 1
        if at_address.blocked_until == attempt.address_wait_set:  # nobody else's failure came since
            at_address.blocked_until = attempt.address_wait_before
    assert attempt.member is not None
    member = session.get(Member, attempt.member.id)
    assert member is not None
    member.last_active_at = now
    return member


def _unlock_mail_due(
    session: Session, settings: Settings, attempt: _Attempt, now: datetime
) -> tuple[str, str, str] | None:
    """(email, token, language) when this failure made an existing account wait and no link went out this window."""
    row = session.get(LoginThrottle, attempt.account_key)
    member = attempt.member
    if row is None or row.failures < settings.login_max_failures or member is None or member.status == "closed":
        return None
    if row.mailed_at is not None and now - row.mailed_at < timedelta(seconds=settings.login_window_seconds):
        return None
    token = secrets.token_urlsafe(32)
    row.unlock_hash, row.mailed_at = _hash(token), now
    row.unlock_expires_at = now + timedelta(minutes=settings.login_unlock_minutes)
    return member.email, token, member.language or settings.default_language


def _send_unlock_mail(settings: Settings, email: str, token: str, language: str) -> None:
    """The one-time link, in the account owner's language (not the language of whoever tried to log in)."""
    catalog = i18n.translations(language)
    link = settings.base_url.rstrip("/") + UNLOCK_PATH + token
    body = catalog.gettext(UNLOCK_BODY) % {
        "link": link,
        "minutes": in_words(settings.login_unlock_minutes * 60, catalog),
    }
    notify.send_mail(
        settings, to=email, subject=catalog.gettext(UNLOCK_SUBJECT), body=body, kind="unlock", language=language
    )


def unlock_link_valid(session: Session, token: str, now: datetime) -> bool:
    """Whether the link is unused and unexpired (read only: opening the link changes nothing)."""
    return _unlock_row(session, token, now) is not None


def redeem_unlock_link(session: Session, settings: Settings, *, token: str, now: datetime) -> TrustedDevice:
    """Use an unlock link up (once): the browser that confirmed it is trusted for the account."""
    row = _unlock_row(session, token, now)
    email = row.key.removeprefix("account:") if row is not None else ""
    member = session.scalars(select(Member).where(col(Member.email) == email)).first() if email else None
    if member is None or member.status == "closed":
        raise DomainError(
            _("This link was used already or has expired. Log in; if you have to wait, a new link is mailed to you."),
            code="unlock_link_invalid",
            status=404,
        )
    assert row is not None
    row.unlock_hash = row.unlock_expires_at = None
    assert member.id is not None
    return TrustedDevice(
        member_id=member.id,
        session_version=member.session_version,
        until=now + timedelta(days=settings.login_trusted_days),
    )


def in_words(seconds: int, catalog: NullTranslations | None = None) -> str:
    """A wait as a person reads it, from the catalog given, else the reader's: '1 second', '40 seconds', '5 minutes'."""
    catalog = catalog or flask_babel.get_translations()
    if seconds < 90:
        return catalog.ngettext("%(num)s second", "%(num)s seconds", seconds) % {"num": seconds}
    minutes = math.ceil(seconds / 60)
    return catalog.ngettext("%(num)s minute", "%(num)s minutes", minutes) % {"num": minutes}


def _unlock_row(session: Session, token: str, now: datetime) -> LoginThrottle | None:
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return None
    row = session.scalars(select(LoginThrottle).where(col(LoginThrottle.unlock_hash) == _hash(token))).first()
    if row is None or row.unlock_expires_at is None or row.unlock_expires_at <= now:
        return None
    return row


def _is_trusted(trusted: TrustedDevice | None, member: Member | None, now: datetime) -> bool:
    return (
        trusted is not None
        and member is not None
        and trusted.member_id == member.id
        and trusted.session_version == member.session_version
        and now < trusted.until
    )


def _seconds_left(row: LoginThrottle | None, now: datetime) -> int:
    if row is None or row.blocked_until is None or row.blocked_until <= now:
        return 0
    return math.ceil((row.blocked_until - now).total_seconds())


def _row(session: Session, key: str, now: datetime) -> LoginThrottle:
    row = session.get(LoginThrottle, key)
    if row is None:
        row = LoginThrottle(key=key, failures=0, last_failure_at=now)
        session.add(row)
    return row


def _count_failure(row: LoginThrottle, now: datetime, window: timedelta, max_failures: int, max_wait: int) -> None:
    if now - row.last_failure_at >= window and not _seconds_left(row, now):
        row.failures = 0  # quiet for a whole window: start over
    row.failures += 1
    row.last_failure_at = now
    wait = wait_after(row.failures, max_failures, max_wait)
    row.blocked_until = now + timedelta(seconds=wait) if wait else None


def _forget_old_rows(session: Session, settings: Settings, now: datetime) -> None:
    """Delete rows that no longer count: quiet past the window and every wait, with no live unlock link."""
    keep = max(
        settings.login_window_seconds, settings.login_account_max_wait_seconds, settings.login_address_max_wait_seconds
    )
    session.execute(
        delete(LoginThrottle).where(
            col(LoginThrottle.last_failure_at) < now - timedelta(seconds=keep),
            or_(col(LoginThrottle.unlock_expires_at).is_(None), col(LoginThrottle.unlock_expires_at) <= now),
        )
    )


def _password_matches(hasher: PasswordHasher, member: Member | None, password: object) -> bool:
    """Verify the password; for no (or a closed) account a dummy hash is verified, so both take as long."""
    usable = member is not None and member.status != "closed" and member.password_hash
    stored = (
        member.password_hash if usable and member is not None else _dummy_hash(hasher.time_cost, hasher.memory_cost)
    )
    try:
        return hasher.verify(stored, password if isinstance(password, str) else "") and bool(usable)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash(time_cost: int, memory_cost: int) -> str:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost).hash("no such account")


MAIL_GAP = timedelta(minutes=5)


def mail_allowed(session: Session, key: str, now: datetime) -> bool:
    """Whether a mail keyed `key` (e.g. "reset:anna@example.org") may go out now: one every MAIL_GAP at most,
    so that nobody can flood a mailbox through the node's forms. Counts this one when it may."""
    row = session.get(LoginThrottle, key)
    if row is not None and row.mailed_at is not None and now - row.mailed_at < MAIL_GAP:
        return False
    if row is None:
        row = LoginThrottle(key=key, failures=0, last_failure_at=now)
        session.add(row)
    row.mailed_at = row.last_failure_at = now
    return True


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
