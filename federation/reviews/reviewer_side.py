"""Cross-border reviews, reviewer's side: a peer invites one of our members to review its proposal.

Each `review_invite` becomes an IncomingInvitation that only the invited member sees (their
dashboard and Reviews page, and a notification). An invitation for someone who is not (or no
longer) a consenting, active reviewer with a free slot is declined at once by a `review_decline`
(a domain "no" is an answering message). The member's accept, decline and review travel back
as entries; the proposer's node decides expiry and time-outs and tells us with `review_cancel`.
The full text arrives only as `proposal_share`, which the proposer's node sends after the
acceptance; it is stored for that member alone (not even coordinators see it). The bounty
arrives as an ordinary `transfer` to the member's pseudonym, resolved here by its transfer id.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from federation.reviews.proposer_side import TRANSFER_PREFIX, bounty_transfer_id
from federation.tables import CrossBorderTransfer, IncomingInvitation, Peer
from federation.transport import channels
from federation.transport.peers import get_peer, require_reachable
from node.errors import ConflictError, NotFoundError
from node.lifecycle import Timeout, lifecycle
from node.services import events, members, reviews
from node.services.notify import notify
from node.services.proposals import OPEN_STATES
from node.services.validate import clean_text
from node.tables import Member, ReviewInvitation
from protocol import Envelope, parse_time

if TYPE_CHECKING:
    from federation.state import Federation

# The proposer's node ends an invitation (expired, timed_out, withdrawn) even after it was accepted.
# Its deadlines are the timeouts: that node makes the move (review_cancel); here a passed deadline
# only stops the invitation holding a reviewer's slot (holding()).
INCOMING = lifecycle(
    "incoming invitation",
    "invited",
    table=IncomingInvitation,
    timeouts=(Timeout("invited", "expired", at="accept_by"), Timeout("accepted", "timed_out", at="due_by")),
    invited="accepted declined expired cancelled",
    accepted="submitted timed_out expired cancelled",
    submitted="",
    declined="",
    expired="",
    timed_out="",
    cancelled="",
)
END_STATES = {"expired": "expired", "timed_out": "timed_out"}  # any other reason code: cancelled


# --- entries from the proposer's node ---------------------------------------------------------------


def apply_invite(session: Session, fed: Federation, peer: Peer, env: Envelope, now: datetime) -> None:
    """Show the invitation to the member and notify them, or decline at once if they cannot take it."""
    body = env.body
    if session.scalars(
        select(col(IncomingInvitation.id)).where(
            col(IncomingInvitation.peer_id) == peer.node_id, IncomingInvitation.invite_id == body["invite_id"]
        )
    ).first():
        return  # the same invitation twice: already handled
    member = session.scalars(select(Member).where(Member.pseudonym == body["reviewer_handle"])).first()
    refusal = (
        _deadline_refusal(fed.ctx.settings, body, now)
        or _refusal(session, member, now)
        or _peer_cap_refusal(session, fed.ctx.settings, peer, now)
    )
    if refusal:
        channels.append(
            session,
            fed,
            peer_id=peer.node_id,
            type_name="review_decline",
            now=now,
            body={"invite_id": body["invite_id"], "reason": refusal},
        )
        return
    assert member is not None and member.id is not None, "_refusal refuses a missing member"
    row = IncomingInvitation(
        peer_id=peer.node_id,
        invite_id=body["invite_id"],
        member_id=member.id,
        proposal_ref=body["proposal_ref"],
        title=body["title"],
        summary=body["summary"],
        tags=list(body["tags"]),
        language=body["language"],
        bounty=body["bounty"],
        accept_by=parse_time(body["accept_by"]),
        due_by=parse_time(body["due_by"]),
        status=INCOMING.initial,
        received_at=now,
    )
    session.add(row)
    session.flush()
    peer_name = peer.name or peer.node_id
    shown = {"id": row.id, "title": row.title, "abroad": True, "peer": peer_name, "url": f"/reviews/abroad/{row.id}"}
    events.record(session, member_id=member.id, kind="invitation", data=shown, now=now)
    notify(
        session,
        member_id=member.id,
        kind="review_invitation_abroad",
        now=now,
        params={
            "peer": peer_name,
            "country": peer.country,
            "title": row.title,
            "bounty": row.bounty,
            "accept_by": row.accept_by,
        },
    )


def _deadline_refusal(settings, body: dict, now: datetime) -> str:
    """Why the invitation's deadlines are unacceptable here ('' if fine): they bound how long it holds a slot."""
    accept_by, due_by = parse_time(body["accept_by"]), parse_time(body["due_by"])
    if accept_by <= now or due_by <= accept_by:
        return "bad_deadlines: accept_by must lie ahead and due_by after it"
    if accept_by - now > timedelta(days=settings.max_invite_accept_days):
        return f"accept_by_too_far: this node takes invitations to accept within {settings.max_invite_accept_days} days"
    if due_by - now > timedelta(days=settings.max_invite_due_days):
        return f"due_by_too_far: this node takes reviews due within {settings.max_invite_due_days} days"
    return ""


def holding(now: datetime):
    """SQL condition: an incoming invitation that still holds a reviewer's slot (invited or accepted).

    One whose deadline passed (INCOMING's timeouts) holds none, even before its proposer's node
    says it ended: a silent node cannot keep a slot for ever.
    """
    return or_(
        *(
            and_(col(IncomingInvitation.status) == t.source, getattr(IncomingInvitation, t.at) > now)
            for t in INCOMING.timeouts
        )
    )


def _refusal(session: Session, member: Member | None, now: datetime) -> str:
    """Why this member cannot take a remote invitation now ('' if they can)."""
    if member is None or member.status != "active" or not member.is_reviewer or not member.pool_consent:
        return "not_available: this reviewer is no longer shared by this node"
    local = session.execute(
        select(func.count())
        .select_from(ReviewInvitation)
        .where(col(ReviewInvitation.reviewer_id) == member.id, col(ReviewInvitation.status).in_(OPEN_STATES))
    ).scalar_one()
    abroad = session.execute(
        select(func.count())
        .select_from(IncomingInvitation)
        .where(col(IncomingInvitation.member_id) == member.id, holding(now))
    ).scalar_one()
    if local + abroad >= member.review_capacity:
        return "no_capacity: this reviewer has no free review slot"
    return ""


def _peer_cap_refusal(session: Session, settings, peer: Peer, now: datetime) -> str:
    """Why this peer may not hold another slot of our shared pool ('' if it may): no peer can exhaust the pool."""
    capacity = session.execute(
        select(func.coalesce(func.sum(Member.review_capacity), 0)).where(
            col(Member.status) == "active", col(Member.is_reviewer).is_(True), col(Member.pool_consent).is_(True)
        )
    ).scalar_one()
    cap = max(1, capacity * settings.peer_pool_share_percent // 100)
    held = session.execute(
        select(func.count())
        .select_from(IncomingInvitation)
        .where(col(IncomingInvitation.peer_id) == peer.node_id, holding(now))
    ).scalar_one()
    if held >= cap:
        return f"peer_slot_cap: {peer.node_id} already holds {held} of this node's {capacity} shared review slots"
    return ""


def _incoming(session: Session, peer: Peer, invite_id: str) -> IncomingInvitation | None:
    return session.scalars(
        select(IncomingInvitation).where(
            col(IncomingInvitation.peer_id) == peer.node_id, col(IncomingInvitation.invite_id) == invite_id
        )
    ).first()


def apply_cancel(session: Session, fed: Federation, peer: Peer, env: Envelope, now: datetime) -> None:
    """The proposer's node ended the invitation (expired, timed out, withdrawn, refused)."""
    row = _incoming(session, peer, env.body["invite_id"])
    if row is None:
        return
    code = env.body["reason_code"]
    row.end_reason = code
    if row.status not in ("invited", "accepted"):
        return  # submitted meanwhile (the review crossed the cancel): end_reason says it came too late
    INCOMING.move(row, END_STATES.get(code, "cancelled"))
    row.full_text = None  # the text was lent for the review only
    notify(
        session,
        member_id=row.member_id,
        kind="invitation_ended_abroad",
        now=now,
        params={"peer": peer.name or peer.node_id, "title": row.title, "reason_code": code},
    )


def apply_share(session: Session, fed: Federation, peer: Peer, env: Envelope, now: datetime) -> None:
    """The full text, for the member who accepted; kept only while the invitation is accepted."""
    row = _incoming(session, peer, env.body["invite_id"])
    if row is None or row.status != "accepted":
        return
    body = env.body
    row.full_text, row.stage, row.shared_at = body["full_text"], body["stage"], now
    row.title, row.summary, row.tags, row.language = (
        body["title"],
        body["summary"],
        list(body["tags"]),
        body["language"],
    )
    notify(session, member_id=row.member_id, kind="proposal_shared", now=now, params={"title": row.title})
    # The invitation's page, open and waiting for the text, shows it (node/static/live.js).
    shown = {"id": row.id, "url": f"/reviews/abroad/{row.id}"}
    events.record(session, member_id=row.member_id, kind="text", data=shown, now=now)


def apply_rating(session: Session, fed: Federation, peer: Peer, env: Envelope, now: datetime) -> None:
    """The author's helpfulness rating joins the member's record (and so their pool entry)."""
    row = _incoming(session, peer, env.body["invite_id"])
    if row is None or row.status != "submitted" or row.helpfulness is not None:
        return
    row.helpfulness, row.rated_at = env.body["helpfulness"], now
    notify(
        session,
        member_id=row.member_id,
        kind="review_rated",
        now=now,
        params={"title": row.title, "helpfulness": row.helpfulness},
    )


def review_payee(session: Session, peer: Peer, body: dict) -> Member | None:
    """A review bounty is paid to the reviewer's pseudonym: find them by the invitation it names."""
    tid = body["transfer_id"]
    if not tid.startswith(TRANSFER_PREFIX):
        return None
    row = _incoming(session, peer, tid[len(TRANSFER_PREFIX) :])
    if row is None or row.status != "submitted":
        return None
    member = session.get(Member, row.member_id)
    return member if member is not None and member.pseudonym == body["payee"] else None


# --- the member answers -----------------------------------------------------------------------------


def own_incoming(session: Session, member: Member, incoming_id: int) -> IncomingInvitation:
    """An invitation from a peer: only the invited member sees it (404 for everyone else, coordinators too)."""
    row = session.get(IncomingInvitation, incoming_id)
    if row is None or row.member_id != member.id:
        raise NotFoundError(_("There is no such invitation."), code="invitation_not_found")
    return row


def incoming_of(session: Session, member: Member) -> list[IncomingInvitation]:
    return list(
        session.scalars(
            select(IncomingInvitation)
            .where(col(IncomingInvitation.member_id) == member.id)
            .order_by(col(IncomingInvitation.id).desc())
        ).all()
    )


def accept(session: Session, fed: Federation, *, member: Member, incoming_id: int, now: datetime) -> IncomingInvitation:
    """Accept before the deadline; the full text follows from the proposer's node."""
    row = own_incoming(session, member, incoming_id)
    members.require_active(member)
    INCOMING.move(row, "accepted")
    if now >= row.accept_by:
        raise ConflictError(_("The time to accept this invitation has passed."), code="invitation_expired")
    require_reachable(session, row.peer_id)
    row.responded_at = now
    channels.append(
        session, fed, peer_id=row.peer_id, type_name="review_accept", now=now, body={"invite_id": row.invite_id}
    )
    return row


def decline(
    session: Session, fed: Federation, *, member: Member, incoming_id: int, reason: object, now: datetime
) -> IncomingInvitation:
    """Decline; the proposer's node invites someone else."""
    row = own_incoming(session, member, incoming_id)
    reason = clean_text(reason, "reason", 280)
    INCOMING.move(row, "declined")
    require_reachable(session, row.peer_id)
    row.responded_at, row.decline_reason = now, reason
    body = {"invite_id": row.invite_id, **({"reason": reason} if reason else {})}
    channels.append(session, fed, peer_id=row.peer_id, type_name="review_decline", now=now, body=body)
    return row


def submit(
    session: Session, fed: Federation, *, member: Member, incoming_id: int, data: dict, now: datetime
) -> IncomingInvitation:
    """Write the review here; it travels to the proposer's node, which pays the bounty from its escrow."""
    row = own_incoming(session, member, incoming_id)
    fields = reviews.clean_review_fields(data)
    INCOMING.move(row, "submitted")
    if now >= row.due_by:
        raise ConflictError(_("The time to send this review has passed."), code="review_overdue")
    require_reachable(session, row.peer_id)
    scores = {name: fields[name] for name in reviews.TENETS}
    row.submitted_at = now
    row.scores, row.confidence, row.feedback = scores, fields["confidence"], fields["feedback"]
    channels.append(
        session,
        fed,
        peer_id=row.peer_id,
        type_name="review_submit",
        now=now,
        body={
            "invite_id": row.invite_id,
            "scores": scores,
            "confidence": fields["confidence"],
            "feedback": fields["feedback"],
        },
    )
    return row


def incoming_view(session: Session, row: IncomingInvitation) -> dict:
    """The invitation as its member sees it; the full text only once it was shared after acceptance."""
    peer = get_peer(session, row.peer_id)
    payment = session.scalars(
        select(CrossBorderTransfer).where(
            col(CrossBorderTransfer.transfer_id) == bounty_transfer_id(row.invite_id),
            col(CrossBorderTransfer.direction) == "in",
            col(CrossBorderTransfer.peer_id) == row.peer_id,
        )
    ).first()
    out: dict[str, Any] = {
        "id": row.id,
        "peer": row.peer_id,
        "peer_name": peer.name,
        "peer_country": peer.country,
        "proposal_ref": row.proposal_ref,
        "title": row.title,
        "summary": row.summary,
        "tags": list(row.tags),
        "language": row.language,
        "bounty": row.bounty,
        "status": row.status,
        "accept_by": row.accept_by,
        "due_by": row.due_by,
        "responded_at": row.responded_at,
        "decline_reason": row.decline_reason,
        "end_reason": row.end_reason,
        "received_at": row.received_at,
        "payment": payment.status if payment is not None else None,
    }
    if row.full_text is not None and row.status in ("accepted", "submitted"):
        out.update(full_text=row.full_text, stage=row.stage)
    if row.status == "submitted":
        out["review"] = {
            **row.scores,
            "confidence": row.confidence,
            "feedback": row.feedback,
            "submitted_at": row.submitted_at,
            "helpfulness": row.helpfulness,
            "rated_at": row.rated_at,
        }
    return out
