"""A member's notifications page (newest first, unread marked, mark all read) and their mail settings."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from .. import notices
from ..context import node_ctx
from ..services import notifications
from .pages import current_member, form_action, logged_in_member_id, login_required

bp = Blueprint("notes", __name__)


@bp.get("/notifications")
@login_required
def history():
    ctx = node_ctx()
    before = request.args.get("before", "")
    with ctx.db.read() as s:
        rows, older = notifications.history(
            s, logged_in_member_id(), before=int(before) if before.isdigit() and len(before) < 16 else None
        )
    notes = [
        {"id": n.id, "at": n.created_at, "unread": n.read_at is None, "text": notices.for_reader(n, ctx.settings)}
        for n in rows
    ]
    return render_template(
        "notifications.html",
        notes=notes,
        older=url_for("notes.history", before=older) if older else None,
        newest=url_for("notes.history") if before else None,
    )


@bp.post("/notifications/read")
@login_required
@form_action("notes.history")
def mark_read():
    ctx = node_ctx()
    with ctx.db.write() as s:
        count = notifications.mark_all_read(s, logged_in_member_id(), ctx.now())
    flash(ngettext("%(num)d notification marked read.", "%(num)d notifications marked read.", count), "info")
    return redirect(url_for("notes.history"), 303)


@bp.route("/notifications/settings", methods=["GET", "POST"])
@login_required
@form_action("notes.settings")
def settings():
    ctx = node_ctx()
    me = logged_in_member_id()
    if request.method == "POST":
        wanted = {kind: kind in request.form.getlist("mail") for kind in notices.NOTICES}
        with ctx.db.write() as s:
            notifications.save_mail_settings(s, me, wanted, ctx.now())
        flash(_("Your mail settings are saved."), "info")
        return redirect(url_for("notes.settings"), 303)
    with ctx.db.read() as s:
        chosen = notifications.mail_settings(s, me)
    kinds = [(kind, _(notice.about), chosen[kind], notice.mail) for kind, notice in notices.NOTICES.items()]
    return render_template("notification_settings.html", kinds=kinds)


def unread_notes() -> int:
    """The logged-in member's unread notifications, counted once per request (the menu shows it)."""
    if "unread_notes" not in g:
        member = current_member()
        if member is None:
            return 0
        with node_ctx().db.read() as s:
            assert member.id is not None
            g.unread_notes = notifications.unread_count(s, member.id)
    return g.unread_notes


bp.add_app_template_global(unread_notes, "unread_notes")
