"""The advice exchange through the JSON API: every happy path, with the money checked at each step."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from node import notices
from node.api.advice import BOOKING, LISTING
from node.scheduler import register_app, run_sweeps
from node.services import advice
from node.tables import Account, AdviceBooking, LedgerTxn, Notification
from tests.conftest import balance_of

DAY = 24 * 3600
API = "/api/v1"
FINAL = ("confirmed", "paid", "refunded", "cancelled", "declined", "split")


# --- helpers shared by the advice test files -------------------------------------------


def escrow_of(ctx, booking_id: int) -> int | None:
    """The escrow balance of a session, None if no escrow was ever opened."""
    with ctx.db.read() as s:
        account = s.scalars(select(Account).where(Account.ref == f"escrow:advice:{booking_id}")).first()
        return None if account is None else account.balance


def check_escrows(ctx) -> None:
    """Every held session has its amount in escrow; every other session has nothing there."""
    with ctx.db.read() as s:
        bookings = s.scalars(select(AdviceBooking)).all()
    assert bookings
    for b in bookings:
        held = escrow_of(ctx, b.id)
        if b.status in ("booked", "claimed", "disputed"):
            assert held == b.amount, (b.id, b.status, held)
        else:
            assert held in (None, 0), (b.id, b.status, held)
        if b.status in FINAL and held is not None:
            assert b.provider_amount is not None and b.settled_at is not None


def notes(ctx, member, kind: str) -> list[Notification]:
    with ctx.db.read() as s:
        return s.scalars(
            select(Notification).where(Notification.member_id == member.id, Notification.kind == kind)
        ).all()


def txn_refs(ctx, booking_id: int) -> list[str]:
    with ctx.db.read() as s:
        return sorted(s.scalars(select(LedgerTxn.ref).where(LedgerTxn.ref.like(f"advice:{booking_id}:%"))).all())


def post_listing(client, headers, kind="offer", rate=1, title="Crowdfunding basics", tags=("education",)) -> int:
    r = client.post(
        f"{API}/advice/listings", headers=headers, json={"kind": kind, "title": title, "rate": rate, "tags": list(tags)}
    )
    assert r.status_code == 201, r.json
    return r.json["id"]


def book(client, headers, listing_id: int, hours=1, **extra) -> dict:
    r = client.post(f"{API}/advice/listings/{listing_id}/book", headers=headers, json={"hours": hours, **extra})
    assert r.status_code == 201, r.json
    return r.json


def act(client, headers, booking_id: int, action: str, body=None, status=200) -> dict:
    r = client.post(f"{API}/advice/bookings/{booking_id}/{action}", headers=headers, json=body or {})
    assert r.status_code == status, r.json
    return r.json


def conforms(value, schema: dict, path="$") -> None:
    """Check a response against the subset of JSON Schema the API documents (no jsonschema in the venv)."""
    types = schema.get("type")
    if types is not None:
        names = types if isinstance(types, list) else [types]
        pytypes = {"object": dict, "array": list, "string": str, "null": type(None), "boolean": bool}
        ok = any(
            (isinstance(value, int) and not isinstance(value, bool))
            if t == "integer"
            else isinstance(value, pytypes[t])
            for t in names
        )
        assert ok, f"{path}: {value!r} is not {types}"
    if "enum" in schema:
        assert value in schema["enum"], f"{path}: {value!r} not in {schema['enum']}"
    if isinstance(value, str):
        assert len(value) <= schema.get("maxLength", len(value)), path
        if schema.get("format") == "date-time":
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", value), f"{path}: {value!r}"
    if isinstance(value, int) and not isinstance(value, bool):
        assert schema.get("minimum", value) <= value <= schema.get("maximum", value), path
    if isinstance(value, dict):
        for key in schema.get("required", []):
            assert key in value, f"{path}: missing {key}"
        if schema.get("additionalProperties") is False:
            assert set(value) <= set(schema["properties"]), f"{path}: extra {set(value) - set(schema['properties'])}"
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                conforms(value[key], sub, f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            conforms(item, schema["items"], f"{path}[{i}]")


@pytest.fixture
def people(make_member, token_for):
    """anna offers advice, bert receives it, carl is a bystander, cora coordinates (each starts with 10)."""
    anna, bert, carl = make_member("anna"), make_member("bert"), make_member("carl")
    cora = make_member("cora", role="coordinator")
    return {name: (m, token_for(m)) for name, m in (("anna", anna), ("bert", bert), ("carl", carl), ("cora", cora))}


# --- happy paths ------------------------------------------------------------------------


def test_book_claim_confirm_pays_the_provider(client, ctx, people, books):
    (anna, a), (bert, b) = people["anna"], people["bert"]
    listing_id = post_listing(client, a, rate=2)
    booking = book(client, b, listing_id, hours=3, note="about our campaign")
    conforms(booking, BOOKING)
    assert (booking["status"], booking["amount"], booking["my_role"]) == ("booked", 6, "receiver")
    assert (balance_of(ctx, bert), escrow_of(ctx, booking["id"]), balance_of(ctx, anna)) == (4, 6, 10)
    assert notes(ctx, anna, "advice_booked")
    books()
    claimed = act(client, a, booking["id"], "claim")
    assert claimed["status"] == "claimed" and claimed["dispute_by"] == "2026-03-05T09:00:00Z"
    [claim_note] = notes(ctx, bert, "advice_claimed")
    assert claim_note.params["dispute_by"] == "2026-03-05T09:00:00Z"  # stored in UTC, rendered when read
    _, body = notices.text_of(claim_note, language="en", time_zone="UTC", settings=ctx.settings)
    assert "dispute it before Mar 5, 2026, 9:00\u202fAM" in body
    done = act(client, b, booking["id"], "confirm")
    conforms(done, BOOKING)
    assert (done["status"], done["provider_amount"], done["refunded_amount"], done["actions"]) == (
        "confirmed",
        6,
        0,
        [],
    )
    assert (balance_of(ctx, bert), escrow_of(ctx, booking["id"]), balance_of(ctx, anna)) == (4, 0, 16)
    assert notes(ctx, anna, "advice_confirmed") and notes(ctx, bert, "advice_confirmed")
    assert txn_refs(ctx, booking["id"]) == [f"advice:{booking['id']}:hold", f"advice:{booking['id']}:pay"]
    check_escrows(ctx)
    books()


def test_receiver_may_confirm_before_any_claim(client, ctx, people, books):
    (anna, a), (bert, b) = people["anna"], people["bert"]
    booking = book(client, b, post_listing(client, a), hours=2)
    assert act(client, b, booking["id"], "confirm")["status"] == "confirmed"
    assert (balance_of(ctx, anna), balance_of(ctx, bert)) == (12, 8)
    check_escrows(ctx)
    books()


def test_unchallenged_claim_is_paid_once_by_the_sweep(app, client, ctx, clock, people, books):
    (anna, a), (bert, b) = people["anna"], people["bert"]
    booking = book(client, b, post_listing(client, a), hours=4)
    act(client, a, booking["id"], "claim")
    key = register_app(app)
    clock.advance(3 * DAY - 1)
    assert run_sweeps(key)["pay_unchallenged_claims"] == 0
    assert balance_of(ctx, anna) == 10 and escrow_of(ctx, booking["id"]) == 4
    clock.advance(1)
    assert run_sweeps(key)["pay_unchallenged_claims"] == 1
    assert run_sweeps(key)["pay_unchallenged_claims"] == 0
    assert (balance_of(ctx, anna), balance_of(ctx, bert), escrow_of(ctx, booking["id"])) == (14, 6, 0)
    assert client.get(f"{API}/advice/bookings/{booking['id']}", headers=b).json["status"] == "paid"
    assert txn_refs(ctx, booking["id"]).count(f"advice:{booking['id']}:pay") == 1
    assert len(notes(ctx, anna, "advice_paid")) == 1 and len(notes(ctx, bert, "advice_paid")) == 1
    check_escrows(ctx)
    books()


def test_concurrent_sweeps_and_a_late_confirm_pay_once(client, ctx, clock, people, books):
    (anna, a), (bert, b) = people["anna"], people["bert"]
    ids = [book(client, b, post_listing(client, a, title=f"Session {n}"))["id"] for n in range(3)]
    for booking_id in ids:
        act(client, a, booking_id, "claim")
    clock.advance(3 * DAY)
    with ThreadPoolExecutor(4) as pool:
        confirm = pool.submit(client.post, f"{API}/advice/bookings/{ids[0]}/confirm", headers=b, json={})
        paid = list(pool.map(lambda _: advice.pay_unchallenged_claims(ctx), range(4)))
    # the receiver's confirm and the sweeps race for the first session: exactly one of them wins
    assert sum(paid) + (confirm.result().status_code == 200) == 3
    assert (balance_of(ctx, anna), balance_of(ctx, bert)) == (13, 7)
    for booking_id in ids:
        assert txn_refs(ctx, booking_id) == [f"advice:{booking_id}:hold", f"advice:{booking_id}:pay"]
    check_escrows(ctx)
    books()


def test_dispute_days_setting_sets_the_deadline(client, ctx, people):
    ctx.settings = ctx.settings.replace(dispute_days=7)
    (_anna, a), (_bert, b) = people["anna"], people["bert"]
    booking = book(client, b, post_listing(client, a))
    assert act(client, a, booking["id"], "claim")["dispute_by"] == "2026-03-09T09:00:00Z"


@pytest.mark.parametrize("who", ["bert", "anna"])
def test_either_party_cancels_before_a_claim_and_the_receiver_is_refunded(client, ctx, people, books, who):
    (anna, a), (bert, b) = people["anna"], people["bert"]
    booking = book(client, b, post_listing(client, a, rate=3), hours=2)
    assert balance_of(ctx, bert) == 4
    done = act(client, people[who][1], booking["id"], "cancel", {"reason": "ill"})
    assert (done["status"], done["provider_amount"], done["refunded_amount"]) == ("cancelled", 0, 6)
    assert (balance_of(ctx, bert), balance_of(ctx, anna), escrow_of(ctx, booking["id"])) == (10, 10, 0)
    other = anna if who == "bert" else bert
    assert notes(ctx, other, "advice_cancelled")
    assert txn_refs(ctx, booking["id"])[-1] == f"advice:{booking['id']}:refund"
    check_escrows(ctx)
    books()


@pytest.mark.parametrize(
    "outcome,extra,status,anna_gets",
    [
        ("pay_provider", {}, "paid", 5),
        ("refund_receiver", {}, "refunded", 0),
        ("split", {"provider_amount": 2}, "split", 2),
    ],
)
def test_dispute_is_settled_by_a_coordinator(client, ctx, people, books, outcome, extra, status, anna_gets):
    (anna, a), (bert, b), (cora, c) = people["anna"], people["bert"], people["cora"]
    booking = book(client, b, post_listing(client, a), hours=5)
    act(client, a, booking["id"], "claim")
    disputed = act(client, b, booking["id"], "dispute", {"reason": "she never showed up"})
    assert disputed["status"] == "disputed" and disputed["dispute_reason"] == "she never showed up"
    assert notes(ctx, cora, "advice_disputed") and notes(ctx, anna, "advice_disputed")
    listed = client.get(f"{API}/coordinator/disputes", headers=c)
    assert listed.status_code == 200
    conforms(listed.json, {"type": "object", "properties": {"bookings": {"type": "array", "items": BOOKING}}})
    assert [(d["id"], d["actions"]) for d in listed.json["bookings"]] == [(booking["id"], ["resolve"])]
    r = client.post(
        f"{API}/coordinator/bookings/{booking['id']}/resolve",
        headers=c,
        json={"outcome": outcome, "note": "heard both", **extra},
    )
    assert r.status_code == 200, r.json
    conforms(r.json, BOOKING)
    assert (r.json["status"], r.json["provider_amount"], r.json["refunded_amount"]) == (
        status,
        anna_gets,
        5 - anna_gets,
    )
    assert "heard both" in r.json["resolution"]
    assert (balance_of(ctx, anna), balance_of(ctx, bert), escrow_of(ctx, booking["id"])) == (
        10 + anna_gets,
        5 + 5 - anna_gets,
        0,
    )
    assert notes(ctx, anna, f"advice_{status}") and notes(ctx, bert, f"advice_{status}")
    assert client.get(f"{API}/coordinator/disputes", headers=c).json["bookings"] == []
    with ctx.db.read() as s:  # the split is one balanced transaction with three legs
        txn = s.scalars(
            select(LedgerTxn).where(LedgerTxn.ref.like(f"advice:{booking['id']}:%")).order_by(LedgerTxn.id.desc())
        ).first()
        assert txn.actor_id == cora.id
    check_escrows(ctx)
    books()


def test_a_request_charges_its_author_only_after_they_accept(client, ctx, people, books):
    (anna, a), (bert, b), (carl, c) = people["anna"], people["bert"], people["carl"]
    request_id = post_listing(client, b, kind="request", rate=2, title="Help with our statutes")
    proposal = book(client, a, request_id, hours=2, note="I did this for three co-ops")
    assert (proposal["status"], proposal["my_role"], proposal["actions"]) == ("proposed", "provider", ["cancel"])
    assert (balance_of(ctx, bert), escrow_of(ctx, proposal["id"])) == (10, None)
    assert notes(ctx, bert, "advice_proposed")
    # one open proposal per helper; another helper may propose too, and withdraw it at no cost
    r = client.post(f"{API}/advice/listings/{request_id}/book", headers=a, json={"hours": 1})
    assert r.status_code == 409 and r.json["error"]["code"] == "already_proposed"
    other = book(client, c, request_id, hours=1)
    assert act(client, c, other["id"], "cancel")["status"] == "cancelled"
    # the helper cannot accept for the author
    r = client.post(f"{API}/advice/bookings/{proposal['id']}/accept", headers=a, json={})
    assert r.status_code == 403 and r.json["error"]["code"] == "not_receiver"
    assert balance_of(ctx, bert) == 10
    accepted = act(client, b, proposal["id"], "accept")
    assert (accepted["status"], accepted["my_role"]) == ("booked", "receiver")
    assert (balance_of(ctx, bert), escrow_of(ctx, proposal["id"])) == (6, 4)
    assert notes(ctx, anna, "advice_booked")
    act(client, a, proposal["id"], "claim")
    act(client, b, proposal["id"], "confirm")
    assert (balance_of(ctx, anna), balance_of(ctx, bert), balance_of(ctx, carl)) == (14, 6, 10)
    check_escrows(ctx)
    books()


def test_listings_filter_and_close(client, people):
    (_anna, a), (_bert, b) = people["anna"], people["bert"]
    offer = post_listing(client, a, tags=("education", "food"))
    request_id = post_listing(client, b, kind="request", tags=("housing",))
    r = client.get(f"{API}/advice/listings", headers=b)
    conforms(r.json, {"type": "object", "properties": {"listings": {"type": "array", "items": LISTING}}})
    assert [x["id"] for x in r.json["listings"]] == [request_id, offer]
    assert [x["id"] for x in client.get(f"{API}/advice/listings?kind=offer", headers=b).json["listings"]] == [offer]
    assert [x["id"] for x in client.get(f"{API}/advice/listings?tag=food", headers=b).json["listings"]] == [offer]
    assert client.get(f"{API}/advice/listings?kind=request&tag=food", headers=b).json["listings"] == []
    r = client.get(f"{API}/advice/listings?kind=gift", headers=b)
    assert r.status_code == 422 and r.json["error"]["code"] == "bad_choice"
    r = client.get(f"{API}/advice/listings?tag=astrology", headers=b)
    assert r.status_code == 422 and r.json["error"]["code"] == "unknown_tag"
    r = client.post(f"{API}/advice/listings/{offer}/close", headers=b)
    assert r.status_code == 403 and r.json["error"]["code"] == "not_author"
    r = client.post(f"{API}/advice/listings/{offer}/close", headers=a)
    assert r.status_code == 200 and r.json["status"] == "closed"
    conforms(r.json, LISTING)
    assert [x["id"] for x in client.get(f"{API}/advice/listings", headers=b).json["listings"]] == [request_id]
    assert client.get(f"{API}/advice/listings/{offer}", headers=b).status_code == 404
    assert client.get(f"{API}/advice/listings/{offer}", headers=a).json["status"] == "closed"
    r = client.post(f"{API}/advice/listings/{offer}/close", headers=a)
    assert r.status_code == 409 and r.json["error"]["code"] == "illegal_transition"


def test_closing_a_listing_leaves_its_sessions_alone(client, ctx, people, books):
    (anna, a), (_bert, b) = people["anna"], people["bert"]
    listing_id = post_listing(client, a)
    booking = book(client, b, listing_id, hours=2)
    client.post(f"{API}/advice/listings/{listing_id}/close", headers=a)
    act(client, a, booking["id"], "claim")
    assert act(client, b, booking["id"], "confirm")["status"] == "confirmed"
    assert balance_of(ctx, anna) == 12
    books()


def test_my_sessions_list_both_roles(client, people):
    (_anna, a), (_bert, b) = people["anna"], people["bert"]
    given = book(client, b, post_listing(client, a))
    received = book(client, a, post_listing(client, b, title="Bert teaches food banks"))
    r = client.get(f"{API}/advice/bookings", headers=a)
    conforms(r.json, {"type": "object", "properties": {"bookings": {"type": "array", "items": BOOKING}}})
    assert [(x["id"], x["my_role"]) for x in r.json["bookings"]] == [
        (received["id"], "receiver"),
        (given["id"], "provider"),
    ]


def test_openapi_documents_every_advice_route(client):
    doc = client.get(f"{API}/openapi.json").json
    advice_ops = {
        (path, method) for path, ops in doc["paths"].items() for method, op in ops.items() if op["tags"] == ["advice"]
    }
    expected = {
        ("/api/v1/advice/listings", "get"),
        ("/api/v1/advice/listings", "post"),
        ("/api/v1/advice/listings/{listing_id}", "get"),
        ("/api/v1/advice/listings/{listing_id}/close", "post"),
        ("/api/v1/advice/listings/{listing_id}/book", "post"),
        ("/api/v1/advice/bookings", "get"),
        ("/api/v1/advice/bookings/{booking_id}", "get"),
        ("/api/v1/coordinator/disputes", "get"),
        ("/api/v1/coordinator/bookings/{booking_id}/resolve", "post"),
        ("/api/v1/advice/listings/{listing_id}/network-wide", "post"),
        ("/api/v1/advice/abroad", "get"),
        ("/api/v1/advice/abroad/{session_id}", "get"),
        ("/api/v1/advice/abroad/{session_id}/feedback", "get"),
        ("/api/v1/coordinator/disputes/abroad", "get"),
        ("/api/v1/coordinator/disputes/abroad/{session_id}/resolve", "post"),
    }
    expected |= {
        (f"/api/v1/advice/bookings/{{booking_id}}/{a}", "post")
        for a in ("accept", "decline", "confirm", "claim", "dispute", "cancel", "feedback")
    }
    expected |= {
        (f"/api/v1/advice/abroad/{{session_id}}/{a}", "post")
        for a in ("accept", "decline", "confirm", "claim", "dispute", "cancel", "feedback")
    }
    assert advice_ops == expected
    book_op = doc["paths"]["/api/v1/advice/listings/{listing_id}/book"]["post"]
    assert book_op["requestBody"]["content"]["application/json"]["schema"]["required"] == ["hours"]
    assert "201" in book_op["responses"]
