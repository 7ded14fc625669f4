"""The transfer hot path: token lookup inside the write transaction, cached accounts, refusals change nothing."""

from __future__ import annotations

from sqlalchemy import event, select, update

from node.db import WRITE_LOCK_KEY
from node.services import ledger
from node.tables import Account, ApiToken
from tests.conftest import balance_of


def _statements(ctx) -> list:
    seen: list = []
    event.listen(ctx.db.engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def test_token_errors_come_before_body_errors(client, ctx, make_member, token_for):
    anna = make_member("anna")
    bad_body = {"data": b"{not json", "headers": {"Content-Type": "application/json"}}
    assert client.post("/api/v1/transfers", **bad_body).get_json()["error"]["code"] == "token_missing"
    wrong = client.post(
        "/api/v1/transfers", **{**bad_body, "headers": {**bad_body["headers"], "Authorization": "Bearer sif_nonsense"}}
    )
    assert (wrong.status_code, wrong.get_json()["error"]["code"]) == (401, "token_invalid")
    good = {**bad_body["headers"], **token_for(anna)}
    assert (
        client.post("/api/v1/transfers", data=b"{not json", headers=good).get_json()["error"]["code"] == "invalid_json"
    )


def test_revoked_token_is_refused_by_the_transfer_itself(client, ctx, make_member, token_for, books):
    anna, bert = make_member("anna"), make_member("bert")
    headers = token_for(anna)
    assert client.post("/api/v1/transfers", json={"to": "bert", "amount": 2}, headers=headers).status_code == 201
    with ctx.db.write() as s:
        s.execute(update(ApiToken).where(ApiToken.member_id == anna.id).values(revoked=True))
    refused = client.post("/api/v1/transfers", json={"to": "bert", "amount": 2}, headers=headers)
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (401, "token_invalid")
    assert (balance_of(ctx, anna), balance_of(ctx, bert)) == (8, 12)
    books()


def test_transfer_answers_the_balance_the_database_holds(client, ctx, make_member, token_for, books):
    anna, _ = make_member("anna"), make_member("bert")
    out = client.post("/api/v1/transfers", json={"to": "bert", "amount": 3, "memo": "tea"}, headers=token_for(anna))
    assert out.status_code == 201 and out.get_json()["balance"] == balance_of(ctx, anna) == 7
    refused = client.post("/api/v1/transfers", json={"to": "bert", "amount": 13}, headers=token_for(anna))
    assert refused.get_json()["error"]["code"] == "insufficient_funds"
    assert balance_of(ctx, anna) == 7
    books()


def test_one_write_transaction_and_no_lookup_twice(client, ctx, make_member, token_for):
    anna, _ = make_member("anna"), make_member("bert")
    headers = token_for(anna)
    seen = _statements(ctx)
    assert client.post("/api/v1/transfers", json={"to": "bert", "amount": 1}, headers=headers).status_code == 201
    # One write transaction: SQLite's BEGIN IMMEDIATE, or on PostgreSQL the writers' advisory lock
    # (psycopg begins implicitly).
    begins = [s for s in seen if s.startswith("BEGIN") or "pg_advisory_xact_lock" in s]
    assert begins == (["BEGIN IMMEDIATE"] if ctx.db.is_sqlite else [f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})"])
    # The payer (through the token) and the payee, each joined with its account: no separate account query.
    assert sum("FROM members" in s and "OUTER JOIN accounts" in s for s in seen) == 2
    assert not any(s.lstrip().startswith("SELECT accounts") for s in seen)
    assert not any(s.startswith("SAVEPOINT") for s in seen)


def test_member_accounts_in_order_and_cached_per_session(ctx, make_member):
    anna, bert = make_member("anna"), make_member("bert")
    with ctx.db.read() as s:
        seen = _statements(ctx)
        first = ledger.member_accounts(s, bert.id, anna.id)
        assert [a.ref for a in first] == [f"member:{bert.id}", f"member:{anna.id}"]
        assert ledger.member_account(s, anna.id) is first[1]
        assert len([q for q in seen if q.startswith("SELECT")]) == 1
    with ctx.db.read() as s:  # a new session reads again
        assert ledger.member_account(s, anna.id) is not first[1]


def test_cached_account_sees_a_closed_flag_set_in_the_same_session(ctx, make_member, books):
    anna, bert = make_member("anna"), make_member("bert")
    with ctx.db.write() as s:
        account = ledger.member_account(s, bert.id)
        account_id = account.id
        account.closed = True  # flushed by post() before its conditional updates
        try:
            ledger.post(
                s,
                kind="transfer",
                legs=[ledger.Leg(ledger.member_account(s, anna.id), -1), ledger.Leg(account, 1)],
                memo="",
                now=ctx.now(),
            )
        except ledger.LedgerError as exc:
            assert exc.code == "account_closed"
        else:  # pragma: no cover - the assertion message says what went wrong
            raise AssertionError("a closed account took a credit")
        s.rollback()
    with ctx.db.read() as s:
        assert s.get(Account, account_id).closed is False
    assert (balance_of(ctx, anna), balance_of(ctx, bert)) == (10, 10)
    books()


def test_a_refused_leg_undoes_the_legs_before_it_and_the_caller_goes_on(ctx, make_member, books):
    """Without a savepoint: a caller catching the refusal (a bounce) continues with nothing changed."""
    anna, bert, carl = make_member("anna"), make_member("bert"), make_member("carl")
    with ctx.db.write() as s:
        a, b, c = (ledger.member_account(s, m.id) for m in (anna, bert, carl))
        c.max_balance = 12  # the last leg (highest account id) is the one refused
        try:
            ledger.post(
                s,
                kind="transfer",
                legs=[ledger.Leg(a, -4), ledger.Leg(b, 1), ledger.Leg(c, 3)],
                memo="split",
                now=ctx.now(),
            )
        except ledger.LedgerError as exc:
            assert exc.code == "balance_cap_exceeded"
        else:  # pragma: no cover - the assertion message says what went wrong
            raise AssertionError("a capped account took a credit above its cap")
        # Same transaction, after the refusal: a smaller payment goes through and commits.
        ledger.post(s, kind="transfer", legs=[ledger.Leg(a, -2), ledger.Leg(c, 2)], memo="fits", now=ctx.now())
    assert (balance_of(ctx, anna), balance_of(ctx, bert), balance_of(ctx, carl)) == (8, 10, 12)
    with ctx.db.read() as s:
        assert [p["amount"] for p in ledger.statement(s, ledger.member_account(s, bert.id))] == [10]
    books()


def test_a_refused_first_leg_changes_nothing_either(ctx, make_member, books):
    anna, bert = make_member("anna"), make_member("bert")
    with ctx.db.write() as s:
        a, b = ledger.member_account(s, anna.id), ledger.member_account(s, bert.id)
        try:
            ledger.post(s, kind="transfer", legs=[ledger.Leg(a, -16), ledger.Leg(b, 16)], memo="", now=ctx.now())
        except ledger.LedgerError as exc:
            assert exc.code == "insufficient_funds"
        else:  # pragma: no cover - the assertion message says what went wrong
            raise AssertionError("an account went below its limit")
    assert (balance_of(ctx, anna), balance_of(ctx, bert)) == (10, 10)
    books()


def test_hot_path_rows_are_read_only_and_kept_in_step(ctx, make_member, books):
    """The plain rows the hot path reads stay in step with the database and refuse to be changed."""
    import dataclasses

    import pytest

    from node.services import members

    anna, bert = make_member("anna"), make_member("bert")
    with ctx.db.write() as s:
        payer, payee = members.find_by_handle(s, "anna", light=True), members.find_by_handle(s, "bert", light=True)
        assert isinstance(payer, members.MemberRef) and isinstance(ledger.member_account(s, anna.id), ledger.AccountRow)
        posted = ledger.transfer(s, payer=payer, payee=payee, amount=4, memo="", now=ctx.now())
        assert ledger.member_account(s, anna.id).balance == 6 and ledger.member_account(s, bert.id).balance == 14
        with pytest.raises(dataclasses.FrozenInstanceError):
            ledger.member_account(s, anna.id).closed = True  # change an account through the ORM, never a row
    with ctx.db.write() as s:  # the same ref a second time returns the first transaction, unchanged
        again = ledger.post(
            s,
            kind="x",
            ref="hot:1",
            memo="",
            now=ctx.now(),
            legs=[ledger.Leg(ledger.member_account(s, anna.id), -1), ledger.Leg(ledger.member_account(s, bert.id), 1)],
        )
        assert (
            ledger.post(
                s,
                kind="x",
                ref="hot:1",
                memo="",
                now=ctx.now(),
                legs=[
                    ledger.Leg(ledger.member_account(s, anna.id), -1),
                    ledger.Leg(ledger.member_account(s, bert.id), 1),
                ],
            ).id
            == again.id
        )
    assert posted.kind == "transfer" and again.ref == "hot:1"
    assert (balance_of(ctx, anna), balance_of(ctx, bert)) == (5, 15)
    books()


def test_the_light_lookup_sees_changes_pending_in_its_session(ctx, make_member):
    from node.services import members
    from node.tables import Member

    make_member("bert")
    with ctx.db.write() as s:
        bert = s.scalars(select(Member).where(Member.handle == "bert")).one()
        bert.status = "closed"  # not flushed yet
        assert members.find_by_handle(s, "bert", light=True).status == "closed"
