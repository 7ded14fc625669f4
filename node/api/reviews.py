"""JSON API: proposals, review invitations, reviews, conflicts of interest and notifications."""

from __future__ import annotations

from flask import g, jsonify, request
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from .. import notices
from ..context import node_ctx
from ..errors import ForbiddenError
from ..lifecycle import INVITATION as INVITATION_LIFECYCLE
from ..lifecycle import PROPOSAL as PROPOSAL_LIFECYCLE
from ..services import members, proposals, reviews, rounds
from ..services.matching import WEIGHTS
from ..tables import Member, Proposal, Review, ReviewInvitation
from .base import AMOUNT, BOOL, DATETIME, ApiBlueprint, arr, integer, json_body, obj, only_fields, string

api = ApiBlueprint("reviews", "reviews")


def nullable(schema: dict) -> dict:
    return {**schema, "type": [schema["type"], "null"]}


SCORE = integer(1, 5)
INVITATION_STATES = sorted(INVITATION_LIFECYCLE.transitions)
PROPOSAL_STATES = sorted(PROPOSAL_LIFECYCLE.transitions)
ACCESS_LEVELS = ["owner", "coordinator", "reviewer", "invited"]
INVITATION_BRIEF = obj(
    ("id", "proposal_id", "reviewer", "status", "rank", "score", "bounty", "invited_at", "accept_by"),
    id=integer(),
    proposal_id=integer(),
    reviewer=nullable(string()),  # null: the author's view of a double-blind round (then reviewer_number)
    reviewer_number=integer(1),
    remote_node=nullable(string()),
    status=string(enum=INVITATION_STATES),
    rank=integer(),
    score=integer(),
    bounty=integer(),
    invited_at=DATETIME,
    accept_by=DATETIME,
    responded_at=nullable(DATETIME),
    due_by=nullable(DATETIME),
    reminded_at=nullable(DATETIME),
    decline_reason=string(),
)
REVIEW = obj(
    ("id", "invitation_id", "reviewer", *reviews.TENETS, "confidence", "feedback", "submitted_at"),
    id=integer(),
    invitation_id=integer(),
    reviewer=nullable(string()),
    reviewer_number=integer(1),
    shared_value=SCORE,
    social_transformation=SCORE,
    impact=SCORE,
    confidence=SCORE,
    feedback=string(),
    submitted_at=DATETIME,
    helpfulness=nullable(SCORE),
    rated_at=nullable(DATETIME),
)
PROPOSAL_SUMMARY_FIELDS = dict(
    id=integer(),
    title=string(),
    summary=string(),
    tags=arr(string()),
    language=string(),
    stage=string(),
    reviews_wanted=integer(),
    min_foreign_reviewers=integer(0),
    bounty=integer(),
    status=string(enum=PROPOSAL_STATES),
    author=nullable(string()),  # null: a reviewer's view of a double-blind round
    created_at=DATETIME,
    closed_at=nullable(DATETIME),
)
PROPOSAL_SUMMARY = obj(tuple(PROPOSAL_SUMMARY_FIELDS), **PROPOSAL_SUMMARY_FIELDS)
PROPOSAL = obj(
    (*PROPOSAL_SUMMARY_FIELDS, "access"),
    **PROPOSAL_SUMMARY_FIELDS,
    access=string(enum=ACCESS_LEVELS),
    double_blind=BOOL,
    full_text=string(),
    escrow=integer(),
    open_slots=integer(0),
    waiting_for_reviewers=BOOL,
    invitations=arr(INVITATION_BRIEF),
    reviews=arr(REVIEW),
    my_invitation=INVITATION_BRIEF,
)
INVITATION = obj(
    (*INVITATION_BRIEF["required"], "proposal", "review"),
    **INVITATION_BRIEF["properties"],
    proposal=PROPOSAL_SUMMARY,
    review=nullable(REVIEW),
)
CANDIDATE = obj(
    ("rank", "reviewer", "score", "parts", "explanation"),
    rank=integer(1),
    reviewer=string(),
    member_id=nullable(integer()),
    remote_node=nullable(string()),
    country=string(),
    score=integer(0, 1000),
    parts=obj(tuple(WEIGHTS), **{name: integer(0, 1000) for name in WEIGHTS}),
    explanation=arr(string()),
)
CANDIDATES = obj(
    ("proposal_id", "open_slots", "candidates"),
    proposal_id=integer(),
    open_slots=integer(0),
    candidates=arr(CANDIDATE),
    excluded=arr(obj(("reviewer", "reason"), reviewer=string(), reason=string())),
)
CONFLICT = obj(
    ("id", "member", "organisation", "source", "reason", "created_at"),
    id=integer(),
    member=string(),
    other_handle=nullable(string()),
    organisation=string(),
    source=string(enum=["member", "coordinator"]),
    reason=string(),
    created_at=DATETIME,
)
NOTIFICATION = obj(
    ("id", "kind", "subject", "body", "created_at"),
    id=integer(),
    kind=string(),
    subject=string(description="in the request's language (Accept-Language, else yours) and your time zone"),
    body=string(description="in the request's language (Accept-Language, else yours) and your time zone"),
    params={
        "type": ["object", "null"],
        "description": "the kind's parameters (times in UTC); null for notifications stored before they had any",
    },
    created_at=DATETIME,
    sent_at=nullable(DATETIME),
    read_at=nullable(DATETIME),
)
PROPOSAL_BODY = obj(
    proposals.PROPOSAL_FIELDS,
    title=string(200),
    summary=string(2000),
    full_text=string(100000),
    tags={**arr(string(64), 12), "minItems": 1},
    language=string(8, enum=list(members.LANGUAGES)),
    stage=string(32, enum=list(proposals.STAGES)),
    reviews_wanted=integer(1, proposals.MAX_REVIEWS),
    bounty=AMOUNT,
    min_foreign_reviewers=integer(0, proposals.MAX_REVIEWS),
)
EVERYONE = {"all": string(8, enum=["0", "1", "false", "true"])}  # ?all=1: coordinators see everyone's
CONFLICT_FIELDS = dict(other_handle=string(64), organisation=string(120), reason=string(500))


# --- views shared with the web pages ---------------------------------------------------------------


def _handle(session: Session, member_id: int | None) -> str:
    member = session.get(Member, member_id) if member_id is not None else None
    return member.handle if member is not None else ""


def invitation_brief(session: Session, inv: ReviewInvitation, *, private: bool = True, blind: bool = False) -> dict:
    """An invitation's state and deadlines; the decline reason only for its reviewer and coordinators.

    `blind`: for the author of a proposal in a double-blind round, who sees no reviewer's name (None)."""
    if blind:
        reviewer = None
    elif inv.reviewer_id:
        reviewer = _handle(session, inv.reviewer_id)
    else:
        reviewer = f"{inv.remote_handle}@{inv.remote_node}"
    out = {
        "id": inv.id,
        "proposal_id": inv.proposal_id,
        "status": inv.status,
        "rank": inv.rank,
        "score": inv.score,
        "reviewer": reviewer,
        "remote_node": None if blind else inv.remote_node,
        "bounty": inv.bounty,
        "invited_at": inv.invited_at,
        "accept_by": inv.accept_by,
        "responded_at": inv.responded_at,
        "due_by": inv.due_by,
        "reminded_at": inv.reminded_at,
    }
    if private:
        out["decline_reason"] = inv.decline_reason
    return out


def review_view(session: Session, review: Review, inv: ReviewInvitation, *, blind: bool = False) -> dict:
    return {
        "id": review.id,
        "invitation_id": inv.id,
        "reviewer": invitation_brief(session, inv, blind=blind)["reviewer"],
        **{name: getattr(review, name) for name in (*reviews.TENETS, "confidence", "feedback")},
        "submitted_at": review.submitted_at,
        "helpfulness": review.helpfulness,
        "rated_at": review.rated_at,
    }


def proposal_summary(session: Session, p: Proposal, *, blind: bool = False) -> dict:
    """A proposal's public part; `blind`: for a reviewer in a double-blind round, no author (None)."""
    return {
        "id": p.id,
        "title": p.title,
        "summary": p.summary,
        "tags": list(p.tags),
        "language": p.language,
        "stage": p.stage,
        "reviews_wanted": p.reviews_wanted,
        "min_foreign_reviewers": p.min_foreign_reviewers,
        "bounty": p.bounty,
        "status": p.status,
        "author": None if blind else _handle(session, p.author_id),
        "created_at": p.created_at,
        "closed_at": p.closed_at,
    }


def proposal_view(session: Session, p: Proposal, me: Member) -> dict:
    """The proposal as this member may see it (404 from access() for anyone who may not)."""
    level = proposals.access(session, p, me)
    assert p.id is not None
    blind = rounds.is_double_blind(session, p.id)  # then author and reviewers see each other as roles only
    out = {**proposal_summary(session, p, blind=blind and level not in ("owner", "coordinator")), "access": level}
    out["double_blind"] = blind
    if level != "invited":
        out["full_text"] = p.full_text
    if level in ("owner", "coordinator"):
        slots = proposals.open_slots(session, p)
        out.update(
            escrow=proposals.escrow_balance(session, p),
            open_slots=slots,
            waiting_for_reviewers=p.status == "open" and slots > 0,
            invitations=[
                invitation_brief(session, i, private=level == "coordinator", blind=blind and level == "owner")
                for i in proposals.invitations_of(session, p.id)
            ],
            reviews=[
                review_view(session, r, i, blind=blind and level == "owner")
                for r, i in proposals.reviews_of(session, p.id)
            ],
        )
        if blind and level == "owner":  # reviewers by number, in the order they were invited
            number = {i["id"]: n for n, i in enumerate(out["invitations"], 1)}
            for row in (*out["invitations"], *out["reviews"]):
                row["reviewer_number"] = number[row.get("invitation_id", row["id"])]
    else:
        mine = [i for i in proposals.invitations_of(session, p.id) if i.reviewer_id == me.id]
        out["my_invitation"] = invitation_brief(session, mine[-1])
    return out


def invitation_view(session: Session, inv: ReviewInvitation) -> dict:
    review = reviews.review_of(session, inv)
    return {
        **invitation_brief(session, inv),
        "proposal": proposal_summary(
            session, session.get_one(Proposal, inv.proposal_id), blind=rounds.is_double_blind(session, inv.proposal_id)
        ),
        "review": review_view(session, review, inv) if review else None,
    }


def conflict_view(session: Session, c) -> dict:
    return {
        "id": c.id,
        "member": _handle(session, c.member_id),
        "other_handle": _handle(session, c.other_member_id) if c.other_member_id else None,
        "organisation": c.organisation,
        "source": c.source,
        "reason": c.reason,
        "created_at": c.created_at,
    }


def candidates_view(session: Session, p: Proposal, me: Member) -> dict:
    """Ranked candidates with explanations; who was left out and why only for coordinators."""
    if proposals.access(session, p, me) not in ("owner", "coordinator"):
        raise ForbiddenError(_("Only the author or a coordinator sees the candidates."), code="not_author")
    ranked, excluded = proposals.rank_for(session, p, remote_reviews())
    out = {
        "proposal_id": p.id,
        "open_slots": proposals.open_slots(session, p),
        "candidates": [
            {
                "rank": r.rank,
                "reviewer": r.candidate.label,
                "member_id": r.candidate.member_id,
                "remote_node": r.candidate.remote_node,
                "country": r.candidate.country,
                "score": r.score,
                "parts": r.parts,
                "explanation": list(r.explanation),
            }
            for r in ranked
        ],
    }
    if me.role == "coordinator":
        out["excluded"] = [{"reviewer": e.candidate.label, "reason": e.reason} for e in excluded]
    return out


# --- routes ------------------------------------------------------------------------------------------


def _me(session: Session) -> Member:
    return session.get_one(Member, g.member.id)


def remote_reviews():
    """Reviewers on peer nodes, when federation wired them in (proposals.RemoteReviews), else None."""
    return node_ctx().remote_reviews


def _everyone() -> bool:
    return request.args.get("all") in ("1", "true")


@api.route(
    "/proposals",
    "POST",
    "Write a proposal; k x bounty goes into escrow and reviewers are invited",
    body=PROPOSAL_BODY,
    response=PROPOSAL,
    status=201,
)
def create_proposal():
    data = only_fields(json_body(), (*proposals.PROPOSAL_FIELDS, *proposals.OPTIONAL_FIELDS))
    ctx = node_ctx()
    with ctx.db.write() as session:
        me = _me(session)
        proposal = proposals.create_proposal(
            session, ctx.settings, author=me, data=data, now=ctx.now(), remote=remote_reviews()
        )
        out = proposal_view(session, proposal, me)
    return jsonify(out), 201


@api.route(
    "/proposals",
    "GET",
    "Your proposals (coordinators: ?all=1 for every proposal)",
    response=obj(("proposals",), proposals=arr(PROPOSAL)),
    query=EVERYONE,
)
def list_proposals():
    ctx = node_ctx()
    with ctx.db.read() as session:
        me = _me(session)
        rows = proposals.list_proposals(session, me, everyone=_everyone())
        return jsonify({"proposals": [proposal_view(session, p, me) for p in rows]})


@api.route(
    "/proposals/<int:proposal_id>",
    "GET",
    "A proposal; the full text only for its author, accepted reviewers and coordinators",
    response=PROPOSAL,
)
def get_proposal(proposal_id: int):
    ctx = node_ctx()
    with ctx.db.read() as session:
        return jsonify(proposal_view(session, proposals.get_proposal(session, proposal_id), _me(session)))


@api.route(
    "/proposals/<int:proposal_id>/withdraw",
    "POST",
    "Withdraw your proposal: open invitations are cancelled and the rest of the escrow is refunded",
    response=PROPOSAL,
)
def withdraw_proposal(proposal_id: int):
    ctx = node_ctx()
    with ctx.db.write() as session:
        me = _me(session)
        proposal = proposals.withdraw(
            session, ctx.settings, member=me, proposal_id=proposal_id, now=ctx.now(), remote=remote_reviews()
        )
        out = proposal_view(session, proposal, me)
    return jsonify(out)


@api.route(
    "/proposals/<int:proposal_id>/candidates",
    "GET",
    "Ranked reviewer candidates with the reasons (author or coordinator)",
    response=CANDIDATES,
)
def get_candidates(proposal_id: int):
    ctx = node_ctx()
    with ctx.db.read() as session:
        return jsonify(candidates_view(session, proposals.get_proposal(session, proposal_id), _me(session)))


@api.route(
    "/invitations",
    "GET",
    "Your review invitations, newest first",
    response=obj(("invitations",), invitations=arr(INVITATION)),
)
def list_invitations():
    ctx = node_ctx()
    with ctx.db.read() as session:
        rows = reviews.list_invitations(session, _me(session))
        return jsonify({"invitations": [invitation_view(session, inv) for inv, _, _ in rows]})


@api.route("/invitations/<int:invitation_id>", "GET", "One of your invitations", response=INVITATION)
def get_invitation(invitation_id: int):
    ctx = node_ctx()
    with ctx.db.read() as session:
        return jsonify(invitation_view(session, reviews.get_invitation(session, _me(session), invitation_id)))


@api.route(
    "/invitations/<int:invitation_id>/accept", "POST", "Accept an invitation before its deadline", response=INVITATION
)
def accept_invitation(invitation_id: int):
    ctx = node_ctx()
    with ctx.db.write() as session:
        inv = reviews.accept(session, ctx.settings, member=_me(session), invitation_id=invitation_id, now=ctx.now())
        out = invitation_view(session, inv)
    return jsonify(out)


@api.route(
    "/invitations/<int:invitation_id>/decline",
    "POST",
    "Decline an invitation; the next candidate is invited",
    body=obj(reason=string(500)),
    response=INVITATION,
)
def decline_invitation(invitation_id: int):
    data = only_fields(json_body(required=False), ("reason",))
    ctx = node_ctx()
    with ctx.db.write() as session:
        inv = reviews.decline(
            session,
            ctx.settings,
            member=_me(session),
            invitation_id=invitation_id,
            reason=data.get("reason"),
            now=ctx.now(),
            remote=remote_reviews(),
        )
        out = invitation_view(session, inv)
    return jsonify(out)


@api.route(
    "/invitations/<int:invitation_id>/review",
    "POST",
    "Submit the review; the bounty is paid at once",
    body=obj(
        reviews.REVIEW_FIELDS,
        shared_value=SCORE,
        social_transformation=SCORE,
        impact=SCORE,
        confidence=SCORE,
        feedback=string(20000),
    ),
    response=REVIEW,
    status=201,
)
def submit_review(invitation_id: int):
    data = only_fields(json_body(), reviews.REVIEW_FIELDS)
    ctx = node_ctx()
    with ctx.db.write() as session:
        review = reviews.submit_review(
            session, ctx.settings, member=_me(session), invitation_id=invitation_id, data=data, now=ctx.now()
        )
        out = review_view(session, review, session.get_one(ReviewInvitation, invitation_id))
    return jsonify(out), 201


@api.route(
    "/reviews/<int:review_id>/rate",
    "POST",
    "Rate a review of your proposal for helpfulness, once",
    body=obj(("helpfulness",), helpfulness=SCORE),
    response=REVIEW,
)
def rate_review(review_id: int):
    data = only_fields(json_body(), ("helpfulness",))
    ctx = node_ctx()
    with ctx.db.write() as session:
        review = reviews.rate_review(
            session,
            member=_me(session),
            review_id=review_id,
            helpfulness=data.get("helpfulness"),
            now=ctx.now(),
            remote=remote_reviews(),
        )
        out = review_view(session, review, session.get_one(ReviewInvitation, review.invitation_id))
    return jsonify(out)


@api.route(
    "/conflicts",
    "GET",
    "Conflicts of interest you declared (coordinators: ?all=1 for all)",
    response=obj(("conflicts",), conflicts=arr(CONFLICT)),
    query=EVERYONE,
)
def list_conflicts():
    ctx = node_ctx()
    with ctx.db.read() as session:
        rows = proposals.list_conflicts(session, _me(session), everyone=_everyone())
        return jsonify({"conflicts": [conflict_view(session, c) for c in rows]})


@api.route(
    "/conflicts",
    "POST",
    "Declare a conflict of interest with a member or an organisation",
    body=obj(**CONFLICT_FIELDS),
    response=CONFLICT,
    status=201,
)
def declare_conflict():
    data = only_fields(json_body(), tuple(CONFLICT_FIELDS))
    ctx = node_ctx()
    with ctx.db.write() as session:
        out = conflict_view(session, proposals.declare_conflict(session, member=_me(session), data=data, now=ctx.now()))
    return jsonify(out), 201


@api.route(
    "/coordinator/conflicts",
    "POST",
    "Pin a conflict of interest on a member (coordinators)",
    body=obj(("member_handle",), member_handle=string(64), **CONFLICT_FIELDS),
    response=CONFLICT,
    status=201,
)
def pin_conflict():
    data = only_fields(json_body(), ("member_handle", *CONFLICT_FIELDS))
    ctx = node_ctx()
    with ctx.db.write() as session:
        out = conflict_view(
            session, proposals.pin_conflict(session, coordinator=_me(session), data=data, now=ctx.now())
        )
    return jsonify(out), 201


@api.route(
    "/notifications",
    "GET",
    "Your notifications, newest first",
    response=obj(("notifications",), notifications=arr(NOTIFICATION)),
)
def list_notifications():
    ctx = node_ctx()
    with ctx.db.read() as session:
        rows = reviews.notifications_for(session, g.member.id)
    out = []
    for n in rows:
        subject, body = notices.for_reader(n, ctx.settings)
        out.append(
            {
                "id": n.id,
                "kind": n.kind,
                "subject": subject,
                "body": body,
                "params": n.params,
                "created_at": n.created_at,
                "sent_at": n.sent_at,
                "read_at": n.read_at,
            }
        )
    return jsonify({"notifications": out})
