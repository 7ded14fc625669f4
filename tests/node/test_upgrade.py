"""Upgrading a first-release database (revision 0001, filled with plain SQL) to the newest schema loses nothing."""

from __future__ import annotations

import json

from alembic import command
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from federation.state import federation_of
from node import notices
from node.app import create_app
from node.db import Database, alembic_config
from node.services import advice_listings, ledger
from node.services.members import hash_token
from node.settings import Settings
from node.tables import AdviceListing, AuditEntry, ListingSearchTerm, Member, MemberSearchTerm, Notification
from tests.conftest import FAST_ARGON2, START

FIRST_RELEASE = "0001"  # frozen: this test's SQL is written against it and must never need changing
# Tables a later revision replaced on purpose, with their replacement. Only state that is not a member's
# data belongs here: login_attempts held failed logins of the last 15 minutes; 0004's throttles start afresh.
REPLACED = {"login_attempts": "login_throttles"}
# Tables whose rows a later revision moved into another table; each move is checked row by row below.
MOVED = {"member_audit": "audit_log"}
TOKEN = "upgrade-test-token"


def _at(db: Database, hours: int = 0) -> str:
    """A UTC time as each database stores it when written by plain SQL."""
    moment = START.replace(hour=START.hour + hours)
    return moment.strftime("%Y-%m-%d %H:%M:%S") + ("" if db.is_sqlite else "+00")


def _insert(conn, table: str, **values) -> int | None:
    cols = ", ".join(values)
    marks = ", ".join(f":{k}" for k in values)
    returning = " RETURNING id" if "id" in {c["name"] for c in inspect(conn).get_columns(table)} else ""
    result = conn.execute(text(f"INSERT INTO {table} ({cols}) VALUES ({marks}){returning}"), values)
    return result.scalar_one() if returning else None


def _member(conn, db, handle: str, role: str = "member") -> int:
    member_id = _insert(
        conn,
        "members",
        email=f"{handle}@example.org",
        handle=handle,
        pseudonym=f"p-{handle}",
        password_hash="",
        display_name=handle.title(),
        organisation="",
        country="BE",
        bio="",
        expertise=json.dumps(["circular-economy"]),
        languages=json.dumps(["nl", "en"]),
        role=role,
        is_reviewer=handle == "bob",
        pool_consent=False,
        review_capacity=3,
        status="active",
        session_version=1,
        created_at=_at(db),
        approved_at=_at(db),
    )
    return member_id


def _account(conn, db, kind: str, ref: str, member_id: int | None = None, min_balance: int | None = None) -> int:
    return _insert(
        conn,
        "accounts",
        kind=kind,
        ref=ref,
        member_id=member_id,
        balance=0,
        min_balance=min_balance,
        max_balance=None,
        closed=False,
        created_at=_at(db),
    )


def _post(conn, db, kind: str, ref: str, legs: list[tuple[int, int]], hours: int) -> None:
    txn = _insert(
        conn, "ledger_txns", kind=kind, memo=f"{kind} {ref}", ref=ref, actor_id=None, created_at=_at(db, hours)
    )
    for account, amount in legs:
        balance = conn.execute(
            text("UPDATE accounts SET balance = balance + :a WHERE id = :id RETURNING balance"),
            {"a": amount, "id": account},
        ).scalar_one()
        _insert(conn, "postings", txn_id=txn, account_id=account, amount=amount, balance_after=balance)


def fill_first_release(db: Database) -> dict[str, int]:
    """Members, accounts, postings, a token, a proposal, a peer with keys, channel entries and a transfer."""
    with db.engine.begin() as conn:
        ids = {h: _member(conn, db, h, "coordinator" if h == "coord" else "member") for h in ("coord", "anna", "bob")}
        issuance = _account(conn, db, "issuance", "issuance")
        acc = {h: _account(conn, db, "member", f"member:{i}", i, -5) for h, i in ids.items()}
        position = _account(conn, db, "position", "position:hu")
        for hour, (handle, account) in enumerate(acc.items()):
            _post(conn, db, "grant", f"welcome:{ids[handle]}", [(issuance, -10), (account, 10)], hour)
        _post(conn, db, "transfer", "t1", [(acc["anna"], -3), (acc["bob"], 3)], 4)
        _post(conn, db, "remote_out", "xb:1", [(acc["anna"], -2), (position, 2)], 5)
        for action, reason in (("approved", "known to us"), ("role:coordinator", "")):
            _insert(conn, "member_audit", member_id=ids["anna"], actor_id=ids["coord"], action=action, reason=reason,
                    at=_at(db, 1))  # fmt: skip
        _insert(
            conn,
            "api_tokens",
            member_id=ids["anna"],
            token_hash=hash_token(TOKEN),
            name="test",
            created_at=_at(db),
            revoked=False,
        )
        _insert(
            conn,
            "proposals",
            author_id=ids["anna"],
            title="Repair café",
            summary="A repair café",
            full_text="Long text",
            tags=json.dumps(["circular-economy"]),
            language="en",
            stage="idea",
            reviews_wanted=2,
            bounty=4,
            min_foreign_reviewers=0,
            status="open",
            created_at=_at(db),
        )
        _insert(
            conn,
            "fed_peers",
            node_id="hu",
            base_url="http://127.0.0.1:9",
            name="HU",
            country="HU",
            fingerprint="ABCD",
            status="active",
            status_reason="",
            trust_limit=100,
            document="{}",
            created_at=_at(db),
            last_error="",
            failures=0,
        )
        _insert(conn, "fed_peer_keys", kid="ed25519:hu1", peer_id="hu", public="AAAA", not_before=_at(db))
        _insert(conn, "fed_local_keys", kid="ed25519:be1", public="BBBB", not_before=_at(db))
        for seq, direction in ((1, "out"), (2, "out"), (1, "in")):
            _insert(
                conn,
                "fed_channel_entries",
                peer_id="hu",
                direction=direction,
                seq=seq,
                type="transfer",
                envelope_id=f"env-{direction}-{seq}",
                entry_hash=f"h-{direction}-{seq}",
                envelope=json.dumps({"seq": seq}),
                created_at=_at(db, 5),
                acked_at=_at(db, 6),
            )
        _insert(
            conn,
            "fed_transfers",
            transfer_id="xb:1",
            direction="out",
            peer_id="hu",
            local_member_id=ids["anna"],
            local_handle="anna",
            remote_handle="zoltan",
            amount=2,
            memo="",
            status="completed",
            reason_code="",
            reason="",
            created_at=_at(db, 5),
            finished_at=_at(db, 6),
        )
    return ids


def table_rows(db: Database) -> dict[str, tuple[list[str], list[tuple]]]:
    """Every table's column names and rows (as sorted text), to compare before and after."""
    out = {}
    with db.engine.connect() as conn:
        insp = inspect(conn)
        for table in insp.get_table_names():
            if table in ("alembic_version", "apscheduler_jobs"):
                continue
            cols = [c["name"] for c in insp.get_columns(table)]
            rows = conn.execute(text(f'SELECT {", ".join(cols)} FROM "{table}"')).all()
            out[table] = (cols, rows)
    return out


def _comparable(cols: list[str], rows: list[tuple], keep: list[str]) -> list[str]:
    index = [cols.index(c) for c in keep]
    return sorted(repr(tuple(row[i] for i in index)) for row in rows)


def test_first_release_database_upgrades_to_head_without_loss(empty_database_url, tmp_path):
    db = Database(empty_database_url)
    command.upgrade(alembic_config(db.url), FIRST_RELEASE)
    ids = fill_first_release(db)
    before = table_rows(db)
    assert sum(len(rows) for _, rows in before.values()) >= 30
    command.upgrade(alembic_config(db.url), "head")
    after = table_rows(db)
    db.dispose()
    assert set(before) - set(REPLACED) - set(MOVED) <= set(after), f"tables lost: {set(before) - set(after)}"
    assert set(REPLACED.values()) <= set(after) and not set(REPLACED) & set(after)
    assert set(MOVED.values()) <= set(after) and not set(MOVED) & set(after)
    for table, (cols, rows) in before.items():
        if table in REPLACED or table in MOVED:
            continue
        new_cols, new_rows = after[table]
        kept = [c for c in cols if c in new_cols]  # a later revision may rename a column; the rest must survive
        assert _comparable(new_cols, new_rows, kept) == _comparable(cols, rows, kept), f"rows changed in {table}"

    app = create_app(
        {"data_dir": str(tmp_path / "node"), "database_url": empty_database_url, "node_id": "be-vl", **FAST_ARGON2},
        start_delivery=False,
    )
    try:
        ctx = app.extensions["sifnet"]
        with ctx.db.read() as s:
            moved = [
                (e.actor_id, e.action, e.subject, e.detail, e.at)
                for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))
            ]
        anna, coord, at = f"member:{ids['anna']}", ids["coord"], START.replace(hour=START.hour + 1)
        assert moved == [
            (coord, "member_approved", anna, {"reason": "known to us"}, at),
            (coord, "role_coordinator", anna, {}, at),
        ]
        with ctx.db.read() as s:
            books = ledger.check_books(s)
            balances = {h: ledger.member_account(s, i).balance for h, i in ids.items()}
        assert books.ok and books.txns == 5 and books.accounts == 5, books
        assert balances == {"coord": 10, "anna": 5, "bob": 13}
        client = app.test_client()
        auth = {"Authorization": f"Bearer {TOKEN}"}
        resp = client.post(
            "/api/v1/transfers", json={"to": "bob", "amount": 4, "memo": "after the upgrade"}, headers=auth
        )
        assert resp.status_code == 201, resp.get_json()
        assert client.get("/api/v1/me", headers=auth).get_json()["balance"] == 1
        with ctx.db.read() as s:
            assert ledger.check_books(s).ok and ledger.member_account(s, ids["bob"]).balance == 17
    finally:
        if "sifnet_federation" in app.extensions:
            federation_of(app).stop()
        app.extensions["sifnet"].db.dispose()


def test_members_and_notifications_from_before_revision_0006_keep_what_they_had(empty_database_url):
    """Members get no language or zone ("": the node's); notifications keep their English text and get no params."""
    db = Database(empty_database_url)
    command.upgrade(alembic_config(db.url), "0003")
    subject, body = "You received 2 SIF from zoltan@hu", "zoltan@hu paid you 2 SIF. Memo: soup"
    with db.engine.begin() as conn:
        anna = _member(conn, db, "anna")
        _insert(
            conn,
            "notifications",
            member_id=anna,
            kind="payment",
            subject=subject,
            body=body,
            created_at=_at(db),
            sent_at=None,
            read_at=None,
        )
    command.upgrade(alembic_config(db.url), "head")
    try:
        with Session(db.engine) as s:
            member, note = s.get(Member, anna), s.scalars(select(Notification)).one()
            assert (member.language, member.time_zone, note.params) == ("", "", None)
            shown = notices.text_of(note, language="de", time_zone="Europe/Berlin", settings=Settings())
        assert shown == (subject, body)
    finally:
        db.dispose()


def test_members_from_before_revision_0009_are_not_listed_and_open_listings_become_searchable(empty_database_url):
    """0009: nobody is put into the member directory without choosing it; open listings of active members are indexed
    with the words the app indexes them by, so the market's text search finds them at once."""
    db = Database(empty_database_url)
    command.upgrade(alembic_config(db.url), "0006")
    with db.engine.begin() as conn:
        anna, bob = _member(conn, db, "anna"), _member(conn, db, "bob")
        conn.execute(text("UPDATE members SET status = 'closed' WHERE id = :id"), {"id": bob})
        listing = {"kind": "offer", "rate": 1, "tags": json.dumps(["food"]), "created_at": _at(db)}
        open_id = _insert(conn, "advice_listings", member_id=anna, title="Zuppa per tutti", status="open",
                          description="Cucina sociale, Ōsaka-style", **listing)  # fmt: skip
        closed_id = _insert(conn, "advice_listings", member_id=anna, title="Zuppa chiusa", status="closed",
                            description="", **listing)  # fmt: skip
        left_id = _insert(conn, "advice_listings", member_id=bob, title="Zuppa di Bob", status="open",
                          description="", **listing)  # fmt: skip
    command.upgrade(alembic_config(db.url), "head")
    try:
        with Session(db.engine) as s:
            member = s.get(Member, anna)
            assert (member.in_directory, member.show_organisation, member.show_bio) == (False, False, False)
            assert (member.show_expertise, member.show_languages, member.show_country) == (True, True, True)
            assert s.scalars(select(MemberSearchTerm)).all() == []
            stored = {(t.listing_id, t.term) for t in s.scalars(select(ListingSearchTerm))}
            with_app = s.get(AdviceListing, open_id)
            assert {t for i, t in stored if i == open_id} == set(advice_listings.listing_terms(with_app))
            assert {i for i, _t in stored} == {open_id} and closed_id and left_id
            rows, _next = advice_listings.list_listings(s, Settings(), q="osaka zup")
            assert [listing.id for listing, _author in rows] == [open_id]
    finally:
        db.dispose()
