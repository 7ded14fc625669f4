"""Review rounds, service level: solving over local and peers' pools, exclusions, bids, shortfalls, escrow."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from federation.tables import ChannelEntry, Peer, PoolReviewer, ReviewLink
from node import notices
from node.errors import DomainError
from node.scheduler import register_app, run_sweeps
from node.services import bids, matching, proposals, reviews, rounds
from node.tables import Member, Notification, Proposal, ReviewInvitation, ReviewRound

from ..conftest import balance_of

BODY = {
    "title": "Laptops for the library",
    "summary": "Lent by libraries.",
    "full_text": "The plan.",
    "tags": ["education", "digital-inclusion"],
    "language": "en",
    "stage": "pilot",
    "bounty": 2,
}


@pytest.fixture
def coordinator(make_member):
    return make_member("cora", role="coordinator")


def _round(ctx, coordinator, **changes) -> int:
    data = {
        "title": "Spring round",
        "deadline": (ctx.now() + timedelta(days=7)).isoformat(),
        "reviews_per_proposal": 1,
        "max_load": 2,
        **changes,
    }
    with ctx.db.write() as s:
        return rounds.create_round(s, coordinator=s.get(Member, coordinator.id), data=data, now=ctx.now()).id


def _submit(ctx, author, round_id: int, **changes) -> int:
    with ctx.db.write() as s:
        return rounds.submit_proposal(
            s, ctx.settings, author=s.get(Member, author.id), round_id=round_id, data={**BODY, **changes}, now=ctx.now()
        ).id


def _solve(ctx, round_id: int) -> ReviewRound:
    with ctx.db.write() as s:
        rounds.start_solve(s, round_id=round_id, now=ctx.now())
    assert rounds.run_solve(ctx, round_id) is True
    with ctx.db.read() as s:
        return s.get(ReviewRound, round_id)


def _invitees(ctx, proposal_id: int) -> list[str]:
    with ctx.db.read() as s:
        return sorted(
            f"{i.remote_handle}@{i.remote_node}" if i.remote_node else s.get(Member, i.reviewer_id).handle
            for i in proposals.invitations_of(s, proposal_id)
        )


def _peers(ctx, *rows) -> None:
    """Peers with shared reviewers, as federation keeps them after pool snapshots arrived."""
    with ctx.db.write() as s:
        for node_id, country, status, handles in rows:
            s.add(
                Peer(
                    node_id=node_id,
                    base_url="http://127.0.0.1:9",
                    country=country,
                    fingerprint="x",
                    status=status,
                    created_at=ctx.now(),
                )
            )
            s.flush()
            for handle in handles:
                s.add(
                    PoolReviewer(
                        peer_id=node_id,
                        handle=handle,
                        expertise=["education", "digital-inclusion"],
                        languages=["en"],
                        open_slots=2,
                        updated_at=ctx.now(),
                    )
                )


def test_a_round_assigns_local_and_remote_reviewers_with_every_exclusion(ctx, make_member, coordinator, books):
    anna = make_member("anna", organisation="Green Coop")
    ben = make_member("ben")
    make_member(
        "olga",
        is_reviewer=True,
        organisation="green coop",
        languages=["en"],
        expertise=["education", "digital-inclusion"],
    )  # same organisation as anna
    make_member("dirk", is_reviewer=True, languages=["en"], expertise=["education", "digital-inclusion"])
    make_member("emma", is_reviewer=True, languages=["en"], expertise=["education"])
    _peers(ctx, ("hu", "HU", "active", ["rev-hu"]), ("at", "AT", "suspended", ["rev-at"]))
    with ctx.db.write() as s:  # anna declared dirk; a coordinator pinned rev-hu@hu on ben
        proposals.declare_conflict(s, member=s.get(Member, anna.id), data={"other_handle": "dirk"}, now=ctx.now())
        bids.pin_remote_conflict(
            s,
            ctx.settings,
            coordinator=s.get(Member, coordinator.id),
            now=ctx.now(),
            data={"member_handle": "ben", "remote_reviewer": "rev-hu@hu"},
        )
    round_id = _round(ctx, coordinator, reviews_per_proposal=2)
    p_anna, p_ben = _submit(ctx, anna, round_id), _submit(ctx, ben, round_id)
    assert _invitees(ctx, p_anna) == [] and _invitees(ctx, p_ben) == []  # nobody is invited before the solve
    assert balance_of(ctx, anna) == 10 - 4  # k x bounty held at once, as in per-proposal mode
    rnd = _solve(ctx, round_id)
    assert rnd.status == "solved" and rnd.progress == 1000
    # anna: not olga (organisation), not dirk (declared) -> emma and the Hungarian; ben: not rev-hu (pinned).
    assert _invitees(ctx, p_anna) == ["emma", "rev-hu@hu"]
    assert _invitees(ctx, p_ben) == ["dirk", "olga"]  # rev-at@at: its node is suspended
    assert rnd.total_affinity == sum(a["affinity"] for a in rnd.result["assignments"])
    assert rnd.result["short"] == [] and rnd.result["unmet"] == []
    with ctx.db.read() as s:
        link = s.scalars(select(ReviewLink)).one()
        assert link.peer_id == "hu"
        sent = [e.type for e in s.scalars(select(ChannelEntry).where(ChannelEntry.peer_id == "hu")).all()]
        assert "review_invite" in sent
        notes = {n.kind for n in s.scalars(select(Notification)).all()}
    assert {"review_invitation", "round_solved"} <= notes
    books()


def test_bids_change_who_the_round_picks_and_the_explanation_says_why(ctx, make_member, coordinator):
    anna = make_member("anna")
    make_member("bert", is_reviewer=True, languages=["en"], expertise=["education"])
    carl = make_member("carl", is_reviewer=True, languages=["en"], expertise=["education"])
    round_id = _round(ctx, coordinator)
    first = _submit(ctx, anna, round_id)
    with ctx.db.write() as s:
        bids.set_bids(s, ctx.settings, member=s.get(Member, carl.id), bids={"education": 2}, now=ctx.now())
    _solve(ctx, round_id)
    assert _invitees(ctx, first) == ["carl"]  # bert ranks first on ties (lower id) without the bid
    with ctx.db.read() as s:
        ranked, _ = proposals.rank_for(s, s.get(Proposal, first))
    assert ranked[0].candidate.label == "bert"  # carl is invited already; bert would be next
    need = matching.Need(author_id=anna.id, author_organisation="", tags=("education",), language="en")
    eager = matching.Candidate("c", ("education",), ("en",), 3, 0, member_id=9, bids=(("education", 2),))
    cold = matching.Candidate("d", ("education",), ("en",), 3, 0, member_id=8, bids=(("education", -1),))
    plain = matching.Candidate("e", ("education",), ("en",), 3, 0, member_id=7)
    ranked, _ = matching.rank_candidates(need, [cold, plain, eager])
    assert [(r.candidate.label, r.score) for r in ranked] == [("c", 1000), ("e", 925), ("d", 865)]  # 925 + 120 capped
    assert any(line.startswith("interest: education eager") for line in matching.explain(need, eager))


def test_short_proposals_and_unmet_constraints_are_reported(ctx, make_member, coordinator, books):
    anna = make_member("anna")
    make_member("dirk", is_reviewer=True, languages=["en"], expertise=["education"])
    round_id = _round(ctx, coordinator, reviews_per_proposal=2, need_foreign=True, min_load=1)
    pid = _submit(ctx, anna, round_id)
    rnd = _solve(ctx, round_id)
    assert rnd.result["short"] == [{"proposal_id": pid, "missing": 1}]
    kinds = {(u["kind"], u["key"]): u["reason"] for u in rnd.result["unmet"]}
    assert kinds[("foreign", str(pid))] == "no allowed reviewer from another country"
    assert kinds[("slots", str(pid))] == "only 1 allowed reviewers"
    assert _invitees(ctx, pid) == ["dirk"]
    with ctx.db.read() as s:
        note = s.scalars(select(Notification).where(Notification.kind == "round_solved")).one()
    _, body = notices.text_of(note, language="en", time_zone="UTC", settings=ctx.settings)
    assert "Reviewers invited for" in body and "Reviews still missing: 1;" in body
    books()


def test_a_proposal_waits_for_its_round_then_declines_are_replaced_as_usual(
    app, ctx, make_member, coordinator, clock, books
):
    anna = make_member("anna")
    dirk = make_member("dirk", is_reviewer=True, languages=["en"], expertise=["education"])
    make_member("emma", is_reviewer=True, languages=["en"], expertise=["education"])
    round_id = _round(ctx, coordinator)
    pid = _submit(ctx, anna, round_id)
    key = register_app(app)
    run_sweeps(key)  # retry_matching leaves a proposal in an open round alone
    assert _invitees(ctx, pid) == []
    clock.advance(8 * 86400)  # past the deadline: the sweep solves the round
    assert run_sweeps(key)["solve_due_rounds"] == 1
    assert _invitees(ctx, pid) == ["dirk"]
    with ctx.db.write() as s:
        inv = s.scalars(select(ReviewInvitation).where(ReviewInvitation.proposal_id == pid)).one()
        reviews.decline(
            s, ctx.settings, member=s.get(Member, dirk.id), invitation_id=inv.id, reason="busy", now=ctx.now()
        )
    assert _invitees(ctx, pid) == ["dirk", "emma"]  # the per-proposal replacement still works
    with ctx.db.write() as s:
        proposals.withdraw(s, ctx.settings, member=s.get(Member, anna.id), proposal_id=pid, now=ctx.now())
    assert balance_of(ctx, anna) == 10  # the whole escrow came back
    books()


def test_cancelling_a_round_hands_its_proposals_to_per_proposal_matching(app, ctx, make_member, coordinator):
    anna = make_member("anna")
    make_member("dirk", is_reviewer=True, languages=["en"], expertise=["education"])
    round_id = _round(ctx, coordinator)
    pid = _submit(ctx, anna, round_id)
    with ctx.db.write() as s:
        rounds.cancel_round(s, coordinator=s.get(Member, coordinator.id), round_id=round_id, now=ctx.now())
    run_sweeps(register_app(app))
    assert _invitees(ctx, pid) == ["dirk"]


def test_the_background_solve_records_its_progress(ctx, make_member, coordinator, monkeypatch):
    anna = make_member("anna")
    make_member("dirk", is_reviewer=True, languages=["en"], expertise=["education"])
    round_id = _round(ctx, coordinator)
    _submit(ctx, anna, round_id)
    seen, real = [], rounds._set_progress

    def spy(c, r, fraction, message):  # records every progress write, then makes it
        seen.append((round(fraction * 1000), message))
        real(c, r, fraction, message)

    monkeypatch.setattr(rounds, "_set_progress", spy)
    with ctx.db.write() as s:
        rounds.start_solve(s, round_id=round_id, now=ctx.now())
    rounds.launch(ctx, round_id).join(30)
    assert seen[0][0] == 10 and seen == sorted(seen, key=lambda x: x[0])
    assert any("allowed pairs" in m for _, m in seen)
    with ctx.db.read() as s:
        rnd = s.get(ReviewRound, round_id)
    assert (rnd.status, rnd.progress) == ("solved", 1000)


def test_refusals_change_nothing(ctx, make_member, coordinator, clock):
    anna = make_member("anna")
    dirk = make_member("dirk", is_reviewer=True, languages=["en"], expertise=["education"])

    def refused(fn) -> str:
        with pytest.raises(DomainError) as err:
            with ctx.db.write() as s:
                fn(s)
        return err.value.code

    good = {
        "title": "R",
        "deadline": (ctx.now() + timedelta(days=1)).isoformat(),
        "reviews_per_proposal": 1,
        "max_load": 2,
    }
    assert (
        refused(lambda s: rounds.create_round(s, coordinator=s.get(Member, anna.id), data=good, now=ctx.now()))
        == "coordinator_only"
    )
    for change, code in (
        ({"deadline": ctx.now().isoformat()}, "deadline_past"),
        ({"min_load": 3}, "bad_loads"),
        ({"max_load": 1.5}, "not_an_integer"),
        ({"need_foreign": "yes"}, "wrong_type"),
        ({"colour": 1}, "unknown_field"),
    ):
        assert (
            refused(
                lambda s, change=change: rounds.create_round(
                    s, coordinator=s.get(Member, coordinator.id), data={**good, **change}, now=ctx.now()
                )
            )
            == code
        )
    round_id = _round(ctx, coordinator)
    assert (
        refused(
            lambda s: rounds.submit_proposal(
                s,
                ctx.settings,
                author=s.get(Member, anna.id),
                round_id=round_id,
                data={**BODY, "reviews_wanted": 3},
                now=ctx.now(),
            )
        )
        == "round_reviews_wanted"
    )
    with ctx.db.write() as s:
        outside = proposals.create_proposal(
            s, ctx.settings, author=s.get(Member, anna.id), data={**BODY, "reviews_wanted": 1}, now=ctx.now()
        ).id
    assert (
        refused(
            lambda s: rounds.add_proposal(
                s, coordinator=s.get(Member, coordinator.id), round_id=round_id, proposal_id=outside, now=ctx.now()
            )
        )
        == "no_open_slots"
    )
    assert (
        refused(
            lambda s: bids.set_bids(
                s, ctx.settings, member=s.get(Member, dirk.id), bids={"education": 3}, now=ctx.now()
            )
        )
        == "bad_bid_level"
    )
    assert (
        refused(
            lambda s: bids.declare_remote_conflict(
                s, ctx.settings, member=s.get(Member, anna.id), data={"remote_reviewer": "dirk@be-vl"}, now=ctx.now()
            )
        )
        == "not_remote"
    )
    clock.advance(8 * 86400)
    assert (
        refused(
            lambda s: rounds.submit_proposal(
                s, ctx.settings, author=s.get(Member, anna.id), round_id=round_id, data=BODY, now=ctx.now()
            )
        )
        == "round_closed"
    )
    _solve(ctx, round_id)
    assert refused(lambda s: rounds.start_solve(s, round_id=round_id, now=ctx.now())) == "illegal_transition"
    with ctx.db.read() as s:
        assert s.scalars(select(ReviewRound)).all()[0].id == round_id  # only the one good round exists


def test_a_solve_that_stopped_is_marked_failed_and_can_run_again(app, ctx, make_member, coordinator, clock):
    anna = make_member("anna")
    make_member("dirk", is_reviewer=True, languages=["en"], expertise=["education"])
    round_id = _round(ctx, coordinator)
    pid = _submit(ctx, anna, round_id)
    with ctx.db.write() as s:  # solving, but no thread ever ran it (the process died)
        rounds.start_solve(s, round_id=round_id, now=ctx.now())
    key = register_app(app)
    run_sweeps(key)
    with ctx.db.read() as s:
        assert s.get(ReviewRound, round_id).status == "solving"  # not yet stale
    clock.advance(ctx.settings.round_solve_timeout_seconds + 1)
    run_sweeps(key)
    with ctx.db.read() as s:
        assert s.get(ReviewRound, round_id).status == "failed"
    assert _invitees(ctx, pid) == []  # a failed round still holds its proposals
    assert _solve(ctx, round_id).status == "solved"
    assert _invitees(ctx, pid) == ["dirk"]


def test_a_reviewer_filled_while_the_solve_ran_is_skipped_not_overloaded(
    ctx, make_member, coordinator, monkeypatch, books
):
    anna, bert = make_member("anna"), make_member("bert")
    dirk = make_member("dirk", is_reviewer=True, languages=["en"], expertise=["education"], review_capacity=1)
    round_id = _round(ctx, coordinator)
    pid = _submit(ctx, anna, round_id)
    real = rounds._set_progress

    def fill_dirk_first(c, r, fraction, message):  # just before the invitations go out
        if message.startswith("sending"):
            with ctx.db.write() as s:
                proposals.create_proposal(
                    s, ctx.settings, author=s.get(Member, bert.id), data={**BODY, "reviews_wanted": 1}, now=ctx.now()
                )
        real(c, r, fraction, message)

    monkeypatch.setattr(rounds, "_set_progress", fill_dirk_first)
    rnd = _solve(ctx, round_id)
    assert [a["skipped"] for a in rnd.result["assignments"]] == ["reviewer_at_capacity"]
    assert _invitees(ctx, pid) == []
    with ctx.db.read() as s:
        open_for_dirk = s.scalars(
            select(ReviewInvitation).where(
                ReviewInvitation.reviewer_id == dirk.id, ReviewInvitation.status.in_(proposals.OPEN_STATES)
            )
        ).all()
    assert len(open_for_dirk) == 1 and open_for_dirk[0].proposal_id != pid  # capacity 1, never more
    books()
