"""Random walks through proposals and reviews: the escrow and matching invariants hold after every step."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from sqlalchemy import select

from node.errors import DomainError
from node.scheduler import register_app, run_sweeps
from node.services import ledger, proposals, reviews
from node.tables import Member, Proposal, ReviewInvitation
from tests.node.test_proposals import REVIEWER, counts

TAGS = ["food", "housing", "energy"]
REVIEW = {"shared_value": 3, "social_transformation": 3, "impact": 3, "confidence": 3, "feedback": "ok"}


def check_invariants(ctx) -> None:
    with ctx.db.read() as s:
        assert ledger.check_books(s).ok
        loads = Counter()
        for p in s.scalars(select(Proposal)).all():
            invs = proposals.invitations_of(s, p.id)
            submitted = sum(i.status == "submitted" for i in invs)
            expected = p.bounty * (p.reviews_wanted - submitted) if p.status == "open" else 0
            assert proposals.escrow_balance(s, p) == expected, (p.id, p.status)
            assert sum(i.status in proposals.SLOT_STATES for i in invs) <= p.reviews_wanted
            assert len({i.reviewer_id for i in invs}) == len(invs)  # nobody invited twice
            assert p.author_id not in {i.reviewer_id for i in invs}
            assert (p.status == "completed") == (submitted == p.reviews_wanted)
            loads.update(i.reviewer_id for i in invs if i.status in proposals.OPEN_STATES)
        for member_id, load in loads.items():
            assert load <= s.get(Member, member_id).review_capacity


def step(ctx, app, rng: random.Random, people: list) -> None:
    """One random action; a refused one must change nothing."""
    now = ctx.now()
    with ctx.db.read() as s:
        invs = list(s.scalars(select(ReviewInvitation)).all())
        open_ids = list(s.scalars(select(Proposal.id).where(Proposal.status == "open")).all())
    action = rng.choices(
        ["propose", "accept", "decline", "review", "withdraw", "time", "sweep"], weights=[2, 4, 1, 2, 1, 2, 2]
    )[0]
    if action == "time":
        ctx.clock.advance(rng.choice([3600, 24 * 3600, 80 * 3600, 15 * 24 * 3600]))
        return
    if action == "sweep":
        run_sweeps(register_app(app))
        return
    before = counts(ctx)
    try:
        with ctx.db.write() as s:
            if action == "propose":
                proposals.create_proposal(
                    s,
                    ctx.settings,
                    author=s.get(Member, rng.choice(people).id),
                    now=now,
                    data={
                        "title": "P",
                        "summary": "S",
                        "full_text": "F",
                        "tags": rng.sample(TAGS, rng.randint(1, 3)),
                        "language": "en",
                        "stage": "idea",
                        "reviews_wanted": rng.randint(1, 3),
                        "bounty": rng.randint(1, 4),
                    },
                )
            elif action == "withdraw" and open_ids:
                p = s.get(Proposal, rng.choice(open_ids))
                proposals.withdraw(s, ctx.settings, member=s.get(Member, p.author_id), proposal_id=p.id, now=now)
            elif invs:
                # Mostly a fitting invitation; sometimes any, to exercise refusals too.
                wanted = "accepted" if action == "review" else "invited"
                fitting = [i for i in invs if i.status == wanted]
                inv = rng.choice(fitting if fitting and rng.random() < 0.8 else invs)
                me = s.get(Member, inv.reviewer_id)
                if action == "accept":
                    reviews.accept(s, ctx.settings, member=me, invitation_id=inv.id, now=now)
                elif action == "decline":
                    reviews.decline(s, ctx.settings, member=me, invitation_id=inv.id, reason="", now=now)
                else:
                    reviews.submit_review(s, ctx.settings, member=me, invitation_id=inv.id, data=REVIEW, now=now)
    except DomainError:
        assert counts(ctx) == before, action


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_walk_keeps_escrow_and_matching_invariants(app, ctx, make_member, seed):
    rng = random.Random(seed)
    people = [
        make_member(
            f"p{seed}x{i}",
            expertise=rng.sample(TAGS, 2),
            review_capacity=rng.randint(0, 2),
            organisation=rng.choice(["", "Coop", "Lab"]),
            **REVIEWER,
        )
        for i in range(6)
    ]
    for _ in range(150):
        step(ctx, app, rng, people)
        check_invariants(ctx)
    with ctx.db.read() as s:
        statuses = Counter(s.scalars(select(Proposal.status)).all())
        inv_states = Counter(s.scalars(select(ReviewInvitation.status)).all())
    # the walk must have reached the interesting states, or it proves little
    assert statuses["completed"] and statuses["withdrawn"], statuses
    assert {"submitted", "declined", "expired", "timed_out", "cancelled"} <= set(inv_states), inv_states
