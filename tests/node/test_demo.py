"""Demo data: a full, believable cast per node, seeded once, with balanced books."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from node.app import create_app
from node.clock import FixedClock
from node.demo import DEMO_PASSWORD, demo_email, load_cast, seed_demo
from node.services import ledger, members
from node.tables import (
    Account,
    AdviceBooking,
    AdviceListing,
    AuditEntry,
    FundingLead,
    LedgerTxn,
    Member,
    Proposal,
    Review,
    ReviewInvitation,
)
from tests.conftest import FAST_ARGON2, START

NODES = {"be-vl": "BE", "nl": "NL", "at": "AT", "it": "IT", "hu": "HU"}


def counts(ctx) -> dict:
    """How many rows of each demo-relevant kind the node holds."""
    with ctx.db.read() as s:

        def n(table, *where):
            return s.execute(select(func.count()).select_from(table).where(*where)).scalar_one()

        return {
            "members": n(Member, Member.role == "member"),
            "coordinators": n(Member, Member.role == "coordinator"),
            "reviewers": n(Member, Member.is_reviewer.is_(True)),
            "listings": n(AdviceListing),
            "sessions_confirmed": n(AdviceBooking, AdviceBooking.status == "confirmed"),
            "proposals": n(Proposal),
            "invitations": dict(Counter(s.scalars(select(ReviewInvitation.status)).all())),
            "reviews_rated": n(Review, Review.helpfulness.is_not(None)),
            "txns": n(LedgerTxn),
            "transfers": n(LedgerTxn, LedgerTxn.kind == "transfer"),
            "funding_leads": n(FundingLead),
            "network_wide": n(FundingLead, FundingLead.network_wide.is_(True)),
        }


EXPECTED = {
    "members": 6,
    "coordinators": 1,
    "reviewers": 4,
    "listings_min": 3,
    "sessions_confirmed": 1,
    "proposals": 2,
    "invitations": {"submitted": 1, "invited": 2},
    "reviews_rated": 1,
    "transfers": 2,
    "funding_leads": 2,
    "network_wide": 1,
}


def assert_full_cast(found: dict) -> None:
    for key, value in EXPECTED.items():
        if key == "listings_min":
            assert found["listings"] >= value
        else:
            assert found[key] == value, (key, found)


def test_seeding_twice_adds_everything_once(app, ctx, books):
    first = seed_demo(app)
    after_first = counts(ctx)
    assert_full_cast(after_first)
    books()
    second = seed_demo(app)
    assert counts(ctx) == after_first
    books()
    assert "added" in first[0] and "already present, nothing added" in second[0]
    assert DEMO_PASSWORD in first[1]
    # Seven logins listed both times: the demo coordinator and six members.
    assert len(first) == len(second) == 2 + 7
    assert any("coordinator@be-vl.example" in line for line in first)


def test_an_existing_coordinator_approves_and_no_demo_coordinator_is_made(app, ctx, books):
    with ctx.db.write() as s:
        boss = members.create_coordinator(
            s,
            ctx.settings,
            email="boss@example.org",
            password="long enough pw",
            display_name="Boss",
            handle="boss",
            now=ctx.now(),
            hasher=ctx.hasher,
        )
        boss_id = boss.id
    seed_demo(app)
    found = counts(ctx)
    assert found["coordinators"] == 1 and found["members"] == 6
    with ctx.db.read() as s:
        assert s.scalars(select(Member).where(Member.email == demo_email("coordinator", "be-vl"))).first() is None
        actors = set(
            s.scalars(
                select(AuditEntry.actor_id).where(
                    AuditEntry.action == "member_approved", AuditEntry.subject != f"member:{boss_id}"
                )
            ).all()
        )
    assert actors == {boss_id}
    books()


def test_the_full_review_cycle_moves_sif_from_author_to_reviewer(app, ctx):
    seed_demo(app)
    cast = load_cast("be-vl", "BE")
    reviewed = cast["proposals"][0]
    grant = ctx.settings.welcome_grant
    with ctx.db.read() as s:
        proposal = s.scalars(select(Proposal).where(Proposal.title == reviewed["title"])).one()
        review, invitation = s.execute(
            select(Review, ReviewInvitation)
            .join(ReviewInvitation, ReviewInvitation.id == Review.invitation_id)
            .where(ReviewInvitation.proposal_id == proposal.id)
        ).one()
        reviewer = s.get(Member, invitation.reviewer_id)
        assert reviewer.is_reviewer and reviewer.handle != reviewed["who"]
        assert review.helpfulness == cast["review"]["helpfulness"]
        escrow = s.scalars(select(Account).where(Account.ref == f"escrow:proposal:{proposal.id}")).one()
        # k x bounty went in, one bounty went out to the reviewer.
        assert escrow.balance == (reviewed["reviews_wanted"] - 1) * reviewed["bounty"]
        bounties = s.scalars(select(LedgerTxn).where(LedgerTxn.kind == "review_bounty")).all()
        assert len(bounties) == 1
        assert ledger.member_account(s, reviewer.id).balance >= grant + reviewed["bounty"] - 5


def test_demo_members_log_in_with_the_demo_password(app, client):
    seed_demo(app)
    resp = client.post("/api/v1/tokens", json={"email": "lotte@be-vl.example", "password": DEMO_PASSWORD})
    assert resp.status_code == 201, resp.get_json()
    me = resp.get_json()["member"]
    assert me["status"] == "active" and me["is_reviewer"] and me["pool_consent"]
    assert "circular-economy" in me["expertise"] and {"nl", "fr", "en"} <= set(me["languages"])
    assert me["balance"] != 0


def test_a_taken_handle_gets_another_one(app, ctx, make_member, books):
    make_member("lotte")  # a real member signed up before the demo was seeded
    lines = seed_demo(app)
    with ctx.db.read() as s:
        demo_lotte = s.scalars(select(Member).where(Member.email == "lotte@be-vl.example")).one()
    assert demo_lotte.handle != "lotte"
    assert any(f"{demo_lotte.handle}@be-vl" in line for line in lines)
    books()


@pytest.mark.parametrize("node_id", sorted(NODES))
def test_every_national_cast_seeds_a_full_cycle(tmp_path, node_id):
    app = create_app(
        {
            "data_dir": str(tmp_path / node_id),
            "node_id": node_id,
            "country": NODES[node_id],
            "federation": False,
            **FAST_ARGON2,
        },
        clock=FixedClock(START),
    )
    ctx = app.extensions["sifnet"]
    try:
        lines = seed_demo(app)
        assert_full_cast(counts(ctx))
        with ctx.db.read() as s:
            assert ledger.check_books(s).ok
            langs = {lang for m in s.scalars(select(Member).where(Member.role == "member")) for lang in m.languages}
        local = {"be-vl": {"nl", "fr"}, "nl": {"nl"}, "at": {"de"}, "it": {"it"}, "hu": {"hu"}}[node_id]
        assert local | {"en"} <= langs
        assert f"coordinator@{node_id}.example" in lines[2]
    finally:
        ctx.db.dispose()


def test_an_unknown_node_id_uses_the_cast_of_its_country():
    assert load_cast("vlaanderen-test", "nl")["members"][0]["handle"] == load_cast("nl", "NL")["members"][0]["handle"]
    assert load_cast("x", "ZZ") == load_cast("be-vl", "BE")
