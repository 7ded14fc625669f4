"""Words for what the node stores as codes, and for the English texts it writes into the database, in the reader's
language.

States, kinds, roles and tags are stored as codes (`booked`, `review_escrow`, `circular-economy`); pages
show them through `label(code, group)` (the template filter `|label('booking_status')`), which gives
the code's word in the reader's language, or the code itself (underscores and hyphens as spaces) when
the group has no word for it. Memos, a round's progress and a session's resolution are written in
English when they happen (`english(MSGID, name=value)`) and shown with `written(text)` (the filter
`|written`): a text that one of WRITTEN's msgids produced is shown again in the reader's language,
anything else (a member's own memo) as it is. Register both filters with `init_app(app)`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from flask import Flask, current_app, has_app_context
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from . import formats
from .i18n import current_language
from .services import review_round


def N_(message: str) -> str:
    """Mark an English text the node stores for extraction; written() translates it when shown."""
    return message


LABELS: dict[str, Mapping[object, object]] = {
    "member_status": {
        "pending": _l("waiting for approval"),
        "active": _l("active"),
        "refused": _l("refused"),
        "closed": _l("closed"),
    },
    "role": {"member": _l("member"), "coordinator": _l("coordinator")},
    "account_kind": {
        "member": _l("members"),
        "issuance": _l("issuance"),
        "escrow": _l("escrow"),
        "position": _l("positions with peer nodes"),
    },
    "transaction_kind": {
        "welcome_grant": _l("Welcome grant"),
        "transfer": _l("Payment"),
        "account_closed": _l("Account closed"),
        "review_escrow": _l("Review bounties held"),
        "review_bounty": _l("Review bounty"),
        "review_bounty_abroad": _l("Review bounty abroad"),
        "review_refund": _l("Bounty refund"),
        "advice_hold": _l("Advice session held"),
        "advice_pay": _l("Advice session paid"),
        "advice_refund": _l("Advice refund"),
        "advice_split": _l("Advice session settled"),
        "advice_abroad_hold": _l("Advice session abroad held"),
        "advice_abroad_pay": _l("Advice session abroad paid"),
        "advice_abroad_refund": _l("Advice abroad refund"),
        "advice_abroad_split": _l("Advice session abroad settled"),
        "cross_border_out": _l("Payment abroad"),
        "cross_border_in": _l("Payment from abroad"),
        "cross_border_bounce": _l("Payment returned"),
        "settlement": _l("Settlement"),
    },
    # The state of a statement line (node/services/statement.py): it follows the session or the payment abroad.
    "statement_status": {
        "completed": _l("completed"),
        "held": _l("held in escrow"),
        "paid": _l("paid"),
        "refunded": _l("refunded"),
        "split": _l("split"),
        "pending": _l("pending"),
        "returned": _l("returned"),
    },
    # The audit log's actions (node/services/audit.py), by the code each service records.
    "audit_action": {
        "member_approved": _l("member approved"),
        "member_refused": _l("member refused"),
        "account_closed": _l("account closed"),
        "role_coordinator": _l("made coordinator"),
        "role_member": _l("made member"),
        "advice_dispute_resolved": _l("advice dispute settled"),
        "peer_added": _l("peer added"),
        "peer_confirmed": _l("peer confirmed, key pinned"),
        "trust_limit_changed": _l("trust limit changed"),
        "peer_suspended": _l("peer suspended"),
        "peer_resumed": _l("peer resumed"),
        "key_rotated": _l("signing key rotated"),
        "directory_pinned": _l("directory key pinned"),
        "clearing_started": _l("clearing round started"),
        "clearing_settled": _l("clearing round settled"),
        "clearing_empty": _l("clearing round found nothing to clear"),
        "clearing_abandoned": _l("clearing round abandoned"),
        "clearing_undelivered": _l("clearing round not delivered everywhere"),
        "clearing_applied": _l("clearing certificate applied"),
        "federation_dispute_resolved": _l("dispute with a peer resolved"),
        "message_report_handled": _l("abuse report handled"),
    },
    "flag": {
        "at_lower_limit": _l("at the lowest allowed balance"),
        "at_cap": _l("at the balance cap"),
        "inactive": _l("inactive"),
    },
    "advice_kind": {"offer": _l("offer"), "request": _l("request")},
    "advice_kinds": {"offer": _l("offers"), "request": _l("requests")},
    "listing_status": {"open": _l("open"), "closed": _l("closed")},
    "funding_lead_status": {"open": _l("open"), "withdrawn": _l("withdrawn")},
    "report_status": {"open": _l("open"), "handled": _l("handled")},
    "booking_status": {
        "proposed": _l("proposed"),
        "booked": _l("booked"),
        "accepted": _l("accepted"),
        "claimed": _l("claimed"),
        "confirmed": _l("confirmed"),
        "disputed": _l("disputed"),
        "paid": _l("paid"),
        "refunded": _l("refunded"),
        "cancelled": _l("cancelled"),
        "declined": _l("declined"),
        "split": _l("split"),
    },
    "advice_action": {
        "accept": _l("Accept and pay into escrow"),
        "decline": _l("Decline"),
        "confirm": _l("Confirm: the session took place"),
        "claim": _l("Claim: the session took place"),
        "dispute": _l("Dispute"),
        "cancel": _l("Cancel"),
    },
    "advice_outcome": {
        "pay_provider": _l("the provider is paid"),
        "refund_receiver": _l("the receiver is refunded"),
        "split": _l("split between both"),
    },
    "proposal_status": {
        "open": _l("open"),
        "completed": _l("completed"),
        "withdrawn": _l("withdrawn"),
        "closed": _l("closed"),
    },
    "invitation_status": {
        "invited": _l("invited"),
        "accepted": _l("accepted"),
        "submitted": _l("submitted"),
        "declined": _l("declined"),
        "expired": _l("expired"),
        "timed_out": _l("timed out"),
        "cancelled": _l("cancelled"),
    },
    "round_status": {
        "open": _l("open"),
        "solving": _l("solving"),
        "solved": _l("solved"),
        "failed": _l("failed"),
        "cancelled": _l("cancelled"),
    },
    "stage": {
        "idea": _l("idea"),
        "plan": _l("plan"),
        "pilot": _l("pilot"),
        "running": _l("running"),
        "scaling": _l("scaling"),
    },
    "tenet": {
        "shared_value": _l("shared value"),
        "social_transformation": _l("social transformation"),
        "impact": _l("impact"),
        "confidence": _l("confidence"),
    },
    "bid_level": {-1: _l("not interested"), 0: _l("neutral"), 1: _l("interested"), 2: _l("eager")},
    "conflict_source": {"member": _l("the member"), "coordinator": _l("a coordinator")},
    "skip_reason": {
        "proposal_no_longer_open": _l("the proposal no longer waits for reviewers"),
        "already_invited": _l("the reviewer was already invited"),
        "reviewer_at_capacity": _l("the reviewer has no capacity left"),
    },
    # The default expertise taxonomy (node.services.members.DEFAULT_TAXONOMY); a node's own tags show as written.
    "tag": {
        "circular-economy": _l("circular economy"),
        "social-inclusion": _l("social inclusion"),
        "education": _l("education"),
        "health-and-care": _l("health and care"),
        "housing": _l("housing"),
        "mobility": _l("mobility"),
        "food": _l("food"),
        "culture": _l("culture"),
        "digital-inclusion": _l("digital inclusion"),
        "funding-and-finance": _l("funding and finance"),
        "legal-structures": _l("legal structures"),
        "impact-measurement": _l("impact measurement"),
        "marketing": _l("marketing"),
        "governance": _l("governance"),
        "energy": _l("energy"),
        "employment": _l("employment"),
        "community-building": _l("community building"),
    },
    # Input fields as their forms name them: a refusal of node.services.validate starts with the field's label.
    "field": {
        "email": _l("Email"),
        "password": _l("Password"),
        "display_name": _l("Name"),
        "handle": _l("Handle"),
        "organisation": _l("Organisation"),
        "country": _l("Country"),
        "bio": _l("Short bio"),
        "expertise": _l("Expertise"),
        "languages": _l("Languages"),
        "reason": _l("Reason"),
        "name": _l("Name"),
        "to": _l("To"),
        "memo": _l("Memo"),
        "amount": _l("Amount"),
        "title": _l("Title"),
        "description": _l("Description"),
        "summary": _l("Summary"),
        "full_text": _l("Full text"),
        "tags": _l("Tags"),
        "language": _l("Language"),
        "stage": _l("Stage"),
        "kind": _l("Kind"),
        "reviews_wanted": _l("Reviews wanted"),
        "bounty": _l("Bounty per review"),
        "min_foreign_reviewers": _l("Reviewers from another country"),
        "rate": _l("Rate"),
        "hours": _l("Hours"),
        "scheduled_for": _l("When"),
        "note": _l("Note"),
        "outcome": _l("Outcome"),
        "provider_amount": _l("Amount for the provider"),
        "feedback": _l("Written feedback"),
        "shared_value": _l("Shared value"),
        "social_transformation": _l("Social transformation"),
        "impact": _l("Impact"),
        "confidence": _l("Confidence"),
        "helpfulness": _l("Helpfulness"),
        "other_handle": _l("Member handle"),
        "member_handle": _l("Member handle"),
        "remote_reviewer": _l("Reviewer abroad"),
        "deadline": _l("Deadline"),
        "reviews_per_proposal": _l("Reviews per proposal"),
        "min_load": _l("Minimum reviews per reviewer"),
        "max_load": _l("Maximum reviews per reviewer"),
        "proposal_id": _l("Proposal"),
        "decision": _l("Decision"),
        "time_zone": _l("Time zone"),
        "review_capacity": _l("Reviews at a time"),
        "is_reviewer": _l("I want to review proposals"),
        "pool_consent": _l("Shared reviewer pool"),
        "network_wide": _l("Share with other countries"),
        "url": _l("Link"),
        "countries": _l("Countries"),
        "topics": _l("Topics"),
        "deadline_time": _l("Time of day"),
        "in_directory": _l("List me in the member directory"),
        "show_organisation": _l("Show my organisation"),
        "show_bio": _l("Show my bio"),
        "show_expertise": _l("Show my expertise"),
        "show_languages": _l("Show my languages"),
        "show_country": _l("Show my country"),
        "body": _l("Message"),
        "q": _l("Search"),
        "cursor": _l("Page"),
        "limit": _l("Results per page"),
        "message_id": _l("Message"),
        "status": _l("Status"),
        "rating": _l("Rating"),
        "comment": _l("Comment"),
    },
}


def label(code: object, group: str) -> str:
    """The word for a stored code in the reader's language; an unknown code as written, without _ and -."""
    found = LABELS[group].get(code)
    if found is not None:
        return str(found)
    return str(code).replace("_", " ").replace("-", " ") if isinstance(code, str) else str(code)


def field_label(field: str | None) -> str | None:
    """A form field's label in the reader's language, None for a field without one."""
    found = LABELS["field"].get(field)
    return None if found is None else str(found)


# --- English texts the node writes into the database ---------------------------------------------------------

WELCOME_GRANT = N_("Welcome grant")
BALANCE_RETIRED = N_("Balance retired on closing")
APPROVAL_NOT_REQUIRED = N_("approval not required")
CREATED_BY_OPERATOR = N_("created by the node operator")
ESCROW_FOR_REVIEWS = N_("Escrow for %(reviews)s reviews")
UNUSED_ESCROW_REFUND = N_("Refund of unused escrow for proposal %(proposal_id)s")
REVIEW_OF_PROPOSAL = N_("Review of proposal %(proposal_id)s")
ADVICE_HELD = N_("Advice session %(booking_id)s held in escrow")
ADVICE_PAID = N_("Advice session %(booking_id)s: pay")
ADVICE_REFUNDED = N_("Advice session %(booking_id)s: refund")
ADVICE_SPLIT = N_("Advice session %(booking_id)s: split")
CONFIRMED_BY_RECEIVER = N_("confirmed by the receiver")
PAID_AFTER_DISPUTE_PERIOD = N_("paid after the dispute period")
CANCELLED_BY = N_("cancelled by %(handle)s")
CANCELLED_BY_WITH_REASON = N_("cancelled by %(handle)s: %(reason)s")
DECLINED_BY = N_("declined by %(handle)s: %(reason)s")
ROUND_WAITING = N_("waiting for the solver to start")
ROUND_CANCELLED = N_("cancelled; its proposals are matched one by one")
ROUND_COLLECTING = N_("collecting proposals and reviewers (local and peers' pools)")
ROUND_SENDING = N_("sending %(invitations)s invitations")
ROUND_DONE = N_("done: %(assigned)s reviewers assigned")
ROUND_FAILED = N_("the solve failed: %(error)s")
ROUND_STOPPED = N_("the solve stopped before it finished (was the node restarted?); solve it again")

WRITTEN = (
    WELCOME_GRANT,
    BALANCE_RETIRED,
    APPROVAL_NOT_REQUIRED,
    CREATED_BY_OPERATOR,
    ESCROW_FOR_REVIEWS,
    UNUSED_ESCROW_REFUND,
    REVIEW_OF_PROPOSAL,
    ADVICE_HELD,
    ADVICE_PAID,
    ADVICE_REFUNDED,
    ADVICE_SPLIT,
    CONFIRMED_BY_RECEIVER,
    PAID_AFTER_DISPUTE_PERIOD,
    CANCELLED_BY,
    CANCELLED_BY_WITH_REASON,
    DECLINED_BY,
    ROUND_WAITING,
    ROUND_CANCELLED,
    ROUND_COLLECTING,
    ROUND_SENDING,
    ROUND_DONE,
    ROUND_FAILED,
    ROUND_STOPPED,
    *review_round.WRITTEN,
)
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def english(msgid: str, **params: object) -> str:
    """A text of WRITTEN as it is stored: in English, with its values filled in."""
    return msgid % params if params else msgid


@functools.cache
def _patterns() -> list[tuple[re.Pattern, str]]:
    """Each msgid of WRITTEN as a pattern of its English text; those with more fixed words are tried first."""
    out = []
    for msgid in WRITTEN:
        parts = _PLACEHOLDER.split(msgid)  # fixed text, name, fixed text, name, ...
        regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.*?)" for i, p in enumerate(parts))
        out.append((re.compile(regex, re.DOTALL), msgid, len("".join(parts[::2]))))
    return [(pattern, msgid) for pattern, msgid, _ in sorted(out, key=lambda t: -t[2])]


def parse_written(text: str) -> tuple[str, dict[str, str]] | None:
    """The msgid of WRITTEN that produced a stored text, with the values filled into it; None for any other text."""
    for pattern, msgid in _patterns():
        match = pattern.fullmatch(text)
        if match:
            return msgid, match.groupdict()
    return None


def written(text: str | None) -> str:
    """A text the node stored in English, in the reader's language (any other text as it is)."""
    found = parse_written(text) if text else None
    if found is None:
        return text or ""
    msgid, params = found
    return gettext(msgid, **params) if params else gettext(msgid)


# --- numbers inside messages ---------------------------------------------------------------------------------


def number(value: int) -> str:
    """A number as the reader's language writes it (plain digits outside an app)."""
    if not has_app_context() or "sifnet_i18n" not in current_app.extensions:
        return str(value)
    return formats.format_number(value, current_language())


def unit() -> str:
    """The app's unit of account ("SIF")."""
    if has_app_context() and "sifnet_i18n" in current_app.extensions:
        return current_app.extensions["sifnet_i18n"].unit
    return "SIF"


def amount(value: int) -> str:
    """An amount with the node's unit, as the reader's language writes it ("1.234 SIF" in nl)."""
    if not has_app_context() or "sifnet_i18n" not in current_app.extensions:
        return f"{value}{formats.NBSP}{unit()}"
    return formats.format_amount(value, current_language(), unit())


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(label=label, written=written)
