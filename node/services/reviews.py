"""Reviews: answering invitations, submitting and paying reviews, rating them, and the deadline sweeps."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from .. import labels
from ..context import NodeContext
from ..errors import ConflictError, ForbiddenError, NotFoundError
from ..lifecycle import INVITATION, PROPOSAL
from ..settings import Settings
from ..tables import Member, Notification, Proposal, Review, ReviewInvitation
from . import ledger, members, proposals
from .notify import notify
from .validate import clean_text, refuse_unknown_fields, whole_number

TENETS = ("shared_value", "social_transformation", "impact")
REVIEW_FIELDS = (*TENETS, "confidence", "feedback")
SCORE_RULE = _l("%(name)s: please give a score from %(low)s to %(high)s.")


def get_invitation(
    session: Session, member: Member, invitation_id: int, *, for_update: bool = False
) -> ReviewInvitation:
    """An invitation its reviewer (or a coordinator) may see; 404 for anyone else."""
    invitation = session.get(ReviewInvitation, invitation_id, with_for_update=for_update)
    if invitation is None or not (invitation.reviewer_id == member.id or _is_coordinator(member)):
        raise NotFoundError(_("There is no such invitation."), code="invitation_not_found")
    return invitation


def _is_coordinator(member: Member) -> bool:
    return member.role == "coordinator" and member.status == "active"


def _own_invitation(session: Session, member: Member, invitation_id: int) -> ReviewInvitation:
    """An invitation only its reviewer may act on."""
    invitation = get_invitation(session, member, invitation_id, for_update=True)
    if invitation.reviewer_id != member.id:
        raise ForbiddenError(_("Only the invited reviewer may answer this invitation."), code="not_reviewer")
    return invitation


def list_invitations(session: Session, member: Member) -> list[tuple[ReviewInvitation, Proposal, Review | None]]:
    """The member's invitations with their proposals and reviews, newest first."""
    return list(
        session.execute(
            select(ReviewInvitation, Proposal, Review)
            .join(Proposal, col(Proposal.id) == col(ReviewInvitation.proposal_id))
            .outerjoin(Review, col(Review.invitation_id) == col(ReviewInvitation.id))
            .where(col(ReviewInvitation.reviewer_id) == member.id)
            .order_by(col(ReviewInvitation.id).desc())
        )
        .tuples()
        .all()
    )


def review_of(session: Session, invitation: ReviewInvitation) -> Review | None:
    return session.scalars(select(Review).where(col(Review.invitation_id) == invitation.id)).first()


def notifications_for(session: Session, member_id: int, limit: int = 200) -> list[Notification]:
    """A member's notifications, newest first."""
    return list(
        session.scalars(
            select(Notification)
            .where(col(Notification.member_id) == member_id)
            .order_by(col(Notification.id).desc())
            .limit(limit)
        ).all()
    )


def accept(
    session: Session, settings: Settings, *, member: Member, invitation_id: int, now: datetime
) -> ReviewInvitation:
    """The reviewer accepts before the deadline; the review is then due in review_due_days."""
    invitation = _own_invitation(session, member, invitation_id)
    members.require_active(member)
    INVITATION.move(invitation, "accepted")
    if now >= invitation.accept_by:
        raise ConflictError(_("The time to accept this invitation has passed."), code="invitation_expired")
    invitation.responded_at = now
    invitation.due_by = now + timedelta(days=settings.review_due_days)
    return invitation


def decline(
    session: Session,
    settings: Settings,
    *,
    member: Member,
    invitation_id: int,
    reason: object,
    now: datetime,
    remote: proposals.RemoteReviews | None = None,
) -> ReviewInvitation:
    """The reviewer declines; the next candidate is invited in their place."""
    invitation = _own_invitation(session, member, invitation_id)
    return _declined(session, settings, invitation, clean_text(reason, "reason", 500), now, remote)


def _declined(
    session: Session,
    settings: Settings,
    invitation: ReviewInvitation,
    reason: str,
    now: datetime,
    remote: proposals.RemoteReviews | None,
) -> ReviewInvitation:
    INVITATION.move(invitation, "declined")
    invitation.responded_at = now
    invitation.decline_reason = reason
    _replace(session, settings, invitation, now, "declined", remote)
    return invitation


# --- a reviewer on a peer node answered (federation applies their messages through these) -----------


def remote_accepted(session: Session, *, invitation: ReviewInvitation, due_by: datetime, now: datetime) -> bool:
    """The remote reviewer accepted; False when the invitation ended here first (expired, withdrawn)."""
    if invitation.status != "invited":
        return False
    INVITATION.move(invitation, "accepted")
    invitation.responded_at, invitation.due_by = now, due_by
    return True


def remote_declined(
    session: Session,
    settings: Settings,
    *,
    invitation: ReviewInvitation,
    reason: str,
    now: datetime,
    remote: proposals.RemoteReviews,
) -> bool:
    """The remote reviewer declined (or their node did for them): invite the next candidate."""
    if invitation.status != "invited":
        return False
    _declined(session, settings, invitation, reason[:500], now, remote)
    return True


def remote_review(
    session: Session,
    settings: Settings,
    *,
    invitation: ReviewInvitation,
    data: dict,
    now: datetime,
    remote: proposals.RemoteReviews,
) -> Review | None:
    """A remote reviewer's review arrived: store it and pay across the border; None if it ended here first."""
    if invitation.status != "accepted":
        return None  # timed out or withdrawn meanwhile: the reviewer's node was told so
    return _store_review(session, settings, invitation, clean_review_fields(data), now, remote)


def _replace(
    session: Session,
    settings: Settings,
    gone: ReviewInvitation,
    now: datetime,
    what: str,
    remote: proposals.RemoteReviews | None = None,
) -> None:
    """Offer a freed slot to the next candidate and tell the author what happened."""
    proposal = proposals.get_proposal(session, gone.proposal_id, for_update=True)
    if proposal.status != "open":
        return
    invited = proposals.fill_slots(session, settings, proposal, now, remote)
    notify(
        session,
        member_id=proposal.author_id,
        kind="reviewer_replaced",
        now=now,
        params={"title": proposal.title, "what": what, "outcome": "reinvited" if invited else "waiting"},
    )


def submit_review(
    session: Session, settings: Settings, *, member: Member, invitation_id: int, data: dict, now: datetime
) -> Review:
    """Store the review, pay the bounty from escrow (once) and complete the proposal when all are in."""
    invitation = _own_invitation(session, member, invitation_id)
    fields = clean_review_fields(data)
    # Only checked here, so a late review is refused by its state first; _store_review makes the move.
    INVITATION.check(invitation.status, "submitted")
    assert invitation.due_by is not None  # set when the invitation was accepted
    if now >= invitation.due_by:
        raise ConflictError(_("The review was due earlier; it can no longer be submitted."), code="review_overdue")
    return _store_review(session, settings, invitation, fields, now, None)


def _store_review(
    session: Session,
    settings: Settings,
    invitation: ReviewInvitation,
    fields: dict,
    now: datetime,
    remote: proposals.RemoteReviews | None,
) -> Review:
    INVITATION.move(invitation, "submitted")
    proposal = proposals.get_proposal(session, invitation.proposal_id, for_update=True)
    assert invitation.id is not None
    review = Review(invitation_id=invitation.id, submitted_at=now, **fields)
    session.add(review)
    session.flush()
    _pay_bounty(session, settings, proposal, invitation, now, remote)
    notify(
        session,
        member_id=proposal.author_id,
        kind="review_received",
        now=now,
        params={"title": proposal.title, "proposal_id": proposal.id},
    )
    _complete_if_done(session, proposal, now)
    return review


def clean_review_fields(data: dict) -> dict:
    """The review's scores (1..5) and feedback, refusing anything else."""
    refuse_unknown_fields(data, REVIEW_FIELDS)
    fields: dict[str, int | str] = {name: score(data.get(name), name) for name in (*TENETS, "confidence")}
    fields["feedback"] = clean_text(data.get("feedback"), "feedback", 20000, required=True)
    return fields


def score(value: object, name: str) -> int:
    """A score from 1 to 5."""
    return whole_number(value, name, 1, 5, message=SCORE_RULE, name=labels.field_label(name))


def _pay_bounty(
    session: Session,
    settings: Settings,
    proposal: Proposal,
    invitation: ReviewInvitation,
    now: datetime,
    remote: proposals.RemoteReviews | None = None,
) -> None:
    """Move one bounty from the proposal's escrow to the reviewer; the ref makes it happen once."""
    if invitation.reviewer_id is None:
        if remote is None:
            raise ConflictError(
                _("A review from a peer node is paid through the network, which this node is not part of."),
                code="remote_payment_unsupported",
            )
        remote.pay(session, proposal, invitation, now)  # escrow -> position towards the reviewer's node
        return
    ledger.post(
        session,
        kind="review_bounty",
        memo=labels.english(labels.REVIEW_OF_PROPOSAL, proposal_id=proposal.id),
        legs=[
            ledger.Leg(proposals.escrow_account(session, proposal, now), -invitation.bounty),
            ledger.Leg(ledger.member_account(session, invitation.reviewer_id), invitation.bounty),
        ],
        now=now,
        ref=f"review:{invitation.id}:bounty",
        check_limits=False,
    )  # escrowed SIF must be able to leave escrow; a cap cannot block a done review
    notify(
        session,
        member_id=invitation.reviewer_id,
        kind="review_payment",
        now=now,
        params={"title": proposal.title, "bounty": invitation.bounty},
    )


def _complete_if_done(session: Session, proposal: Proposal, now: datetime) -> None:
    submitted = session.execute(
        select(func.count())
        .select_from(ReviewInvitation)
        .where(col(ReviewInvitation.proposal_id) == proposal.id, col(ReviewInvitation.status) == "submitted")
    ).scalar_one()
    if submitted < proposal.reviews_wanted:
        return
    PROPOSAL.move(proposal, "completed")
    proposal.closed_at = now
    # k bounties paid out of k x bounty: nothing should be left, but never strand SIF in escrow.
    proposals.refund_remainder(session, proposal, now)


def rate_review(
    session: Session,
    *,
    member: Member,
    review_id: int,
    helpfulness: object,
    now: datetime,
    remote: proposals.RemoteReviews | None = None,
) -> Review:
    """The proposal's author rates a review's helpfulness 1..5, once."""
    review = session.get(Review, review_id)
    if review is None:
        raise NotFoundError(_("There is no such review."), code="review_not_found")
    invitation = session.get(ReviewInvitation, review.invitation_id)
    assert invitation is not None
    proposal = proposals.get_proposal(session, invitation.proposal_id)
    if proposal.author_id != member.id:
        try:
            proposals.access(session, proposal, member)
        except NotFoundError:
            raise NotFoundError(_("There is no such review."), code="review_not_found") from None
        raise ForbiddenError(_("Only the proposal's author rates its reviews."), code="not_author")
    helpfulness = score(helpfulness, "helpfulness")
    if review.helpfulness is not None:
        raise ConflictError(_("This review is already rated."), code="already_rated")
    review.helpfulness = helpfulness
    review.rated_at = now
    if invitation.reviewer_id is None and remote is not None:
        remote.rated(session, invitation, helpfulness, now)  # to the reviewer's record on their node
    return review


# --- deadline sweeps: each row moves only from the state it expects, in its own transaction ---------


def _ids(ctx: NodeContext, stmt) -> list[int]:
    with ctx.db.read() as s:
        return list(s.scalars(stmt).all())


def expire_invitations(ctx: NodeContext) -> int:
    """Invitations not accepted in time expire (INVITATION's timeout); the next candidate is invited instead."""
    now, done, remote = ctx.now(), 0, ctx.remote_reviews
    expiry = INVITATION.timeout("invited")
    for inv_id in _ids(ctx, select(col(ReviewInvitation.id)).where(INVITATION.overdue(expiry.source, now))):
        with ctx.db.write() as s:
            invitation = s.get(ReviewInvitation, inv_id)
            if not INVITATION.is_overdue(invitation, expiry.source, now):
                continue
            INVITATION.move(invitation, expiry.target)
            assert invitation is not None
            if invitation.reviewer_id is not None:
                notify(s, member_id=invitation.reviewer_id, kind="invitation_expired", params={}, now=now)
            elif remote is not None:
                remote.ended(s, invitation, "expired", now)
            _replace(s, ctx.settings, invitation, now, "expired", remote)
            done += 1
    return done


def time_out_reviews(ctx: NodeContext) -> int:
    """Accepted reviews not submitted by their due date time out (INVITATION's timeout); the slot is offered again."""
    now, done, remote = ctx.now(), 0, ctx.remote_reviews
    time_out = INVITATION.timeout("accepted")
    for inv_id in _ids(ctx, select(col(ReviewInvitation.id)).where(INVITATION.overdue(time_out.source, now))):
        with ctx.db.write() as s:
            invitation = s.get(ReviewInvitation, inv_id)
            if not INVITATION.is_overdue(invitation, time_out.source, now):
                continue
            INVITATION.move(invitation, time_out.target)
            assert invitation is not None
            if invitation.reviewer_id is not None:
                notify(s, member_id=invitation.reviewer_id, kind="review_timed_out", params={}, now=now)
            elif remote is not None:
                remote.ended(s, invitation, "timed_out", now)
            _replace(s, ctx.settings, invitation, now, "timed out", remote)
            done += 1
    return done


def remind_reviewers(ctx: NodeContext) -> int:
    """One reminder per accepted review, reminder_hours before it is due."""
    now, done = ctx.now(), 0
    soon = now + timedelta(hours=ctx.settings.reminder_hours)
    for inv_id in _ids(
        ctx,
        select(col(ReviewInvitation.id)).where(
            col(ReviewInvitation.status) == "accepted",
            col(ReviewInvitation.reminded_at).is_(None),
            ReviewInvitation.due_by <= soon,
            ReviewInvitation.due_by > now,
        ),
    ):
        with ctx.db.write() as s:
            invitation = s.get(ReviewInvitation, inv_id)
            assert invitation is not None
            if invitation.status != "accepted" or invitation.reminded_at is not None:
                continue
            invitation.reminded_at = now
            if invitation.reviewer_id is not None:
                proposal = s.get(Proposal, invitation.proposal_id)
                assert proposal is not None
                notify(
                    s,
                    member_id=invitation.reviewer_id,
                    kind="review_reminder",
                    now=now,
                    params={"title": proposal.title, "due_by": invitation.due_by},
                )
            done += 1
    return done


def retry_matching(ctx: NodeContext) -> int:
    """Open proposals waiting for reviewers try matching again (new reviewers may have joined)."""
    now, done, remote = ctx.now(), 0, ctx.remote_reviews
    held = (
        select(func.count())
        .select_from(ReviewInvitation)
        .where(
            col(ReviewInvitation.proposal_id) == col(Proposal.id),
            col(ReviewInvitation.status).in_(proposals.SLOT_STATES),
        )
        .correlate(Proposal)
        .scalar_subquery()
    )
    for proposal_id in _ids(
        ctx, select(col(Proposal.id)).where(col(Proposal.status) == "open", col(Proposal.reviews_wanted) > held)
    ):
        with ctx.db.read() as s:  # most waiting proposals still have nobody: skip the write lock
            if not proposals.rank_for(s, s.get_one(Proposal, proposal_id), remote)[0]:
                continue
        with ctx.db.write() as s:
            proposal = proposals.get_proposal(s, proposal_id, for_update=True)
            done += len(proposals.fill_slots(s, ctx.settings, proposal, now, remote))
    return done
