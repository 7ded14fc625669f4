"""Review rounds: proposals collected until a deadline, then assigned reviewers together, exactly.

A coordinator opens a round (k reviews per proposal, minimum and maximum load per reviewer, and
optionally "one reviewer from another country" for every proposal). Members submit proposals into
it (their escrow is held at once, as in per-proposal mode, but nobody is invited yet) or the
coordinator adds open proposals. At the deadline (sweep) or on the coordinator's request the round
is solved outside the request: review_round.solve_round over the local pool and every active peer's
pool, with the exclusions matching applies; progress is stored in the round's row. The assignments
become ordinary invitations (proposals.invite_candidate: local, or sent to the reviewer's node), so
declines, expiry and replacement then work as for any proposal.

    open -> solving -> solved            (failed -> solving again, or cancelled)

A round is solved at its deadline, and a solve whose process died is failed after
round_solve_timeout_seconds: both are ROUND's timeouts, made by the solve_due_rounds sweep.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import cast

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from .. import labels
from ..context import NodeContext
from ..errors import ConflictError, NotFoundError, ValidationError
from ..lifecycle import Timeout, lifecycle
from ..settings import Settings
from ..tables import Member, Proposal, ReviewInvitation, ReviewRound, RoundItem
from . import members, proposals, review_round
from .notify import notify
from .review_round import Pairs, solve_round
from .round_instance import build_instance
from .validate import clean_bool, clean_datetime, clean_text, refuse_unknown_fields, whole_number

log = logging.getLogger(__name__)
ROUND = lifecycle(
    "round",
    "open",
    table=ReviewRound,
    timeouts=(
        Timeout("open", "solving", at="deadline"),
        Timeout("solving", "failed", at="solve_started_at", grace="round_solve_timeout_seconds"),
    ),
    open="solving cancelled",
    solving="solved failed",
    failed="solving cancelled",
    solved="",
    cancelled="",
)
ROUND_FIELDS = ("title", "deadline", "reviews_per_proposal", "min_load", "max_load", "need_foreign", "double_blind")
DOUBLE_BLIND = _l("Double-blind: reviewers and authors do not see each other's names")
MAX_LOAD = 50
# Progress is written when it moved at least this much (per mille): ~50 short writes per solve.
PROGRESS_STEP = 20
MIN_LOAD_RULE = _l("The minimum of reviews per reviewer is a whole number from %(low)s to %(high)s.")
MAX_LOAD_RULE = _l("The maximum of reviews per reviewer is a whole number from %(low)s to %(high)s.")
PROPOSAL_RULE = _l("Please give the number of an open proposal.")


def create_round(session: Session, *, coordinator: Member, data: dict, now: datetime) -> ReviewRound:
    """A coordinator opens a round that collects proposals until its deadline."""
    members.require_coordinator(coordinator)
    refuse_unknown_fields(data, ROUND_FIELDS)
    deadline = clean_datetime(data.get("deadline"), "deadline")
    if deadline <= now:
        raise ValidationError(_("Please set a deadline in the future."), code="deadline_past", field="deadline")
    need_foreign = clean_bool(
        data.get("need_foreign", False),
        "need_foreign",
        code="wrong_type",
        label=_("Every proposal gets a reviewer from another country"),
    )
    double_blind = clean_bool(data.get("double_blind", False), "double_blind", code="wrong_type", label=DOUBLE_BLIND)
    assert coordinator.id is not None
    rnd = ReviewRound(
        title=clean_text(data.get("title"), "title", 200, required=True),
        deadline=deadline,
        reviews_per_proposal=whole_number(
            data.get("reviews_per_proposal"),
            "reviews_per_proposal",
            1,
            proposals.MAX_REVIEWS,
            message=proposals.REVIEWS_RULE,
        ),
        min_load=whole_number(data.get("min_load", 0), "min_load", 0, MAX_LOAD, message=MIN_LOAD_RULE),
        max_load=whole_number(data.get("max_load"), "max_load", 1, MAX_LOAD, message=MAX_LOAD_RULE),
        need_foreign=need_foreign,
        double_blind=double_blind,
        created_by=coordinator.id,
        created_at=now,
        status=ROUND.initial,
    )
    if rnd.min_load > rnd.max_load:
        raise ValidationError(
            _("The minimum of reviews per reviewer may not be more than the maximum."),
            code="bad_loads",
            field="min_load",
        )
    session.add(rnd)
    session.flush()
    return rnd


def get_round(session: Session, round_id: int, *, for_update: bool = False) -> ReviewRound:
    rnd = session.get(ReviewRound, round_id, with_for_update=for_update)
    if rnd is None:
        raise NotFoundError(_("There is no such review round."), code="round_not_found")
    return rnd


def list_rounds(session: Session, member: Member) -> list[ReviewRound]:
    """A coordinator sees every round; a member the open ones and those holding their proposals."""
    stmt = select(ReviewRound).order_by(col(ReviewRound.id).desc())
    if _is_coordinator(member):
        return list(session.scalars(stmt).all())
    mine = (
        select(col(RoundItem.round_id))
        .join(Proposal, col(Proposal.id) == col(RoundItem.proposal_id))
        .where(col(Proposal.author_id) == member.id)
    )
    return list(session.scalars(stmt.where((col(ReviewRound.status) == "open") | col(ReviewRound.id).in_(mine))).all())


def live_rounds(session: Session) -> list[ReviewRound]:
    """Rounds not finished yet (open, solving, failed), nearest deadline first."""
    return list(
        session.scalars(
            select(ReviewRound)
            .where(col(ReviewRound.status).in_(proposals.ROUND_HOLDS))
            .order_by(col(ReviewRound.deadline))
        ).all()
    )


def items_of(session: Session, round_id: int, member: Member | None = None) -> list[tuple[RoundItem, Proposal]]:
    """The round's proposals, oldest first; only the member's own unless they coordinate (None: all)."""
    stmt = (
        select(RoundItem, Proposal)
        .join(Proposal, col(Proposal.id) == col(RoundItem.proposal_id))
        .where(col(RoundItem.round_id) == round_id)
        .order_by(col(RoundItem.id))
    )
    if member is not None and not _is_coordinator(member):
        stmt = stmt.where(col(Proposal.author_id) == member.id)
    return list(session.execute(stmt).tuples().all())


def is_double_blind(session: Session, proposal_id: int) -> bool:
    """Whether the proposal is in a double-blind round: its author and reviewers see each other only as roles."""
    rnd = round_of(session, proposal_id)
    return rnd is not None and rnd.double_blind


def round_of(session: Session, proposal_id: int) -> ReviewRound | None:
    """The round a proposal is in, if any."""
    return session.scalars(
        select(ReviewRound)
        .join(RoundItem, col(RoundItem.round_id) == col(ReviewRound.id))
        .where(col(RoundItem.proposal_id) == proposal_id)
    ).first()


def visible_round(session: Session, member: Member, round_id: int) -> ReviewRound:
    """A round this member may look at (404 otherwise, like a missing one)."""
    rnd = get_round(session, round_id)
    assert rnd.id is not None
    if _is_coordinator(member) or rnd.status == "open" or items_of(session, rnd.id, member):
        return rnd
    raise NotFoundError(_("There is no such review round."), code="round_not_found")


def _is_coordinator(member: Member) -> bool:
    return member.role == "coordinator" and member.status == "active"


def _require_collecting(rnd: ReviewRound, now: datetime) -> None:
    if rnd.status != "open" or now >= rnd.deadline:
        raise ConflictError(_("This round no longer takes proposals."), code="round_closed")


def submit_proposal(
    session: Session, settings: Settings, *, author: Member, round_id: int, data: dict, now: datetime
) -> Proposal:
    """A member writes a proposal into an open round: escrow held now, reviewers assigned by the round."""
    rnd = get_round(session, round_id, for_update=True)
    _require_collecting(rnd, now)
    data = {**data, "reviews_wanted": data.get("reviews_wanted", rnd.reviews_per_proposal)}
    if data["reviews_wanted"] != rnd.reviews_per_proposal:
        raise ValidationError(
            ngettext(
                "This round gives every proposal %(num)s review.",
                "This round gives every proposal %(num)s reviews.",
                rnd.reviews_per_proposal,
            ),
            code="round_reviews_wanted",
            field="reviews_wanted",
        )
    proposal = proposals.create_proposal(session, settings, author=author, data=data, now=now, invite=False)
    assert author.id is not None
    assert proposal.id is not None
    assert rnd.id is not None
    session.add(RoundItem(round_id=rnd.id, proposal_id=proposal.id, added_by=author.id, added_at=now))
    session.flush()
    return proposal


def add_proposal(
    session: Session, *, coordinator: Member, round_id: int, proposal_id: object, now: datetime
) -> RoundItem:
    """A coordinator puts an open proposal with free slots into an open round (its escrow is already held)."""
    members.require_coordinator(coordinator)
    rnd = get_round(session, round_id, for_update=True)
    _require_collecting(rnd, now)
    number = whole_number(proposal_id, "proposal_id", 1, 2**62, message=PROPOSAL_RULE)
    proposal = proposals.get_proposal(session, number, for_update=True)
    assert proposal.id is not None
    if round_of(session, proposal.id) is not None:
        raise ConflictError(_("This proposal is already in a round."), code="already_in_round")
    if proposals.open_slots(session, proposal) == 0:
        raise ConflictError(_("This proposal has no review left that waits for a reviewer."), code="no_open_slots")
    assert coordinator.id is not None
    assert rnd.id is not None
    item = RoundItem(round_id=rnd.id, proposal_id=proposal.id, added_by=coordinator.id, added_at=now)
    session.add(item)
    session.flush()
    return item


def start_solve(session: Session, *, round_id: int, now: datetime, coordinator: Member | None = None) -> ReviewRound:
    """Close the round to submissions and mark it solving (the solve itself runs outside the request)."""
    if coordinator is not None:
        members.require_coordinator(coordinator)
    rnd = get_round(session, round_id, for_update=True)
    ROUND.move(rnd, "solving")
    rnd.solve_started_at, rnd.progress = now, 0
    rnd.progress_message = labels.ROUND_WAITING
    return rnd


def cancel_round(session: Session, *, coordinator: Member, round_id: int, now: datetime) -> ReviewRound:
    """Cancel an open or failed round: its proposals go back to per-proposal matching (escrow stays held)."""
    members.require_coordinator(coordinator)
    rnd = get_round(session, round_id, for_update=True)
    ROUND.move(rnd, "cancelled")
    rnd.solved_at = now
    rnd.progress_message = labels.ROUND_CANCELLED
    return rnd


# --- solving, outside any request ----------------------------------------------------------------


def launch(ctx: NodeContext, round_id: int) -> threading.Thread:
    """Solve in a background thread of this process (the request that asked has already committed)."""
    thread = threading.Thread(target=run_solve, args=(ctx, round_id), name=f"round-{round_id}", daemon=True)
    ctx.round_threads[round_id] = thread
    thread.start()
    return thread


def run_solve(ctx: NodeContext, round_id: int) -> bool:
    """Build the instance, solve it exactly, then invite; progress goes to the round's row. False if not solving."""
    remote = ctx.remote_reviews
    try:
        with ctx.db.read() as s:
            rnd = get_round(s, round_id)
            if rnd.status != "solving":
                return False
            _set_progress(ctx, round_id, 0.01, labels.ROUND_COLLECTING)
            inst = build_instance(s, ctx.settings, rnd, remote)
        _set_progress(
            ctx,
            round_id,
            0.1,
            labels.english(
                review_round.SIZE, proposals=len(inst.proposals), reviewers=len(inst.reviewers), pairs=len(inst.triples)
            ),
        )
        last = [0]

        def progress(fraction: float, message: str) -> None:
            per_mille = 100 + round(800 * fraction)
            if per_mille - last[0] >= PROGRESS_STEP:
                last[0] = per_mille
                _set_progress(ctx, round_id, per_mille / 1000, message)

        result = solve_round(
            inst.proposals,
            inst.reviewers,
            Pairs.from_triples(inst.triples, inst.proposals, inst.reviewers),
            progress=progress,
        )
        _set_progress(ctx, round_id, 0.92, labels.english(labels.ROUND_SENDING, invitations=len(result.assignments)))
        with ctx.db.write() as s:
            return _apply(s, ctx.settings, round_id, inst, result, ctx.now(), remote)
    except Exception as exc:  # the round must not stay "solving" forever: record why it failed
        log.exception("review round %s failed", round_id)
        with ctx.db.write() as s:
            rnd = get_round(s, round_id)
            if rnd.status == "solving":
                ROUND.move(rnd, "failed")
                rnd.progress_message = labels.english(labels.ROUND_FAILED, error=exc)[:300]
        return False


def _set_progress(ctx: NodeContext, round_id: int, fraction: float, message: str) -> None:
    """One short write: the page and the API read it while the solve runs."""
    with ctx.db.write() as s:
        rnd = s.get(ReviewRound, round_id)
        if rnd is not None and rnd.status == "solving":
            rnd.progress, rnd.progress_message = max(rnd.progress, round(fraction * 1000)), message[:300]


def _apply(session: Session, settings: Settings, round_id: int, inst, result, now: datetime, remote) -> bool:
    """Turn the assignments into invitations through the ordinary path, and record the result."""
    rnd = get_round(session, round_id, for_update=True)
    if rnd.status != "solving":
        return False  # cancelled meanwhile? (not allowed from solving, but never invite twice)
    assigned: list = []
    rank: dict = {}
    for a in result.assignments:
        proposal = proposals.get_proposal(session, a.proposal, for_update=True)
        cand = inst.candidates[a.reviewer]
        invitation_id, skipped = None, _skip_reason(session, proposal, cand)
        if skipped is None:
            rank[a.proposal] = rank.get(a.proposal, 0) + 1
            invitation_id = proposals.invite_candidate(
                session, settings, proposal, cand, rank[a.proposal], a.affinity, now, remote
            ).id
        assigned.append(
            {
                "proposal_id": a.proposal,
                "reviewer": inst.labels[a.reviewer],
                "affinity": a.affinity,
                "invitation_id": invitation_id,
                "skipped": skipped,
            }
        )
    ROUND.move(rnd, "solved")
    rnd.solved_at, rnd.total_affinity = now, result.total_affinity
    rnd.progress, rnd.progress_message = 1000, labels.english(labels.ROUND_DONE, assigned=len(assigned))
    rnd.result = _result_record(inst, result, assigned)
    _tell_authors(session, rnd, result, now)
    return True


def _skip_reason(session: Session, proposal: Proposal, cand) -> str | None:
    """Why an assignment can no longer become an invitation (things changed while the solve ran)."""
    if proposal.status != "open" or proposals.open_slots(session, proposal) == 0:
        return "proposal_no_longer_open"
    if (
        session.execute(
            select(col(ReviewInvitation.id)).where(
                col(ReviewInvitation.proposal_id) == proposal.id,
                ReviewInvitation.reviewer_id == cand.member_id,
                ReviewInvitation.remote_node == cand.remote_node,
                ReviewInvitation.remote_handle == cand.remote_handle,
            )
        ).first()
        is not None
    ):
        return "already_invited"
    if cand.member_id is not None:
        # Invitations that arrived while the solve ran (or this round's own) may have filled the reviewer.
        load = session.execute(
            select(func.count())
            .select_from(ReviewInvitation)
            .where(
                col(ReviewInvitation.reviewer_id) == cand.member_id,
                col(ReviewInvitation.status).in_(proposals.OPEN_STATES),
            )
        ).scalar_one()
        capacity = session.execute(
            select(col(Member.review_capacity)).where(col(Member.id) == cand.member_id)
        ).scalar_one()
        if load >= capacity:
            return "reviewer_at_capacity"
    return None


def _result_record(inst, result, assigned: list) -> dict:
    def label(key) -> str:
        return inst.labels.get(key, str(key))

    return {
        "proposals": len(inst.proposals),
        "reviewers": len(inst.reviewers),
        "pairs": len(inst.triples),
        "total_affinity": result.total_affinity,
        "assignments": assigned,
        "short": [{"proposal_id": k, "missing": n} for k, n in sorted(result.short.items())],
        "unmet": [
            {"kind": u.kind, "key": label(u.key), "missing": u.missing, "reason": u.reason} for u in result.unmet
        ],
        "loads": {label(k): n for k, n in sorted(result.loads.items(), key=lambda kv: str(kv[0])) if n},
        "stats": {k: int(v) for k, v in result.stats.items()},
    }


def _tell_authors(session: Session, rnd: ReviewRound, result, now: datetime) -> None:
    """Each author hears how many reviewers their proposal got, and whether it is short."""
    got: dict[int, int] = {}
    for a in result.assignments:
        got[a.proposal] = got.get(a.proposal, 0) + 1
    assert rnd.id is not None
    for _item, proposal in items_of(session, rnd.id):
        if proposal.status != "open":
            continue
        assert proposal.id is not None
        notify(
            session,
            member_id=proposal.author_id,
            kind="round_solved",
            now=now,
            params={
                "round": rnd.title,
                "title": proposal.title,
                "proposal_id": proposal.id,
                "invited": got.get(proposal.id, 0),
                "missing": result.short.get(proposal.id, 0),
            },
        )


def solve_due_rounds(ctx: NodeContext) -> int:
    """Rounds past their deadline are solved; a solve that stopped (process restart) is marked failed."""
    now, done = ctx.now(), 0
    with ctx.db.read() as s:
        # ids of stored rounds: never None
        due = cast(list[int], list(s.scalars(select(col(ReviewRound.id)).where(ROUND.overdue("open", now))).all()))
        stale = cast(
            list[int], list(s.scalars(select(col(ReviewRound.id)).where(col(ReviewRound.status) == "solving")).all())
        )
    running = {rid for rid, t in ctx.round_threads.items() if t.is_alive()}
    for round_id in stale:
        _fail_if_stale(ctx, round_id, now, running)
    for round_id in due:
        with ctx.db.write() as s:
            if not ROUND.is_overdue(get_round(s, round_id), "open", now):
                continue
            start_solve(s, round_id=round_id, now=now)
        done += run_solve(ctx, round_id)
    return done


def _fail_if_stale(ctx: NodeContext, round_id: int, now: datetime, running: set) -> None:
    stale = ROUND.timeout("solving")
    with ctx.db.write() as s:
        rnd = get_round(s, round_id)
        deadline = stale.deadline(rnd, ctx.settings)  # a solving round has its start time
        if rnd.status == stale.source and round_id not in running and deadline is not None and deadline < now:
            ROUND.move(rnd, stale.target)
            rnd.progress_message = labels.ROUND_STOPPED
