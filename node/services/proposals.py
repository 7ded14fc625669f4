"""Proposals: writing one with its escrow, who may see it, matching reviewers to it, withdrawing it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from .. import labels
from ..errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from ..lifecycle import INVITATION, PROPOSAL
from ..settings import Settings
from ..tables import (
    Account,
    Bid,
    Conflict,
    Member,
    Proposal,
    RemoteConflict,
    Review,
    ReviewInvitation,
    ReviewRound,
    RoundItem,
)
from . import events, ledger, matching, members
from .notify import notify
from .validate import Fields, clean_choice, clean_list, clean_text, refuse_unknown_fields, whole_number

STAGES = ("idea", "plan", "pilot", "running", "scaling")
MAX_REVIEWS = 10
# Invitation states that hold one of the proposal's k slots.
SLOT_STATES = ("invited", "accepted", "submitted")
# Invitation states that still count against a reviewer's capacity.
OPEN_STATES = ("invited", "accepted")
PROPOSAL_FIELDS = ("title", "summary", "full_text", "tags", "language", "stage", "reviews_wanted", "bounty")
# Optional when writing a proposal: how many of the k reviewers must come from another country.
OPTIONAL_FIELDS = ("min_foreign_reviewers",)
# States of a review round (node.services.rounds) in which it, not per-proposal matching, fills its proposals.
ROUND_HOLDS = ("open", "solving", "failed")


class RemoteReviews(Protocol):
    """Reviewers on peer nodes: federation provides this as ctx.remote_reviews.

    Node never imports federation; handlers and sweeps pass this object in (None: local only).
    Every method runs in the caller's transaction.
    """

    def candidates(self, session: Session) -> list[matching.Candidate]:
        """The shared reviewers of every active peer, as matching candidates with their country."""

    def country_of(self, session: Session, node_id: str) -> str:
        """The country a peer node serves."""

    def invited(self, session: Session, proposal: Proposal, invitation: ReviewInvitation, now: datetime) -> None:
        """Send a new invitation of a remote reviewer to their node."""

    def ended(self, session: Session, invitation: ReviewInvitation, reason_code: str, now: datetime) -> None:
        """Tell the reviewer's node that the invitation ended here (expired, timed_out, proposal_withdrawn)."""

    def pay(self, session: Session, proposal: Proposal, invitation: ReviewInvitation, now: datetime) -> None:
        """Pay the bounty from the proposal's escrow across the border, once."""

    def rated(self, session: Session, invitation: ReviewInvitation, helpfulness: int, now: datetime) -> None:
        """Send the author's helpfulness rating to the reviewer's node."""


# What a refused number should have been.
REVIEWS_RULE = _l("Ask for %(low)s to %(high)s reviews.")
FOREIGN_RULE = _l("Ask for %(low)s to %(high)s reviewers from another country (no more than the reviews wanted).")


def create_proposal(
    session: Session,
    settings: Settings,
    *,
    author: Member,
    data: dict,
    now: datetime,
    remote: RemoteReviews | None = None,
    invite: bool = True,
) -> Proposal:
    """Write a proposal, put k x bounty in escrow at once and invite the best k reviewers (unless a round will)."""
    members.require_active(author)
    refuse_unknown_fields(data, (*PROPOSAL_FIELDS, *OPTIONAL_FIELDS))
    fields = Fields()
    tags = fields(clean_list, data.get("tags", []), "tags", allowed=members.taxonomy(settings), max_items=12)
    if tags == []:
        fields.errors.append(ValidationError(_("Please choose at least one tag."), code="missing_field", field="tags"))
    title = fields(clean_text, data.get("title"), "title", 200, required=True)
    summary = fields(clean_text, data.get("summary"), "summary", 2000, required=True)
    full_text = fields(clean_text, data.get("full_text"), "full_text", 100000, required=True)
    language = fields(clean_choice, data.get("language"), "language", members.LANGUAGES)
    stage = fields(clean_choice, data.get("stage"), "stage", STAGES)
    wanted = fields(whole_number, data.get("reviews_wanted"), "reviews_wanted", 1, MAX_REVIEWS, message=REVIEWS_RULE)
    bounty = fields(ledger.require_amount, data.get("bounty"), "bounty")
    foreign = fields(
        whole_number,
        data.get("min_foreign_reviewers", 0),
        "min_foreign_reviewers",
        0,
        wanted if wanted is not None else MAX_REVIEWS,
        message=FOREIGN_RULE,
    )
    fields.done()
    assert author.id is not None
    proposal = Proposal(
        author_id=author.id,
        title=title,
        summary=summary,
        full_text=full_text,
        tags=tags,
        language=language,
        stage=stage,
        reviews_wanted=wanted,
        bounty=bounty,
        status=PROPOSAL.initial,
        created_at=now,
        min_foreign_reviewers=foreign,
    )
    session.add(proposal)
    session.flush()
    total = ledger.require_amount(proposal.reviews_wanted * proposal.bounty, "bounty")
    memo = labels.english(labels.ESCROW_FOR_REVIEWS, reviews=proposal.reviews_wanted)
    ledger.post(
        session,
        kind="review_escrow",
        memo=memo,
        legs=[
            ledger.Leg(ledger.member_account(session, author.id), -total),
            ledger.Leg(escrow_account(session, proposal, now), total),
        ],
        now=now,
        ref=f"proposal:{proposal.id}:escrow",
        actor_id=author.id,
    )
    if invite:
        fill_slots(session, settings, proposal, now, remote)
    return proposal


def escrow_account(session: Session, proposal: Proposal, now: datetime):
    return ledger.open_account(session, kind="escrow", ref=f"escrow:proposal:{proposal.id}", now=now, min_balance=0)


def refund_remainder(session: Session, proposal: Proposal, now: datetime) -> int:
    """Return what is left in the proposal's escrow to its author (once); return the amount."""
    escrow = escrow_account(session, proposal, now)
    if escrow.balance <= 0:
        return 0
    amount = escrow.balance
    memo = labels.english(labels.UNUSED_ESCROW_REFUND, proposal_id=proposal.id)
    ledger.post(
        session,
        kind="review_refund",
        memo=memo,
        legs=[ledger.Leg(escrow, -amount), ledger.Leg(ledger.member_account(session, proposal.author_id), amount)],
        now=now,
        ref=f"proposal:{proposal.id}:refund",
        check_limits=False,
    )  # escrow always drains
    return amount


def escrow_balance(session: Session, proposal: Proposal) -> int:
    """What the proposal's escrow holds now (read-only: never creates the account)."""
    account = session.scalars(select(Account).where(col(Account.ref) == f"escrow:proposal:{proposal.id}")).first()
    return account.balance if account is not None else 0


def get_proposal(session: Session, proposal_id: int, *, for_update: bool = False) -> Proposal:
    proposal = session.get(Proposal, proposal_id, with_for_update=for_update)
    if proposal is None:
        raise NotFoundError(_("There is no such proposal."), code="proposal_not_found")
    return proposal


def access(session: Session, proposal: Proposal, member: Member) -> str:
    """How much of the proposal this member may see: owner, coordinator, reviewer, invited; else 404."""
    if proposal.author_id == member.id:
        return "owner"
    if member.role == "coordinator" and member.status == "active":
        return "coordinator"
    states = set(
        session.scalars(
            select(col(ReviewInvitation.status)).where(
                col(ReviewInvitation.proposal_id) == proposal.id, col(ReviewInvitation.reviewer_id) == member.id
            )
        ).all()
    )
    if states & {"accepted", "submitted"}:
        return "reviewer"
    if "invited" in states:
        return "invited"
    # Same answer as a missing proposal: strangers learn nothing, not even that it exists.
    raise NotFoundError(_("There is no such proposal."), code="proposal_not_found")


def list_proposals(session: Session, member: Member, *, everyone: bool = False) -> list[Proposal]:
    """The member's own proposals, newest first; a coordinator may ask for all."""
    stmt = select(Proposal).order_by(col(Proposal.id).desc())
    if everyone:
        members.require_coordinator(member)
    else:
        stmt = stmt.where(col(Proposal.author_id) == member.id)
    return list(session.scalars(stmt).all())


def open_proposals(session: Session) -> list[Proposal]:
    """Every proposal still collecting reviews, oldest first (the coordinator's view)."""
    return list(
        session.scalars(select(Proposal).where(col(Proposal.status) == "open").order_by(col(Proposal.id))).all()
    )


def invitations_of(session: Session, proposal_id: int) -> list[ReviewInvitation]:
    return list(
        session.scalars(
            select(ReviewInvitation)
            .where(col(ReviewInvitation.proposal_id) == proposal_id)
            .order_by(col(ReviewInvitation.id))
        ).all()
    )


def reviews_of(session: Session, proposal_id: int) -> list[tuple[Review, ReviewInvitation]]:
    return list(
        session.execute(
            select(Review, ReviewInvitation)
            .join(ReviewInvitation, col(ReviewInvitation.id) == col(Review.invitation_id))
            .where(col(ReviewInvitation.proposal_id) == proposal_id)
            .order_by(col(Review.id))
        )
        .tuples()
        .all()
    )


def open_slots(session: Session, proposal: Proposal) -> int:
    """How many of the k reviews have no invitation holding them."""
    if proposal.status != "open":
        return 0
    held = session.execute(
        select(func.count())
        .select_from(ReviewInvitation)
        .where(col(ReviewInvitation.proposal_id) == proposal.id, col(ReviewInvitation.status).in_(SLOT_STATES))
    ).scalar_one()
    return max(0, proposal.reviews_wanted - held)


def local_candidates(session: Session) -> list[matching.Candidate]:
    """Every active reviewer of this node as a matching record, with load and past helpfulness."""
    load = dict(
        session.execute(
            select(col(ReviewInvitation.reviewer_id), func.count())
            .where(col(ReviewInvitation.status).in_(OPEN_STATES), col(ReviewInvitation.reviewer_id).is_not(None))
            .group_by(col(ReviewInvitation.reviewer_id))
        )
        .tuples()
        .all()
    )
    rated = {
        rid: (avg, n)
        for rid, avg, n in session.execute(
            select(
                col(ReviewInvitation.reviewer_id),
                func.avg(col(Review.helpfulness)),
                func.count(col(Review.helpfulness)),
            )
            .join(Review, col(Review.invitation_id) == col(ReviewInvitation.id))
            .where(col(Review.helpfulness).is_not(None))
            .group_by(col(ReviewInvitation.reviewer_id))
        ).all()
    }
    reviewers = session.scalars(
        select(Member).where(col(Member.status) == "active", col(Member.is_reviewer).is_(True)).order_by(col(Member.id))
    ).all()
    bids: dict[int | None, list] = {}  # looked up by Member.id, typed optional
    for member_id, tag, level in session.execute(
        select(col(Bid.member_id), col(Bid.tag), col(Bid.level)).order_by(col(Bid.tag))
    ).all():
        bids.setdefault(member_id, []).append((tag, level))
    return [
        matching.Candidate(
            label=m.handle,
            member_id=m.id,
            expertise=tuple(m.expertise),
            languages=tuple(m.languages),
            organisation=m.organisation,
            capacity=m.review_capacity,
            load=load.get(m.id, 0),
            helpfulness_avg=float(rated[m.id][0]) if m.id in rated else None,
            rated_reviews=rated.get(m.id, (None, 0))[1],
            country=m.country,
            bids=tuple(bids.get(m.id, ())),
        )
        for m in reviewers
    ]


def need_for(session: Session, proposal: Proposal) -> matching.Need:
    """The proposal as matching sees it: author, tags, language, who was invited and relevant conflicts."""
    author = session.get(Member, proposal.author_id)
    invited = frozenset(
        f"local:{rid}" if rid is not None else f"remote:{node}:{handle}"
        for rid, node, handle in session.execute(
            select(
                col(ReviewInvitation.reviewer_id),
                col(ReviewInvitation.remote_node),
                col(ReviewInvitation.remote_handle),
            ).where(col(ReviewInvitation.proposal_id) == proposal.id)
        ).all()
    )
    # Organisation names are compared case-folded in Python (SQLite's lower() is ASCII-only).
    assert author is not None
    rows = session.scalars(
        select(Conflict).where(
            or_(
                col(Conflict.member_id) == author.id,
                col(Conflict.other_member_id) == author.id,
                col(Conflict.organisation) != "",
            )
        )
    ).all()
    conflicts = tuple(matching.ConflictRecord(c.member_id, c.other_member_id, c.organisation, c.source) for c in rows)
    remote_rows = session.scalars(select(RemoteConflict).where(col(RemoteConflict.member_id) == author.id)).all()
    conflicts += tuple(
        matching.ConflictRecord(c.member_id, source=c.source, remote=f"{c.remote_handle}@{c.remote_node}")
        for c in remote_rows
    )
    assert author.id is not None
    return matching.Need(
        author_id=author.id,
        author_organisation=author.organisation,
        tags=tuple(proposal.tags),
        language=proposal.language,
        already_invited=invited,
        conflicts=conflicts,
    )


def rank_for(session: Session, proposal: Proposal, remote: RemoteReviews | None = None):
    """Ranked and excluded candidates for a proposal: local ones, and peers' shared reviewers with remote."""
    remote_candidates = remote.candidates(session) if remote is not None else []
    return matching.rank_candidates(need_for(session, proposal), [*local_candidates(session), *remote_candidates])


def fill_slots(
    session: Session, settings: Settings, proposal: Proposal, now: datetime, remote: RemoteReviews | None = None
) -> list[ReviewInvitation]:
    """Invite the best candidates into the proposal's free slots; fewer if nobody fits."""
    free = open_slots(session, proposal)
    assert proposal.id is not None
    if free == 0 or held_by_round(session, proposal.id):
        return []
    ranked, _excluded = rank_for(session, proposal, remote)
    return [
        invite_candidate(session, settings, proposal, pick.candidate, pick.rank, pick.score, now, remote)
        for pick in _picks(session, settings, proposal, ranked, free, remote)
    ]


def held_by_round(session: Session, proposal_id: int) -> bool:
    """True while a review round that has not assigned its reviewers yet holds the proposal."""
    return (
        session.execute(
            select(col(RoundItem.id))
            .join(ReviewRound, col(ReviewRound.id) == col(RoundItem.round_id))
            .where(col(RoundItem.proposal_id) == proposal_id, col(ReviewRound.status).in_(ROUND_HOLDS))
        ).first()
        is not None
    )


def invite_candidate(
    session: Session,
    settings: Settings,
    proposal: Proposal,
    candidate: matching.Candidate,
    rank: int,
    score: int,
    now: datetime,
    remote: RemoteReviews | None,
) -> ReviewInvitation:
    """One invitation: notified here for a local reviewer, sent to their node for a remote one."""
    assert proposal.id is not None
    invitation = ReviewInvitation(
        proposal_id=proposal.id,
        reviewer_id=candidate.member_id,
        remote_node=candidate.remote_node,
        remote_handle=candidate.remote_handle,
        status=INVITATION.initial,
        rank=rank,
        score=score,
        bounty=proposal.bounty,
        invited_at=now,
        accept_by=now + timedelta(hours=settings.invite_accept_hours),
    )
    session.add(invitation)
    session.flush()
    if invitation.reviewer_id is not None:
        notify(
            session,
            member_id=invitation.reviewer_id,
            kind="review_invitation",
            now=now,
            params={"title": proposal.title, "bounty": proposal.bounty, "accept_by": invitation.accept_by},
        )
        data = {"id": invitation.id, "title": proposal.title, "abroad": False, "url": "/reviews"}
        events.record(session, member_id=invitation.reviewer_id, kind="invitation", data=data, now=now)
    else:
        assert remote is not None
        remote.invited(session, proposal, invitation, now)
    return invitation


def _picks(
    session: Session, settings: Settings, proposal: Proposal, ranked: list, free: int, remote: RemoteReviews | None
) -> list:
    """The best `free` candidates, the best foreign ones first until min_foreign_reviewers hold slots."""
    home = _country(session.get_one(Member, proposal.author_id).country, settings)
    held = session.execute(
        select(col(ReviewInvitation.reviewer_id), col(ReviewInvitation.remote_node)).where(
            col(ReviewInvitation.proposal_id) == proposal.id, col(ReviewInvitation.status).in_(SLOT_STATES)
        )
    ).all()
    held_foreign = sum(_held_country(session, settings, rid, node, remote) != home for rid, node in held)
    wanted = min(free, max(0, proposal.min_foreign_reviewers - held_foreign))
    # When nobody from another country can be invited, the slots go to the best there are rather than wait.
    foreign = [r for r in ranked if _country(r.candidate.country, settings) != home][:wanted]
    rest = [r for r in ranked if r not in foreign][: free - len(foreign)]
    return sorted(foreign + rest, key=lambda r: r.rank)


def _held_country(
    session: Session, settings: Settings, reviewer_id: int | None, node: str | None, remote: RemoteReviews | None
) -> str:
    if reviewer_id is not None:
        return _country(session.get_one(Member, reviewer_id).country, settings)
    if remote is None:
        return _country("", settings)
    assert node is not None  # an invitation without a reviewer here is held on a peer node
    return _country(remote.country_of(session, node), settings)


def _country(country: str, settings: Settings) -> str:
    """A member's or peer's country; members who did not give one live where their node is."""
    return (country or settings.country).upper()


def withdraw(
    session: Session,
    settings: Settings,
    *,
    member: Member,
    proposal_id: int,
    now: datetime,
    remote: RemoteReviews | None = None,
) -> Proposal:
    """The author withdraws: open invitations are cancelled and what remains in escrow is refunded."""
    proposal = get_proposal(session, proposal_id, for_update=True)
    if proposal.author_id != member.id:
        access(session, proposal, member)  # 404 for strangers, then 403 for those who may look
        raise ForbiddenError(_("Only its author may withdraw a proposal."), code="not_author")
    PROPOSAL.move(proposal, "withdrawn")
    assert proposal.id is not None
    for invitation in invitations_of(session, proposal.id):
        if invitation.status in OPEN_STATES:
            INVITATION.move(invitation, "cancelled")
            if invitation.reviewer_id is not None:
                notify(
                    session,
                    member_id=invitation.reviewer_id,
                    kind="invitation_cancelled",
                    now=now,
                    params={"title": proposal.title},
                )
            elif remote is not None:
                remote.ended(session, invitation, "proposal_withdrawn", now)
    proposal.closed_at = now
    refund_remainder(session, proposal, now)
    return proposal


def declare_conflict(session: Session, *, member: Member, data: dict, now: datetime) -> Conflict:
    """A member declares a conflict of interest with another member or an organisation."""
    members.require_active(member)
    return _record_conflict(session, member, data, now, source="member")


def pin_conflict(session: Session, *, coordinator: Member, data: dict, now: datetime) -> Conflict:
    """A coordinator pins a conflict on a member (matching then excludes it like a declared one)."""
    members.require_coordinator(coordinator)
    handle = clean_text(data.get("member_handle"), "member_handle", 64, required=True).lower()
    member = members.find_by_handle(session, handle)
    return _record_conflict(session, member, data, now, source="coordinator")


def list_conflicts(session: Session, member: Member, *, everyone: bool = False) -> list[Conflict]:
    """The conflicts the member declared, newest first; a coordinator may ask for all (pinned too)."""
    if everyone:
        members.require_coordinator(member)
        return all_conflicts(session)
    return list(
        session.scalars(
            select(Conflict)
            .where(col(Conflict.member_id) == member.id, col(Conflict.source) == "member")
            .order_by(col(Conflict.id).desc())
        ).all()
    )


def all_conflicts(session: Session) -> list[Conflict]:
    """Every declared and pinned conflict, newest first (the coordinator's view)."""
    return list(session.scalars(select(Conflict).order_by(col(Conflict.id).desc())).all())


def _record_conflict(session: Session, member: Member, data: dict, now: datetime, *, source: str) -> Conflict:
    other_handle = clean_text(data.get("other_handle"), "other_handle", 64).lower()
    organisation = clean_text(data.get("organisation"), "organisation", 120)
    if bool(other_handle) == bool(organisation):
        raise ValidationError(
            _("Please name one: another member (by their handle) or an organisation."),
            code="conflict_target",
            field="other_handle",
        )
    other = members.find_by_handle(session, other_handle) if other_handle else None
    if other is not None and other.id == member.id:
        raise ValidationError(
            _("A conflict of interest is with someone else, not yourself."), code="self_conflict", field="other_handle"
        )
    existing = session.scalars(
        select(Conflict).where(
            col(Conflict.member_id) == member.id, col(Conflict.other_member_id) == (other.id if other else None)
        )
    ).all()
    if any(c.organisation.casefold() == organisation.casefold() for c in existing):
        raise ConflictError(_("This conflict is already recorded."), code="conflict_exists")
    assert member.id is not None
    row = Conflict(
        member_id=member.id,
        other_member_id=other.id if other else None,
        organisation=organisation,
        source=source,
        reason=clean_text(data.get("reason"), "reason", 500),
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row
