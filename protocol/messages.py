"""The registry of message types and the schema of each body."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .encoding import b64url_decode
from .errors import BodyError, RemoteProtocolError, SchemaError
from .keys import key_id_of
from .schema import B64, MAX_AMOUNT, Amount, Bool, Enum, Int, List, Map, Nullable, Obj, Optional, Spec, Str, Time, child
from .wire import B64_32_PATTERN, ENVELOPE_ID_PATTERN, ENVELOPE_SHAPE, HASH, KID_PATTERN, NODE_ID

# --- Field specs shared by several bodies -------------------------------------------------

REF = Str(64, pattern=ENVELOPE_ID_PATTERN)  # transfer_id, invite_id, round_id, proposal_ref
HANDLE = Str(64, pattern=r"[a-z0-9][a-z0-9._-]{0,63}")  # member address local part / reviewer handle
KID = Str(30, pattern=KID_PATTERN)
PUBLIC = Str(43, pattern=B64_32_PATTERN)
TAG = Str(32, pattern=r"[a-z0-9][a-z0-9-]{0,31}")
LANGUAGE = Str(3, pattern=r"[a-z]{2,3}")  # ISO 639-1 or 639-3 code
COUNTRY = Str(2, pattern=r"[A-Z]{2}")  # ISO 3166-1 alpha-2
URL = Str(2048, pattern=r"https?://[\x21-\x7e]+")
REASON_CODE = Str(64, pattern=r"[a-z][a-z0-9_]{0,63}")
TITLE = Str(200, min_len=1)
SHORT_TEXT = Str(280)
SUMMARY = Str(2000)
COUNT = Int(0, MAX_AMOUNT)
SEQ_OR_ZERO = Int(0, MAX_AMOUNT)  # 0: nothing sent or applied yet
POSITION = Int()  # signed, within +-MAX_AMOUNT
SCORE = Int(1, 5)
TAGS = List(TAG, 16)
STAGES = ("idea", "planning", "pilot", "scaling")
MAX_PARTICIPANTS = 64
MAX_DEBTS = MAX_PARTICIPANTS * (MAX_PARTICIPANTS - 1)


Rule = Callable[[dict[str, Any], str], None]


def _kid_matches(kid_field: str, public_field: str) -> Rule:
    """Rule: ``kid_field`` must be the key id derived from ``public_field``."""

    def rule(value: dict[str, Any], where: str) -> None:
        try:
            raw = b64url_decode(value[public_field])
        except RemoteProtocolError as exc:
            raise SchemaError(exc.code, exc.message, where=child(where, public_field)) from None
        if key_id_of(raw) != value[kid_field]:
            message = "key id is not derived from the public key"
            raise SchemaError("kid_mismatch", message, where=child(where, kid_field))

    return rule


def _interval_in_order(value: dict[str, Any], where: str) -> None:
    """Rule: a key's not_after, when both bounds are given, is later than its not_before."""
    # The wire form sorts as the instants do, so the strings compare directly.
    if "not_before" in value and "not_after" in value and value["not_after"] <= value["not_before"]:
        raise SchemaError("bad_interval", "not_after is not later than not_before", where=child(where, "not_after"))


KEY_ENTRY = Obj(
    {"kid": KID, "public": PUBLIC, "not_before": Optional(Time()), "not_after": Optional(Time())},
    rules=(_kid_matches("kid", "public"), _interval_in_order),
)
CHAIN_POINT = Obj({"seq": SEQ_OR_ZERO, "hash": HASH})
REVIEWER = Obj(
    {
        "handle": HANDLE,
        "expertise": TAGS,
        "languages": List(LANGUAGE, 16),
        "open_slots": Int(0, 1000),
        "turnaround_days": Int(0, 365),
        "reviews_done": COUNT,
        "helpfulness": Nullable(Int(0, 100)),
    }
)
DEBT = Obj({"debtor": NODE_ID, "creditor": NODE_ID, "amount": Amount()})
# An initiative a node incubates, listed in the network directory with its consent; nothing personal.
INITIATIVE = Obj(
    {
        "ref": REF,
        "name": TITLE,
        "summary": Str(500),
        "interests": TAGS,
        "sectors": List(TAG, 8),
        "stage": Enum(STAGES),
        "city": Str(100),
        "contact": URL,
    }
)
MAX_INITIATIVES = 200
# A funding lead (grant call, fund, investor) a node shares with the network; nothing about who posted it.
# 100 leads of the largest size (a 2048-character link, 1000 characters of description) stay under 1 MiB.
FUNDING_LEAD = Obj(
    {
        "ref": REF,
        "title": TITLE,
        "url": URL,
        "deadline": Optional(Time()),
        "countries": List(COUNTRY, 64),
        "topics": TAGS,
        "description": Str(1000),
    }
)
LEADS_PER_MESSAGE = 100
# An advice offer a member shares network-wide, under the pseudonym of their node (never a name or handle).
# 50 offers of the largest size (4000 characters of description, 4 bytes each in UTF-8) stay under 1 MiB.
ADVICE_OFFER = Obj(
    {
        "ref": REF,
        "title": Str(160, min_len=1),
        "description": Str(4000),
        "tags": TAGS,
        "rate": Amount(),
        "adviser": HANDLE,
        "country": COUNTRY,
    }
)
OFFERS_PER_MESSAGE = 50
ADVICE_OUTCOMES = ("confirmed", "paid", "refunded", "split")
# A clearing round a node applied, as reported to the directory.
CLEARING = Obj(
    {
        "round_id": REF,
        "coordinator": NODE_ID,
        "applied": Time(),
        "participants": List(NODE_ID, MAX_PARTICIPANTS, min_len=2),
        "total_before": COUNT,
        "total_after": COUNT,
        "cleared": COUNT,
    }
)
# The directory summary's payments per peer: SIF moved by completed transfers, per period (SPEC section 9).
PAYMENT_PERIODS = ("30d", "365d", "all")
PAYMENTS = Obj(
    {
        "peer": NODE_ID,
        "paid_30d": COUNT,
        "received_30d": COUNT,
        "paid_365d": COUNT,
        "received_365d": COUNT,
        "paid_all": COUNT,
        "received_all": COUNT,
    }
)


@dataclass(frozen=True)
class EmbeddedEnvelope(Spec):
    """A signed envelope of type ``type_name`` carried inside a body, checked in depth."""

    type_name: str

    def check(self, value: object, where: str) -> None:
        ENVELOPE_SHAPE.check(value, where)
        assert isinstance(value, dict)
        if value["type"] != self.type_name:
            raise SchemaError("bad_enum", f"expected a {self.type_name} envelope", where=child(where, "type"))
        if "sig" not in value:
            raise SchemaError("missing_field", "an embedded envelope must be signed", where=child(where, "sig"))
        MESSAGE_TYPES[self.type_name].body.check(value["body"], child(where, "body"))


# --- The registry --------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageType:
    """One message type: its body schema and how it travels.

    ``broadcast`` types are addressed to "*"; all others to one node id.
    ``channel`` types travel as entries of the sender's hash-chained channel to
    the receiver; all others are direct messages without ``channel``.
    """

    name: str
    body: Obj
    version: int = 1
    broadcast: bool = False
    channel: bool = False


def _registry(*types: MessageType) -> Mapping[str, MessageType]:
    return MappingProxyType({t.name: t for t in types})


def _t(
    name: str, fields: dict[str, Spec], *, broadcast: bool = False, channel: bool = False, rules: tuple[Rule, ...] = ()
) -> MessageType:
    return MessageType(name, Obj(fields, rules=rules), broadcast=broadcast, channel=channel)


MESSAGE_TYPES: Mapping[str, MessageType] = _registry(
    _t(
        "node_document",
        {
            "node_id": NODE_ID,
            "name": TITLE,
            "country": COUNTRY,
            "base_url": URL,
            "keys": List(KEY_ENTRY, 16, min_len=1),
            "protocol_versions": List(Int(1, 2**31 - 1), 16, min_len=1),
            "endpoints": Obj({"inbox": URL, "document": URL, "summary": Optional(URL)}),
        },
        broadcast=True,
    ),
    _t(
        "key_rotation",
        {"new_kid": KID, "new_public": PUBLIC, "old_kid": KID, "old_not_after": Time(), "new_key_proof": B64(86, 64)},
        channel=True,
        rules=(_kid_matches("new_kid", "new_public"),),
    ),
    _t(
        "transfer",
        {"transfer_id": REF, "payer": HANDLE, "payee": HANDLE, "amount": Amount(), "memo": Optional(SHORT_TEXT)},
        channel=True,
    ),
    _t("transfer_receipt", {"transfer_id": REF}, channel=True),
    _t("transfer_bounce", {"transfer_id": REF, "reason_code": REASON_CODE, "reason": SHORT_TEXT}, channel=True),
    _t(
        "checkpoint",
        {
            "as_of": Time(),
            "sent": CHAIN_POINT,
            "received": CHAIN_POINT,
            "position": POSITION,
            "settled": Optional(POSITION),
            "settlements": Optional(COUNT),
        },
    ),
    _t("reviewer_pool_snapshot", {"reviewers": List(REVIEWER, 5000)}, channel=True),
    _t("reviewer_pool_delta", {"upserts": List(REVIEWER, 5000), "removals": List(HANDLE, 5000)}, channel=True),
    _t("funding_lead_snapshot", {"leads": List(FUNDING_LEAD, LEADS_PER_MESSAGE)}, channel=True),
    _t(
        "funding_lead_delta",
        {"upserts": List(FUNDING_LEAD, LEADS_PER_MESSAGE), "removals": List(REF, 5000)},
        channel=True,
    ),
    _t("advice_offer_snapshot", {"offers": List(ADVICE_OFFER, OFFERS_PER_MESSAGE)}, channel=True),
    _t(
        "advice_offer_delta",
        {"upserts": List(ADVICE_OFFER, OFFERS_PER_MESSAGE), "removals": List(REF, 5000)},
        channel=True,
    ),
    _t(
        "advice_book",
        {
            "booking_id": REF,
            "offer_ref": REF,
            "adviser": HANDLE,
            "booker_name": Str(120, min_len=1),
            "hours": Int(1, 1000),
            "rate": Amount(),
            "amount": Amount(),
            "scheduled_for": Optional(Time()),
            "note": Str(1000),
        },
        channel=True,
    ),
    _t("advice_accept", {"booking_id": REF, "adviser_name": Str(120, min_len=1)}, channel=True),
    _t("advice_decline", {"booking_id": REF, "reason_code": REASON_CODE, "reason": Str(900)}, channel=True),
    _t("advice_claim", {"booking_id": REF}, channel=True),
    _t("advice_cancel", {"booking_id": REF, "reason": Str(900)}, channel=True),
    _t("advice_dispute", {"booking_id": REF, "reason": Str(1000)}, channel=True),
    _t(
        "advice_settle",
        {"booking_id": REF, "outcome": Enum(ADVICE_OUTCOMES), "adviser_amount": COUNT, "note": Str(1000)},
        channel=True,
    ),
    _t("advice_feedback", {"booking_id": REF, "rating": Int(1, 5), "comment": Str(500)}, channel=True),
    _t(
        "review_invite",
        {
            "invite_id": REF,
            "proposal_ref": REF,
            "reviewer_handle": HANDLE,
            "title": TITLE,
            "summary": SUMMARY,
            "tags": TAGS,
            "language": LANGUAGE,
            "bounty": Amount(),
            "accept_by": Time(),
            "due_by": Time(),
        },
        channel=True,
    ),
    _t("review_accept", {"invite_id": REF}, channel=True),
    _t("review_decline", {"invite_id": REF, "reason": Optional(SHORT_TEXT)}, channel=True),
    _t("review_cancel", {"invite_id": REF, "reason_code": REASON_CODE}, channel=True),
    _t(
        "review_submit",
        {
            "invite_id": REF,
            "scores": Obj({"shared_value": SCORE, "social_transformation": SCORE, "impact": SCORE}),
            "confidence": SCORE,
            "feedback": Str(20000),
        },
        channel=True,
    ),
    _t("review_rating", {"invite_id": REF, "helpfulness": SCORE}, channel=True),
    _t(
        "proposal_share",
        {
            "invite_id": REF,
            "proposal_ref": REF,
            "title": TITLE,
            "summary": SUMMARY,
            "full_text": Str(100000),
            "tags": TAGS,
            "language": LANGUAGE,
            "stage": Enum(STAGES),
        },
        channel=True,
    ),
    _t(
        "position_statement",
        {
            "round_id": REF,
            "positions": List(
                Obj(
                    {
                        "peer": NODE_ID,
                        "position": POSITION,
                        "as_of_seq_sent": SEQ_OR_ZERO,
                        "as_of_seq_received": SEQ_OR_ZERO,
                        "trust_limit": Optional(COUNT),
                    }
                ),
                MAX_PARTICIPANTS,
            ),
        },
    ),
    _t(
        "settlement_proposal",
        {
            "round_id": REF,
            "participants": List(NODE_ID, MAX_PARTICIPANTS, min_len=2),
            "deadline": Time(),
            "before": List(DEBT, MAX_DEBTS),
            "after": List(DEBT, MAX_DEBTS),
            "cleared": COUNT,
        },
        broadcast=True,
    ),
    _t(
        "settlement_acceptance",
        {"round_id": REF, "proposal_hash": HASH, "accept": Bool(), "reason": Optional(SHORT_TEXT)},
    ),
    _t(
        "settlement_certificate",
        {
            "round_id": REF,
            "proposal": EmbeddedEnvelope("settlement_proposal"),
            "acceptances": List(EmbeddedEnvelope("settlement_acceptance"), MAX_PARTICIPANTS, min_len=1),
        },
        broadcast=True,
    ),
    _t(
        "directory_summary",
        {
            "members": COUNT,
            "active_30d": COUNT,
            "active_180d": COUNT,
            "reviewers_by_tag": Map(TAG, COUNT, 1000),
            "reviewers_by_language": Map(LANGUAGE, COUNT, 200),
            "proposals_open": COUNT,
            "proposals_reviewed": COUNT,
            "median_turnaround_days": Nullable(Int(0, 3650)),
            "sif_in_circulation": COUNT,
            "cross_border": List(
                Obj({"peer": NODE_ID, "reviews_given": COUNT, "reviews_received": COUNT, "position": POSITION}),
                256,
            ),
            "software_version": Str(64, min_len=1),
            "protocol_version": Int(1, 2**31 - 1),
            "initiatives_hash": Optional(HASH),
            "clearings": Optional(List(CLEARING, 64)),
            "funding_hash": Optional(HASH),
            "payments": Optional(List(PAYMENTS, 256)),
        },
    ),
    _t("directory_initiatives", {"initiatives": List(INITIATIVE, MAX_INITIATIVES)}),
    _t("directory_funding", {"leads": List(FUNDING_LEAD, LEADS_PER_MESSAGE)}),
)


def message_type(type_name: str) -> MessageType:
    """Look up a message type.

    Raises:
        BodyError: code ``unknown_type``.
    """
    found = MESSAGE_TYPES.get(type_name)
    if found is None:
        raise BodyError("unknown_type", f"no message type {type_name!r} in protocol version 1", where="type")
    return found


def validate_body(type_name: str, body: object) -> None:
    """Check ``body`` against the schema of ``type_name``.

    Raises:
        BodyError: with the precise code and ``where`` = the JSON path, e.g.
            ``body.amount`` or ``body.reviewers[3].handle``.
    """
    schema = message_type(type_name).body
    try:
        schema.check(body, "body")
    except SchemaError as exc:
        raise BodyError(exc.code, exc.message, where=exc.where) from None
