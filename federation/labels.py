"""Codes shown to people as words: the states, reasons and kinds of federation and the directory, in one place.

Each mapping holds lazy msgids, translated when shown (the reader's language). The codes stay
what they are in the database, the JSON API and on the wire; only pages show these words. A code
a mapping does not know shows as it is, or as the fallback given (a bounce's English reason).
Templates reach this module as ``fed_labels``: ``{{ fed_labels.PEER_STATUS(p.status) }}``.
"""
from __future__ import annotations

from typing import Mapping

from flask import Flask
from flask_babel import lazy_gettext as _l


class Labels:
    """Words for the codes of one kind of thing; called with a code, gives the word in the reader's language."""

    def __init__(self, words: Mapping[str, object]) -> None:
        self.words = dict(words)

    def __call__(self, code: object, fallback: object = None) -> str:
        word = self.words.get(code) if isinstance(code, str) else None
        if word is not None:
            return str(word)
        return str(fallback) if fallback else ("" if code is None else str(code))

    def __contains__(self, code: object) -> bool:
        return code in self.words


# --- peers, payments, disputes -------------------------------------------------------------------------------

PEER_STATUS = Labels({"pending": _l("waiting for confirmation"), "active": _l("active"),
                      "suspended": _l("suspended")})
TRANSFER_STATUS = Labels({"pending": _l("on its way"), "completed": _l("completed"), "bounced": _l("returned")})
# Why a peer's node returned a payment (transfer_bounce reason_code); the English reason it sent shows otherwise.
BOUNCE_REASON = Labels({
    "unknown_payee": _l("The payee is not a member who can be paid there."),
    "peer_suspended": _l("That node has suspended payments with this node."),
    "trust_limit_exceeded": _l("The payment would take this node beyond the trust limit that node set for it."),
    "payee_cap_exceeded": _l("The payment would take the payee's balance above its cap."),
    "transfer_id_reused": _l("That node already had a different payment under the same reference."),
})
DISPUTE_STATUS = Labels({"open": _l("open"), "resolved": _l("resolved")})
DISPUTE_KIND = Labels({"position_mismatch": _l("the positions differ"),
                       "chain_mismatch": _l("the records of the exchanged entries differ")})

# --- cross-border reviews ------------------------------------------------------------------------------------

INVITATION_STATUS = Labels({
    "invited": _l("invited"), "accepted": _l("accepted"), "declined": _l("declined"), "expired": _l("expired"),
    "cancelled": _l("cancelled"), "submitted": _l("review sent"), "timed_out": _l("timed out"),
})
# Why the proposer's node ended an invitation (review_cancel reason_code).
INVITATION_END = Labels({
    "expired": _l("it was not accepted in time"),
    "timed_out": _l("the review did not arrive in time"),
    "proposal_withdrawn": _l("the proposal was withdrawn"),
    "review_refused": _l("the proposer's node could not accept the review"),
})
STAGE = Labels({"idea": _l("idea"), "planning": _l("planning"), "pilot": _l("pilot"), "scaling": _l("scaling")})

# --- clearing rounds -----------------------------------------------------------------------------------------

ROUND_STATE = Labels({
    "collecting": _l("collecting positions"), "computed": _l("computed, not proposed yet"),
    "proposed": _l("proposed, waiting for answers"), "certified": _l("certified, being delivered"),
    "settled": _l("settled"), "empty": _l("nothing to clear"), "abandoned": _l("abandoned"),
    "undelivered": _l("certificate not delivered everywhere"),
})
PARTICIPATION = Labels({"stated": _l("positions stated"), "accepted": _l("accepted"), "refused": _l("refused"),
                        "applied": _l("applied"), "lapsed": _l("lapsed without a certificate")})
DELIVERY = Labels({"applied": _l("applied"), "already_applied": _l("applied"), "failed": _l("not delivered")})
# Why a pair of nodes was left out of a round (the round's `excluded` kinds).
LEFT_OUT = Labels({
    "missing": _l("only one side stated a position"),
    "in_flight": _l("payments between them were still on their way"),
    "mismatch": _l("their positions do not mirror"),
})
SIGNED = Labels({"settlement_certificate": _l("Certificate"), "settlement_proposal": _l("Proposal"),
                 "settlement_acceptance": _l("Acceptance")})
SIGNATURE = Labels({"verifies": _l("the signature verifies"), "no_key": _l("no key here to check it (not a peer)"),
                    "invalid": _l("the signature does not verify")})

# --- the directory -------------------------------------------------------------------------------------------

NODE_HEALTH = Labels({"new": _l("not polled yet"), "up": _l("up"), "slow": _l("slow"),
                      "unreachable": _l("unreachable"), "refused": _l("refused"),
                      "pending": _l("pending approval")})
LISTING_STATUS = Labels({"pending": _l("pending approval"), "listed": _l("listed"), "delisted": _l("delisted")})
AUDIT_ACTION = Labels({
    "add-admin": _l("account created"), "password": _l("password changed"), "login": _l("logged in"),
    "login-failed": _l("login failed"), "logout": _l("logged out"), "approve": _l("approved"),
    "refuse": _l("refused"), "delist": _l("delisted"),
})
REFUSAL_SOURCE = Labels({"poll": _l("polled"), "push": _l("sent by the node")})
POOL_NOTE = Labels({"missing": _l("missing"), "one country only": _l("one country only")})
FIGURE = Labels({
    "members": _l("members"), "active_30d": _l("active (30 days)"), "active_180d": _l("active (180 days)"),
    "proposals_open": _l("proposals open"), "proposals_reviewed": _l("proposals reviewed"),
    "median_turnaround_days": _l("median days to a review"), "sif_in_circulation": _l("SIF held by members"),
    "software_version": _l("software version"), "protocol_version": _l("protocol version"),
})


def init_app(app: Flask) -> None:
    """Give an app's templates these words as ``fed_labels`` (a node with federation, and the directory)."""
    import sys

    app.jinja_env.globals["fed_labels"] = sys.modules[__name__]
