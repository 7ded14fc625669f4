"""Member events are written in the transaction of the change they tell of: with it, or not at all."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from node.services import events, ledger
from node.services.notify import notify
from node.tables import Member, MemberEvent
from tests.conftest import balance_of


def rows(ctx) -> list[tuple[int, str, dict]]:
    with ctx.db.read() as s:
        return [(e.member_id, e.kind, e.data) for e in s.scalars(select(MemberEvent).order_by(MemberEvent.id))]


def since(ctx, before: list) -> list[tuple[int, str, dict]]:
    return rows(ctx)[len(before) :]


def test_a_local_payment_tells_both_balances_and_the_payee(client, ctx, make_member, token_for):
    anna, bert = make_member("anna"), make_member("bert")
    before = rows(ctx)
    r = client.post("/api/v1/transfers", headers=token_for(anna), json={"to": "bert", "amount": 3, "memo": "soup"})
    assert r.status_code == 201, r.json
    written = since(ctx, before)
    assert (anna.id, "balance", {"balance": 7}) in written and (bert.id, "balance", {"balance": 13}) in written
    assert (bert.id, "payment", {"payer": "anna@be-vl", "amount": 3, "memo": "soup"}) in written
    [note] = [data for member_id, kind, data in written if kind == "notification"]
    assert note["kind"] == "payment" and note["params"]["amount"] == 3
    assert {member_id for member_id, _kind, _data in written} == {anna.id, bert.id}
    assert balance_of(ctx, bert) == 13


def test_a_refused_payment_writes_no_event(client, ctx, make_member, token_for):
    anna, _bert = make_member("anna"), make_member("bert")
    before = rows(ctx)
    r = client.post("/api/v1/transfers", headers=token_for(anna), json={"to": "bert", "amount": 10_000})
    assert r.status_code == 422 and r.json["error"]["code"] == "insufficient_funds"
    assert since(ctx, before) == []


def test_a_rolled_back_change_leaves_no_event_and_wakes_nobody(app, ctx, make_member):
    anna, bert = make_member("anna"), make_member("bert")
    hub = app.extensions["sifnet_live"]
    slot = hub.open(bert.id)
    before, mark = rows(ctx), hub.mark(bert.id)
    with pytest.raises(RuntimeError), ctx.db.write() as s:
        payer, payee = s.get(Member, anna.id), s.get(Member, bert.id)
        ledger.transfer(s, payer=payer, payee=payee, amount=2, memo="", now=ctx.now())
        raise RuntimeError("the request failed after the posting")
    assert since(ctx, before) == [] and balance_of(ctx, bert) == 10
    assert hub.mark(bert.id) == mark  # the commit hook rings only after a commit
    with ctx.db.write() as s:
        ledger.transfer(s, payer=s.get(Member, anna.id), payee=s.get(Member, bert.id), amount=2, memo="", now=ctx.now())
    assert hub.mark(bert.id) == mark + 1  # ... and does, once, after one
    hub.release(slot)


def test_a_notification_is_told_with_its_id_kind_and_parameters(ctx, make_member):
    rita = make_member("rita")
    with ctx.db.read() as s:
        newest = events.newest_id(s)
    with ctx.db.write() as s:
        notify(s, member_id=rita.id, kind="review_rated", params={"title": "Soup", "helpfulness": 4}, now=ctx.now())
    with ctx.db.read() as s:
        [event] = events.events_after(s, rita.id, newest)
    assert event.kind == "notification" and event.data["kind"] == "review_rated"
    assert event.data["params"] == {"title": "Soup", "helpfulness": 4} and isinstance(event.data["id"], int)


def test_unknown_kinds_are_refused(ctx, make_member):
    anna = make_member("anna")
    with pytest.raises(ValueError), ctx.db.write() as s:
        events.record(s, member_id=anna.id, kind="gossip", data={}, now=ctx.now())


def test_a_local_invitation_is_told_to_its_reviewer(client, ctx, make_member, token_for):
    anna = make_member("anna")
    rita = make_member("rita", is_reviewer=True, languages=["en"], expertise=["education"])
    before = rows(ctx)
    proposal = {
        "title": "Laptops for the library",
        "summary": "Lent like books.",
        "full_text": "The whole plan.",
        "tags": ["education"],
        "language": "en",
        "stage": "pilot",
        "reviews_wanted": 1,
        "bounty": 2,
    }
    r = client.post("/api/v1/proposals", headers=token_for(anna), json=proposal)
    assert r.status_code == 201, r.json
    [invitation] = [(m, data) for m, kind, data in since(ctx, before) if kind == "invitation"]
    assert invitation[0] == rita.id
    assert invitation[1]["title"] == "Laptops for the library" and invitation[1]["abroad"] is False


def test_the_sweep_forgets_old_events_and_keeps_the_newest(ctx, clock, make_member):
    anna = make_member("anna")
    with ctx.db.write() as s:
        for n in range(3):
            events.record(s, member_id=anna.id, kind="balance", data={"balance": n}, now=ctx.now())
    assert events.forget_old_events(ctx) == 0  # all young
    clock.advance(int(timedelta(hours=ctx.settings.live_keep_hours + 1).total_seconds()))
    with ctx.db.write() as s:
        events.record(s, member_id=anna.id, kind="balance", data={"balance": 9}, now=ctx.now())
    with ctx.db.read() as s:
        low, high = events.kept_range(s)
    assert events.forget_old_events(ctx) == high - low  # everything but the one written after the clock moved
    assert rows(ctx) == [(anna.id, "balance", {"balance": 9})]
    clock.advance(int(timedelta(hours=ctx.settings.live_keep_hours + 1).total_seconds()))
    assert events.forget_old_events(ctx) == 0  # the newest stays, however old: it says where ids stand
    with ctx.db.read() as s:
        assert events.kept_range(s) == (high, high)
