"""Codes shown to people as words: the states, reasons and kinds of federation and the directory, in one place.

Each mapping holds lazy msgids, translated when shown (the reader's language). The codes stay
what they are in the database, the JSON API and on the wire; only pages show these words. A code
a mapping does not know shows as it is, or as the fallback given (a bounce's English reason).
Templates reach this module as ``fed_labels``: ``{{ fed_labels.PEER_STATUS(p.status) }}``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from flask import Flask
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext


class Labels:
    """Words for the codes of one kind of thing; called with a code, gives the word in the reader's language."""

    def __init__(self, words: Mapping[str, object]) -> None:
        self.words = dict(words)

    def __call__(self, code: object, fallback: object = None) -> str:
        word = self.words.get(code) if isinstance(code, str) else None
        if word is not None:
            return str(word)
        return str(fallback) if fallback else ("" if code is None else str(code))


# --- peers, payments, disputes -------------------------------------------------------------------------------
# Single words get a context (lazy_pgettext): "refused" of a node's health and of an audit line may differ.

PEER_STATUS = Labels(
    {
        "pending": lazy_pgettext("peer status", "waiting for confirmation"),
        "active": lazy_pgettext("peer status", "active"),
        "suspended": lazy_pgettext("peer status", "suspended"),
    }
)
TRANSFER_STATUS = Labels(
    {
        "pending": lazy_pgettext("payment status", "on its way"),
        "completed": lazy_pgettext("payment status", "completed"),
        "bounced": lazy_pgettext("payment status", "returned"),
    }
)
# Why a peer's node returned a payment (transfer_bounce reason_code); the English reason it sent shows otherwise.
BOUNCE_REASON = Labels(
    {
        "unknown_payee": _l("The payee is not a member who can be paid there."),
        "peer_suspended": _l("That node has suspended payments with this node."),
        "trust_limit_exceeded": _l("The payment would take this node beyond the trust limit that node set for it."),
        "payee_cap_exceeded": _l("The payment would take the payee's balance above its cap."),
        "transfer_id_reused": _l("That node already had a different payment under the same reference."),
    }
)
DISPUTE_STATUS = Labels(
    {
        "open": lazy_pgettext("dispute status", "open"),
        "resolved": lazy_pgettext("dispute status", "resolved"),
    }
)
DISPUTE_KIND = Labels(
    {
        "position_mismatch": lazy_pgettext("dispute kind", "the positions differ"),
        "chain_mismatch": lazy_pgettext("dispute kind", "the records of the exchanged entries differ"),
    }
)

# --- cross-border reviews ------------------------------------------------------------------------------------

INVITATION_STATUS = Labels(
    {
        "invited": lazy_pgettext("invitation status", "invited"),
        "accepted": lazy_pgettext("invitation status", "accepted"),
        "declined": lazy_pgettext("invitation status", "declined"),
        "expired": lazy_pgettext("invitation status", "expired"),
        "cancelled": lazy_pgettext("invitation status", "cancelled"),
        "submitted": lazy_pgettext("invitation status", "review sent"),
        "timed_out": lazy_pgettext("invitation status", "timed out"),
    }
)
# Why the proposer's node ended an invitation (review_cancel reason_code).
INVITATION_END = Labels(
    {
        "expired": _l("it was not accepted in time"),
        "timed_out": _l("the review did not arrive in time"),
        "proposal_withdrawn": _l("the proposal was withdrawn"),
        "review_refused": _l("the proposer's node could not accept the review"),
    }
)
STAGE = Labels(
    {
        "idea": lazy_pgettext("initiative stage", "idea"),
        "planning": lazy_pgettext("initiative stage", "planning"),
        "pilot": lazy_pgettext("initiative stage", "pilot"),
        "scaling": lazy_pgettext("initiative stage", "scaling"),
    }
)

# --- clearing rounds -----------------------------------------------------------------------------------------

ROUND_STATE = Labels(
    {
        "collecting": lazy_pgettext("clearing round state", "collecting positions"),
        "computed": lazy_pgettext("clearing round state", "computed, not proposed yet"),
        "proposed": lazy_pgettext("clearing round state", "proposed, waiting for answers"),
        "certified": lazy_pgettext("clearing round state", "certified, being delivered"),
        "settled": lazy_pgettext("clearing round state", "settled"),
        "empty": lazy_pgettext("clearing round state", "nothing to clear"),
        "abandoned": lazy_pgettext("clearing round state", "abandoned"),
        "undelivered": lazy_pgettext("clearing round state", "certificate not delivered everywhere"),
        "applied": _l("applied by its nodes"),  # a round a node ran, known from the nodes' summaries
    }
)
PARTICIPATION = Labels(
    {
        "stated": lazy_pgettext("part in a clearing round", "positions stated"),
        "accepted": lazy_pgettext("part in a clearing round", "accepted"),
        "refused": lazy_pgettext("part in a clearing round", "refused"),
        "applied": lazy_pgettext("part in a clearing round", "applied"),
        "lapsed": lazy_pgettext("part in a clearing round", "lapsed without a certificate"),
    }
)
DELIVERY = Labels(
    {
        "applied": lazy_pgettext("certificate delivery", "applied"),
        "already_applied": lazy_pgettext("certificate delivery", "applied"),
        "failed": lazy_pgettext("certificate delivery", "not delivered"),
    }
)
# Why a pair of nodes was left out of a round (the round's `excluded` kinds).
LEFT_OUT = Labels(
    {
        "missing": _l("only one side stated a position"),
        "in_flight": _l("payments between them were still on their way"),
        "mismatch": _l("their positions do not mirror"),
    }
)
SIGNED = Labels(
    {
        "settlement_certificate": lazy_pgettext("signed message", "Certificate"),
        "settlement_proposal": lazy_pgettext("signed message", "Proposal"),
        "settlement_acceptance": lazy_pgettext("signed message", "Acceptance"),
    }
)
SIGNATURE = Labels(
    {
        "verifies": _l("the signature verifies"),
        "no_key": _l("no key here to check it (not a peer)"),
        "invalid": _l("the signature does not verify"),
    }
)

# --- the directory -------------------------------------------------------------------------------------------

NODE_HEALTH = Labels(
    {
        "new": lazy_pgettext("node health", "not polled yet"),
        "up": lazy_pgettext("node health", "up"),
        "slow": lazy_pgettext("node health", "slow"),
        "unreachable": lazy_pgettext("node health", "unreachable"),
        "refused": lazy_pgettext("node health", "refused"),
        "pending": lazy_pgettext("node health", "pending approval"),
    }
)
LISTING_STATUS = Labels(
    {
        "pending": lazy_pgettext("directory listing", "pending approval"),
        "listed": lazy_pgettext("directory listing", "listed"),
        "delisted": lazy_pgettext("directory listing", "delisted"),
    }
)
AUDIT_ACTION = Labels(
    {
        "add-admin": lazy_pgettext("audit trail action", "account created"),
        "password": lazy_pgettext("audit trail action", "password changed"),
        "login": lazy_pgettext("audit trail action", "logged in"),
        "login-failed": lazy_pgettext("audit trail action", "login failed"),
        "logout": lazy_pgettext("audit trail action", "logged out"),
        "approve": lazy_pgettext("audit trail action", "approved"),
        "refuse": lazy_pgettext("audit trail action", "refused"),
        "delist": lazy_pgettext("audit trail action", "delisted"),
        "clearing-start": _l("clearing round started"),
        "redeliver": _l("certificate delivered again"),
    }
)
REFUSAL_SOURCE = Labels(
    {
        "poll": lazy_pgettext("how a summary came", "polled"),
        "push": lazy_pgettext("how a summary came", "sent by the node"),
    }
)
POOL_NOTE = Labels(
    {
        "missing": lazy_pgettext("reviewer pool", "missing"),
        "one country only": lazy_pgettext("reviewer pool", "one country only"),
    }
)
FIGURE = Labels(
    {
        "members": lazy_pgettext("network figure", "members"),
        "active_30d": lazy_pgettext("network figure", "active (30 days)"),
        "active_180d": lazy_pgettext("network figure", "active (180 days)"),
        "proposals_open": lazy_pgettext("network figure", "proposals open"),
        "proposals_reviewed": lazy_pgettext("network figure", "proposals reviewed"),
        "median_turnaround_days": lazy_pgettext("network figure", "median days to a review"),
        "sif_in_circulation": lazy_pgettext("network figure", "SIF held by members"),
        "software_version": lazy_pgettext("network figure", "software version"),
        "protocol_version": lazy_pgettext("network figure", "protocol version"),
    }
)


def init_app(app: Flask) -> None:
    """Give an app's templates these words as ``fed_labels`` (a node with federation, and the directory)."""
    app.jinja_env.globals["fed_labels"] = sys.modules[__name__]
