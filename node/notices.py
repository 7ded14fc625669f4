"""Every notification's text, by kind: rendered in the reader's language and time zone when shown or mailed.

A notification is stored as its kind and parameters (node.services.notify); its subject and body
are written here once, as msgids with %(name)s placeholders, marked with N_ so `make
translations` extracts them. `shown` says how a parameter is displayed (a time in the reader's
zone, an amount with the unit, a country's name); `terms` turns a code into a translated phrase;
`extras` are sentences added only when their parameter is set. Numbers are written as
"label: %(n)s" rather than with plurals. Every text may also use %(base_url)s, %(node)s and
%(unit)s (the node's settings). Adding a kind: docs in node/translations/README.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from . import formats
from .clock import iso
from .i18n import translations

TIME, AMOUNT, COUNTRY = "time", "amount", "country"
AUTOMATIC = frozenset({"base_url", "node", "unit"})  # filled from the settings when rendered
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def N_(message: str) -> str:
    """Mark a msgid for extraction; it is translated when the notification is rendered."""
    return message


@dataclass(frozen=True)
class Notice:
    """One kind's subject and body (msgids), and how its parameters are shown."""

    subject: str
    body: str
    shown: Mapping[str, str] = field(default_factory=dict)  # param -> TIME | AMOUNT | COUNTRY
    terms: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # param -> {code: msgid}
    extras: tuple[tuple[str, str], ...] = ()  # (param, msgid): a sentence added when the param is set

    @property
    def required(self) -> frozenset[str]:
        """The parameters a caller must give."""
        return frozenset(_PLACEHOLDER.findall(self.subject + self.body)) - AUTOMATIC


_SETTLED = N_(
    "Advice session %(booking_id)s is settled: %(share)s to the provider, %(refunded)s back to the receiver. %(note)s"
)
_SETTLEMENT_NOTES = {
    "confirmed by the receiver": N_("The receiver confirmed it."),
    "paid after the dispute period": N_("Nobody disputed it in time."),
}

NOTICES: dict[str, Notice] = {
    # reviews of local proposals (node/services/proposals.py, reviews.py, rounds.py)
    "review_invitation": Notice(
        N_("Review invitation: %(title)s"),
        N_(
            'You are invited to review "%(title)s" for %(bounty)s. Please accept or decline before %(accept_by)s: '
            "%(base_url)s/reviews"
        ),
        shown={"bounty": AMOUNT, "accept_by": TIME},
    ),
    "invitation_cancelled": Notice(
        N_("Proposal withdrawn: %(title)s"), N_('The author withdrew "%(title)s"; your invitation is cancelled.')
    ),
    "invitation_expired": Notice(
        N_("A review invitation expired"),
        N_("You did not answer a review invitation in time; it went to someone else."),
    ),
    "review_timed_out": Notice(
        N_("A review you accepted timed out"),
        N_("The review was not submitted by its due date; it was offered to someone else."),
    ),
    "review_reminder": Notice(
        N_('Reminder: your review of "%(title)s"'),
        N_("Your review is due by %(due_by)s: %(base_url)s/reviews"),
        shown={"due_by": TIME},
    ),
    "reviewer_replaced": Notice(
        N_('Review invitation for "%(title)s": %(what)s'),
        N_('A review invitation for "%(title)s" ended (%(what)s). %(outcome)s'),
        terms={
            "what": {"declined": N_("declined"), "expired": N_("expired"), "timed out": N_("timed out")},
            "outcome": {
                "reinvited": N_("Another reviewer has been invited in their place."),
                "waiting": N_("No other reviewer is available right now; your proposal is waiting for reviewers."),
            },
        },
    ),
    "review_received": Notice(
        N_("Review received: %(title)s"),
        N_('A review of "%(title)s" has arrived: %(base_url)s/proposals/%(proposal_id)s'),
    ),
    "review_payment": Notice(
        N_("Paid %(bounty)s for your review"),
        N_('Thank you for reviewing "%(title)s": %(bounty)s are on your account.'),
        shown={"bounty": AMOUNT},
    ),
    "round_solved": Notice(
        N_('Review round "%(round)s": reviewers invited'),
        N_('Reviewers invited for "%(title)s": %(invited)s. %(base_url)s/proposals/%(proposal_id)s'),
        extras=(
            (
                "missing",
                N_("Reviews still missing: %(missing)s; new reviewers will be invited as they become available."),
            ),
        ),
    ),
    # advice sessions (node/services/advice.py)
    "advice_proposed": Notice(
        N_("%(helper)s offers to help: %(title)s"),
        N_(
            '%(helper)s proposes %(hours)s h for %(amount)s on your request "%(title)s". Accept it on your '
            "sessions page; nothing is paid until you do."
        ),
        shown={"amount": AMOUNT},
    ),
    "advice_booked": Notice(
        N_("Session booked by %(receiver)s"),
        N_(
            "%(receiver)s booked %(hours)s h (%(amount)s, held in escrow). Claim the session on your sessions "
            "page once it took place."
        ),
        shown={"amount": AMOUNT, "scheduled_for": TIME},
        extras=(("scheduled_for", N_("It is planned for %(scheduled_for)s.")),),
    ),
    "advice_claimed": Notice(
        N_("Confirm your advice session with %(provider)s"),
        N_(
            "%(provider)s says your session of %(hours)s h took place. Confirm it, or dispute it before "
            "%(dispute_by)s; after that the %(amount)s are paid automatically."
        ),
        shown={"amount": AMOUNT, "dispute_by": TIME},
    ),
    "advice_disputed": Notice(
        N_("Advice session %(booking_id)s disputed"),
        N_("Session %(booking_id)s (%(amount)s) is disputed by the receiver: %(reason)s"),
        shown={"amount": AMOUNT},
    ),
    "advice_cancelled": Notice(
        N_("Advice session %(booking_id)s cancelled"), N_("%(by)s cancelled the session. %(reason)s")
    ),
    "advice_confirmed": Notice(
        N_("Advice session %(booking_id)s confirmed"),
        _SETTLED,
        shown={"share": AMOUNT, "refunded": AMOUNT},
        terms={"note": _SETTLEMENT_NOTES},
    ),
    "advice_paid": Notice(
        N_("Advice session %(booking_id)s paid"),
        _SETTLED,
        shown={"share": AMOUNT, "refunded": AMOUNT},
        terms={"note": _SETTLEMENT_NOTES},
    ),
    "advice_refunded": Notice(
        N_("Advice session %(booking_id)s refunded"),
        _SETTLED,
        shown={"share": AMOUNT, "refunded": AMOUNT},
        terms={"note": _SETTLEMENT_NOTES},
    ),
    "advice_split": Notice(
        N_("Advice session %(booking_id)s split"),
        _SETTLED,
        shown={"share": AMOUNT, "refunded": AMOUNT},
        terms={"note": _SETTLEMENT_NOTES},
    ),
    # messages between members (node/services/messages.py)
    "message_received": Notice(
        N_("%(sender)s sent you a message"),
        N_(
            "%(sender)s (%(sender_handle)s) wrote to you on %(node)s. Read and answer it here: "
            "%(base_url)s/messages/%(thread_id)s. Until you have read it, further messages in this conversation "
            "are not mailed."
        ),
    ),
    "message_reported": Notice(
        N_("Messages reported as abuse"),
        N_(
            "%(reporter)s reported messages from %(reported)s as abuse: %(reason)s. Read them and mark the report "
            "handled on the coordinator page: %(base_url)s/coordinator/#message-reports"
        ),
    ),
    # between nodes (federation/transfers.py, incoming_reviews.py, initiatives.py)
    "payment": Notice(
        N_("You received %(amount)s from %(payer)s"),
        N_("%(payer)s paid you %(amount)s. Memo: %(memo)s"),
        shown={"amount": AMOUNT},
    ),
    "payment_bounced": Notice(
        N_("Your payment to %(payee)s was returned"),
        N_("%(peer)s returned %(amount)s: %(reason)s [%(reason_code)s]"),
        shown={"amount": AMOUNT},
    ),
    "review_invitation_abroad": Notice(
        N_("Review invitation from %(peer)s: %(title)s"),
        N_(
            '%(peer)s (%(country)s) invites you to review "%(title)s" for %(bounty)s. Please accept or decline '
            "before %(accept_by)s: %(base_url)s/reviews"
        ),
        shown={"country": COUNTRY, "bounty": AMOUNT, "accept_by": TIME},
    ),
    "invitation_ended_abroad": Notice(
        N_("Review invitation ended: %(title)s"),
        N_('%(peer)s ended your invitation to review "%(title)s" (%(reason_code)s).'),
    ),
    "proposal_shared": Notice(
        N_("Full text available: %(title)s"),
        N_('The full text of "%(title)s" is on your Reviews page: %(base_url)s/reviews'),
    ),
    "review_rated": Notice(
        N_('Your review of "%(title)s" was rated'),
        N_("The author rated your review %(helpfulness)s/5 for helpfulness."),
    ),
    "initiative_contact": Notice(
        N_("Message for %(initiative)s"),
        N_("%(sender)s <%(email)s> wrote about %(initiative)s (via the network directory):\n\n%(message)s"),
    ),
}


def stored_params(kind: str, params: Mapping[str, Any]) -> dict:
    """The parameters as stored (times as ISO 8601 UTC); refuses an unknown kind or a missing parameter."""
    notice = NOTICES.get(kind)
    if notice is None:
        raise ValueError(f"no notice for kind {kind!r}: add it to node/notices.py")
    missing = notice.required - set(params)
    if missing:
        raise ValueError(f"notice {kind!r} needs {', '.join(sorted(missing))}")
    return {name: iso(value) if isinstance(value, datetime) else value for name, value in params.items()}


def render(kind: str, params: Mapping[str, Any], *, language: str, time_zone: str, settings) -> tuple[str, str]:
    """Subject and body in the language, times in the zone."""
    notice = NOTICES.get(kind)
    if notice is None:  # a kind this version no longer knows: show what there is
        return kind.replace("_", " "), ", ".join(f"{k}: {v}" for k, v in params.items())
    catalog, zone = translations(language), ZoneInfo(time_zone)
    values = {"base_url": settings.base_url, "node": settings.node_name, "unit": settings.unit}
    for name, value in params.items():
        values[name] = _show(notice, name, value, catalog, language, zone, settings.unit)
    subject = _fill(catalog, notice.subject, values)
    sentences = [_fill(catalog, notice.body, values)]
    sentences += [_fill(catalog, msgid, values) for name, msgid in notice.extras if params.get(name)]
    return subject, " ".join(s.strip() for s in sentences if s.strip())


def text_of(note, *, language: str, time_zone: str, settings) -> tuple[str, str]:
    """A stored notification's subject and body; rows from before params existed as they were written."""
    if note.params is None:
        return note.subject, note.body
    return render(note.kind, note.params, language=language, time_zone=time_zone, settings=settings)


def for_reader(note, settings) -> tuple[str, str]:
    """Subject and body for the request's reader (the recipient): their language and time zone."""
    from .i18n import current_language, current_time_zone

    return text_of(note, language=current_language(), time_zone=current_time_zone(), settings=settings)


def _show(notice: Notice, name: str, value: Any, catalog, language: str, zone: ZoneInfo, unit: str) -> Any:
    kind = notice.shown.get(name)
    if value in (None, ""):
        return ""
    if kind == TIME:
        return formats.format_when(value, language, zone)
    if kind == AMOUNT:
        return formats.format_amount(value, language, unit)
    if kind == COUNTRY:
        return formats.country_name(value, language)
    msgid = notice.terms.get(name, {}).get(value)
    return catalog.gettext(msgid) if msgid else value


class _Lenient(dict):
    """Parameters for the English fallback: one a stored row lacks (a kind changed since) is left blank."""

    def __missing__(self, key: str) -> str:
        return ""


def _fill(catalog, msgid: str, values: Mapping[str, Any]) -> str:
    """The translation with the values put in; a translation with broken placeholders falls back to English."""
    try:
        return catalog.gettext(msgid) % values
    except (KeyError, ValueError, TypeError):
        return msgid % _Lenient(values)
