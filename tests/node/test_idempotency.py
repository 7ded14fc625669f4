"""A form sent twice, or an API request repeated with its Idempotency-Key, moves money once and gets the first
answer again; a refused request leaves its key free; a key cannot be reused for another request."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from node.tables import AdviceListing, IdempotentRequest, LedgerTxn, Proposal
from tests.conftest import balance_of
from tests.node.test_web import login

PROPOSAL = {
    "title": "Repair café",
    "summary": "Neighbours fix things.",
    "full_text": "A van and volunteers.",
    "tags": "circular-economy",
    "language": "en",
    "stage": "pilot",
    "reviews_wanted": "1",
    "bounty": "2",
}


def form_fields(client, page: str, action: str) -> dict:
    """The hidden fields (CSRF and one-time token) of the form posting to `action` on `page`."""
    html = client.get(page).get_data(as_text=True)
    form = re.search(rf'<form[^>]*action="{re.escape(action)}"[^>]*>(.*?)</form>', html, re.S)
    if form is None and action == page:  # a form without action posts back to its page
        form = re.search(r'<form method="post"(?![^>]*action=)[^>]*>(.*?)</form>', html, re.S)
    assert form, f"no form for {action} on {page}"
    return dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', form.group(1)))


def txns(ctx) -> int:
    with ctx.db.read() as s:
        return s.execute(select(func.count()).select_from(LedgerTxn)).scalar_one()


def twice(client, action: str, data: dict):
    first = client.post(action, data=data)
    second = client.post(action, data=data)
    return first, second


def test_the_pay_form_sent_twice_pays_once(app, ctx, make_member, books):
    anna, bert = make_member("anna"), make_member("bert")
    web = app.test_client()
    login(web, anna.email)
    data = {**form_fields(web, "/pay", "/pay"), "to": "bert", "amount": "3", "memo": "lunch"}
    first, second = twice(web, "/pay", data)
    assert first.status_code == second.status_code == 303
    assert second.headers["Location"] == first.headers["Location"]
    assert (balance_of(ctx, anna), balance_of(ctx, bert)) == (7, 13)
    assert "already sent" in web.get(second.headers["Location"]).get_data(as_text=True)
    # a fresh form (a new token) is a new payment
    web.post("/pay", data={**form_fields(web, "/pay", "/pay"), "to": "bert", "amount": "3"})
    assert balance_of(ctx, anna) == 4
    books()


@pytest.mark.parametrize("form", ["proposal", "booking", "approval"])
def test_every_money_moving_form_sent_twice_moves_money_once(app, ctx, make_member, books, form):
    anna, bert = (
        make_member("anna"),
        make_member("bert", is_reviewer=True, languages=["en"], expertise=["circular-economy"]),
    )
    coordinator = make_member("cora", role="coordinator")
    web = app.test_client()
    if form == "proposal":
        login(web, anna.email)
        data = {**form_fields(web, "/proposals", "/proposals"), **PROPOSAL}
        action = "/proposals"
    elif form == "booking":
        with ctx.db.write() as s:
            s.add(
                AdviceListing(
                    member_id=bert.id,
                    kind="offer",
                    title="Grant writing",
                    description="",
                    tags=[],
                    rate=2,
                    status="open",
                    created_at=ctx.now(),
                )
            )
        with ctx.db.read() as s:
            listing = s.scalars(select(AdviceListing.id)).one()
        login(web, anna.email)
        action = f"/advice/listings/{listing}/book"
        data = {**form_fields(web, f"/advice/listings/{listing}", action), "hours": "2"}
    else:
        pending = make_member("pete", approve=False)
        login(web, coordinator.email)
        action = f"/coordinator/members/{pending.id}/decide"
        data = {**form_fields(web, "/coordinator/", action), "decision": "approve", "reason": "ok"}
    before = txns(ctx)
    first, second = twice(web, action, data)
    assert first.status_code == second.status_code == 303, first.get_data(as_text=True)[:300]
    assert txns(ctx) == before + 1
    with ctx.db.read() as s:
        assert s.execute(select(func.count()).select_from(Proposal)).scalar_one() == (1 if form == "proposal" else 0)
    books()


def test_a_refused_form_leaves_its_token_free(app, ctx, make_member, books):
    anna, _bert = make_member("anna"), make_member("bert")
    web = app.test_client()
    login(web, anna.email)
    hidden = form_fields(web, "/pay", "/pay")
    web.post("/pay", data={**hidden, "to": "bert", "amount": "50"})  # more than she has: refused, nothing kept
    assert balance_of(ctx, anna) == 10
    with ctx.db.read() as s:
        assert s.execute(select(func.count()).select_from(IdempotentRequest)).scalar_one() == 0
    web.post("/pay", data={**hidden, "to": "bert", "amount": "5"})  # the same form, corrected: a new request
    assert balance_of(ctx, anna) == 5
    books()


def api_pay(client, headers, body):
    return client.post("/api/v1/transfers", json=body, headers=headers)


def test_an_api_payment_repeated_with_its_key_pays_once(client, ctx, make_member, token_for, books):
    anna, bert = make_member("anna"), make_member("bert")
    auth = {**token_for(anna), "Idempotency-Key": "pay-bert-lunch-0001"}
    first = api_pay(client, auth, {"to": "bert", "amount": 4})
    second = api_pay(client, auth, {"to": "bert", "amount": 4})
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json == first.json and second.headers["Idempotent-Replayed"] == "true"
    assert (balance_of(ctx, anna), balance_of(ctx, bert)) == (6, 14)
    other = api_pay(client, auth, {"to": "bert", "amount": 5})
    assert (other.status_code, other.json["error"]["code"]) == (422, "idempotency_key_reused")
    # another member's identical key is theirs alone
    bert_auth = {**token_for(bert), "Idempotency-Key": "pay-bert-lunch-0001"}
    assert api_pay(client, bert_auth, {"to": "anna", "amount": 1}).status_code == 201
    assert balance_of(ctx, anna) == 7
    # without a key, a repeat is a new payment (the key is the client's way to say it is a retry)
    assert api_pay(client, token_for(anna), {"to": "bert", "amount": 1}).status_code == 201
    assert api_pay(client, token_for(anna), {"to": "bert", "amount": 1}).status_code == 201
    assert balance_of(ctx, anna) == 5
    books()


def test_a_refused_api_request_can_be_retried_with_its_key(client, ctx, make_member, token_for):
    anna, _ = make_member("anna"), make_member("bert")
    auth = {**token_for(anna), "Idempotency-Key": "retry-after-refusal"}
    assert api_pay(client, auth, {"to": "bert", "amount": 99}).status_code == 422
    assert api_pay(client, auth, {"to": "bert", "amount": 99}).status_code == 422  # not a replay: run again
    assert (
        api_pay(client, {**auth, "Idempotency-Key": "short"}, {"to": "bert", "amount": 1}).json["error"]["code"]
        == "invalid_idempotency_key"
    )


def test_a_key_whose_first_request_left_no_answer_is_refused_not_run_again(client, ctx, make_member, token_for):
    """The first request committed its change but its answer was never stored (the process died): the
    key stays taken, and a retry is told so instead of paying again."""
    anna, bert = make_member("anna"), make_member("bert")
    auth = {**token_for(anna), "Idempotency-Key": "lost-answer-0001"}
    assert api_pay(client, auth, {"to": "bert", "amount": 2}).status_code == 201
    with ctx.db.write() as s:
        s.execute(IdempotentRequest.__table__.update().values(status=None))
    again = api_pay(client, auth, {"to": "bert", "amount": 2})
    assert (again.status_code, again.json["error"]["code"]) == (409, "idempotency_in_progress")
    assert balance_of(ctx, bert) == 12


def test_keys_older_than_the_keep_window_are_forgotten_and_young_ones_still_answer(
    client, ctx, clock, make_member, token_for, books
):
    from node import idempotency

    anna, bert = make_member("anna"), make_member("bert")
    old_key = {**token_for(anna), "Idempotency-Key": "old-key-000001"}
    assert api_pay(client, old_key, {"to": "bert", "amount": 1}).status_code == 201
    assert idempotency.forget_old_keys(ctx) == 0  # young: nothing to forget
    clock.advance(ctx.settings.idempotency_keep_hours * 3600 - 60)
    young_key = {**token_for(anna), "Idempotency-Key": "young-key-0001"}
    assert api_pay(client, young_key, {"to": "bert", "amount": 2}).status_code == 201
    clock.advance(120)  # the first key is now past the window, the second is not

    assert idempotency.forget_old_keys(ctx) == 1
    with ctx.db.read() as s:
        assert list(s.scalars(select(IdempotentRequest.key))) == ["young-key-0001"]
    # the young key still answers its repeat from storage, moving nothing
    repeat = api_pay(client, young_key, {"to": "bert", "amount": 2})
    assert repeat.status_code == 201 and (balance_of(ctx, anna), balance_of(ctx, bert)) == (7, 13)
    assert idempotency.forget_old_keys(ctx) == 0
    books()
