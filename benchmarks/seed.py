"""Large nodes for the benchmarks, written straight into the tables: members (with their accounts and the search
terms the directory indexes them by), transfers between accounts (balances kept with the postings), payments
from a peer node, advice listings (with their terms) and notifications.

Seeding through the services would take hours at these sizes and measure the write paths, not the pages. The
rows are what the services would write: the search terms come from the services' own functions
(directory.terms_of, advice_listings.listing_terms), and every posting carries its account's balance after it, the
accounts' balances being the sums, so `sifnet node check-books` agrees. A module for the benchmarks, not one:
`make bench` leaves it out.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlalchemy import bindparam, func, insert, select, text, update  # noqa: E402

from federation.tables import CrossBorderTransfer, Peer  # noqa: E402
from node import notices  # noqa: E402
from node.services import advice_listings, directory, ledger, members  # noqa: E402
from node.tables import (  # noqa: E402
    Account,
    AdviceListing,
    LedgerTxn,
    ListingSearchTerm,
    Member,
    MemberSearchTerm,
    Notification,
    Posting,
    table_of,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from node.context import NodeContext

BATCH = 5000
FIRST = (
    "Anna Lotte Sven Pieter Jan Els Bram Fleur Noor Daan Lukas Sophie Marie Felix Lena Jonas Hannah Giulia Marco "
    "Francesca Luca Chiara Matteo Sara Zsófia László Ágnes Bence Dóra Gergő Réka Márton Éva Ákos Ilse Wouter Hanne "
    "Thibault Amélie Noé Clément Zoë Mia Emma Liam Olivia Noah Ada Petra Tamás Ferenc Katalin Bianca Giovanni"
).split()
LAST = (
    "Peeters Janssens Maes Jacobs Mertens Willems Claes Goossens Wouters De Vries Jansen Bakker Visser Smit Meijer "
    "Gruber Huber Bauer Wagner Müller Pichler Steiner Moser Rossi Russo Ferrari Esposito Bianchi Romano Colombo "
    "Ricci Nagy Kovács Tóth Szabó Horváth Varga Kiss Molnár Németh Farkas Balogh Papp Lakatos Dubois Lefèvre "
    "Vermeulen Van Damme Dumont Lambert Coppens Van den Broeck Hermans"
).split()
ORGS = "Repair Café;Kringwinkel;Cooperativa Sociale;Szociális Szövetkezet;Verein für Nachbarschaft;Buurtwerk".split(";")
WORDS = (
    "crowdfunding grant writing cooperative statutes governance impact measurement social return investment "
    "volunteers community garden repair café circular economy food bank housing first energy cooperative solar "
    "mobility bike sharing inclusion refugees language coaching employment training digital skills elderly care "
    "youth work culture festival theatre marketing storytelling pitch deck business plan legal structure vzw "
    "cooperatie genossenschaft cooperativa szövetkezet budget accounting fundraising partnerships municipality "
    "tender procurement evaluation survey interviews design thinking prototype pilot scaling franchise network"
).split()
COUNTRIES = ["BE"] * 6 + ["NL", "AT", "IT", "HU", "FR", "DE"]


def sign_up_active(ctx: NodeContext, handle: str, password: str, now: datetime) -> int:
    """A member signed up and approved through the services (welcome grant, terms, audit line); their id."""
    with ctx.db.write() as s:
        member = members.sign_up(
            s, ctx.settings, email=f"{handle}@example.org", password=password, display_name=handle.title(),
            handle=handle, now=now, hasher=ctx.hasher,
        )  # fmt: skip
        members._activate(s, ctx.settings, member, actor=None, reason="benchmark", now=now)
        assert member.id is not None
        return member.id


def next_id(session: Session, column) -> int:
    return (session.execute(select(func.max(column))).scalar() or 0) + 1


def sync_ids(ctx: NodeContext, *tables: str) -> None:
    """On PostgreSQL, move each table's id sequence past the ids written here, so the app's next row gets a new one."""
    if ctx.db.is_postgres:
        with ctx.db.write() as s:
            for table in tables:
                highest = f"(SELECT max(id) FROM {table})"
                s.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {highest})"))


def seed_members(
    ctx: NodeContext, count: int, rng: random.Random, now: datetime, *, listed_share: float = 0.8
) -> list[int]:
    """`count` members (90% active, 5% pending, 5% closed; `listed_share` of them in the directory, each showing
    a random choice of their parts), each with a member account; the ids of the active ones."""
    tags, langs = members.taxonomy(ctx.settings), members.LANGUAGES
    with ctx.db.read() as s:
        first_member, first_account = next_id(s, Member.id), next_id(s, Account.id)
    active: list[int] = []
    for start in range(0, count, BATCH):
        rows, accounts, terms = [], [], []
        for n in range(start, min(start + BATCH, count)):
            status = rng.choices(["active", "pending", "closed"], [90, 5, 5])[0]
            member = Member(
                id=first_member + n, email=f"m{n}@example.org", handle=f"m{n}", pseudonym=f"rev-{n:010x}",
                password_hash="", display_name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                organisation=rng.choice(ORGS) + f" {n % 97}", expertise=rng.sample(tags, rng.randint(0, 5)),
                languages=rng.sample(langs, rng.randint(1, 3)), country=rng.choice(COUNTRIES), bio="",
                status=status, in_directory=rng.random() < listed_share, show_organisation=rng.random() < 0.4,
                show_bio=False, show_expertise=rng.random() < 0.9, show_languages=rng.random() < 0.9,
                show_country=rng.random() < 0.9, created_at=now,
            )  # fmt: skip
            rows.append(member.model_dump())
            accounts.append(
                {"id": first_account + n, "kind": "member", "ref": f"member:{member.id}", "member_id": member.id,
                 "balance": 0, "min_balance": ctx.settings.min_balance, "max_balance": None, "closed": False,
                 "created_at": now}
            )  # fmt: skip
            if directory.listed(member):
                name = directory.sort_name(member)
                terms += [{"member_id": member.id, "term": t, "sort_name": name} for t in dict.fromkeys(
                    directory.terms_of(member))]  # fmt: skip
            if status == "active":
                active.append(first_member + n)
        with ctx.db.write() as s:
            s.execute(insert(table_of(Member)), rows)
            s.execute(insert(table_of(Account)), accounts)
            if terms:
                s.execute(insert(table_of(MemberSearchTerm)), terms)
    sync_ids(ctx, "members", "accounts")
    return active


def seed_listings(ctx: NodeContext, count: int, rng: random.Random, authors: list[int], now: datetime) -> None:
    """`count` open advice listings of the given authors, with titles and descriptions from WORDS, indexed."""
    tags = members.taxonomy(ctx.settings)
    with ctx.db.read() as s:
        first = next_id(s, AdviceListing.id)
    for start in range(0, count, BATCH):
        rows, terms = [], []
        for n in range(start, min(start + BATCH, count)):
            listing = AdviceListing(
                id=first + n, member_id=rng.choice(authors), kind=rng.choice(advice_listings.KINDS),
                title=" ".join(rng.sample(WORDS, rng.randint(3, 7))).capitalize(),
                description=" ".join(rng.choices(WORDS, k=rng.randint(10, 60))),
                tags=rng.sample(tags, rng.randint(1, 3)), rate=rng.randint(1, 5), status="open", created_at=now,
            )  # fmt: skip
            rows.append(listing.model_dump())
            terms += [
                {"listing_id": listing.id, "term": t} for t in dict.fromkeys(advice_listings.listing_terms(listing))
            ]
        with ctx.db.write() as s:
            s.execute(insert(table_of(AdviceListing)), rows)
            s.execute(insert(table_of(ListingSearchTerm)), terms)
    sync_ids(ctx, "advice_listings")


def member_accounts(ctx: NodeContext, member_ids: Iterable[int]) -> dict[int, int]:
    """member id -> the id of their account."""
    wanted = set(member_ids)
    with ctx.db.read() as s:
        accounts = table_of(Account)
        rows = s.execute(select(accounts.c.member_id, accounts.c.id).where(accounts.c.kind == "member")).all()
    return {member_id: account_id for member_id, account_id in rows if member_id in wanted}


class Transfer(NamedTuple):
    """A transaction of two legs: `amount` from one account to another."""

    payer: int
    payee: int
    amount: int
    kind: str = "transfer"
    ref: str | None = None


def seed_transfers(
    ctx: NodeContext, transfers: Iterable[Transfer], *, start: datetime, step: timedelta, chunk: int = 20_000
) -> int:
    """Write each transfer as a balanced transaction, the i-th at start + i * step, with both postings'
    balance_after; then set the accounts' balances to match. The number written."""
    with ctx.db.read() as s:
        accounts = table_of(Account)
        balances = dict(s.execute(select(accounts.c.id, accounts.c.balance)).tuples().all())
    written = 0
    pending: list[Transfer] = []

    def flush() -> None:
        with ctx.db.write() as s:
            first_id = next_id(s, LedgerTxn.id)
            s.execute(
                insert(table_of(LedgerTxn)),
                [{"id": first_id + n, "kind": t.kind, "memo": f"t{written - len(pending) + n}", "ref": t.ref,
                  "actor_id": None, "created_at": start + step * (written - len(pending) + n)}
                 for n, t in enumerate(pending)],
            )  # fmt: skip
            legs = []
            for n, (payer, payee, amount, _kind, _ref) in enumerate(pending):
                balances[payer] -= amount
                balances[payee] += amount
                legs += [
                    {"txn_id": first_id + n, "account_id": payer, "amount": -amount, "balance_after": balances[payer]},
                    {"txn_id": first_id + n, "account_id": payee, "amount": amount, "balance_after": balances[payee]},
                ]
            s.execute(insert(table_of(Posting)), legs)
        pending.clear()

    for transfer in transfers:
        pending.append(transfer)
        written += 1
        if len(pending) >= chunk:
            flush()
    if pending:
        flush()
    sync_ids(ctx, "ledger_txns")
    with ctx.db.write() as s:
        stmt = update(table_of(Account)).where(table_of(Account).c.id == bindparam("aid"))
        s.execute(stmt.values(balance=bindparam("bal")), [{"aid": a, "bal": b} for a, b in balances.items()])
    return written


def seed_peer(ctx: NodeContext, node_id: str, country: str, now: datetime) -> int:
    """An active peer node (without keys: nothing is ever sent to it) and this node's position account towards it,
    which may go as far as the peer's trust limit; the account's id."""
    limit = 10**9
    with ctx.db.write() as s:
        s.add(Peer(node_id=node_id, base_url="http://127.0.0.1:9", name=node_id.upper(), country=country,
                   fingerprint="benchmark", status="active", trust_limit=limit, created_at=now))  # fmt: skip
        account = ledger.open_account(s, kind="position", ref=f"position:{node_id}", now=now, min_balance=-limit)
        assert account.id is not None
        return account.id


def seed_cross_border_rows(ctx: NodeContext, rows: list[dict]) -> None:
    """fed_transfers rows: each a payment's `transfer_id`, `direction`, `peer_id`, `local_member_id`,
    `local_handle`, `remote_handle`, `amount`, `status` and `created_at` (its ledger transaction is a Transfer
    of kind cross_border_in or _out, ref `xfer:<transfer_id>:in` or `:out`)."""
    for start in range(0, len(rows), BATCH):
        batch = [
            {"memo": "", "reason_code": "", "reason": "", "finished_at": row["created_at"], **row}
            for row in rows[start : start + BATCH]
        ]
        with ctx.db.write() as s:
            s.execute(insert(table_of(CrossBorderTransfer)), batch)


def seed_notifications(ctx: NodeContext, member_ids: list[int], now: datetime, *, unread: bool = False) -> None:
    """One `payment` notification per id given (an id may come many times), handled by the mail sweep."""
    params = notices.stored_params("payment", {"amount": 1, "payer": "someone@hu", "memo": "benchmark"})
    for start in range(0, len(member_ids), BATCH):
        rows = [
            {"member_id": member_id, "kind": "payment", "params": params, "subject": "", "body": "",
             "created_at": now, "sent_at": now, "read_at": None if unread else now}
            for member_id in member_ids[start : start + BATCH]
        ]  # fmt: skip
        with ctx.db.write() as s:
            s.execute(insert(table_of(Notification)), rows)


def analyze(ctx: NodeContext) -> None:
    """Statistics for the query planner, as a node in use has them (autovacuum on PostgreSQL, in time)."""
    if ctx.db.is_postgres:  # VACUUM also fills the visibility map that index-only scans need
        with ctx.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with ctx.db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


def log_in(client, email: str, password: str) -> None:
    """Log the test client in through the log-in form, as a browser does."""
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    answer = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    assert answer.status_code in (302, 303), answer.status_code
