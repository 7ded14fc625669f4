"""Hostile JSON API requests: each refused with its status and code, the whole database unchanged."""

from __future__ import annotations

import json

import pytest

from .conftest import API, PROPOSAL, refused, unchanged

DEEP = b'{"to": "carol", "amount": 1, "memo": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
NESTED_MEMO = {"to": "carol", "amount": 1, "memo": json.loads("[" * 50 + "]" * 50)}
INJECT_SQL = "carol' OR '1'='1"


def pay(amount, **extra) -> dict:
    return {"json": {"to": "carol", "amount": amount, **extra}}


def raw(body: bytes, mimetype: str = "application/json") -> dict:
    return {"data": body, "content_type": mimetype}


P = pytest.param
# (who, method, path, request kwargs, status, code); {name} in a path is a seeded object's id.
CASES = [
    # authentication
    P(None, "GET", "/me", {}, 401, "token_missing", id="auth-no-token"),
    P("forged", "GET", "/me", {}, 401, "token_invalid", id="auth-forged-token"),
    P(None, "POST", "/transfers", pay(1), 401, "token_missing", id="auth-transfer-without-token"),
    # malformed bodies
    P(
        "anna",
        "POST",
        "/transfers",
        raw(b'{"to": "carol", "amount": 1}', "text/plain"),
        415,
        "unsupported_media_type",
        id="body-wrong-media-type",
    ),
    P("anna", "POST", "/transfers", raw(b'{"to": "carol", "amount": 1'), 400, "invalid_json", id="body-truncated-json"),
    P("anna", "POST", "/transfers", raw(b'{"to": "carol", "amount": NaN}'), 400, "invalid_json", id="body-nan"),
    P(
        "anna",
        "POST",
        "/transfers",
        raw(b'{"to": "carol", "amount": 1, "amount": 9}'),
        400,
        "invalid_json",
        id="body-duplicate-key",
    ),
    P("anna", "POST", "/transfers", raw(b'[{"to": "carol", "amount": 1}]'), 400, "invalid_body", id="body-array"),
    P("anna", "POST", "/transfers", raw(DEEP), 400, "invalid_json", id="body-nested-100k-deep"),
    P(
        "anna",
        "POST",
        "/transfers",
        raw(b'{"to": "carol", "amount": 1, "memo": "' + b"x" * (2 * 1024 * 1024) + b'"}'),
        413,
        "request_entity_too_large",
        id="body-oversize-2mib",
    ),
    P("anna", "POST", "/transfers", {"json": NESTED_MEMO}, 422, "wrong_type", id="body-nested-memo"),
    P("anna", "POST", "/transfers", pay(1, fee=0), 422, "unknown_field", id="body-unknown-field"),
    # amounts
    P("anna", "POST", "/transfers", pay(1.5), 422, "amount_not_integer", id="amount-float"),
    P("anna", "POST", "/transfers", pay(2.0), 422, "amount_not_integer", id="amount-integral-float"),
    P(
        "anna",
        "POST",
        "/transfers",
        raw(b'{"to": "carol", "amount": 1e3}'),
        422,
        "amount_not_integer",
        id="amount-exponent",
    ),
    P("anna", "POST", "/transfers", pay(-1), 422, "amount_not_positive", id="amount-negative"),
    P("anna", "POST", "/transfers", pay(0), 422, "amount_not_positive", id="amount-zero"),
    P("anna", "POST", "/transfers", pay(2**63), 422, "amount_too_large", id="amount-2pow63"),
    P("anna", "POST", "/transfers", pay(10**30), 422, "amount_too_large", id="amount-10pow30"),
    P("anna", "POST", "/transfers", pay("5"), 422, "amount_not_integer", id="amount-string"),
    P("anna", "POST", "/transfers", pay(True), 422, "amount_not_integer", id="amount-bool"),
    P("anna", "POST", "/transfers", pay(None), 422, "amount_not_integer", id="amount-null"),
    P("anna", "POST", "/transfers", pay(1000), 422, "insufficient_funds", id="amount-overdraft"),
    # payees
    P(
        "anna",
        "POST",
        "/transfers",
        {"json": {"to": INJECT_SQL, "amount": 1}},
        404,
        "member_not_found",
        id="payee-sql-injection",
    ),
    P("anna", "POST", "/transfers", {"json": {"to": "anna", "amount": 1}}, 422, "self_transfer", id="payee-self"),
    P(
        "anna",
        "POST",
        "/transfers",
        {"json": {"to": "carol@be-vI", "amount": 1}},
        404,
        "unknown_peer_node",
        id="payee-lookalike-node",
    ),
    P(
        "anna",
        "POST",
        "/transfers",
        {"json": {"to": "carol", "amount": 1, "memo": "m" * 281}},
        422,
        "too_long",
        id="memo-too-long",
    ),
    # proposals
    P(
        "anna",
        "POST",
        "/proposals",
        {"json": {**PROPOSAL, "bounty": 1.5}},
        422,
        "amount_not_integer",
        id="proposal-float-bounty",
    ),
    P(
        "anna",
        "POST",
        "/proposals",
        {"json": {**PROPOSAL, "bounty": -2}},
        422,
        "amount_not_positive",
        id="proposal-negative-bounty",
    ),
    P(
        "anna",
        "POST",
        "/proposals",
        {"json": {**PROPOSAL, "reviews_wanted": 10**9}},
        422,
        "out_of_range",
        id="proposal-huge-reviews-wanted",
    ),
    P(
        "anna",
        "POST",
        "/proposals",
        {"json": {**PROPOSAL, "status": "completed"}},
        422,
        "unknown_field",
        id="proposal-unknown-field-status",
    ),
    P(
        "anna",
        "POST",
        "/proposals",
        {"json": {**PROPOSAL, "bounty": 10**6}},
        422,
        "insufficient_funds",
        id="proposal-escrow-beyond-balance",
    ),
    # advice
    P(
        "anna",
        "POST",
        "/advice/listings",
        {"json": {"kind": "offer", "title": "t", "rate": 0.5}},
        422,
        "not_an_integer",
        id="listing-float-rate",
    ),
    P(
        "anna",
        "POST",
        "/advice/listings",
        {"json": {"kind": "offer", "title": "t", "rate": 101}},
        422,
        "out_of_range",
        id="listing-rate-too-high",
    ),
    P(
        "anna",
        "POST",
        "/advice/listings",
        {"json": {"kind": "gift", "title": "t"}},
        422,
        "bad_choice",
        id="listing-unknown-kind",
    ),
    P(
        "carol",
        "POST",
        "/advice/listings/{listing}/book",
        {"json": {"hours": -1}},
        422,
        "out_of_range",
        id="booking-negative-hours",
    ),
    P(
        "carol",
        "POST",
        "/advice/listings/{listing}/book",
        {"json": {"hours": 1.5}},
        422,
        "not_an_integer",
        id="booking-float-hours",
    ),
    # profile: no privilege or balance through the profile
    P("carol", "PATCH", "/me", {"json": {"role": "coordinator"}}, 422, "unknown_field", id="profile-role-escalation"),
    P("carol", "PATCH", "/me", {"json": {"balance": 1000}}, 422, "unknown_field", id="profile-set-balance"),
    P(
        "carol",
        "PATCH",
        "/me",
        {"json": {"review_capacity": 2.5}},
        422,
        "invalid_capacity",
        id="profile-float-capacity",
    ),
    P("carol", "PATCH", "/me", {"json": {"is_reviewer": "yes"}}, 422, "invalid_boolean", id="profile-string-bool"),
    P("carol", "PATCH", "/me", {"json": {"country": "<s"}}, 422, "invalid_country", id="profile-country-markup"),
    # another member's proposal, review, booking, listing
    P("carol", "GET", "/proposals/{proposal}", {}, 404, "proposal_not_found", id="other-read-proposal"),
    P("carol", "POST", "/proposals/{proposal}/withdraw", {}, 404, "proposal_not_found", id="other-withdraw-proposal"),
    P("carol", "GET", "/proposals/{proposal}/candidates", {}, 404, "proposal_not_found", id="other-read-candidates"),
    P("carol", "GET", "/invitations/{invitation_dave}", {}, 404, "invitation_not_found", id="other-read-invitation"),
    P(
        "carol",
        "POST",
        "/invitations/{invitation_dave}/accept",
        {},
        404,
        "invitation_not_found",
        id="other-accept-invitation",
    ),
    P(
        "carol",
        "POST",
        "/invitations/{invitation_dave}/decline",
        {"json": {}},
        404,
        "invitation_not_found",
        id="other-decline-invitation",
    ),
    P(
        "carol",
        "POST",
        "/invitations/{invitation_dave}/review",
        {"json": {"shared_value": 5, "social_transformation": 5, "impact": 5, "confidence": 5, "feedback": "x"}},
        404,
        "invitation_not_found",
        id="other-submit-review",
    ),
    P(
        "carol",
        "POST",
        "/reviews/{review}/rate",
        {"json": {"helpfulness": 1}},
        404,
        "review_not_found",
        id="other-rate-review",
    ),
    P(
        "bob",
        "POST",
        "/reviews/{review}/rate",
        {"json": {"helpfulness": 5}},
        403,
        "not_author",
        id="reviewer-rates-own-review",
    ),
    P("carol", "GET", "/advice/bookings/{booking}", {}, 404, "booking_not_found", id="other-read-booking"),
    P(
        "carol",
        "POST",
        "/advice/bookings/{booking}/confirm",
        {"json": {}},
        404,
        "booking_not_found",
        id="other-confirm-booking",
    ),
    P(
        "carol",
        "POST",
        "/advice/bookings/{booking}/cancel",
        {"json": {}},
        404,
        "booking_not_found",
        id="other-cancel-booking",
    ),
    P("carol", "POST", "/advice/listings/{listing}/close", {}, 403, "not_author", id="other-close-listing"),
    P("carol", "GET", "/members/pete", {}, 404, "member_not_found", id="other-read-pending-profile"),
    # lifecycle replays
    P(
        "bob",
        "POST",
        "/invitations/{invitation_bob}/accept",
        {},
        409,
        "illegal_transition",
        id="replay-accept-after-review",
    ),
    P(
        "bob",
        "POST",
        "/invitations/{invitation_bob}/review",
        {"json": {"shared_value": 1, "social_transformation": 1, "impact": 1, "confidence": 1, "feedback": "again"}},
        409,
        "illegal_transition",
        id="replay-second-review",
    ),
    # coordinator actions by a member
    P("carol", "GET", "/coordinator/dashboard", {}, 403, "coordinator_only", id="member-coordinator-dashboard"),
    P("carol", "GET", "/coordinator/audit", {}, 403, "coordinator_only", id="member-coordinator-audit"),
    P(
        "carol",
        "POST",
        "/coordinator/members/{pete}/approve",
        {"json": {}},
        403,
        "coordinator_only",
        id="member-approves-member",
    ),
    P(
        "carol",
        "POST",
        "/coordinator/members/{pete}/refuse",
        {"json": {"reason": "x"}},
        403,
        "coordinator_only",
        id="member-refuses-member",
    ),
    P(
        "carol",
        "POST",
        "/coordinator/members/{carol}/role",
        {"json": {"role": "coordinator"}},
        403,
        "coordinator_only",
        id="member-promotes-self",
    ),
    P(
        "carol",
        "POST",
        "/coordinator/conflicts",
        {"json": {"member_handle": "anna", "organisation": "x"}},
        403,
        "coordinator_only",
        id="member-pins-conflict",
    ),
    P(
        "carol",
        "POST",
        "/coordinator/bookings/{booking}/resolve",
        {"json": {"outcome": "split", "note": "x"}},
        403,
        "coordinator_only",
        id="member-resolves-booking",
    ),
    P("carol", "GET", "/coordinator/disputes", {}, 403, "coordinator_only", id="member-reads-disputes"),
    P("carol", "GET", "/federation/peers", {}, 403, "coordinator_only", id="member-lists-peers"),
    P(
        "carol",
        "POST",
        "/federation/peers",
        {"json": {"url": "http://127.0.0.1:1"}},
        403,
        "coordinator_only",
        id="member-adds-peer",
    ),
    P(
        "carol",
        "POST",
        "/federation/peers/hu/suspend",
        {"json": {"reason": "x"}},
        403,
        "coordinator_only",
        id="member-suspends-peer",
    ),
    P(
        "carol",
        "POST",
        "/federation/peers/hu/trust-limit",
        {"json": {"trust_limit": 10**6}},
        403,
        "coordinator_only",
        id="member-raises-trust-limit",
    ),
    P("carol", "POST", "/federation/settlements", {"json": {}}, 403, "coordinator_only", id="member-starts-settlement"),
    # messages: a thread is its two members' only; coordinators see reported messages, not threads
    P("carol", "GET", "/messages/threads/{thread}", {}, 404, "thread_not_found", id="msg-other-members-thread"),
    P("coord", "GET", "/messages/threads/{thread}", {}, 404, "thread_not_found", id="msg-coordinator-reads-thread"),
    P(
        "carol",
        "POST",
        "/messages/threads/{thread}/messages",
        {"json": {"body": "let me in"}},
        404,
        "thread_not_found",
        id="msg-write-into-other-thread",
    ),
    P("carol", "POST", "/messages/threads/{thread}/read", {}, 404, "thread_not_found", id="msg-read-other-thread"),
    P(
        "carol",
        "POST",
        "/messages/threads/{thread}/report",
        {"json": {"reason": "x"}},
        404,
        "thread_not_found",
        id="msg-report-other-thread",
    ),
    P(
        "anna",
        "POST",
        "/messages/threads/{thread}/report",
        {"json": {"reason": "x", "message_id": "1"}},
        422,
        "wrong_type",
        id="msg-report-message-id-as-string",
    ),
    P(
        "anna",
        "POST",
        "/messages/threads/{thread}/report",
        {"json": {"reason": "x", "message_id": 10**9}},
        404,
        "message_not_found",
        id="msg-report-unknown-message",
    ),
    P(
        "anna",
        "POST",
        "/messages/threads/{thread}/report",
        {"json": {"reason": "   "}},
        422,
        "missing_field",
        id="msg-report-without-reason",
    ),
    P(
        "anna",
        "POST",
        "/messages/threads",
        {"json": {"to": "anna", "body": "me"}},
        422,
        "own_address",
        id="msg-to-self",
    ),
    P(
        "anna",
        "POST",
        "/messages/threads",
        {"json": {"to": "pete", "body": "hi"}},
        404,
        "member_not_found",
        id="msg-to-pending-member",
    ),  # fmt: skip
    P(
        "pete",
        "POST",
        "/messages/threads",
        {"json": {"to": "anna", "body": "hi"}},
        403,
        "account_pending",
        id="msg-from-pending-member",
    ),  # fmt: skip
    P(
        "anna",
        "POST",
        "/messages/threads",
        {"json": {"to": "bob", "body": "x" * 4001}},
        422,
        "too_long",
        id="msg-too-long",
    ),
    P(
        "anna",
        "POST",
        "/messages/threads",
        {"json": {"to": "bob", "body": "hi", "cc": "carol"}},
        422,
        "unknown_field",
        id="msg-unknown-field",
    ),
    P("anna", "GET", "/coordinator/message-reports", {}, 403, "coordinator_only", id="msg-member-lists-reports"),
    P(
        "anna",
        "POST",
        "/coordinator/message-reports/1/handle",
        {"json": {"note": "x"}},
        403,
        "coordinator_only",
        id="msg-member-handles-report",
    ),
    P("anna", "POST", "/members/anna/block", {}, 422, "own_address", id="msg-block-self"),
    P("anna", "POST", "/members/nobody/block", {}, 404, "member_not_found", id="msg-block-unknown"),
    # the member directory
    P("pete", "GET", "/members", {}, 403, "account_pending", id="dir-pending-member-browses"),
    P("anna", "GET", "/members?cursor=eyJ4Ijo1fQ", {}, 422, "invalid_cursor", id="dir-forged-cursor"),
    P("anna", "GET", "/members?country=%3Cscript%3E", {}, 422, "invalid_country", id="dir-country-markup"),
    P("anna", "GET", "/advice/listings?cursor=WyJ4Il0", {}, 422, "invalid_cursor", id="market-forged-cursor"),
    P("anna", "GET", "/members/pete", {}, 404, "member_not_found", id="dir-pending-profile"),
    # coordinator input checks
    P(
        "coord",
        "POST",
        "/federation/peers/hu/trust-limit",
        {"json": {"trust_limit": 1.5}},
        422,
        "invalid_trust_limit",
        id="coord-float-trust-limit",
    ),
    P(
        "coord",
        "POST",
        "/federation/peers",
        {"json": {"url": "javascript:alert(1)"}},
        422,
        "invalid_url",
        id="coord-peer-url-scheme",
    ),
    P(
        "coord",
        "POST",
        "/federation/peers/hu%20/suspend",
        {"json": {"reason": "x"}},
        404,
        "peer_not_found",
        id="coord-lookalike-peer-id",
    ),
]


@pytest.mark.parametrize(("who", "method", "path", "kwargs", "status", "code"), CASES)
def test_hostile_api_request_is_refused_and_changes_nothing(world, who, method, path, kwargs, status, code):
    headers = (
        {"Authorization": "Bearer sif_forged_token_0123456789"} if who == "forged" else (world.auth(who) if who else {})
    )
    with unchanged(world.ctx):
        response = world.client().open(API + path.format(**world.ids), method=method, headers=headers, **kwargs)
    refused(response, status, code)


def test_another_members_profile_shows_no_private_field(world):
    """carol may see anna's public profile, but never her email, balance or pseudonym."""
    with unchanged(world.ctx):
        response = world.client().get(f"{API}/members/anna", headers=world.auth("carol"))
    assert response.status_code == 200 and response.json["handle"] == "anna"
    assert not {"email", "balance", "pseudonym", "pool_consent", "review_capacity"} & set(response.json)
