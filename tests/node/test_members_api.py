"""Members through the JSON API: sign-up, approval, tokens, profile, transfers, export, closing."""

from __future__ import annotations

from node.services import ledger
from tests.conftest import PASSWORD, balance_of, sign_up_by_mail


def _signup(app, handle="nora", email=None):
    body = {"email": email or f"{handle}@example.org", "password": PASSWORD, "display_name": handle.title()}
    return sign_up_by_mail(app, {**body, "handle": handle})


def _token(client, email):
    r = client.post("/api/v1/tokens", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.json
    return {"Authorization": f"Bearer {r.json['token']}"}


def test_signup_waits_for_approval_then_gets_grant(app, client, make_member, token_for, books):
    coord = make_member("coord", role="coordinator")
    r = _signup(app)
    assert r.status_code == 201 and r.json["status"] == "pending" and r.json["balance"] == 0
    nora_id = r.json["id"]
    nora = _token(client, "nora@example.org")
    # a pending member cannot pay yet
    r = client.post("/api/v1/transfers", headers=nora, json={"to": "coord", "amount": 1})
    assert r.status_code == 403 and r.json["error"]["code"] == "account_pending"
    # a plain member cannot approve
    r = client.post(f"/api/v1/coordinator/members/{nora_id}/approve", headers=nora, json={})
    assert r.status_code == 403 and r.json["error"]["code"] == "coordinator_only"
    r = client.post(
        f"/api/v1/coordinator/members/{nora_id}/approve", headers=token_for(coord), json={"reason": "known to us"}
    )
    assert r.status_code == 200 and r.json["status"] == "active" and r.json["balance"] == 10
    # approving twice is refused: the grant is issued once
    r = client.post(f"/api/v1/coordinator/members/{nora_id}/approve", headers=token_for(coord), json={})
    assert r.status_code == 409 and r.json["error"]["code"] == "illegal_transition"
    audit = client.get("/api/v1/coordinator/audit", headers=token_for(coord)).json["entries"]
    assert any(
        a["subject"] == f"member:{nora_id}"
        and a["action"] == "member_approved"
        and a["detail"] == {"reason": "known to us"}
        and a["actor_id"] == coord.id
        for a in audit
    )
    books()


def test_refusal_needs_a_reason(app, client, make_member, token_for):
    coord = make_member("coord", role="coordinator")
    nora_id = _signup(app).json["id"]
    r = client.post(f"/api/v1/coordinator/members/{nora_id}/refuse", headers=token_for(coord), json={})
    assert r.status_code == 422 and r.json["error"]["code"] == "missing_field"
    r = client.post(
        f"/api/v1/coordinator/members/{nora_id}/refuse",
        headers=token_for(coord),
        json={"reason": "not a social initiative"},
    )
    assert r.json["status"] == "refused"


def test_signup_refusals(client, make_member):
    make_member("anna")
    cases = [
        ({"email": "x", "password": PASSWORD, "display_name": "X"}, 422, "invalid_email"),
        ({"email": "x@example.org", "password": "short", "display_name": "X"}, 422, "weak_password"),
        ({"email": "y@example.org", "password": PASSWORD, "display_name": "Y", "handle": "anna"}, 409, "handle_taken"),
        ({"email": "y@example.org", "password": PASSWORD, "display_name": "Y", "admin": True}, 422, "unknown_field"),
    ]
    for body, status, code in cases:
        r = client.post("/api/v1/signup", json=body)
        assert (r.status_code, r.json["error"]["code"]) == (status, code), body
    r = client.post("/api/v1/signup", data="{not json", content_type="application/json")
    assert r.status_code == 400 and r.json["error"]["code"] == "invalid_json"


def test_transfer_api_and_refusals(client, ctx, make_member, token_for, books):
    anna, bert = make_member("anna"), make_member("bert")
    h = token_for(anna)
    r = client.post("/api/v1/transfers", headers=h, json={"to": "bert@be-vl", "amount": 4, "memo": "thanks"})
    assert r.status_code == 201 and r.json["balance"] == 6
    for body, code in [
        ({"to": "bert", "amount": 1.0}, "amount_not_integer"),
        ({"to": "bert", "amount": -1}, "amount_not_positive"),
        ({"to": "bert", "amount": 0}, "amount_not_positive"),
        ({"to": "anna", "amount": 1}, "self_transfer"),
        ({"to": "bert", "amount": 12}, "insufficient_funds"),
        ({"to": "nobody", "amount": 1}, "member_not_found"),
        ({"to": "zoe@hu", "amount": 1}, "unknown_peer_node"),
    ]:
        r = client.post("/api/v1/transfers", headers=h, json=body)
        assert r.status_code in (404, 422) and r.json["error"]["code"] == code, (body, r.json)
    assert (balance_of(ctx, anna), balance_of(ctx, bert)) == (6, 14)
    lines = client.get("/api/v1/me/statement", headers=h).json["lines"]
    assert lines[0]["amount"] == -4 and lines[0]["balance_after"] == 6
    books()


def test_no_token_and_bad_token(client):
    assert client.get("/api/v1/me").json["error"]["code"] == "token_missing"
    r = client.get("/api/v1/me", headers={"Authorization": "Bearer sif_notarealtoken"})
    assert r.status_code == 401 and r.json["error"]["code"] == "token_invalid"


def test_login_rate_limited(client, make_member):
    make_member("anna")
    for _ in range(5):
        r = client.post("/api/v1/tokens", json={"email": "anna@example.org", "password": "wrong password!"})
        assert r.status_code == 401 and r.json["error"]["code"] == "bad_credentials"
    r = client.post("/api/v1/tokens", json={"email": "anna@example.org", "password": PASSWORD})
    assert r.status_code == 429 and r.json["error"]["code"] == "login_rate_limited"


def test_profile_update_and_validation(client, make_member, token_for):
    anna = make_member("anna")
    h = token_for(anna)
    r = client.patch(
        "/api/v1/me",
        headers=h,
        json={
            "expertise": ["food", "housing"],
            "languages": ["nl", "en"],
            "is_reviewer": True,
            "organisation": "Buurtkeuken",
        },
    )
    assert r.status_code == 200 and r.json["expertise"] == ["food", "housing"] and r.json["is_reviewer"]
    assert r.json["pool_consent"] is False  # off by default
    for body, code in [
        ({"expertise": ["astrology"]}, "unknown_tag"),
        ({"is_reviewer": "yes"}, "invalid_boolean"),
        ({"bio": "x" * 2001}, "too_long"),
        ({"email": "new@example.org"}, "unknown_field"),
    ]:
        r = client.patch("/api/v1/me", headers=h, json=body)
        assert r.status_code == 422 and r.json["error"]["code"] == code


def test_export_and_close(client, ctx, make_member, token_for, books):
    anna, bert = make_member("anna"), make_member("bert")
    h = token_for(anna)
    client.post("/api/v1/transfers", headers=h, json={"to": "bert", "amount": 3})
    export = client.get("/api/v1/me/export", headers=h).json
    assert export["profile"]["email"] == "anna@example.org" and export["balance"] == 7
    assert len(export["statement"]) == 2
    r = client.post("/api/v1/me/close", headers=h)
    assert r.status_code == 200 and r.json["status"] == "closed"
    # the token died with the account; the person is pseudonymized; the books still balance
    assert client.get("/api/v1/me", headers=h).status_code == 401
    with ctx.db.read() as s:
        row = s.get(type(anna), anna.id)
        assert "anna" not in row.email and row.display_name.startswith("Former member")
        assert ledger.member_account(s, anna.id).balance == 0
    assert balance_of(ctx, bert) == 13
    books()


def test_coordinator_dashboard_shows_invariant_and_flags(client, ctx, make_member, token_for):
    coord, anna, _bert = make_member("coord", role="coordinator"), make_member("anna"), make_member("bert")
    client.post("/api/v1/transfers", headers=token_for(anna), json={"to": "bert", "amount": 15})
    data = client.get("/api/v1/coordinator/dashboard", headers=token_for(coord)).json
    assert data["invariant"]["ok"] and data["invariant"]["sum_of_balances"] == 0
    assert data["issued"] == 30 and data["totals"]["member"] == 30
    assert [m["handle"] for m in data["flagged"]] == ["anna"] and data["flagged"][0]["flags"] == ["at_lower_limit"]
    assert client.get("/api/v1/coordinator/dashboard", headers=token_for(anna)).status_code == 403
