"""Web pages of the member directory: search, a member's profile (as others see it), blocking."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..context import node_ctx
from ..services import advice_feedback, directory, members, messages
from ..tables import Member
from .member import DASHBOARD_PANELS
from .pages import NAV_LINKS, form_action, logged_in_member_id, login_required

bp = Blueprint("directory", __name__)


def _me(s) -> Member:
    return s.get_one(Member, logged_in_member_id())


@bp.get("/members")
@login_required
def directory_page():
    ctx = node_ctx()
    args = request.args
    found = directory.filters(
        ctx.settings,
        q=args.get("q"),
        expertise=args.get("expertise"),
        language=args.get("language"),
        country=args.get("country"),
    )
    with ctx.db.read() as s:
        me = _me(s)
        members.require_active(me)  # the directory is for the node's members, not for anyone who signs up
        page, next_cursor = directory.search_members(s, found, cursor=args.get("cursor"))
        people = [directory.public_view(m, ctx.settings.node_id) for m in page]
    return render_template(
        "directory.html",
        people=people,
        filters=found,
        next_cursor=next_cursor,
        first_page=not args.get("cursor"),
        listed=directory.listed(me),
        taxonomy=members.taxonomy(ctx.settings),
        languages=members.LANGUAGES,
    )


@bp.get("/members/<handle>")
@login_required
def profile(handle: str):
    ctx = node_ctx()
    with ctx.db.read() as s:
        me = _me(s)
        members.require_active(me)
        member = directory.visible_member(s, handle)
        view = directory.public_view(member, ctx.settings.node_id)
        assert me.id is not None
        assert member.id is not None
        you_blocked = messages.is_blocked(s, me.id, member.id)
        thread = messages.thread_between(s, me.id, member.id)
        feedback = advice_feedback.as_adviser(s, member.id, remote=ctx.remote_advice)
    return render_template(
        "member_profile.html",
        person=view,
        feedback=feedback,
        own=member.id == me.id,
        you_blocked=you_blocked,
        thread_id=thread.id if thread else None,
    )


@bp.post("/members/<handle>/block")
@login_required
@form_action("directory.directory_page")
def block(handle: str):
    ctx = node_ctx()
    with ctx.db.write() as s:
        other = messages.block(s, member=_me(s), handle=handle, now=ctx.now())
        name = other.display_name
    flash(_("You blocked %(name)s: no messages either way until you unblock them.", name=name), "info")
    return redirect(url_for("directory.profile", handle=handle), 303)


@bp.post("/members/<handle>/unblock")
@login_required
@form_action("directory.directory_page")
def unblock(handle: str):
    ctx = node_ctx()
    with ctx.db.write() as s:
        other = messages.unblock(s, member=_me(s), handle=handle)
        name = other.display_name
    flash(_("You unblocked %(name)s.", name=name), "info")
    return redirect(url_for("directory.profile", handle=handle), 303)


def dashboard_panel(s, me: Member):
    """Unread conversations, and an invitation to the directory for a member who is not listed."""
    assert me.id is not None
    context = {"unread": messages.unread_count(s, me.id), "listed": directory.listed(me)}
    return _("Members and messages"), "people_dashboard_panel.html", context


if "directory.directory_page" not in [endpoint for _label, endpoint in NAV_LINKS]:
    NAV_LINKS.append((_l("Members"), "directory.directory_page"))
    DASHBOARD_PANELS.append(dashboard_panel)
