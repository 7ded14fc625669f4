"""Cross-border reviews, proposer's side: a proposal here reviewed by a reviewer on a peer node.

The proposal, its escrow and the ReviewInvitation (remote_node, remote_handle) live here, and
node's own rules run on them; this module is the `proposals.RemoteReviews` node is handed:

- matching sees peers' shared reviewers (pools.remote_candidates), each with the peer's country;
- an invitation goes out as `review_invite` (title, summary, tags, language, bounty, deadlines:
  never the full text), with a ReviewLink holding its invite id and fixed due date;
- `review_accept` makes it accepted and only then sends `proposal_share` with the full text;
  `review_decline` makes it declined and the next candidate is invited;
- expiry, time-out and withdrawal are decided here and travel as `review_cancel`
  (`expired`, `timed_out`, `proposal_withdrawn`); answers that cross them are ignored;
- `review_submit` stores the review and pays: one ledger posting moves the bounty from the
  escrow to our position towards the reviewer's node (ref review:<invitation>:bounty, the same
  ref a local bounty has, so it is never paid twice) with a `transfer` entry in the same
  transaction. If the reviewer's node bounces it, transfers.apply_bounce returns the SIF to the
  proposal's author: the review was delivered and its slot used, and the escrow may already be
  refunded and closed, so the author is the one place that is always there;
- the author's helpfulness rating goes back as `review_rating`.

The reviewer's side is reviewer_side.py.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from federation.payments import transfers
from federation.reviews import pools
from federation.tables import CrossBorderTransfer, IncomingInvitation, Peer, ReviewLink
from federation.transport import channels
from federation.transport.peers import position_account
from node.errors import DomainError
from node.services import ledger, members, reviews
from node.services.proposals import OPEN_STATES, RemoteReviews, escrow_account, get_proposal
from node.tables import Member, Proposal, ReviewInvitation
from protocol import Envelope, format_time

if TYPE_CHECKING:
    from federation.state import Federation

log = logging.getLogger(__name__)
TRANSFER_PREFIX = "review-"
# Node's proposal stages in the protocol's words (a running initiative is past its pilot, not yet scaling).
WIRE_STAGES = {"idea": "idea", "plan": "planning", "pilot": "pilot", "running": "pilot", "scaling": "scaling"}


BOUNTY_PAYER = "review-bounty"  # the `payer` of every bounty transfer: the reviewer's node learns no author


def bounty_transfer_id(invite_id: str) -> str:
    return f"{TRANSFER_PREFIX}{invite_id}"


class RemoteReviewHooks:
    """node.services.proposals.RemoteReviews for one node: peers' pools, and invitations over the channels."""

    def __init__(self, fed: Federation) -> None:
        self.fed = fed

    def candidates(self, session: Session) -> list:
        return pools.remote_candidates(session)

    def country_of(self, session: Session, node_id: str) -> str:
        peer = session.get(Peer, node_id)
        return peer.country if peer is not None else ""

    def invited(self, session: Session, proposal: Proposal, invitation: ReviewInvitation, now: datetime) -> None:
        send_invite(session, self.fed, proposal, invitation, now)

    def ended(self, session: Session, invitation: ReviewInvitation, reason_code: str, now: datetime) -> None:
        send_cancel(session, self.fed, invitation, reason_code, now)

    def pay(self, session: Session, proposal: Proposal, invitation: ReviewInvitation, now: datetime) -> None:
        pay_reviewer(session, self.fed, proposal, invitation, now)

    def rated(self, session: Session, invitation: ReviewInvitation, helpfulness: int, now: datetime) -> None:
        link = session.get(ReviewLink, invitation.id)
        if link is not None and link.rated_at is None:
            link.rated_at = now
            channels.append(
                session,
                self.fed,
                peer_id=link.peer_id,
                type_name="review_rating",
                now=now,
                body={"invite_id": link.invite_id, "helpfulness": helpfulness},
            )


def send_invite(
    session: Session, fed: Federation, proposal: Proposal, invitation: ReviewInvitation, now: datetime
) -> ReviewLink:
    """The invitation to the reviewer's node: enough to decide, not the full text."""
    due_by = invitation.accept_by + timedelta(days=fed.ctx.settings.review_due_days)
    assert invitation.id is not None and invitation.remote_node is not None, "a stored invitation abroad"
    link = ReviewLink(
        invitation_id=invitation.id,
        invite_id=uuid.uuid4().hex,
        peer_id=invitation.remote_node,
        due_by=due_by,
        created_at=now,
    )
    session.add(link)
    channels.append(
        session,
        fed,
        peer_id=link.peer_id,
        type_name="review_invite",
        now=now,
        body={
            "invite_id": link.invite_id,
            "proposal_ref": str(proposal.id),
            "reviewer_handle": invitation.remote_handle,
            "title": proposal.title,
            "summary": proposal.summary,
            "tags": [t for t in proposal.tags if pools.TAG_RE.fullmatch(t)][:16],
            "language": proposal.language,
            "bounty": invitation.bounty,
            "accept_by": format_time(invitation.accept_by),
            "due_by": format_time(due_by),
        },
    )
    return link


def send_cancel(
    session: Session, fed: Federation, invitation: ReviewInvitation, reason_code: str, now: datetime
) -> None:
    """The invitation ended here: tell the reviewer's node, once."""
    link = session.get(ReviewLink, invitation.id)
    if link is None or link.end_sent:
        return
    link.end_sent = reason_code
    channels.append(
        session,
        fed,
        peer_id=link.peer_id,
        type_name="review_cancel",
        now=now,
        body={"invite_id": link.invite_id, "reason_code": reason_code},
    )


def pay_reviewer(
    session: Session, fed: Federation, proposal: Proposal, invitation: ReviewInvitation, now: datetime
) -> None:
    """Escrow -> our position towards the reviewer's node, and the `transfer` entry to credit them there."""
    link = session.get(ReviewLink, invitation.id)
    assert link is not None and invitation.remote_handle is not None, "an invitation abroad has its link and handle"
    if link.transfer_id:
        return  # paid already
    author = members.get_member(session, proposal.author_id)
    address = f"{invitation.remote_handle}@{link.peer_id}"
    ledger.post(
        session,
        kind="review_bounty_abroad",
        now=now,
        ref=f"review:{invitation.id}:bounty",
        memo=f"Review of proposal {proposal.id} by {address}",
        legs=[
            ledger.Leg(escrow_account(session, proposal, now), -invitation.bounty),
            ledger.Leg(position_account(session, link.peer_id, now), invitation.bounty),
        ],
        check_limits=False,
    )  # escrowed SIF must be able to leave escrow, as for a local review
    link.transfer_id = bounty_transfer_id(link.invite_id)
    # The review is blind: the wire names no author (a bounce still returns to the author, by the row).
    transfers.write_outgoing(
        session,
        fed,
        transfer_id=link.transfer_id,
        peer_id=link.peer_id,
        member=author,
        payer=BOUNTY_PAYER,
        payee=invitation.remote_handle,
        amount=invitation.bounty,
        memo=f"Review bounty: {proposal.title}"[:280],
        now=now,
    )


# --- the reviewer's node answers --------------------------------------------------------------------


def _linked(session: Session, peer: Peer, invite_id: str) -> tuple[ReviewLink, ReviewInvitation] | None:
    link = session.scalars(select(ReviewLink).where(col(ReviewLink.invite_id) == invite_id)).first()
    if link is None or link.peer_id != peer.node_id:
        log.warning("%s answered an invitation %s it was never sent", peer.node_id, invite_id)
        return None
    invitation = session.get(ReviewInvitation, link.invitation_id)
    assert invitation is not None, "a link's invitation is kept (its foreign key)"
    return link, invitation


def _hooks(fed: Federation) -> RemoteReviews:
    hooks = fed.ctx.remote_reviews
    assert hooks is not None, "wiring federation in sets the node's remote reviews"
    return hooks


def apply_accept(session: Session, fed: Federation, peer: Peer, env: Envelope, now: datetime) -> None:
    """Accepted: the full text goes to the reviewer's node now, and only now."""
    found = _linked(session, peer, env.body["invite_id"])
    if found is None:
        return
    link, invitation = found
    if not reviews.remote_accepted(session, invitation=invitation, due_by=link.due_by, now=now):
        return  # it expired or was withdrawn here first; the review_cancel is on its way
    proposal = get_proposal(session, invitation.proposal_id)
    link.shared_at = now
    channels.append(
        session,
        fed,
        peer_id=peer.node_id,
        type_name="proposal_share",
        now=now,
        body={
            "invite_id": link.invite_id,
            "proposal_ref": str(proposal.id),
            "title": proposal.title,
            "summary": proposal.summary,
            "full_text": proposal.full_text,
            "tags": [t for t in proposal.tags if pools.TAG_RE.fullmatch(t)][:16],
            "language": proposal.language,
            "stage": WIRE_STAGES.get(proposal.stage, "idea"),
        },
    )


def apply_decline(session: Session, fed: Federation, peer: Peer, env: Envelope, now: datetime) -> None:
    """Declined (by the reviewer, or by their node for them): the next candidate is invited."""
    found = _linked(session, peer, env.body["invite_id"])
    if found is not None:
        reviews.remote_declined(
            session,
            fed.ctx.settings,
            invitation=found[1],
            reason=env.body.get("reason", ""),
            now=now,
            remote=_hooks(fed),
        )


def apply_submit(session: Session, fed: Federation, peer: Peer, env: Envelope, now: datetime) -> None:
    """The review: stored, the bounty paid across the border, the proposal completed when all are in."""
    found = _linked(session, peer, env.body["invite_id"])
    if found is None:
        return
    link, invitation = found
    body = env.body
    data = {**body["scores"], "confidence": body["confidence"], "feedback": body["feedback"]}
    try:
        with session.begin_nested():
            reviews.remote_review(
                session, fed.ctx.settings, invitation=invitation, data=data, now=now, remote=_hooks(fed)
            )
    except DomainError as exc:  # e.g. empty feedback: refuse it by a message, never jam the channel
        log.warning("review %s from %s refused: %s", link.invite_id, peer.node_id, exc.message)
        send_cancel(session, fed, invitation, "review_refused", now)


# --- what coordinators see per peer ------------------------------------------------------------------


def peer_review_figures(session: Session) -> list[dict]:
    """Per peer: reviews given and received, bounties both ways, open invitations both ways, pool sizes."""
    pools_by_peer = pools.pool_figures(session)
    out = []
    for peer in session.scalars(select(Peer).where(col(Peer.status) != "pending").order_by(Peer.node_id)).all():
        out.append(
            {
                "peer": peer.node_id,
                "name": peer.name,
                "country": peer.country,
                "status": peer.status,
                "reviews_received": _count_out(session, peer.node_id, "submitted"),
                "reviews_given": _count_in(session, peer.node_id, "submitted"),
                "bounties_paid": _bounties(session, peer.node_id, "out"),
                "bounties_earned": _bounties(session, peer.node_id, "in"),
                "pending_out": pending_out(session, peer.node_id),
                "pending_in": pending_in(session, peer.node_id),
                "pool_received": pools_by_peer.get(peer.node_id, {}).get("received", 0),
                "pool_shared": pools_by_peer.get(peer.node_id, {}).get("shared", 0),
            }
        )
    return out


def _count_out(session: Session, peer_id: str, status: str) -> int:
    return session.execute(
        select(func.count())
        .select_from(ReviewInvitation)
        .where(col(ReviewInvitation.remote_node) == peer_id, col(ReviewInvitation.status) == status)
    ).scalar_one()


def _count_in(session: Session, peer_id: str, status: str) -> int:
    return session.execute(
        select(func.count())
        .select_from(IncomingInvitation)
        .where(col(IncomingInvitation.peer_id) == peer_id, col(IncomingInvitation.status) == status)
    ).scalar_one()


def _bounties(session: Session, peer_id: str, direction: str) -> int:
    """SIF of review bounties that completed in one direction (bounced ones are not counted)."""
    return int(
        session.execute(
            select(func.coalesce(func.sum(CrossBorderTransfer.amount), 0)).where(
                col(CrossBorderTransfer.peer_id) == peer_id,
                col(CrossBorderTransfer.direction) == direction,
                col(CrossBorderTransfer.status) == "completed",
                col(CrossBorderTransfer.transfer_id).startswith(TRANSFER_PREFIX),
            )
        ).scalar_one()
    )


def pending_out(session: Session, peer_id: str) -> list[dict]:
    """Our proposals' open invitations of the peer's reviewers."""
    rows = session.execute(
        select(ReviewInvitation, col(Proposal.title))
        .join(Proposal, col(Proposal.id) == col(ReviewInvitation.proposal_id))
        .where(col(ReviewInvitation.remote_node) == peer_id, col(ReviewInvitation.status).in_(OPEN_STATES))
        .order_by(col(ReviewInvitation.id))
    ).all()
    return [
        {
            "invitation_id": inv.id,
            "proposal_id": inv.proposal_id,
            "title": title,
            "reviewer": f"{inv.remote_handle}@{peer_id}",
            "status": inv.status,
            "accept_by": inv.accept_by,
            "due_by": inv.due_by,
        }
        for inv, title in rows
    ]


def pending_in(session: Session, peer_id: str) -> list[dict]:
    """The peer's open invitations of our reviewers."""
    rows = session.execute(
        select(IncomingInvitation, col(Member.handle))
        .join(Member, col(Member.id) == col(IncomingInvitation.member_id))
        .where(col(IncomingInvitation.peer_id) == peer_id, col(IncomingInvitation.status).in_(pools.INCOMING_OPEN))
        .order_by(col(IncomingInvitation.id))
    ).all()
    return [
        {
            "incoming_id": row.id,
            "title": row.title,
            "reviewer": handle,
            "status": row.status,
            "accept_by": row.accept_by,
            "due_by": row.due_by if row.status == "accepted" else None,
        }
        for row, handle in rows
    ]
