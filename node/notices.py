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
    about: str = ""  # what this kind is about, for the member's mail settings (a msgid)
    mail: bool = True  # mailed unless the member says otherwise; in-app it is always kept

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
    # members (node/services/members.py)
    "member_approved": Notice(
        N_("Your account on %(node)s is approved"),
        N_(
            "Welcome! A coordinator approved your account (%(base_url)s/dashboard): you can now book advice, ask "
            "for reviews of your plans and pay other members."
        ),
        shown={"grant": AMOUNT},
        extras=(("grant", N_("Your welcome grant of %(grant)s is on your account.")),),
        about=N_("Your account was approved"),
    ),
    # reviews of local proposals (node/services/proposals.py, reviews.py, rounds.py)
    "review_invitation": Notice(
        N_("Review invitation: %(title)s"),
        N_(
            'You are invited to review "%(title)s" for %(bounty)s. Please accept or decline before %(accept_by)s: '
            "%(base_url)s/reviews"
        ),
        shown={"bounty": AMOUNT, "accept_by": TIME},
        about=N_("Invitations to review a proposal"),
    ),
    "invitation_cancelled": Notice(
        N_("Proposal withdrawn: %(title)s"),
        N_('The author withdrew "%(title)s"; your invitation is cancelled.'),
        about=N_("A proposal you were invited to review was withdrawn"),
    ),
    "invitation_expired": Notice(
        N_("A review invitation expired"),
        N_("You did not answer a review invitation in time; it went to someone else."),
        about=N_("An invitation you did not answer in time expired"),
    ),
    "review_timed_out": Notice(
        N_("A review you accepted timed out"),
        N_("The review was not submitted by its due date; it was offered to someone else."),
        about=N_("A review you accepted was not submitted in time"),
    ),
    "review_reminder": Notice(
        N_('Reminder: your review of "%(title)s"'),
        N_("Your review is due by %(due_by)s: %(base_url)s/reviews"),
        shown={"due_by": TIME},
        about=N_("Reminders of reviews that are due"),
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
        about=N_("A reviewer of your proposal declined or dropped out"),
    ),
    "review_received": Notice(
        N_("Review received: %(title)s"),
        N_('A review of "%(title)s" has arrived: %(base_url)s/proposals/%(proposal_id)s'),
        about=N_("A review of your proposal arrived"),
    ),
    "review_payment": Notice(
        N_("Paid %(bounty)s for your review"),
        N_('Thank you for reviewing "%(title)s": %(bounty)s are on your account.'),
        shown={"bounty": AMOUNT},
        about=N_("You were paid for a review"),
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
        about=N_("Reviewers were invited for your proposal in a review round"),
        mail=False,
    ),
    # advice sessions (node/services/advice.py)
    "advice_proposed": Notice(
        N_("%(helper)s offers to help: %(title)s"),
        N_(
            '%(helper)s proposes %(hours)s h for %(amount)s on your request "%(title)s". Accept it on your '
            "sessions page; nothing is paid until you do."
        ),
        shown={"amount": AMOUNT},
        about=N_("Someone offers to help with your request for advice"),
    ),
    "advice_booked": Notice(
        N_("Session booked by %(receiver)s"),
        N_(
            "%(receiver)s booked %(hours)s h (%(amount)s, held in escrow). Claim the session on your sessions "
            "page once it took place."
        ),
        shown={"amount": AMOUNT, "scheduled_for": TIME},
        extras=(
            ("scheduled_for", N_("It is planned for %(scheduled_for)s.")),
            ("ask", N_("First accept the booking on that page, or decline it with a reason (the SIF go back).")),
        ),
        about=N_("Someone booked an advice session with you"),
    ),
    "advice_claimed": Notice(
        N_("Confirm your advice session with %(provider)s"),
        N_(
            "%(provider)s says your session of %(hours)s h took place. Confirm it, or dispute it before "
            "%(dispute_by)s; after that the %(amount)s are paid automatically."
        ),
        shown={"amount": AMOUNT, "dispute_by": TIME},
        about=N_("Confirm an advice session that took place"),
    ),
    "advice_disputed": Notice(
        N_("Advice session %(booking_id)s disputed"),
        N_("Session %(booking_id)s (%(amount)s) is disputed by the receiver: %(reason)s"),
        shown={"amount": AMOUNT},
        about=N_("An advice session is disputed"),
    ),
    "advice_cancelled": Notice(
        N_("Advice session %(booking_id)s cancelled"),
        N_("%(by)s cancelled the session. %(reason)s"),
        about=N_("An advice session was cancelled"),
    ),
    "advice_accepted": Notice(
        N_("%(provider)s accepted your advice session"),
        N_("%(provider)s accepted session %(booking_id)s. Your SIF stay in escrow until the session has taken place."),
        shown={"scheduled_for": TIME},
        extras=(("scheduled_for", N_("It is planned for %(scheduled_for)s.")),),
        about=N_("An adviser accepted your booking"),
    ),
    "advice_declined": Notice(
        N_("Advice session %(booking_id)s declined"),
        N_("%(by)s declined the session; any SIF held for it are back in your account. Their reason: %(reason)s"),
        about=N_("An advice session was declined"),
    ),
    "advice_confirmed": Notice(
        N_("Advice session %(booking_id)s confirmed"),
        _SETTLED,
        shown={"share": AMOUNT, "refunded": AMOUNT},
        terms={"note": _SETTLEMENT_NOTES},
        about=N_("An advice session was confirmed and paid"),
    ),
    "advice_paid": Notice(
        N_("Advice session %(booking_id)s paid"),
        _SETTLED,
        shown={"share": AMOUNT, "refunded": AMOUNT},
        terms={"note": _SETTLEMENT_NOTES},
        about=N_("An advice session was paid after the dispute period"),
    ),
    "advice_refunded": Notice(
        N_("Advice session %(booking_id)s refunded"),
        _SETTLED,
        shown={"share": AMOUNT, "refunded": AMOUNT},
        terms={"note": _SETTLEMENT_NOTES},
        about=N_("A disputed advice session was refunded"),
    ),
    "advice_split": Notice(
        N_("Advice session %(booking_id)s split"),
        _SETTLED,
        shown={"share": AMOUNT, "refunded": AMOUNT},
        terms={"note": _SETTLEMENT_NOTES},
        about=N_("A disputed advice session was split"),
    ),
    # funding leads (node/services/topics.py)
    "funding_deadline": Notice(
        N_("Deadline soon: %(title)s"),
        N_(
            'Applications for "%(title)s" close on %(deadline)s; you follow one of its topics. Details: %(url)s '
            "(on this node: %(base_url)s/funding/leads/%(lead_id)s)."
        ),
        shown={"deadline": TIME, "country": COUNTRY},
        extras=(("country", N_("It was shared by the network in %(country)s.")),),
        about=N_("A funding deadline is near for a topic you follow"),
    ),
    # messages between members (node/services/messages.py)
    "message_received": Notice(
        N_("%(sender)s sent you a message"),
        N_(
            "%(sender)s (%(sender_handle)s) wrote to you on %(node)s. Read and answer it here: "
            "%(base_url)s/messages/%(thread_id)s. Until you have read it, further messages in this conversation "
            "are not mailed."
        ),
        about=N_("A member sent you a message"),
    ),
    "message_reported": Notice(
        N_("Messages reported as abuse"),
        N_(
            "%(reporter)s reported messages from %(reported)s as abuse: %(reason)s. Read them and mark the report "
            "handled on the coordinator page: %(base_url)s/coordinator/#message-reports"
        ),
        about=N_("A member reported messages as abuse (coordinators)"),
    ),
    # between nodes (federation/: payments/transfers.py, reviews/reviewer_side.py, advice/adviser_side.py,
    # initiatives/records.py)
    "payment": Notice(
        N_("You received %(amount)s from %(payer)s"),
        N_("%(payer)s paid you %(amount)s. Memo: %(memo)s"),
        shown={"amount": AMOUNT},
        about=N_("You received a payment"),
    ),
    "payment_bounced": Notice(
        N_("Your payment to %(payee)s was returned"),
        N_("%(peer)s returned %(amount)s: %(reason_code)s"),
        shown={"amount": AMOUNT},
        # The same words as the federation pages (federation/labels.py BOUNCE_REASON): one catalog entry each.
        terms={
            "reason_code": {
                "unknown_payee": N_("The payee is not a member who can be paid there."),
                "peer_suspended": N_("That node has suspended payments with this node."),
                "trust_limit_exceeded": N_(
                    "The payment would take this node beyond the trust limit that node set for it."
                ),
                "payee_cap_exceeded": N_("The payment would take the payee's balance above its cap."),
                "transfer_id_reused": N_("That node already had a different payment under the same reference."),
            }
        },
        about=N_("A payment of yours to another node was returned"),
    ),
    "advice_booked_abroad": Notice(
        N_("Session booked from %(country)s by %(receiver)s"),
        N_(
            '%(receiver)s, a member of the network in %(country)s, booked %(hours)s h of "%(title)s" (%(amount)s, '
            "held in escrow at their node). Accept the booking on your sessions page (%(base_url)s/advice/sessions) "
            "or decline it with a reason; once you accept, they learn your name."
        ),
        shown={"amount": AMOUNT, "scheduled_for": TIME, "country": COUNTRY},
        extras=(("scheduled_for", N_("It is planned for %(scheduled_for)s.")),),
        about=N_("A member of another country booked an advice session with you"),
    ),
    "review_invitation_abroad": Notice(
        N_("Review invitation from %(peer)s: %(title)s"),
        N_(
            '%(peer)s (%(country)s) invites you to review "%(title)s" for %(bounty)s. Please accept or decline '
            "before %(accept_by)s: %(base_url)s/reviews"
        ),
        shown={"country": COUNTRY, "bounty": AMOUNT, "accept_by": TIME},
        about=N_("Invitations to review a proposal from another country"),
    ),
    "invitation_ended_abroad": Notice(
        N_("Review invitation ended: %(title)s"),
        N_('%(peer)s ended your invitation to review "%(title)s": %(reason_code)s.'),
        # As federation/labels.py INVITATION_END words them.
        terms={
            "reason_code": {
                "expired": N_("it was not accepted in time"),
                "timed_out": N_("the review did not arrive in time"),
                "proposal_withdrawn": N_("the proposal was withdrawn"),
                "review_refused": N_("the proposer's node could not accept the review"),
            }
        },
        about=N_("An invitation from another country ended"),
    ),
    "proposal_shared": Notice(
        N_("Full text available: %(title)s"),
        N_('The full text of "%(title)s" is on your Reviews page: %(base_url)s/reviews'),
        about=N_("The full text of a proposal you accepted to review is there"),
    ),
    "advice_feedback": Notice(
        N_('Feedback on your advice session "%(title)s"'),
        N_("%(by)s rated the session %(rating)s/5. It is on your sessions page: %(base_url)s/advice/sessions"),
        extras=(("comment", N_("Their comment: %(comment)s")),),
        about=N_("Feedback on an advice session you took part in"),
        mail=False,
    ),
    "review_rated": Notice(
        N_('Your review of "%(title)s" was rated'),
        N_("The author rated your review %(helpfulness)s/5 for helpfulness."),
        about=N_("The author rated your review"),
        mail=False,
    ),
    "initiative_contact": Notice(
        N_("Message for %(initiative)s"),
        N_("%(sender)s <%(email)s> wrote about %(initiative)s (via the network directory):\n\n%(message)s"),
        about=N_("Messages about an initiative you are the contact of"),
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


def subject(kind: str, params: Mapping[str, Any], *, language: str, settings) -> str:
    """Only the subject of a kind, from the parameters it names (a live update's one line)."""
    notice = NOTICES[kind]
    catalog = translations(language)
    values = {"base_url": settings.base_url, "node": settings.node_name, "unit": settings.unit}
    zone = ZoneInfo("UTC")  # a subject names no time
    for name in _PLACEHOLDER.findall(notice.subject):
        if name in params:
            values[name] = _show(notice, name, params[name], catalog, language, zone, settings.unit)
    return _fill(catalog, notice.subject, values)


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
