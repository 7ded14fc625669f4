"""Web pages: proposals, review invitations and reviews, conflicts of interest, and their panels."""

from __future__ import annotations

import re
from typing import cast

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import labels
from ..api.reviews import (
    conflict_view,
    invitation_brief,
    invitation_view,
    proposal_summary,
    proposal_view,
    remote_reviews,
)
from ..context import node_ctx
from ..services import members, proposals, reviews, rounds
from ..tables import Member, ReviewInvitation
from .coordinator import COORDINATOR_PANELS
from .member import DASHBOARD_PANELS
from .pages import NAV_LINKS, coordinator_required, form_action, logged_in_member_id, login_required

bp = Blueprint("reviews", __name__)


def _me(s) -> Member:
    return s.get_one(Member, logged_in_member_id())


def _form_int(name: str) -> object:
    """A whole number typed into a form; anything else goes to the service as text, which refuses it."""
    raw = request.form.get(name, "").strip()
    return int(raw) if re.fullmatch(r"-?\d{1,16}", raw) else raw


@bp.get("/proposals", endpoint="proposals")
@login_required
def proposals_page():
    ctx = node_ctx()
    with ctx.db.read() as s:
        me = _me(s)
        mine = [proposal_view(s, p, me) for p in proposals.list_proposals(s, me)]
    return render_template(
        "proposal_list.html",
        proposals=mine,
        taxonomy=members.taxonomy(ctx.settings),
        languages=members.LANGUAGES,
        stages=proposals.STAGES,
        max_reviews=proposals.MAX_REVIEWS,
    )


@bp.post("/proposals")
@login_required
@form_action("reviews.proposals")
def create_proposal():
    ctx = node_ctx()
    form = request.form
    data = {
        "title": form.get("title", ""),
        "summary": form.get("summary", ""),
        "full_text": form.get("full_text", ""),
        "tags": form.getlist("tags"),
        "language": form.get("language", ""),
        "stage": form.get("stage", ""),
        "reviews_wanted": _form_int("reviews_wanted"),
        "bounty": _form_int("bounty"),
    }
    if request.form.get("min_foreign_reviewers", "").strip():
        data["min_foreign_reviewers"] = _form_int("min_foreign_reviewers")
    with ctx.db.write() as s:
        proposal = proposals.create_proposal(
            s, ctx.settings, author=_me(s), data=data, now=ctx.now(), remote=remote_reviews()
        )
        proposal_id, held = proposal.id, proposal.reviews_wanted * proposal.bounty
    flash(_("Proposal saved; %(amount)s are in escrow.", amount=labels.amount(held)), "info")
    return redirect(url_for("reviews.proposal_page", proposal_id=proposal_id), 303)


@bp.get("/proposals/<int:proposal_id>")
@login_required
def proposal_page(proposal_id: int):
    ctx = node_ctx()
    with ctx.db.read() as s:
        view = proposal_view(s, proposals.get_proposal(s, proposal_id), _me(s))
    return render_template("proposal_detail.html", p=view)


@bp.post("/proposals/<int:proposal_id>/withdraw")
@login_required
@form_action("reviews.proposals")
def withdraw(proposal_id: int):
    ctx = node_ctx()
    with ctx.db.write() as s:
        proposals.withdraw(
            s, ctx.settings, member=_me(s), proposal_id=proposal_id, now=ctx.now(), remote=remote_reviews()
        )
    flash(_("Proposal withdrawn; what remained in escrow is back on your account."), "info")
    return redirect(url_for("reviews.proposal_page", proposal_id=proposal_id), 303)


@bp.post("/reviews/<int:review_id>/rate")
@login_required
@form_action("reviews.proposals")
def rate(review_id: int):
    ctx = node_ctx()
    with ctx.db.write() as s:
        review = reviews.rate_review(
            s,
            member=_me(s),
            review_id=review_id,
            helpfulness=_form_int("helpfulness"),
            now=ctx.now(),
            remote=remote_reviews(),
        )
        proposal_id = s.get_one(ReviewInvitation, review.invitation_id).proposal_id
    flash(_("Thank you for rating the review."), "info")
    return redirect(url_for("reviews.proposal_page", proposal_id=proposal_id), 303)


@bp.get("/reviews")
@login_required
def invitations():
    ctx = node_ctx()
    with ctx.db.read() as s:
        me = _me(s)
        rows = [invitation_view(s, inv) for inv, _, _ in reviews.list_invitations(s, me)]
        conflicts = [conflict_view(s, c) for c in proposals.list_conflicts(s, me)]
        sections = [section(s, me) for section in REVIEW_PAGE_SECTIONS]
    return render_template(
        "review_invitations.html", invitations=rows, conflicts=conflicts, me_reviewer=me.is_reviewer, sections=sections
    )


# Other areas (federation: invitations from peer nodes) append fn(session, member) -> (title, template, context).
REVIEW_PAGE_SECTIONS: list = []


@bp.post("/invitations/<int:invitation_id>/<any(accept, decline):action>")
@login_required
@form_action("reviews.invitations")
def answer(invitation_id: int, action: str):
    ctx = node_ctx()
    with ctx.db.write() as s:
        if action == "accept":
            reviews.accept(s, ctx.settings, member=_me(s), invitation_id=invitation_id, now=ctx.now())
        else:
            reviews.decline(
                s,
                ctx.settings,
                member=_me(s),
                invitation_id=invitation_id,
                reason=request.form.get("reason", ""),
                now=ctx.now(),
                remote=remote_reviews(),
            )
    flash(_("Invitation accepted.") if action == "accept" else _("Invitation declined."), "info")
    return redirect(url_for("reviews.invitations"), 303)


@bp.post("/invitations/<int:invitation_id>/review")
@login_required
@form_action("reviews.invitations")
def submit_review(invitation_id: int):
    ctx = node_ctx()
    data = {name: _form_int(name) for name in (*reviews.TENETS, "confidence")}
    data["feedback"] = request.form.get("feedback", "")
    with ctx.db.write() as s:
        reviews.submit_review(s, ctx.settings, member=_me(s), invitation_id=invitation_id, data=data, now=ctx.now())
    flash(_("Review submitted; the bounty is on your account."), "info")
    return redirect(url_for("reviews.invitations"), 303)


def _conflict_form() -> dict:
    return {k: request.form.get(k, "") for k in ("other_handle", "organisation", "reason")}


@bp.post("/conflicts")
@login_required
@form_action("reviews.invitations")
def declare_conflict():
    ctx = node_ctx()
    with ctx.db.write() as s:
        proposals.declare_conflict(s, member=_me(s), data=_conflict_form(), now=ctx.now())
    flash(_("Conflict of interest recorded; you will not be matched with it."), "info")
    return redirect(url_for("reviews.invitations"), 303)


@bp.post("/coordinator/conflicts")
@coordinator_required
@form_action("coordinator.overview")
def pin_conflict():
    ctx = node_ctx()
    with ctx.db.write() as s:
        proposals.pin_conflict(
            s,
            coordinator=_me(s),
            now=ctx.now(),
            data={**_conflict_form(), "member_handle": request.form.get("member_handle", "")},
        )
    flash(_("Conflict pinned."), "info")
    return redirect(url_for("coordinator.overview"), 303)


# --- panels on the dashboard and the coordinator page ------------------------------------------------


def dashboard_panel(s, member: Member):
    """My open invitations and review tasks, and my proposals that wait for reviewers or a rating."""
    rows = [
        # stored proposals have ids
        (invitation_brief(s, inv), proposal_summary(s, p, blind=rounds.is_double_blind(s, cast(int, p.id))))
        for inv, p, _ in reviews.list_invitations(s, member)
        if inv.status in proposals.OPEN_STATES
    ]
    mine = [proposal_view(s, p, member) for p in proposals.list_proposals(s, member) if p.status == "open"]
    return _("Reviews and proposals"), "review_dashboard_panel.html", {"tasks": rows, "proposals": mine}


def coordinator_panel(s):
    """Open proposals, pending invitations and conflicts, with a form to pin a conflict."""
    views = [
        {
            **proposal_summary(s, p),
            "open_slots": proposals.open_slots(s, p),
            "invitations": [invitation_brief(s, i) for i in proposals.invitations_of(s, cast(int, p.id))],  # stored
        }
        for p in proposals.open_proposals(s)
    ]
    pending = [
        {**i, "title": v["title"]} for v in views for i in v["invitations"] if i["status"] in proposals.OPEN_STATES
    ]
    conflicts = [conflict_view(s, c) for c in proposals.all_conflicts(s)]
    return (
        _("Proposals and reviews"),
        "review_coordinator_panel.html",
        {"open": views, "pending": pending, "conflicts": conflicts},
    )


if "reviews.proposals" not in [endpoint for _label, endpoint in NAV_LINKS]:
    NAV_LINKS.extend([(_l("Proposals"), "reviews.proposals"), (_l("Reviews"), "reviews.invitations")])
    DASHBOARD_PANELS.append(dashboard_panel)
    COORDINATOR_PANELS.append(coordinator_panel)
