"""The ledger: double entry, limits, refusals that change nothing, exactly-once refs."""

from __future__ import annotations

import pytest

from node.errors import LedgerError, ValidationError
from node.services import ledger
from tests.conftest import balance_of


def test_welcome_grant_is_issuance_and_books_balance(ctx, make_member, books):
    anna = make_member("anna")
    assert balance_of(ctx, anna) == 10
    with ctx.db.read() as s:
        assert ledger.issuance_account(s, ctx.now()).balance == -10
    books()


def test_transfer_moves_money_and_keeps_running_balance(ctx, make_member, books):
    anna, bert = make_member("anna"), make_member("bert")
    with ctx.db.write() as s:
        ledger.transfer(s, payer=anna, payee=bert, amount=3, memo="coffee chat", now=ctx.now())
    assert (balance_of(ctx, anna), balance_of(ctx, bert)) == (7, 13)
    with ctx.db.read() as s:
        lines = ledger.statement(s, ledger.member_account(s, anna.id))
    assert [(line["amount"], line["balance_after"]) for line in lines] == [(-3, 7), (10, 10)]
    assert lines[0]["memo"] == "coffee chat" and lines[0]["counterparty"] == ["bert"]
    books()


@pytest.mark.parametrize(
    "amount, code",
    [
        (0, "amount_not_positive"),
        (-4, "amount_not_positive"),
        (1.5, "amount_not_integer"),
        (2.0, "amount_not_integer"),
        ("3", "amount_not_integer"),
        (True, "amount_not_integer"),
        (None, "amount_not_integer"),
        (2**53, "amount_too_large"),
    ],
)
def test_bad_amounts_are_refused_and_change_nothing(ctx, make_member, books, amount, code):
    anna, bert = make_member("anna"), make_member("bert")
    with pytest.raises(ValidationError) as err:
        with ctx.db.write() as s:
            ledger.transfer(s, payer=anna, payee=bert, amount=amount, memo="", now=ctx.now())
    assert err.value.code == code
    assert (balance_of(ctx, anna), balance_of(ctx, bert)) == (10, 10)
    books()


def test_self_transfer_refused(ctx, make_member, books):
    anna = make_member("anna")
    with pytest.raises(LedgerError) as err, ctx.db.write() as s:
        ledger.transfer(s, payer=anna, payee=anna, amount=1, memo="", now=ctx.now())
    assert err.value.code == "self_transfer"
    books()


def test_lower_limit_refuses_and_changes_nothing(ctx, make_member, books):
    anna, bert = make_member("anna"), make_member("bert")
    with ctx.db.write() as s:  # 10 - 15 = -5: exactly at the limit is allowed
        ledger.transfer(s, payer=anna, payee=bert, amount=15, memo="", now=ctx.now())
    with pytest.raises(LedgerError) as err, ctx.db.write() as s:
        ledger.transfer(s, payer=anna, payee=bert, amount=1, memo="", now=ctx.now())
    assert err.value.code == "insufficient_funds"
    assert (balance_of(ctx, anna), balance_of(ctx, bert)) == (-5, 25)
    books()


def test_cap_refuses(app, ctx, make_member, books):
    anna, bert = make_member("anna"), make_member("bert")
    with ctx.db.write() as s:
        ledger.member_account(s, bert.id).max_balance = 12
    with pytest.raises(LedgerError) as err, ctx.db.write() as s:
        ledger.transfer(s, payer=anna, payee=bert, amount=3, memo="", now=ctx.now())
    assert err.value.code == "balance_cap_exceeded"
    assert balance_of(ctx, anna) == 10
    books()


def test_unbalanced_post_refused(ctx, make_member, books):
    anna, bert = make_member("anna"), make_member("bert")
    with pytest.raises(LedgerError) as err, ctx.db.write() as s:
        ledger.post(
            s,
            kind="x",
            legs=[ledger.Leg(ledger.member_account(s, anna.id), -2), ledger.Leg(ledger.member_account(s, bert.id), 1)],
            memo="",
            now=ctx.now(),
        )
    assert err.value.code == "unbalanced"
    books()


def test_same_ref_posts_once(ctx, make_member, books):
    anna, bert = make_member("anna"), make_member("bert")
    for _ in range(3):
        with ctx.db.write() as s:
            ledger.transfer(s, payer=anna, payee=bert, amount=2, memo="", now=ctx.now(), ref="job:42")
    assert (balance_of(ctx, anna), balance_of(ctx, bert)) == (8, 12)
    books()


def test_failed_leg_inside_a_larger_transaction_leaves_no_partial_posting(ctx, make_member, books):
    """A refusal caught by the caller (as federation will do to bounce) rolls back only that posting."""
    anna, bert = make_member("anna"), make_member("bert")
    with ctx.db.write() as s:
        with pytest.raises(LedgerError):
            ledger.transfer(s, payer=anna, payee=bert, amount=16, memo="", now=ctx.now())
        ledger.transfer(s, payer=anna, payee=bert, amount=1, memo="", now=ctx.now())
    assert (balance_of(ctx, anna), balance_of(ctx, bert)) == (9, 11)
    books()


def test_closed_account_refuses_payments(ctx, make_member, books):
    from node.services import members

    anna, bert = make_member("anna"), make_member("bert")
    with ctx.db.write() as s:
        members.close_account(s, member=s.get(type(bert), bert.id), now=ctx.now())
    with pytest.raises(LedgerError) as err, ctx.db.write() as s:
        ledger.transfer(s, payer=anna, payee=s.get(type(bert), bert.id), amount=1, memo="", now=ctx.now())
    assert err.value.code == "account_closed"
    books()
