"""Web pages: review rounds (coordinators run them, members submit into them), interests (bids), remote conflicts."""

from __future__ import annotations

import re

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import i18n, labels
from ..api.rounds import remote_conflict_view, round_view
from ..context import node_ctx
from ..services import bids, members, proposals, rounds
from ..tables import Member
from .coordinator import COORDINATOR_PANELS
from .member import DASHBOARD_PANELS
from .pages import NAV_LINKS, coordinator_required, form_action, logged_in_member_id, login_required

bp = Blueprint("rounds", __name__)
# Seconds between reloads of a round's page while it is being solved (no JavaScript needed).
REFRESH_SECONDS = 2


def _me(s) -> Member:
    return s.get_one(Member, logged_in_member_id())


def _form_int(name: str, default: str = "") -> object:
    """A whole number typed into a form; anything else goes to the service as text, which refuses it."""
    raw = request.form.get(name, default).strip()
    return int(raw) if re.fullmatch(r"-?\d{1,16}", raw) else raw


@bp.get("/rounds", endpoint="rounds")
@login_required
def rounds_page():
    ctx = node_ctx()
    with ctx.db.read() as s:
        me = _me(s)
        views = [round_view(s, r, me) for r in rounds.list_rounds(s, me)]
    return render_template(
        "rounds/list.html", rounds=views, max_reviews=proposals.MAX_REVIEWS, max_load=rounds.MAX_LOAD
    )


@bp.post("/rounds")
@coordinator_required
@form_action("rounds.rounds")
def create_round():
    ctx = node_ctx()
    data = {
        "title": request.form.get("title", ""),
        "deadline": i18n.form_time(request.form.get("deadline"), "deadline") or "",
        "reviews_per_proposal": _form_int("reviews_per_proposal"),
        "min_load": _form_int("min_load", "0"),
        "max_load": _form_int("max_load"),
        "need_foreign": request.form.get("need_foreign") == "on",
        "double_blind": request.form.get("double_blind") == "on",
    }
    with ctx.db.write() as s:
        round_id = rounds.create_round(s, coordinator=_me(s), data=data, now=ctx.now()).id
    flash(_("Review round opened; members can submit proposals into it until its deadline."), "info")
    return redirect(url_for("rounds.round_page", round_id=round_id), 303)


@bp.get("/rounds/<int:round_id>")
@login_required
def round_page(round_id: int):
    ctx = node_ctx()
    with ctx.db.read() as s:
        me = _me(s)
        view = round_view(s, rounds.visible_round(s, me, round_id), me)
    page = render_template(
        "rounds/detail.html",
        r=view,
        refresh=REFRESH_SECONDS if view["status"] == "solving" else 0,
        taxonomy=members.taxonomy(ctx.settings),
        languages=members.LANGUAGES,
        stages=proposals.STAGES,
        now=ctx.now(),
    )
    response = make_response(page)
    if view["status"] == "solving":
        response.headers["Refresh"] = str(REFRESH_SECONDS)  # the meta tag in the page does the same
    return response


@bp.post("/rounds/<int:round_id>/proposals")
@login_required
@form_action("rounds.rounds")
def submit_proposal(round_id: int):
    ctx = node_ctx()
    form = request.form
    data = {
        "title": form.get("title", ""),
        "summary": form.get("summary", ""),
        "full_text": form.get("full_text", ""),
        "tags": form.getlist("tags"),
        "language": form.get("language", ""),
        "stage": form.get("stage", ""),
        "bounty": _form_int("bounty"),
    }
    if form.get("min_foreign_reviewers", "").strip():
        data["min_foreign_reviewers"] = _form_int("min_foreign_reviewers")
    with ctx.db.write() as s:
        proposal = rounds.submit_proposal(s, ctx.settings, author=_me(s), round_id=round_id, data=data, now=ctx.now())
        proposal_id, held = proposal.id, proposal.reviews_wanted * proposal.bounty
    flash(
        _(
            "Proposal submitted into the round; %(amount)s are in escrow. Reviewers are invited when the round is "
            "solved.",
            amount=labels.amount(held),
        ),
        "info",
    )
    return redirect(url_for("reviews.proposal_page", proposal_id=proposal_id), 303)


@bp.post("/rounds/<int:round_id>/items")
@coordinator_required
@form_action("rounds.rounds")
def add_proposal(round_id: int):
    ctx = node_ctx()
    with ctx.db.write() as s:
        rounds.add_proposal(
            s, coordinator=_me(s), round_id=round_id, proposal_id=_form_int("proposal_id"), now=ctx.now()
        )
    flash(_("Proposal added to the round."), "info")
    return redirect(url_for("rounds.round_page", round_id=round_id), 303)


@bp.post("/rounds/<int:round_id>/solve")
@coordinator_required
@form_action("rounds.rounds")
def solve(round_id: int):
    ctx = node_ctx()
    with ctx.db.write() as s:
        rounds.start_solve(s, coordinator=_me(s), round_id=round_id, now=ctx.now())
    rounds.launch(ctx, round_id)
    flash(_("Solving the round; this page shows its progress."), "info")
    return redirect(url_for("rounds.round_page", round_id=round_id), 303)


@bp.post("/rounds/<int:round_id>/cancel")
@coordinator_required
@form_action("rounds.rounds")
def cancel(round_id: int):
    ctx = node_ctx()
    with ctx.db.write() as s:
        rounds.cancel_round(s, coordinator=_me(s), round_id=round_id, now=ctx.now())
    flash(_("Round cancelled; its proposals are matched one by one."), "info")
    return redirect(url_for("rounds.round_page", round_id=round_id), 303)


@bp.route("/interests", methods=["GET", "POST"])
@login_required
@form_action("rounds.interests")
def interests():
    ctx = node_ctx()
    tags = members.taxonomy(ctx.settings)
    if request.method == "POST":
        levels = {t: _form_int(f"bid-{t}", "0") for t in tags}
        with ctx.db.write() as s:
            bids.set_bids(s, ctx.settings, member=_me(s), bids=levels, now=ctx.now())
        flash(_("Interests saved; matching takes them into account."), "info")
        return redirect(url_for("rounds.interests"), 303)
    with ctx.db.read() as s:
        mine = bids.bids_of(s, logged_in_member_id())
    return render_template("rounds/interests.html", tags=tags, bids=mine, levels=sorted(bids.BID_LEVELS))


@bp.route("/remote-conflicts", methods=["GET", "POST"])
@login_required
@form_action("rounds.remote_conflicts")
def remote_conflicts():
    ctx = node_ctx()
    if request.method == "POST":
        data = {"remote_reviewer": request.form.get("remote_reviewer", ""), "reason": request.form.get("reason", "")}
        with ctx.db.write() as s:
            me = _me(s)
            if request.form.get("member_handle", "").strip():
                bids.pin_remote_conflict(
                    s,
                    ctx.settings,
                    coordinator=me,
                    now=ctx.now(),
                    data={**data, "member_handle": request.form["member_handle"]},
                )
            else:
                bids.declare_remote_conflict(s, ctx.settings, member=me, data=data, now=ctx.now())
        flash(_("Conflict recorded; matching and review rounds leave that reviewer out."), "info")
        return redirect(url_for("rounds.remote_conflicts"), 303)
    with ctx.db.read() as s:
        me = _me(s)
        coordinator = me.role == "coordinator" and me.status == "active"
        rows = [remote_conflict_view(s, r) for r in bids.remote_conflicts(s, me, everyone=coordinator)]
    return render_template("rounds/remote_conflicts.html", conflicts=rows, coordinator=coordinator)


@bp.post("/remote-conflicts/<int:conflict_id>/delete")
@login_required
@form_action("rounds.remote_conflicts")
def delete_remote_conflict(conflict_id: int):
    ctx = node_ctx()
    with ctx.db.write() as s:
        bids.remove_remote_conflict(s, member=_me(s), conflict_id=conflict_id)
    flash(_("Conflict removed."), "info")
    return redirect(url_for("rounds.remote_conflicts"), 303)


def dashboard_panel(s, member: Member):
    """Rounds that take proposals now, and the round each of my proposals is in with its state."""
    mine = []
    for p in proposals.list_proposals(s, member):
        assert p.id is not None
        rnd = rounds.round_of(s, p.id)
        if rnd is not None:
            mine.append({"proposal": p, "round": rnd})
    open_rounds = [r for r in rounds.list_rounds(s, member) if r.status == "open"]
    return _("Review rounds"), "rounds/dashboard_panel.html", {"mine": mine, "open": open_rounds}


def coordinator_panel(s):
    """Rounds not yet finished, with their progress, and the way to open one."""
    return _("Review rounds"), "rounds/coordinator_panel.html", {"rounds": rounds.live_rounds(s)}


if "rounds.rounds" not in [endpoint for _label, endpoint in NAV_LINKS]:
    NAV_LINKS.append((_l("Rounds"), "rounds.rounds"))
    DASHBOARD_PANELS.append(dashboard_panel)
    COORDINATOR_PANELS.append(coordinator_panel)
