"""A member's data export: every reference to a member in the schema is exported or excused, and a member's
export holds their own rows, never another member's, nor an API token's hash."""

from __future__ import annotations

from sqlmodel import SQLModel

from node.services.export import NOT_EXPORTED
from node.services.topics import follow_topics
from node.tables import Member

API = "/api/v1"


def member_references() -> set[str]:
    """Every "table.column" with a foreign key to members.id, node's and federation's tables alike."""
    return {
        f"{table.name}.{column.name}"
        for table in SQLModel.metadata.tables.values()
        for column in table.columns
        if any(fk.target_fullname == "members.id" for fk in column.foreign_keys)
    }


def test_every_reference_to_a_member_is_exported_or_excused(ctx):
    covered = {ref for part in ctx.export_parts.values() for ref in part.covers}
    references = member_references()
    assert "fed_remote_bookings.member_id" in references  # federation's tables are in the metadata
    assert references - covered - set(NOT_EXPORTED) == set()  # a new table about members needs a part or a reason
    assert set(NOT_EXPORTED) - references == set()  # an excuse for a column that no longer exists
    assert covered & set(NOT_EXPORTED) == set()
    assert covered <= references  # a part names only real references


def test_the_export_holds_the_members_own_rows_and_nobody_elses(client, ctx, make_member, token_for):
    anna, bert = make_member("anna"), make_member("bert")
    ha, hb = token_for(anna), token_for(bert)
    client.post(f"{API}/transfers", headers=ha, json={"to": "bert", "amount": 3})
    for h, title in ((ha, "Kitchen garden coaching"), (hb, "Bert's bookkeeping hour")):
        r = client.post(
            f"{API}/advice/listings",
            headers=h,
            json={"kind": "offer", "title": title, "description": "An hour together.", "tags": ["food"], "rate": 2},
        )
        assert r.status_code == 201, r.json
    with ctx.db.write() as s:
        follow_topics(s, ctx.settings, member=s.get_one(Member, anna.id), topics=["food"], now=ctx.now())
    export = client.get(f"{API}/me/export", headers=ha).json
    assert set(export) == set(ctx.export_parts)  # one key per part, federation's parts included
    assert [t["name"] for t in export["api_tokens"]] == ["test"]
    assert all("token_hash" not in t for t in export["api_tokens"])
    assert [listing["title"] for listing in export["advice_listings"]] == ["Kitchen garden coaching"]
    assert [f["tag"] for f in export["topics_followed"]] == ["food"]
    assert {n["member_id"] for n in export["notifications"]} <= {anna.id}
    assert export["payments_abroad"] == [] and export["advice_abroad"] == []
    text = str(export)
    assert "Bert's bookkeeping hour" not in text and "bert@example.org" not in text
