"""Members: sign-up, approval, API tokens, profiles, export and closing (logins: logins.py)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, cast, overload

from argon2 import PasswordHasher
from flask_babel import gettext as _
from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from .. import countries, i18n
from ..errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from ..labels import APPROVAL_NOT_REQUIRED, BALANCE_RETIRED, CREATED_BY_OPERATOR, N_, WELCOME_GRANT
from ..lifecycle import MEMBER
from ..settings import Settings
from ..tables import Account, AdviceBooking, ApiToken, AuditEntry, Member, Proposal, ReviewInvitation
from . import advice_listings, audit, directory, ledger, messages
from .notify import notify
from .validate import Fields, clean_bool, clean_list, clean_text, refuse_unknown_fields

# Tags are slugs (they travel between nodes); the UI shows them with spaces.
DEFAULT_TAXONOMY = (
    "circular-economy",
    "social-inclusion",
    "education",
    "health-and-care",
    "housing",
    "mobility",
    "food",
    "culture",
    "digital-inclusion",
    "funding-and-finance",
    "legal-structures",
    "impact-measurement",
    "marketing",
    "governance",
    "energy",
    "employment",
    "community-building",
)
LANGUAGES = ("nl", "fr", "de", "en", "it", "hu", "es", "pt", "pl", "ro", "sl", "hr", "cs", "sk")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9.-]{1,189}\.[A-Za-z]{2,63}$")
HANDLE_RE = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")
# Why a member whose account is not active may not act, by account state.
INACTIVE = {
    "pending": N_("Your account waits for a coordinator's approval; you can do this once it is approved."),
    "refused": N_("Your account was not approved."),
    "closed": N_("Your account is closed."),
}
PROFILE_FIELDS = (
    "display_name",
    "organisation",
    "expertise",
    "languages",
    "country",
    "bio",
    "is_reviewer",
    "pool_consent",
    "review_capacity",
    "language",
    "time_zone",
    "in_directory",
    "show_organisation",
    "show_bio",
    "show_expertise",
    "show_languages",
    "show_country",
)
# A change of these re-indexes the member in the directory (node.services.directory).
DIRECTORY_FIELDS = frozenset(PROFILE_FIELDS) - {"bio", "is_reviewer", "pool_consent", "review_capacity", "language",
                                                "time_zone"}  # fmt: skip


def taxonomy(settings: Settings) -> tuple[str, ...]:
    """The node's expertise tags."""
    if settings.expertise_taxonomy.strip():
        return tuple(t.strip().lower().replace(" ", "-") for t in settings.expertise_taxonomy.split(",") if t.strip())
    return DEFAULT_TAXONOMY


def password_hasher(settings: Settings) -> PasswordHasher:
    return PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib)


def sign_up(
    session: Session,
    settings: Settings,
    *,
    email: object,
    password: object,
    display_name: object,
    handle: object = None,
    now: datetime,
    hasher: PasswordHasher,
    language: str = "",
) -> Member:
    """Create a member at once (operators, the demo, tests); people sign up through signups.py, by mail.

    `language`: the one the person chose on the page they signed up on, so that the mails before they
    choose one (the approval) come in it; anything but a language of the pages is ignored.
    """
    email, display_name, handle = check_sign_up(
        session, email=email, password=password, display_name=display_name, handle=handle
    )
    if session.scalars(select(Member).where(col(Member.email) == email)).first():
        raise ConflictError(_("An account with this email address exists already."), code="email_taken", field="email")
    return create_member(
        session,
        settings,
        email=email,
        password_hash=hasher.hash(cast(str, password)),  # check_sign_up refused anything but a good password
        display_name=display_name,
        handle=handle,
        language=language,
        now=now,
    )


def check_sign_up(
    session: Session, *, email: object, password: object, display_name: object, handle: object
) -> tuple[str, str, str]:
    """(email, display name, handle) of a sign-up, every field checked at once; whether the email has an account
    is not checked here (signups.py must not tell)."""
    fields = Fields()
    email = fields(clean_email, email)
    fields(check_password, password)
    display_name = fields(clean_text, display_name, "display_name", max_len=120, required=True)
    handle = fields(pick_handle, session, handle, email or "")
    fields.done()
    return cast(tuple[str, str, str], (email, display_name, handle))  # each as its check returned it


def create_member(
    session: Session,
    settings: Settings,
    *,
    email: str,
    password_hash: str,
    display_name: str,
    handle: str,
    language: str,
    now: datetime,
) -> Member:
    """The member and their account, from checked values; active at once unless the node requires approval."""
    member = Member(
        email=email,
        handle=handle,
        pseudonym=_new_pseudonym(session),
        password_hash=password_hash,
        display_name=display_name,
        country=settings.country[:2],
        language=language if i18n.is_language(language) else "",
        created_at=now,
        status=MEMBER.initial,
    )
    session.add(member)
    session.flush()
    ledger.open_account(
        session,
        kind="member",
        ref=f"member:{member.id}",
        member_id=member.id,
        now=now,
        min_balance=settings.min_balance,
        max_balance=settings.max_balance or None,
    )
    if not settings.require_approval:
        _activate(session, settings, member, actor=None, reason=APPROVAL_NOT_REQUIRED, now=now)
    return member


def clean_email(value: object) -> str:
    email = clean_text(value, "email", max_len=254).lower()
    if not EMAIL_RE.match(email):
        raise ValidationError(_("This is not a valid email address."), code="invalid_email", field="email")
    return email


def check_password(value: object) -> str:
    if not isinstance(value, str) or len(value) < 10 or len(value) > 256:
        raise ValidationError(_("Choose a password of 10 to 256 characters."), code="weak_password", field="password")
    return value


def pick_handle(session: Session, handle: object, email: str) -> str:
    if handle not in (None, ""):
        handle = clean_text(handle, "handle", max_len=32).lower()
        if not HANDLE_RE.match(handle):
            raise ValidationError(
                _("A handle has 2 to 32 characters: small letters a to z, digits, and . _ -; it starts with a letter."),
                code="invalid_handle",
                field="handle",
            )
        if session.scalars(select(Member).where(col(Member.handle) == handle)).first():
            raise ConflictError(_("This handle is taken; please choose another."), code="handle_taken", field="handle")
        return handle
    base = re.sub(r"[^a-z0-9._-]", "", email.split("@")[0].lower())[:24] or "member"
    if not base[0].isalpha():
        base = "m" + base
    base = base if len(base) >= 2 else base + "0"
    candidate, n = base, 1
    while session.scalars(select(Member).where(col(Member.handle) == candidate)).first():
        n += 1
        candidate = f"{base}{n}"
    return candidate


def _new_pseudonym(session: Session) -> str:
    while True:
        candidate = "rev-" + secrets.token_hex(5)
        if not session.scalars(select(Member).where(col(Member.pseudonym) == candidate)).first():
            return candidate


def _activate(
    session: Session, settings: Settings, member: Member, *, actor: Member | None, reason: str, now: datetime
) -> None:
    MEMBER.move(member, "active")
    member.approved_at = now
    audit.record(session, actor.id if actor else None, "member_approved", f"member:{member.id}", _why(reason), now)
    _reindex(session, member)
    if settings.welcome_grant > 0:
        assert member.id is not None
        account = ledger.member_account(session, member.id)
        ledger.post(
            session,
            kind="welcome_grant",
            legs=[
                ledger.Leg(ledger.issuance_account(session, now), -settings.welcome_grant),
                ledger.Leg(account, settings.welcome_grant),
            ],
            memo=WELCOME_GRANT,
            now=now,
            ref=f"welcome:{member.id}",
            actor_id=actor.id if actor else None,
        )


def approve(
    session: Session, settings: Settings, *, coordinator: Member, member_id: int, reason: str = "", now: datetime
) -> Member:
    """A coordinator approves a pending (or earlier refused) member; the welcome grant is issued once."""
    require_coordinator(coordinator)
    member = get_member(session, member_id)
    _activate(session, settings, member, actor=coordinator, reason=clean_text(reason, "reason", max_len=500), now=now)
    assert member.id is not None
    notify(session, member_id=member.id, kind="member_approved", params={"grant": settings.welcome_grant}, now=now)
    return member


def _why(reason: str) -> dict:
    """An audit line's detail: the reason, when one was given."""
    return {"reason": reason} if reason else {}


def refuse(session: Session, *, coordinator: Member, member_id: int, reason: object, now: datetime) -> Member:
    """A coordinator refuses a pending member, with a reason."""
    require_coordinator(coordinator)
    member = get_member(session, member_id)
    reason = clean_text(reason, "reason", max_len=500, required=True)
    MEMBER.move(member, "refused")
    audit.record(session, coordinator.id, "member_refused", f"member:{member.id}", _why(reason), now)
    return member


def set_role(session: Session, *, coordinator: Member | None, member_id: int, role: object, now: datetime) -> Member:
    """Make a member a coordinator or back (coordinator None: the CLI, run by the operator)."""
    if coordinator is not None:
        require_coordinator(coordinator)
    if role not in ("member", "coordinator"):
        raise ValidationError(_("A member's role is either member or coordinator."), code="invalid_role", field="role")
    member = get_member(session, member_id)
    member.role = role
    audit.record(session, coordinator.id if coordinator else None, f"role_{role}", f"member:{member.id}", {}, now)
    return member


def coordinators(session: Session) -> list[Member]:
    """The node's active coordinators: who approves new members."""
    return list(
        session.scalars(
            select(Member)
            .where(col(Member.role) == "coordinator", col(Member.status) == "active")
            .order_by(col(Member.display_name))
        ).all()
    )


def refusal_reason(session: Session, member: Member) -> str:
    """Why a coordinator refused the member's account, as they wrote it ('' if nothing was recorded)."""
    detail = session.scalars(
        select(col(AuditEntry.detail))
        .where(col(AuditEntry.subject) == f"member:{member.id}", col(AuditEntry.action) == "member_refused")
        .order_by(col(AuditEntry.id).desc())
    ).first()
    return (detail or {}).get("reason", "")


def get_member(session: Session, member_id: int) -> Member:
    member = session.get(Member, member_id)
    if member is None:
        raise NotFoundError(_("There is no such member."), code="member_not_found")
    return member


@dataclass(frozen=True, slots=True)
class MemberRef:
    """Who pays or is paid on the payment hot path: the columns it reads, without an ORM object."""

    id: int
    handle: str
    role: str
    status: str


# Built once: hot paths. A payment needs only who and whether active, and the member's account: one
# Core query for both, read into plain rows (loading ORM objects would cost three times the query).
_MEMBER_BY_HANDLE = select(Member).where(col(Member.handle) == bindparam("handle"))
_REF_COLUMNS = (col(Member.id), col(Member.handle), col(Member.role), col(Member.status))
_PAYEE_BY_HANDLE = (
    select(*_REF_COLUMNS, *ledger.ACCOUNT_COLUMNS)
    .outerjoin(Account, col(Account.ref) == ledger.member_ref_of(Member.id))
    .where(col(Member.handle) == bindparam("handle"))
)


@overload
def find_by_handle(session: Session, handle: str, *, light: Literal[False] = False) -> Member: ...
@overload
def find_by_handle(session: Session, handle: str, *, light: Literal[True]) -> MemberRef: ...
def find_by_handle(session: Session, handle: str, *, light: bool = False) -> Member | MemberRef:
    """The member with this handle; `light`: a MemberRef, with the account kept for the ledger."""
    params = {"handle": str(handle).lower()}
    member: Member | MemberRef | None
    if light:
        member = _with_account(session, _PAYEE_BY_HANDLE, params)
    else:
        member = session.scalars(_MEMBER_BY_HANDLE, params).first()
    if member is None:
        raise NotFoundError(
            _("Nobody on this node has the handle “%(handle)s”.", handle=handle), code="member_not_found"
        )
    return member


def _with_account(session: Session, stmt, params: dict) -> MemberRef | None:
    """Run a member-and-account query; the account (if any yet) goes to the ledger's per-session cache."""
    session.flush()  # as an ORM query would (cheap when nothing is pending): the Core query sees every change
    row = session.connection().execute(stmt, params).first()
    if row is None:
        return None
    if row[len(_REF_COLUMNS)] is not None:
        ledger.keep_account(session, ledger.AccountRow.of(row))
    return MemberRef(*row[: len(_REF_COLUMNS)])


def require_coordinator(member: Member) -> None:
    if member.role != "coordinator" or member.status != "active":
        raise ForbiddenError(_("Only a coordinator may do this."), code="coordinator_only")


def require_active(member: Member | MemberRef) -> None:
    if member.status != "active":
        message = INACTIVE.get(member.status, N_("Your account is not active."))
        raise ForbiddenError(_(message), code=f"account_{member.status}")


def create_token(session: Session, *, member: Member, name: str, now: datetime) -> str:
    """Issue an API token; only its hash is kept, so it is shown once."""
    token = "sif_" + secrets.token_urlsafe(32)
    assert member.id is not None
    session.add(
        ApiToken(
            member_id=member.id,
            token_hash=hash_token(token),
            name=clean_text(name, "name", 80) or "api",
            created_at=now,
        )
    )
    return token


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# One query per API request (built once): the token's member, if the token is live.
_MEMBER_BY_TOKEN = (
    select(Member)
    .join(ApiToken, col(ApiToken.member_id) == col(Member.id))
    .where(col(ApiToken.token_hash) == bindparam("token_hash"), col(ApiToken.revoked).is_(False))
)


# The light form also loads the member's ledger account (one query instead of two on the payment path).
_PAYER_BY_TOKEN = (
    select(*_REF_COLUMNS, *ledger.ACCOUNT_COLUMNS)
    .join(ApiToken, col(ApiToken.member_id) == col(Member.id))
    .outerjoin(Account, col(Account.ref) == ledger.member_ref_of(Member.id))
    .where(col(ApiToken.token_hash) == bindparam("token_hash"), col(ApiToken.revoked).is_(False))
)


@overload
def member_for_token(
    session: Session, token: str, now: datetime, *, light: Literal[False] = False
) -> Member | None: ...
@overload
def member_for_token(session: Session, token: str, now: datetime, *, light: Literal[True]) -> MemberRef | None: ...
@overload
def member_for_token(session: Session, token: str, now: datetime, *, light: bool) -> Member | MemberRef | None: ...
def member_for_token(session: Session, token: str, now: datetime, *, light: bool = False) -> Member | MemberRef | None:
    """The member behind a live API token; None for an unknown or revoked token or a closed account.

    `light` returns a MemberRef (id, handle, role, status) and keeps the member's account for the
    ledger: for the payment hot path, whose view does not need the whole member.
    """
    member: Member | MemberRef | None
    if light:
        member = _with_account(session, _PAYER_BY_TOKEN, {"token_hash": hash_token(token)})
    else:
        member = session.scalars(_MEMBER_BY_TOKEN, {"token_hash": hash_token(token)}).first()
    if member is None or member.status == "closed":
        return None
    return member


def update_profile(session: Session, settings: Settings, *, member: Member, data: dict, now: datetime) -> Member:
    """Change the member's own profile; unknown fields and tags are refused."""
    if not isinstance(data, dict):
        raise ValidationError(_("Please send the profile as a JSON object."), code="invalid_body")
    refuse_unknown_fields(data, PROFILE_FIELDS)
    fields, changes = Fields(), {}
    for key in ("display_name", "organisation", "bio"):
        if key in data:
            limit = {"display_name": 120, "organisation": 120, "bio": 2000}[key]
            changes[key] = fields(clean_text, data[key], key, max_len=limit, required=key == "display_name")
    if "country" in data:
        changes["country"] = fields(_clean_country, data["country"])
    if "expertise" in data:
        allowed = taxonomy(settings)
        changes["expertise"] = fields(clean_list, data["expertise"], "expertise", allowed=allowed, max_items=12)
    if "languages" in data:
        changes["languages"] = fields(clean_list, data["languages"], "languages", allowed=LANGUAGES, max_items=8)
    if "language" in data:
        changes["language"] = fields(_clean_page_language, data["language"])
    if "time_zone" in data:
        changes["time_zone"] = fields(_clean_time_zone, data["time_zone"])
    for key in ("is_reviewer", "pool_consent", "in_directory", *directory.SHOWABLE.values()):
        if key in data:
            changes[key] = fields(clean_bool, data[key], key)
    if "review_capacity" in data:
        changes["review_capacity"] = fields(_clean_capacity, data["review_capacity"])
    fields.done()
    for key, value in changes.items():
        setattr(member, key, value)
    member.last_active_at = now
    if DIRECTORY_FIELDS & set(changes):
        _reindex(session, member)
    return member


def _clean_country(value: object) -> str:
    """A country code from ISO 3166-1 (the profile offers them by name), or none; anything else is refused."""
    country = clean_text(value, "country", max_len=2).upper()
    if country and not countries.is_country(country):
        raise ValidationError(
            _("Country: please give the two-letter code of the country, such as BE or HU."),
            code="invalid_country",
            field="country",
        )
    return country


def _clean_page_language(value: object) -> str:
    if value != "" and not i18n.is_language(value):
        raise ValidationError(
            _("Please choose one of the languages the pages come in, or none."),
            code="invalid_language",
            field="language",
        )
    return value


def _clean_time_zone(value: object) -> str:
    if value != "" and not i18n.is_time_zone(value):
        raise ValidationError(
            _("Please choose a time zone from the list, such as Europe/Brussels, or the node's."),
            code="invalid_time_zone",
            field="time_zone",
        )
    return value


def _clean_capacity(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 20:
        raise ValidationError(
            _("You can take 0 to 20 reviews at a time."), code="invalid_capacity", field="review_capacity"
        )
    return value


def _reindex(session: Session, member: Member) -> None:
    directory.index_member(session, member)


def close_account(
    session: Session, *, member: Member, now: datetime, remote: advice_listings.RemoteAdvice | None = None
) -> Member:
    """Close an account: the remaining balance returns to issuance, the person is pseudonymized.

    Refused while SIF still wait on the member: open sessions, proposals and reviews here, and (through
    `remote`) advice sessions abroad, which their booker's node pays or refunds later.
    """
    open_bookings = session.execute(
        select(func.count())
        .select_from(AdviceBooking)
        .where(
            (col(AdviceBooking.provider_id) == member.id) | (col(AdviceBooking.receiver_id) == member.id),
            col(AdviceBooking.status).in_(("booked", "claimed", "disputed")),
        )
    ).scalar_one()
    open_proposals = session.execute(
        select(func.count())
        .select_from(Proposal)
        .where(col(Proposal.author_id) == member.id, col(Proposal.status) == "open")
    ).scalar_one()
    open_reviews = session.execute(
        select(func.count())
        .select_from(ReviewInvitation)
        .where(
            col(ReviewInvitation.reviewer_id) == member.id, col(ReviewInvitation.status).in_(("invited", "accepted"))
        )
    ).scalar_one()
    if open_bookings or open_proposals or open_reviews:
        raise ConflictError(
            _("Please finish or withdraw your open advice sessions, proposals and reviews first."),
            code="open_commitments",
        )
    abroad = remote.open_sessions(session, member) if remote is not None else []
    if abroad:
        raise ConflictError(
            _(
                "Please finish or cancel your advice sessions abroad first: %(sessions)s.",
                sessions="; ".join(abroad),
            ),
            code="open_sessions_abroad",
        )
    MEMBER.move(member, "closed")
    assert member.id is not None
    # Closing changes the ORM account; this transaction never read it as the payment path's AccountRow.
    account = cast(Account, ledger.member_account(session, member.id))
    if account.balance != 0:
        ledger.post(
            session,
            kind="account_closed",
            memo=BALANCE_RETIRED,
            legs=[
                ledger.Leg(account, -account.balance),
                ledger.Leg(ledger.issuance_account(session, now), account.balance),
            ],
            now=now,
            ref=f"close:{member.id}",
        )
    account.closed = True
    member.in_directory = False
    member.closed_at = now
    member.email = f"closed-{member.id}@closed.invalid"
    member.display_name = f"Former member {member.pseudonym}"
    member.password_hash = ""
    member.organisation = member.bio = ""
    member.is_reviewer = member.pool_consent = False
    member.session_version += 1
    session.execute(delete(ApiToken).where(col(ApiToken.member_id) == member.id))
    audit.record(session, member.id, "account_closed", f"member:{member.id}", {}, now)
    _reindex(session, member)
    advice_listings.unindex_listings_of(session, member.id)
    messages.forget_blocks_of(session, member.id)
    return member


def create_coordinator(
    session: Session,
    settings: Settings,
    *,
    email: str,
    password: str,
    display_name: str,
    handle: str | None,
    now: datetime,
    hasher: PasswordHasher,
) -> Member:
    """Create an active coordinator, or promote the existing member with this email (operator's CLI)."""
    existing = session.scalars(select(Member).where(col(Member.email) == str(email).strip().lower())).first()
    member = existing or sign_up(
        session,
        settings,
        email=email,
        password=password,
        display_name=display_name,
        handle=handle,
        now=now,
        hasher=hasher,
    )
    if member.status in ("pending", "refused"):
        _activate(session, settings, member, actor=None, reason=CREATED_BY_OPERATOR, now=now)
    member.role = "coordinator"
    audit.record(session, None, "role_coordinator", f"member:{member.id}", _why(CREATED_BY_OPERATOR), now)
    return member
