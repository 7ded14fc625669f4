"""Advice across borders in process: offers shared and kept, a booking on each side, answers that cross, twice is once.

Entries are applied with the handlers the inbox calls (their chain is the inbox's business, proven
between real processes in test_advice_abroad.py); what this node sends is read from its channel log.
"""

from __future__ import annotations

import json
from itertools import count

import pytest
from sqlalchemy import select

from federation.advice import adviser_side, booker_side
from federation.advice import offers as advice_offers
from federation.advice import sessions as advice_abroad
from federation.payments import transfers
from federation.tables import ChannelEntry, Peer, RemoteBooking
from node.errors import ConflictError, IllegalTransitionError, NotFoundError
from node.services import advice_listings
from node.tables import Account, AdviceListing, Member, Notification
from protocol import ChannelRef, Envelope, genesis_hash, make_envelope
from tests.conftest import START, balance_of

OFFER = {
    "ref": "17",
    "title": "Crowdfunding for a repair café",
    "description": "Two campaigns on our own platform.",
    "tags": ["funding-and-finance"],
    "rate": 2,
    "adviser": "rev-aa11bb22cc",
    "country": "IT",
}
_ids = count(1)


def envelope(type_name: str, body: dict, from_: str = "it") -> Envelope:
    channel = ChannelRef(1, genesis_hash(from_, "be-vl"))
    return make_envelope(
        type=type_name, from_=from_, to="be-vl", created=START, body=body, id=f"e-{next(_ids)}", channel=channel
    )


def apply(ctx, handler, type_name: str, body: dict, from_: str = "it") -> None:
    with ctx.db.write() as s:
        handler(s, ctx.federation, s.get(Peer, from_), envelope(type_name, body, from_), ctx.now())


def sent(ctx, type_name: str | None = None) -> list[dict]:
    """Bodies of what this node appended to its channels (of one type), oldest first."""
    with ctx.db.read() as s:
        rows = s.scalars(select(ChannelEntry).where(ChannelEntry.direction == "out").order_by(ChannelEntry.id)).all()
        return [json.loads(r.envelope)["body"] for r in rows if type_name is None or r.type == type_name]


def sent_types(ctx) -> list[str]:
    with ctx.db.read() as s:
        return list(
            s.scalars(select(ChannelEntry.type).where(ChannelEntry.direction == "out").order_by(ChannelEntry.id)).all()
        )


@pytest.fixture
def peers(ctx):
    with ctx.db.write() as s:
        for node_id, country in (("it", "IT"), ("hu", "HU")):
            s.add(
                Peer(
                    node_id=node_id,
                    name=f"SIF {country}",
                    base_url=f"http://{node_id}",
                    country=country,
                    fingerprint="x",
                    status="active",
                    created_at=START,
                )
            )


def market(ctx, **filters) -> list[tuple[str, str | None]]:
    with ctx.db.read() as s:
        rows, _ = advice_listings.list_listings(
            s, ctx.settings, shown_origins=advice_offers.active_origins(s), **filters
        )
        return [(listing.title, listing.origin_node) for listing, _ in rows]


# --- sharing offers ---------------------------------------------------------------------------------------


def test_only_consenting_open_offers_of_active_members_are_shared_under_a_pseudonym(ctx, peers, make_member):
    anna = make_member("anna")
    with ctx.db.write() as s:
        me = s.get(Member, anna.id)
        shared = advice_listings.create_listing(
            s, ctx.settings, member=me, data={"kind": "offer", "title": "Legal forms", "network_wide": True}, now=START
        )
        advice_listings.create_listing(
            s, ctx.settings, member=me, data={"kind": "offer", "title": "Home only"}, now=START
        )
        with pytest.raises(Exception) as refused:
            advice_listings.create_listing(
                s, ctx.settings, member=me, data={"kind": "request", "title": "Help", "network_wide": True}, now=START
            )
        assert refused.value.code == "not_an_offer"
        shared_id, pseudonym = shared.id, me.pseudonym
    assert advice_offers.share_offers(ctx.federation) == 2  # a snapshot to each active peer
    (snapshot, _) = sent(ctx, "advice_offer_snapshot")
    assert snapshot == {
        "offers": [
            {
                "ref": str(shared_id),
                "title": "Legal forms",
                "description": "",
                "tags": [],
                "rate": 1,
                "adviser": pseudonym,
                "country": "BE",
            }
        ]
    }
    assert "anna" not in json.dumps(sent(ctx)).lower()
    assert advice_offers.share_offers(ctx.federation) == 0  # nothing changed: nothing sent

    with ctx.db.write() as s:  # consent withdrawn: the offer leaves every peer
        advice_listings.set_network_wide(
            s, member=s.get(Member, anna.id), listing_id=shared_id, network_wide=False, now=START
        )
    assert advice_offers.share_offers(ctx.federation) == 2
    assert sent(ctx, "advice_offer_delta")[-1] == {"upserts": [], "removals": [str(shared_id)]}


def test_a_peers_offers_join_the_market_search_while_it_is_active_and_twice_is_once(ctx, peers, make_member):
    make_member("anna")
    snapshot = {"offers": [OFFER, {**OFFER, "ref": "18", "title": "Bookkeeping basics", "tags": ["governance"]}]}
    apply(ctx, advice_offers.apply_snapshot, "advice_offer_snapshot", snapshot)
    apply(ctx, advice_offers.apply_snapshot, "advice_offer_snapshot", snapshot)
    assert sorted(market(ctx)) == [("Bookkeeping basics", "it"), ("Crowdfunding for a repair café", "it")]
    assert market(ctx, q="crowd") == [("Crowdfunding for a repair café", "it")]
    assert market(ctx, tag="governance") == [("Bookkeeping basics", "it")]
    with ctx.db.read() as s:
        row = s.scalars(select(AdviceListing).where(AdviceListing.origin_ref == "17")).one()
        view = advice_listings.listing_view(row, None)
    assert (view["author"], view["abroad"], row.member_id) == (OFFER["adviser"], {"node": "it", "country": "IT"}, None)

    apply(ctx, advice_offers.apply_delta, "advice_offer_delta", {"upserts": [{**OFFER, "rate": 3}], "removals": ["18"]})
    apply(ctx, advice_offers.apply_delta, "advice_offer_delta", {"upserts": [{**OFFER, "rate": 3}], "removals": ["18"]})
    assert market(ctx) == [("Crowdfunding for a repair café", "it")]
    with ctx.db.read() as s:
        assert s.scalars(select(AdviceListing.rate).where(AdviceListing.origin_node == "it")).all() == [3]

    with ctx.db.write() as s:
        s.get(Peer, "it").status = "suspended"
    assert market(ctx) == []  # a suspended peer's offers are neither shown nor bookable
    with ctx.db.read() as s:
        with pytest.raises(NotFoundError):
            advice_listings.get_listing(s, row.id, s.get(Member, 1), advice_offers.active_origins(s))


# --- the booker's side --------------------------------------------------------------------------------------


def _book(ctx, member, **data) -> RemoteBooking:
    with ctx.db.write() as s:
        listing = s.scalars(select(AdviceListing).where(AdviceListing.origin_ref == OFFER["ref"])).one()
        row = ctx.remote_advice.book(
            s, member=s.get(Member, member.id), listing=listing, data={"hours": 2, **data}, now=ctx.now()
        )
        s.flush()
        s.expunge(row)
    return row


def _row(ctx, row_id: int) -> RemoteBooking:
    with ctx.db.read() as s:
        row = s.get(RemoteBooking, row_id)
        s.expunge(row)
        return row


def _balance(ctx, ref: str) -> int:
    with ctx.db.read() as s:
        account = s.scalars(select(Account).where(Account.ref == ref)).first()
        return account.balance if account is not None else 0


def _position(ctx, peer_id: str) -> int:
    return _balance(ctx, f"position:{peer_id}")


def test_booking_abroad_holds_at_home_and_pays_the_adviser_across_the_border_once(ctx, peers, make_member, books):
    apply(ctx, advice_offers.apply_snapshot, "advice_offer_snapshot", {"offers": [OFFER]})
    lena = make_member("lena")
    row = _book(ctx, lena, note="About my campaign")
    assert balance_of(ctx, lena) == 10 - 4
    (book,) = sent(ctx, "advice_book")
    assert book == {
        "booking_id": row.booking_ref,
        "offer_ref": "17",
        "adviser": OFFER["adviser"],
        "booker_name": "Lena",
        "hours": 2,
        "rate": 2,
        "amount": 4,
        "note": "About my campaign",
    }
    with ctx.db.read() as s:
        view = advice_abroad.session_view(s, s.get(RemoteBooking, row.id), s.get(Member, lena.id), ctx.now())
    assert (view["status"], view["provider_name"], view["actions"]) == ("booked", OFFER["adviser"], ["cancel"])

    answer = {"booking_id": row.booking_ref, "adviser_name": "Giulia Rossi"}
    apply(ctx, booker_side.apply_accept, "advice_accept", answer)
    apply(ctx, booker_side.apply_accept, "advice_accept", answer)  # delivered twice: once
    assert (_row(ctx, row.id).status, _row(ctx, row.id).adviser_name) == ("accepted", "Giulia Rossi")
    apply(ctx, booker_side.apply_claim, "advice_claim", {"booking_id": row.booking_ref})
    with ctx.db.write() as s:
        booker_side.confirm(s, ctx.federation, member=s.get(Member, lena.id), session_id=row.id, now=ctx.now())
    with ctx.db.write() as s:
        with pytest.raises(IllegalTransitionError):
            booker_side.confirm(s, ctx.federation, member=s.get(Member, lena.id), session_id=row.id, now=ctx.now())
    assert sent_types(ctx)[-2:] == ["advice_settle", "transfer"]
    assert sent(ctx, "advice_settle")[-1]["outcome"] == "confirmed"
    assert sent(ctx, "transfer")[-1] == {
        "transfer_id": f"advice-{row.booking_ref}",
        "payer": "advice-session",
        "payee": OFFER["adviser"],
        "amount": 4,
        "memo": f"Advice session: {OFFER['title']}",
    }
    assert _position(ctx, "it") == 4 and balance_of(ctx, lena) == 6
    assert _balance(ctx, f"escrow:xadvice:{row.id}") == 0
    books()

    # The adviser's node returns the payment: the booker gets it back, once.
    bounce = {"transfer_id": f"advice-{row.booking_ref}", "reason_code": "unknown_payee", "reason": "gone"}
    apply(ctx, transfers.apply_bounce, "transfer_bounce", bounce)
    apply(ctx, transfers.apply_bounce, "transfer_bounce", bounce)
    assert _position(ctx, "it") == 0 and balance_of(ctx, lena) == 10
    books()


def test_a_decline_refunds_once_and_answers_after_the_bookers_cancel_are_ignored(ctx, peers, make_member, books):
    apply(ctx, advice_offers.apply_snapshot, "advice_offer_snapshot", {"offers": [OFFER]})
    lena = make_member("lena")
    declined = _book(ctx, lena)
    no = {"booking_id": declined.booking_ref, "reason_code": "declined", "reason": "Not that week"}
    apply(ctx, booker_side.apply_decline, "advice_decline", no)
    apply(ctx, booker_side.apply_decline, "advice_decline", no)
    assert _row(ctx, declined.id).status == "declined" and balance_of(ctx, lena) == 10

    crossed = _book(ctx, lena)
    with ctx.db.write() as s:
        booker_side.cancel(
            s, ctx.federation, member=s.get(Member, lena.id), session_id=crossed.id, reason="Found help", now=ctx.now()
        )
    assert sent(ctx, "advice_cancel")[-1] == {"booking_id": crossed.booking_ref, "reason": "Found help"}
    # The adviser accepted and claimed before our cancel reached them: we decided first, nothing changes here.
    apply(ctx, booker_side.apply_accept, "advice_accept", {"booking_id": crossed.booking_ref, "adviser_name": "G"})
    apply(ctx, booker_side.apply_claim, "advice_claim", {"booking_id": crossed.booking_ref})
    assert (_row(ctx, crossed.id).status, _row(ctx, crossed.id).adviser_name) == ("cancelled", "")
    assert balance_of(ctx, lena) == 10 and _position(ctx, "it") == 0
    # Another peer cannot answer for it.
    apply(ctx, booker_side.apply_decline, "advice_decline", {**no, "booking_id": crossed.booking_ref}, from_="hu")
    books()


def test_a_dispute_is_settled_by_a_coordinator_at_home_and_the_claim_is_paid_after_the_period(
    ctx, peers, make_member, clock, books
):
    apply(ctx, advice_offers.apply_snapshot, "advice_offer_snapshot", {"offers": [{**OFFER, "rate": 3}]})
    lena, coord = make_member("lena"), make_member("coord", role="coordinator")
    disputed, unchallenged = _book(ctx, lena), _book(ctx, lena)
    for row in (disputed, unchallenged):
        apply(ctx, booker_side.apply_accept, "advice_accept", {"booking_id": row.booking_ref, "adviser_name": "G"})
        apply(ctx, booker_side.apply_claim, "advice_claim", {"booking_id": row.booking_ref})
    with ctx.db.write() as s:
        booker_side.dispute(
            s, ctx.federation, member=s.get(Member, lena.id), session_id=disputed.id, reason="No show", now=ctx.now()
        )
        with pytest.raises(Exception) as refused:
            booker_side.resolve(
                s,
                ctx.federation,
                coordinator=s.get(Member, lena.id),
                session_id=disputed.id,
                outcome="split",
                note="x",
                provider_amount=2,
                now=ctx.now(),
            )
        assert refused.value.code == "coordinator_only"
    with ctx.db.write() as s:
        booker_side.resolve(
            s,
            ctx.federation,
            coordinator=s.get(Member, coord.id),
            session_id=disputed.id,
            outcome="split",
            note="Half of it",
            provider_amount=2,
            now=ctx.now(),
        )
    assert sent(ctx, "advice_dispute")[-1] == {"booking_id": disputed.booking_ref, "reason": "No show"}
    assert sent(ctx, "advice_settle")[-1] == {
        "booking_id": disputed.booking_ref,
        "outcome": "split",
        "adviser_amount": 2,
        "note": "coord: Half of it",
    }
    assert balance_of(ctx, lena) == 10 - 12 + 4 and _position(ctx, "it") == 2

    clock.advance(ctx.settings.dispute_days * 86400 + 1)
    assert booker_side.pay_unchallenged_claims(ctx) == 1
    assert booker_side.pay_unchallenged_claims(ctx) == 0
    assert _row(ctx, unchallenged.id).status == "paid" and _position(ctx, "it") == 8
    books()


# --- the adviser's side ---------------------------------------------------------------------------------------


def _offer(ctx, member, **extra) -> int:
    with ctx.db.write() as s:
        data = {"kind": "offer", "title": "Impact measurement", "rate": 2, "network_wide": True, **extra}
        return advice_listings.create_listing(s, ctx.settings, member=s.get(Member, member.id), data=data, now=START).id


def _booking(ctx, listing_id: int, pseudonym: str, ref: str, **changes) -> dict:
    body = {
        "booking_id": ref,
        "offer_ref": str(listing_id),
        "adviser": pseudonym,
        "booker_name": "Lena Huber",
        "hours": 2,
        "rate": 2,
        "amount": 4,
        "note": "",
        **changes,
    }
    apply(ctx, adviser_side.apply_book, "advice_book", body)
    return body


def _incoming(ctx, ref: str) -> RemoteBooking | None:
    with ctx.db.read() as s:
        row = booker_side.find_booking(s, "it", ref, "adviser")
        if row is not None:
            s.expunge(row)
        return row


def test_a_booking_from_abroad_reaches_the_adviser_alone_or_is_declined_at_once(ctx, peers, make_member):
    giulia = make_member("giulia", language="it")
    listing_id = _offer(ctx, giulia)
    with ctx.db.read() as s:
        pseudonym = s.get(Member, giulia.id).pseudonym
    _booking(ctx, listing_id, pseudonym, "b-1")
    _booking(ctx, listing_id, pseudonym, "b-1")  # twice: once
    row = _incoming(ctx, "b-1")
    assert (row.status, row.member_id, row.booker_name, row.amount) == ("booked", giulia.id, "Lena Huber", 4)
    with ctx.db.read() as s:
        kinds = s.scalars(select(Notification.kind).where(Notification.member_id == giulia.id)).all()
    assert kinds.count("advice_booked_abroad") == 1

    _booking(ctx, listing_id, pseudonym, "b-2", rate=1, amount=2)
    _booking(ctx, listing_id, pseudonym, "b-3", amount=5)
    _booking(ctx, listing_id, "rev-someone", "b-4")
    _booking(ctx, _offer(ctx, giulia, network_wide=False), pseudonym, "b-5")
    assert [(b["booking_id"], b["reason_code"]) for b in sent(ctx, "advice_decline")] == [
        ("b-2", "offer_changed"),
        ("b-3", "bad_amount"),
        ("b-4", "not_available"),
        ("b-5", "not_available"),
    ]
    assert all(_incoming(ctx, ref) is None for ref in ("b-2", "b-3", "b-4", "b-5"))


def test_the_adviser_follows_the_bookers_node_when_answers_cross_and_is_paid_once(ctx, peers, make_member, books):
    giulia = make_member("giulia")
    listing_id = _offer(ctx, giulia)
    with ctx.db.read() as s:
        pseudonym = s.get(Member, giulia.id).pseudonym

    def act(action: str, ref: str, **kw):
        with ctx.db.write() as s:
            row = _incoming(ctx, ref)
            return advice_abroad.act(
                s,
                ctx.federation,
                member=s.get(Member, giulia.id),
                session_id=row.id,
                action=action,
                reason=kw.get("reason"),
                now=ctx.now(),
            )

    # A decline that crossed the booker's cancel ends as the booker's node decided: cancelled.
    _booking(ctx, listing_id, pseudonym, "x-1")
    act("decline", "x-1", reason="Busy")
    apply(ctx, advice_abroad.apply_cancel, "advice_cancel", {"booking_id": "x-1", "reason": "Found help"})
    assert _incoming(ctx, "x-1").status == "cancelled"

    # A cancel that crossed the booker's confirmation ends as confirmed, and the payment credits the adviser.
    _booking(ctx, listing_id, pseudonym, "x-2")
    act("accept", "x-2")
    assert sent(ctx, "advice_accept")[-1] == {"booking_id": "x-2", "adviser_name": "Giulia"}
    with pytest.raises(ConflictError):
        act("decline", "x-2", reason="Too late")  # accepted: only cancel now
    act("cancel", "x-2", reason="Ill")
    settle = {"booking_id": "x-2", "outcome": "confirmed", "adviser_amount": 4, "note": "confirmed by the receiver"}
    apply(ctx, adviser_side.apply_settle, "advice_settle", settle)
    apply(ctx, adviser_side.apply_settle, "advice_settle", settle)
    assert _incoming(ctx, "x-2").status == "confirmed"
    pay = {"transfer_id": "advice-x-2", "payer": "advice-session", "payee": pseudonym, "amount": 4, "memo": "m"}
    apply(ctx, transfers.apply_transfer, "transfer", pay)
    apply(ctx, transfers.apply_transfer, "transfer", pay)  # the same transfer again: answered, moves nothing
    assert balance_of(ctx, giulia) == 14 and _position(ctx, "it") == -4
    # A payment naming a booking that is not paid here is returned, never credited to a look-alike handle.
    apply(ctx, transfers.apply_transfer, "transfer", {**pay, "transfer_id": "advice-x-1"})
    assert sent(ctx, "transfer_bounce")[-1]["reason_code"] == "unknown_payee"
    assert balance_of(ctx, giulia) == 14
    assert [b["transfer_id"] for b in sent(ctx, "transfer_receipt")] == ["advice-x-2", "advice-x-2"]
    books()


def test_the_sessions_page_lists_bookings_abroad_with_the_country_in_the_readers_language(app, ctx, peers, make_member):
    from tests.node.test_web import csrf, login

    apply(ctx, advice_offers.apply_snapshot, "advice_offer_snapshot", {"offers": [OFFER]})
    lena = make_member("lena", language="de")
    browser = app.test_client()
    login(browser, "lena@example.org")
    page = browser.get("/advice").get_data(as_text=True)
    assert f"{OFFER['adviser']} (Italien)" in page
    listing_id = market_id(ctx)
    page = browser.get(f"/advice/listings/{listing_id}").get_data(as_text=True)
    assert "Italien" in page and OFFER["title"] in page
    r = browser.post(f"/advice/listings/{listing_id}/book", data={"csrf_token": csrf(browser, "/advice"), "hours": "1"})
    assert r.status_code == 303 and sent_types(ctx) == ["advice_book"]
    page = browser.get("/advice/sessions").get_data(as_text=True)
    assert OFFER["title"] in page and "Italien" in page and "/advice/abroad/" in page
    assert balance_of(ctx, lena) == 8


def market_id(ctx) -> int:
    with ctx.db.read() as s:
        return s.scalars(select(AdviceListing.id).where(AdviceListing.origin_node == "it")).one()


def test_the_api_answers_bookings_abroad_as_documented_on_both_sides(app, ctx, peers, make_member, token_for):
    from node.api.advice import BOOKING, LISTING
    from tests.node.test_advice import conforms

    apply(ctx, advice_offers.apply_snapshot, "advice_offer_snapshot", {"offers": [OFFER]})
    lena, giulia = make_member("lena"), make_member("giulia")
    client = app.test_client()
    listing = client.get(f"/api/v1/advice/listings/{market_id(ctx)}", headers=token_for(lena)).json
    conforms(listing, LISTING)
    assert listing["abroad"] == {"node": "it", "country": "IT"}
    booked = client.post(f"/api/v1/advice/listings/{listing['id']}/book", json={"hours": 1}, headers=token_for(lena))
    assert booked.status_code == 201, booked.json
    conforms(booked.json, BOOKING)
    assert booked.json["abroad"] == {"node": "it", "country": "IT", "payment": None}
    apply(ctx, advice_offers.apply_delta, "advice_offer_delta", {"upserts": [], "removals": ["17"]})  # unshared
    answer = client.get(f"/api/v1/advice/abroad/{booked.json['id']}", headers=token_for(lena)).json
    conforms(answer, BOOKING)
    assert answer["listing_id"] is None and answer["listing_title"] == OFFER["title"]

    listing_id = _offer(ctx, giulia)
    with ctx.db.read() as s:
        pseudonym = s.get(Member, giulia.id).pseudonym
    _booking(ctx, listing_id, pseudonym, "api-1")
    mine = client.get("/api/v1/advice/abroad", headers=token_for(giulia)).json["bookings"]
    conforms({"bookings": mine}, {"type": "object", "properties": {"bookings": {"type": "array", "items": BOOKING}}})
    assert [(b["my_role"], b["receiver_name"], b["actions"]) for b in mine] == [
        ("provider", "Lena Huber", ["accept", "decline"])
    ]
    # Another member reaches neither side's booking; a booker cannot act as the adviser.
    assert client.get(f"/api/v1/advice/abroad/{mine[0]['id']}", headers=token_for(lena)).status_code == 404
    refused = client.post(f"/api/v1/advice/abroad/{booked.json['id']}/claim", headers=token_for(lena))
    assert (refused.status_code, refused.json["error"]["code"]) == (403, "not_provider")


def test_an_answer_to_a_suspended_peer_is_refused_and_changes_nothing(ctx, peers, make_member):
    giulia = make_member("giulia")
    listing_id = _offer(ctx, giulia)
    with ctx.db.read() as s:
        pseudonym = s.get(Member, giulia.id).pseudonym
    _booking(ctx, listing_id, pseudonym, "s-1")
    with ctx.db.write() as s:
        s.get(Peer, "it").status = "suspended"
    before = sent_types(ctx)
    with pytest.raises(ConflictError) as refused, ctx.db.write() as s:
        adviser_side.accept(
            s, ctx.federation, member=s.get(Member, giulia.id), session_id=_incoming(ctx, "s-1").id, now=ctx.now()
        )
    assert refused.value.code == "peer_not_active"
    assert "cannot reach it now" in refused.value.message and "suspended" in refused.value.message
    assert _incoming(ctx, "s-1").status == "booked" and sent_types(ctx) == before
