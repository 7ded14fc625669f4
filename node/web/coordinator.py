"""Web pages for coordinators: approvals, balances, flagged accounts, the invariant, the audit trail."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..context import node_ctx
from ..services import audit, dashboard, members
from ..tables import Member
from .pages import coordinator_required, form_action, logged_in_member_id

bp = Blueprint("coordinator", __name__, url_prefix="/coordinator")


@bp.get("/")
@coordinator_required
def overview():
    ctx = node_ctx()
    with ctx.db.read() as s:
        data = dashboard.overview(s, ctx.settings, ctx.now())
        recent, _older = audit.page(s, audit.Filters(), size=10)
        panels = [panel(s) for panel in COORDINATOR_PANELS]
    return render_template("coordinator.html", data=data, audit=recent, panels=panels)


# Other areas (advice disputes, reviews) append functions (session) -> (title, template, context).
COORDINATOR_PANELS: list = []


@bp.post("/members/<int:member_id>/decide")
@coordinator_required
@form_action("coordinator.overview")
def decide(member_id: int):
    ctx = node_ctx()
    decision = request.form.get("decision")
    with ctx.db.write() as s:
        me = s.get_one(Member, logged_in_member_id())
        if decision == "approve":
            member = members.approve(
                s,
                ctx.settings,
                coordinator=me,
                member_id=member_id,
                reason=request.form.get("reason", ""),
                now=ctx.now(),
            )
            done = _("%(name)s (%(handle)s) is approved.", name=member.display_name, handle=member.handle)
        elif decision == "refuse":
            member = members.refuse(
                s, coordinator=me, member_id=member_id, reason=request.form.get("reason"), now=ctx.now()
            )
            done = _("%(name)s (%(handle)s) is refused.", name=member.display_name, handle=member.handle)
        else:
            raise members.ValidationError(_("Please choose Approve or Refuse."), code="bad_choice", field="decision")
    flash(done, "info")
    return redirect(url_for("coordinator.overview"), 303)
