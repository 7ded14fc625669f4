"""Concurrent spends from one account never overdraw it: in-process sessions, the WSGI app and a real process."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from node.errors import LedgerError
from node.services import ledger
from node.tables import Member
from tests.conftest import balance_of

GRANT, MIN_BALANCE = 10, -5  # the conftest app and the process below: 15 SIF may be spent
SPENDABLE = GRANT - MIN_BALANCE


def run_together(n: int, attempt) -> list:
    """Call attempt(i) from n threads released at the same moment; return every result or exception."""
    barrier = threading.Barrier(n)

    def go(i: int):
        barrier.wait()
        try:
            return attempt(i)
        except Exception as exc:  # collected and judged by the test, never swallowed
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(go, range(n)))


def test_concurrent_sessions_never_overdraw(ctx, make_member, books):
    anna = make_member("anna")
    payees = [make_member(f"payee{i}") for i in range(3)]

    def attempt(i: int):
        with ctx.db.write() as s:
            return ledger.transfer(
                s,
                payer=s.get(Member, anna.id),
                payee=s.get(Member, payees[i % 3].id),
                amount=1,
                memo=f"spend {i}",
                now=ctx.now(),
            ).id

    results = run_together(40, attempt)
    ok = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if not isinstance(r, int)]
    assert all(isinstance(r, LedgerError) and r.code == "insufficient_funds" for r in refused), refused
    assert len(ok) == SPENDABLE and len(set(ok)) == SPENDABLE
    assert balance_of(ctx, anna) == MIN_BALANCE
    assert sum(balance_of(ctx, p) for p in payees) == 3 * GRANT + SPENDABLE
    books()


def test_concurrent_mixed_amounts_refuse_only_what_would_overdraw(ctx, make_member, books):
    anna, bert = make_member("anna"), make_member("bert")
    rng = random.Random(7)
    amounts = [rng.randint(1, 4) for _ in range(30)]

    def attempt(i: int):
        with ctx.db.write() as s:
            ledger.transfer(
                s, payer=s.get(Member, anna.id), payee=s.get(Member, bert.id), amount=amounts[i], memo="", now=ctx.now()
            )
            return amounts[i]

    results = run_together(len(amounts), attempt)
    spent = sum(r for r in results if isinstance(r, int))
    refused = [(a, r) for a, r in zip(amounts, results) if not isinstance(r, int)]
    assert all(isinstance(r, LedgerError) and r.code == "insufficient_funds" for _, r in refused), refused
    final = balance_of(ctx, anna)
    assert final == GRANT - spent and final >= MIN_BALANCE
    # Balances only fall, so a refused amount must still not fit at the end.
    assert all(final - a < MIN_BALANCE for a, _ in refused), (final, refused)
    books()


def test_concurrent_api_requests_never_overdraw(app, ctx, make_member, token_for, books):
    anna = make_member("anna")
    _payees = [make_member(f"payee{i}") for i in range(3)]
    headers = token_for(anna)

    def attempt(i: int):
        resp = app.test_client().post(
            "/api/v1/transfers", headers=headers, json={"to": f"payee{i % 3}", "amount": 1, "memo": str(i)}
        )
        return resp.status_code, resp.get_json()

    results = run_together(30, attempt)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted({status for status, _ in results}) == [201, 422], results
    assert [body["error"]["code"] for status, body in results if status != 201] == ["insufficient_funds"] * 15
    assert sum(status == 201 for status, _ in results) == SPENDABLE
    assert balance_of(ctx, anna) == MIN_BALANCE
    books()


@pytest.mark.slow
def test_concurrent_http_requests_to_a_real_process_never_overdraw(node_process):
    node = node_process("conc", require_approval=False, welcome_grant=GRANT, min_balance=MIN_BALANCE)
    anna = node.new_member("anna")
    payees = {h: node.new_member(h) for h in ("bert", "carla", "dirk")}
    handles = sorted(payees)
    per_thread, threads = 3, 20
    clients = [anna.clone() for _ in range(threads)]

    def attempt(i: int):
        out = []
        for k in range(per_thread):
            resp = clients[i].transfer(handles[(i + k) % 3], 1, f"{i}-{k}")
            out.append((resp.status_code, resp.json()))
        return out

    results = run_together(threads, attempt)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, f"{errors}\n{node.log_text()}"
    answers = [a for r in results for a in r]
    refusals = [body for status, body in answers if status != 201]
    assert all(body["error"]["code"] == "insufficient_funds" for body in refusals), refusals
    assert len(answers) - len(refusals) == SPENDABLE
    assert "database is locked" not in node.log_text(tail=10**7)
    assert anna.balance() == MIN_BALANCE
    assert sum(c.balance() for c in payees.values()) == 3 * GRANT + SPENDABLE
    assert node.cli("check-books").stdout.strip().endswith("OK")
