"""Body schemas: every type accepts its example and refuses each kind of mistake precisely."""

from __future__ import annotations

import copy
import hashlib

import pytest

from protocol import (
    MAX_AMOUNT,
    MESSAGE_TYPES,
    BodyError,
    SigningKey,
    envelope_hash,
    make_envelope,
    sign_envelope,
    sign_key_proof,
    validate_body,
)
from protocol.messages import EmbeddedEnvelope
from protocol.schema import AnyObject, Map, Nullable, Obj, Optional

KEY = SigningKey.from_seed(hashlib.sha256(b"be-vl/0").digest())
NEW_KEY = SigningKey.from_seed(hashlib.sha256(b"be-vl/1").digest())
HASH = "rDgKcGJjWFqK2zGI_V9ux8LAJI4erqE47gHoqBX5Zf8"
T = "2026-01-15T10:00:00Z"
REVIEWER = {
    "handle": "rev-42",
    "expertise": ["circular-economy", "fundraising"],
    "languages": ["nl", "en"],
    "open_slots": 2,
    "turnaround_days": 7,
    "reviews_done": 12,
    "helpfulness": None,
}
OFFER = {
    "ref": "17",
    "title": "Crowdfunding for a repair café",
    "description": "Two campaigns on our own platform.",
    "tags": ["funding-and-finance"],
    "rate": 2,
    "adviser": "rev-42",
    "country": "IT",
}
LEAD = {
    "ref": "f-7c1e",
    "title": "Creative Europe: cooperation projects",
    "url": "https://culture.ec.europa.eu/creative-europe/calls",
    "deadline": T,
    "countries": ["BE", "NL", "HU"],
    "topics": ["culture", "community-building"],
    "description": "Small-scale cooperation projects, up to 200,000 euro.",
}
PROPOSAL = {
    "round_id": "r-2026-01",
    "participants": ["be-vl", "hu", "nl"],
    "deadline": T,
    "before": [
        {"debtor": "be-vl", "creditor": "hu", "amount": 30},
        {"debtor": "hu", "creditor": "be-vl", "amount": 10},
    ],
    "after": [{"debtor": "be-vl", "creditor": "hu", "amount": 20}],
    "cleared": 10,
}


def _signed(type_: str, to: str, body: dict) -> dict:
    env = make_envelope(type=type_, from_="be-vl", to=to, created=T, body=body, id=f"{type_}-1")
    return sign_envelope(env, KEY).to_dict()


PROPOSAL_ENV = _signed("settlement_proposal", "*", PROPOSAL)
ACCEPTANCE = {"round_id": "r-2026-01", "proposal_hash": HASH, "accept": True}

VALID: dict[str, dict] = {
    "node_document": {
        "node_id": "be-vl",
        "name": "Flemish social innovation network",
        "country": "BE",
        "base_url": "https://be-vl.example",
        "keys": [{"kid": KEY.key_id, "public": KEY.public_key.b64, "not_after": T}],
        "protocol_versions": [1],
        "endpoints": {"inbox": "https://be-vl.example/inbox", "document": "https://be-vl.example/node"},
    },
    "key_rotation": {
        "new_kid": NEW_KEY.key_id,
        "new_public": NEW_KEY.public_key.b64,
        "old_kid": KEY.key_id,
        "old_not_after": T,
        "new_key_proof": sign_key_proof(NEW_KEY, "be-vl", KEY.key_id),
    },
    "transfer": {"transfer_id": "t-1", "payer": "anna", "payee": "bela", "amount": 250, "memo": "Thanks"},
    "transfer_receipt": {"transfer_id": "t-1"},
    "transfer_bounce": {"transfer_id": "t-1", "reason_code": "unknown_payee", "reason": "No member bela"},
    "checkpoint": {
        "as_of": T,
        "sent": {"seq": 4, "hash": HASH},
        "received": {"seq": 0, "hash": HASH},
        "position": -250,
    },
    "reviewer_pool_snapshot": {"reviewers": [REVIEWER]},
    "reviewer_pool_delta": {"upserts": [REVIEWER], "removals": ["rev-7"]},
    "funding_lead_snapshot": {"leads": [LEAD]},
    "funding_lead_delta": {"upserts": [LEAD], "removals": ["f-0001"]},
    "directory_funding": {"leads": [LEAD, {k: v for k, v in LEAD.items() if k != "deadline"}]},
    "advice_offer_snapshot": {"offers": [OFFER]},
    "advice_offer_delta": {"upserts": [OFFER], "removals": ["17"]},
    "advice_book": {
        "booking_id": "b-1",
        "offer_ref": "17",
        "adviser": "rev-42",
        "booker_name": "Lena Huber",
        "hours": 2,
        "rate": 3,
        "amount": 6,
        "scheduled_for": T,
        "note": "About a crowdfunding campaign",
    },
    "advice_accept": {"booking_id": "b-1", "adviser_name": "Giulia Rossi"},
    "advice_decline": {"booking_id": "b-1", "reason_code": "declined", "reason": "Not that week"},
    "advice_claim": {"booking_id": "b-1"},
    "advice_cancel": {"booking_id": "b-1", "reason": ""},
    "advice_dispute": {"booking_id": "b-1", "reason": "It did not take place"},
    "advice_settle": {"booking_id": "b-1", "outcome": "split", "adviser_amount": 4, "note": "coord: half of it"},
    "advice_feedback": {"booking_id": "b-1", "rating": 5, "comment": "Clear and practical"},
    "review_invite": {
        "invite_id": "i-1",
        "proposal_ref": "p-9",
        "reviewer_handle": "rev-42",
        "title": "Repair café network",
        "summary": "Neighbourhood repair cafés",
        "tags": ["circular-economy"],
        "language": "nl",
        "bounty": 60,
        "accept_by": T,
        "due_by": T,
    },
    "review_accept": {"invite_id": "i-1"},
    "review_decline": {"invite_id": "i-1", "reason": "No time this month"},
    "review_cancel": {"invite_id": "i-1", "reason_code": "proposal_withdrawn"},
    "review_submit": {
        "invite_id": "i-1",
        "scores": {"shared_value": 4, "social_transformation": 3, "impact": 5},
        "confidence": 4,
        "feedback": "Strong plan.",
    },
    "review_rating": {"invite_id": "i-1", "helpfulness": 5},
    "proposal_share": {
        "invite_id": "i-1",
        "proposal_ref": "p-9",
        "title": "Repair café network",
        "summary": "Neighbourhood repair cafés",
        "full_text": "The whole plan.",
        "tags": [],
        "language": "nl",
        "stage": "pilot",
    },
    "position_statement": {
        "round_id": "r-2026-01",
        "positions": [{"peer": "hu", "position": -20, "as_of_seq_sent": 4, "as_of_seq_received": 3}],
    },
    "settlement_proposal": PROPOSAL,
    "settlement_acceptance": ACCEPTANCE,
    "settlement_certificate": {
        "round_id": "r-2026-01",
        "proposal": PROPOSAL_ENV,
        "acceptances": [_signed("settlement_acceptance", "nl", {**ACCEPTANCE, "proposal_hash": HASH})],
    },
    "directory_summary": {
        "members": 120,
        "active_30d": 40,
        "active_180d": 90,
        "reviewers_by_tag": {"circular-economy": 5},
        "reviewers_by_language": {"nl": 10, "en": 8},
        "proposals_open": 3,
        "proposals_reviewed": 17,
        "median_turnaround_days": None,
        "sif_in_circulation": 5000,
        "cross_border": [{"peer": "hu", "reviews_given": 2, "reviews_received": 1, "position": -20}],
        "software_version": "sifnet 0.1.0",
        "protocol_version": 1,
    },
    "directory_initiatives": {
        "initiatives": [
            {
                "ref": "i-1",
                "name": "Repair café network",
                "summary": "Monthly repair evenings",
                "interests": ["circular-economy"],
                "sectors": ["repair"],
                "stage": "pilot",
                "city": "Ghent",
                "contact": "https://be-vl.example/initiatives/i-1",
            }
        ]
    },
}


def test_every_registered_type_has_a_valid_example() -> None:
    assert set(VALID) == set(MESSAGE_TYPES)


@pytest.mark.parametrize("type_name", sorted(VALID))
def test_valid_example_passes(type_name: str) -> None:
    validate_body(type_name, copy.deepcopy(VALID[type_name]))


def _refused(type_name: str, body: object) -> BodyError:
    with pytest.raises(BodyError) as info:
        validate_body(type_name, body)
    return info.value


def _wrong_type_value(spec) -> object:
    inner = spec.spec if isinstance(spec, (Optional, Nullable)) else spec
    return [] if isinstance(inner, (Obj, Map, AnyObject, EmbeddedEnvelope)) else {}


FIELDS = [(t, name, spec) for t, mt in sorted(MESSAGE_TYPES.items()) for name, spec in mt.body.fields.items()]
IDS = [f"{t}.{name}" for t, name, _ in FIELDS]


@pytest.mark.parametrize("type_name", sorted(VALID))
def test_unknown_field_is_refused(type_name: str) -> None:
    error = _refused(type_name, {**VALID[type_name], "zzz": 1})
    assert (error.code, error.where, error.status_hint) == ("unknown_field", "body.zzz", 422)


@pytest.mark.parametrize(("type_name", "name", "spec"), FIELDS, ids=IDS)
def test_missing_field_is_refused_unless_optional(type_name: str, name: str, spec) -> None:
    body = {k: v for k, v in VALID[type_name].items() if k != name}
    if isinstance(spec, Optional):
        validate_body(type_name, body)
    else:
        error = _refused(type_name, body)
        assert (error.code, error.where) == ("missing_field", f"body.{name}")


@pytest.mark.parametrize(("type_name", "name", "spec"), FIELDS, ids=IDS)
def test_wrong_type_is_refused(type_name: str, name: str, spec) -> None:
    error = _refused(type_name, {**VALID[type_name], name: _wrong_type_value(spec)})
    assert (error.code, error.where) == ("wrong_type", f"body.{name}")


@pytest.mark.parametrize(("type_name", "name", "spec"), FIELDS, ids=IDS)
def test_float_is_refused_everywhere(type_name: str, name: str, spec) -> None:
    error = _refused(type_name, {**VALID[type_name], name: 2.0})
    assert (error.code, error.where) == ("float_not_allowed", f"body.{name}")


def _with(type_name: str, path: tuple, value: object) -> dict:
    body = copy.deepcopy(VALID[type_name])
    target = body
    for step in path[:-1]:
        target = target[step]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


DELETE = object()
HELPFULNESS = "body.reviewers[0].helpfulness"
BY_TAG = "body.reviewers_by_tag"
INVALID_SIG = {**PROPOSAL_ENV, "body": {**PROPOSAL, "cleared": -1}}

CASES = [
    ("transfer", ("amount",), 0, "amount_not_positive", "body.amount"),
    ("transfer", ("amount",), -5, "amount_not_positive", "body.amount"),
    ("transfer", ("amount",), MAX_AMOUNT + 1, "amount_too_large", "body.amount"),
    ("transfer", ("amount",), 2**64, "amount_too_large", "body.amount"),
    ("transfer", ("amount",), 250.0, "float_not_allowed", "body.amount"),
    ("transfer", ("amount",), True, "wrong_type", "body.amount"),
    ("transfer", ("amount",), "250", "wrong_type", "body.amount"),
    ("transfer", ("memo",), "x" * 281, "string_too_long", "body.memo"),
    ("transfer", ("payer",), "Anna", "bad_format", "body.payer"),
    ("transfer", ("transfer_id",), "", "bad_format", "body.transfer_id"),
    ("review_invite", ("bounty",), 0, "amount_not_positive", "body.bounty"),
    ("review_invite", ("summary",), "x" * 2001, "string_too_long", "body.summary"),
    ("review_invite", ("title",), "", "string_too_short", "body.title"),
    ("review_invite", ("tags",), ["a"] * 17, "list_too_long", "body.tags"),
    ("review_invite", ("tags", 0), "Circular", "bad_format", "body.tags[0]"),
    ("review_invite", ("accept_by",), "2026-01-15", "bad_time", "body.accept_by"),
    ("proposal_share", ("stage",), "done", "bad_enum", "body.stage"),
    ("proposal_share", ("full_text",), "x" * 100001, "string_too_long", "body.full_text"),
    ("review_submit", ("feedback",), "x" * 20001, "string_too_long", "body.feedback"),
    ("review_submit", ("scores", "impact"), 6, "out_of_range", "body.scores.impact"),
    ("review_submit", ("scores", "impact"), DELETE, "missing_field", "body.scores.impact"),
    ("review_submit", ("scores", "extra"), 1, "unknown_field", "body.scores.extra"),
    ("review_submit", ("confidence",), 0, "out_of_range", "body.confidence"),
    ("review_rating", ("helpfulness",), 6, "out_of_range", "body.helpfulness"),
    ("reviewer_pool_snapshot", ("reviewers",), [REVIEWER] * 5001, "list_too_long", "body.reviewers"),
    ("reviewer_pool_snapshot", ("reviewers", 0, "helpfulness"), 101, "out_of_range", HELPFULNESS),
    ("reviewer_pool_snapshot", ("reviewers", 0, "helpfulness"), 1.5, "float_not_allowed", HELPFULNESS),
    ("reviewer_pool_delta", ("removals", 0), "", "bad_format", "body.removals[0]"),
    ("checkpoint", ("position",), -MAX_AMOUNT - 1, "integer_out_of_range", "body.position"),
    ("checkpoint", ("position",), MAX_AMOUNT + 1, "integer_out_of_range", "body.position"),
    ("checkpoint", ("sent", "seq"), -1, "out_of_range", "body.sent.seq"),
    ("checkpoint", ("sent", "hash"), "x", "bad_format", "body.sent.hash"),
    ("position_statement", ("positions", 0, "position"), 2**53, "integer_out_of_range", "body.positions[0].position"),
    ("node_document", ("keys",), [], "list_too_short", "body.keys"),
    ("node_document", ("keys", 0, "kid"), NEW_KEY.key_id, "kid_mismatch", "body.keys[0].kid"),
    ("node_document", ("keys", 0, "public"), KEY.public_key.b64[:-1] + "B", "bad_base64", "body.keys[0].public"),
    ("node_document", ("country",), "be", "bad_format", "body.country"),
    ("node_document", ("keys", 0, "not_before"), T, "bad_interval", "body.keys[0].not_after"),
    ("node_document", ("base_url",), "ftp://x", "bad_format", "body.base_url"),
    ("node_document", ("endpoints", "summary"), 5, "wrong_type", "body.endpoints.summary"),
    ("key_rotation", ("new_kid",), KEY.key_id, "kid_mismatch", "body.new_kid"),
    ("key_rotation", ("old_not_after",), "soon", "bad_time", "body.old_not_after"),
    ("key_rotation", ("new_key_proof",), "A" * 86 + "==", "string_too_long", "body.new_key_proof"),
    ("key_rotation", ("new_key_proof",), "A" * 84 + "=", "bad_base64", "body.new_key_proof"),
    ("key_rotation", ("new_key_proof",), "A" * 43, "bad_format", "body.new_key_proof"),
    ("settlement_proposal", ("participants",), ["be-vl"], "list_too_short", "body.participants"),
    ("settlement_proposal", ("before", 0, "amount"), 0, "amount_not_positive", "body.before[0].amount"),
    ("settlement_proposal", ("cleared",), -1, "out_of_range", "body.cleared"),
    ("settlement_acceptance", ("accept",), 1, "wrong_type", "body.accept"),
    ("settlement_certificate", ("proposal",), INVALID_SIG, "out_of_range", "body.proposal.body.cleared"),
    ("settlement_certificate", ("proposal", "sig"), DELETE, "missing_field", "body.proposal.sig"),
    ("settlement_certificate", ("proposal", "extra"), 1, "unknown_field", "body.proposal.extra"),
    ("settlement_certificate", ("acceptances", 0, "type"), "transfer", "bad_enum", "body.acceptances[0].type"),
    ("settlement_certificate", ("acceptances",), [], "list_too_short", "body.acceptances"),
    ("directory_summary", ("reviewers_by_tag", "Bad Tag"), 1, "bad_format", 'body.reviewers_by_tag["Bad Tag"]'),
    ("directory_summary", ("reviewers_by_tag", "x"), -1, "out_of_range", 'body.reviewers_by_tag["x"]'),
    ("directory_summary", ("reviewers_by_tag",), {f"t{i}": 1 for i in range(1001)}, "map_too_large", BY_TAG),
    ("directory_summary", ("median_turnaround_days",), 12, None, None),
    ("directory_summary", ("funding_hash",), HASH, None, None),
    ("directory_summary", ("funding_hash",), "x", "bad_format", "body.funding_hash"),
    ("funding_lead_snapshot", ("leads",), [LEAD] * 101, "list_too_long", "body.leads"),
    ("funding_lead_snapshot", ("leads", 0, "url"), "ftp://files.example/call", "bad_format", "body.leads[0].url"),
    ("funding_lead_snapshot", ("leads", 0, "url"), "https://x.example/a b", "bad_format", "body.leads[0].url"),
    ("funding_lead_snapshot", ("leads", 0, "countries", 0), "be", "bad_format", "body.leads[0].countries[0]"),
    ("funding_lead_snapshot", ("leads", 0, "countries"), ["BE"] * 65, "list_too_long", "body.leads[0].countries"),
    ("funding_lead_snapshot", ("leads", 0, "deadline"), "2026-01-15", "bad_time", "body.leads[0].deadline"),
    ("funding_lead_snapshot", ("leads", 0, "deadline"), DELETE, None, None),
    ("funding_lead_snapshot", ("leads", 0, "title"), "", "string_too_short", "body.leads[0].title"),
    ("funding_lead_snapshot", ("leads", 0, "description"), "x" * 1001, "string_too_long", "body.leads[0].description"),
    ("funding_lead_snapshot", ("leads", 0, "topics", 0), "Culture", "bad_format", "body.leads[0].topics[0]"),
    ("funding_lead_snapshot", ("leads", 0, "ref"), "f 1", "bad_format", "body.leads[0].ref"),
    ("funding_lead_snapshot", ("leads", 0, "poster"), "anna", "unknown_field", "body.leads[0].poster"),
    ("funding_lead_snapshot", ("leads", 0, "url"), DELETE, "missing_field", "body.leads[0].url"),
    ("funding_lead_delta", ("removals", 0), "", "bad_format", "body.removals[0]"),
    ("funding_lead_delta", ("upserts",), [LEAD] * 101, "list_too_long", "body.upserts"),
    ("advice_offer_delta", ("upserts",), [OFFER] * 51, "list_too_long", "body.upserts"),
    ("advice_offer_snapshot", ("offers", 0, "adviser"), "Anna Rossi", "bad_format", "body.offers[0].adviser"),
    ("advice_book", ("hours",), 0, "out_of_range", "body.hours"),
    ("advice_book", ("booker_name",), "", "string_too_short", "body.booker_name"),
    ("advice_settle", ("outcome",), "cancelled", "bad_enum", "body.outcome"),
    ("advice_feedback", ("rating",), 6, "out_of_range", "body.rating"),
    ("advice_feedback", ("comment",), "x" * 501, "string_too_long", "body.comment"),
    ("directory_funding", ("leads", 1, "countries"), "BE", "wrong_type", "body.leads[1].countries"),
    ("directory_summary", ("median_turnaround_days",), "12", "wrong_type", "body.median_turnaround_days"),
]


@pytest.mark.parametrize(
    ("type_name", "path", "value", "code", "where"), CASES, ids=[f"{c[0]}-{c[3]}-{c[4]}" for c in CASES]
)
def test_specific_refusals(type_name: str, path: tuple, value: object, code: str | None, where: str | None) -> None:
    body = _with(type_name, path, value)
    if code is None:
        validate_body(type_name, body)
        return
    error = _refused(type_name, body)
    assert (error.code, error.where) == (code, where)


def test_unknown_type_and_non_object_body() -> None:
    assert (_refused("transfer_v9", {}).code, _refused("transfer_v9", {}).where) == ("unknown_type", "type")
    assert (_refused("transfer", []).code, _refused("transfer", []).where) == ("wrong_type", "body")


def test_proposal_hash_is_the_envelope_hash() -> None:
    # The acceptance names the proposal by the same hash a channel uses for entries.
    from protocol import Envelope

    assert len(envelope_hash(Envelope.from_dict(PROPOSAL_ENV))) == 43
