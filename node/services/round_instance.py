"""A review round as the solver sees it: proposals, reviewers (local and peers') and the allowed pairs.

Read-only. A pair is allowed exactly when per-proposal matching would allow it (matching.exclusion_reason:
the proposer, same organisation, declared and pinned conflicts, remote conflicts, already invited, no
capacity); its affinity is matching.affinity (with the reviewer's bids). Peers' reviewers come from
RemoteReviews.candidates, which holds active peers only, so a suspended peer's reviewers are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from ..settings import Settings
from ..tables import Member, ReviewInvitation, ReviewRound
from . import matching, proposals
from .review_round import RoundProposal, RoundReviewer


@dataclass
class Instance:
    """The solver's input plus what is needed to turn its answer into invitations."""

    proposals: list[RoundProposal]
    reviewers: list[RoundReviewer]
    triples: list[tuple[int, str, int]]
    candidates: dict[str, matching.Candidate]
    labels: dict[str, str]


def country(code: str, settings: Settings) -> str:
    """Members who did not give a country live where their node is (as in proposals._country)."""
    return (code or settings.country).upper()


def build_instance(session: Session, settings: Settings, rnd: ReviewRound, remote) -> Instance:
    """The round's open proposals with free slots, every reviewer with room, and their allowed pairs."""
    from .rounds import items_of  # rounds imports this module

    pool = [*proposals.local_candidates(session), *(remote.candidates(session) if remote is not None else [])]
    reviewers, candidates, labels = [], {}, {}
    for cand in pool:
        room = min(rnd.max_load, cand.capacity - cand.load)
        if room <= 0 or cand.key in candidates:
            continue
        candidates[cand.key] = cand
        labels[cand.key] = cand.label if cand.member_id is not None else matching.remote_address(cand)
        reviewers.append(
            RoundReviewer(
                cand.key, max_load=room, min_load=min(rnd.min_load, room), country=country(cand.country, settings)
            )
        )
    items, triples = [], []
    assert rnd.id is not None
    for _, proposal in items_of(session, rnd.id):
        slots = proposals.open_slots(session, proposal)
        if slots == 0:
            continue
        need = proposals.need_for(session, proposal)
        home = country(session.get_one(Member, proposal.author_id).country, settings)
        wants_foreign = (rnd.need_foreign or proposal.min_foreign_reviewers > 0) and not _holds_foreign(
            session, settings, proposal, home, remote
        )
        assert proposal.id is not None
        items.append(RoundProposal(proposal.id, slots=slots, country=home, need_foreign=wants_foreign))
        for key, cand in candidates.items():
            if matching.exclusion_reason(need, cand) is None:
                triples.append((proposal.id, key, matching.affinity(need, cand)))
    return Instance(items, reviewers, triples, candidates, labels)


def _holds_foreign(session: Session, settings: Settings, proposal, home: str, remote) -> bool:
    """Whether an invitation already holding a slot went to a reviewer from another country."""
    for reviewer_id, node in session.execute(
        select(col(ReviewInvitation.reviewer_id), col(ReviewInvitation.remote_node)).where(
            col(ReviewInvitation.proposal_id) == proposal.id, col(ReviewInvitation.status).in_(proposals.SLOT_STATES)
        )
    ).all():
        if reviewer_id is not None:
            where = session.get_one(Member, reviewer_id).country
        else:
            where = remote.country_of(session, node) if remote is not None else ""
        if country(where, settings) != home:
            return True
    return False
