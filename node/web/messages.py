"""Web pages of messages between members: the conversations, one conversation, writing, reporting; the
coordinators' panel of reported messages."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..context import node_ctx
from ..services import directory, members, messages
from ..tables import Member
from .coordinator import COORDINATOR_PANELS
from .pages import (
    NAV_BADGES,
    NAV_LINKS,
    coordinator_required,
    current_member,
    form_action,
    logged_in_member,
    logged_in_member_id,
    login_required,
)

bp = Blueprint("messages", __name__)


def _me(s) -> Member:
    return s.get_one(Member, logged_in_member_id())


def _message_id(text: str | None) -> object:
    """A message id from a form: digits become an int; anything else goes to the service to refuse."""
    text = (text or "").strip()
    if not text:
        return None
    return int(text) if text.isdigit() and len(text) < 16 else text


@bp.get("/messages")
@login_required
def inbox():
    ctx = node_ctx()
    with ctx.db.read() as s:
        rows, next_cursor = messages.my_threads(s, _me(s), cursor=request.args.get("cursor"))
    return render_template("messages.html", threads=rows, next_cursor=next_cursor)


@bp.get("/messages/to/<handle>")
@login_required
def compose(handle: str):
    """The "Send a message" button: the conversation with this member, or a form to start it."""
    ctx = node_ctx()
    with ctx.db.read() as s:
        me = _me(s)
        members.require_active(me)
        other = directory.visible_member(s, handle)
        assert me.id is not None
        assert other.id is not None
        thread = messages.thread_between(s, me.id, other.id)
        blocked = messages.blocked_between(s, me.id, other.id)
    if thread is not None:
        return redirect(url_for("messages.thread", thread_id=thread.id) + "#reply")
    return render_template(
        "message_compose.html",
        other=directory.public_view(other, ctx.settings.node_id),
        own=other.id == me.id,
        blocked=blocked,
        max_body=messages.MAX_BODY,
    )


@bp.post("/messages/to/<handle>")
@login_required
@form_action("messages.inbox")
def write_to(handle: str):
    ctx = node_ctx()
    with ctx.db.write() as s:
        message = messages.write_to(
            s, ctx.settings, sender=_me(s), handle=handle, body=request.form.get("body"), now=ctx.now()
        )
        thread_id = message.thread_id
    flash(_("Message sent."), "info")
    return redirect(url_for("messages.thread", thread_id=thread_id), 303)


@bp.get("/messages/<int:thread_id>")
@login_required
def thread(thread_id: int):
    ctx = node_ctx()
    me = logged_in_member()
    with ctx.db.read() as s:
        unread = messages.has_unread(s, me, thread_id)  # not yours: not found, before anything is written
    if unread:  # opening the page reads the conversation
        with ctx.db.write() as s:
            messages.mark_read(s, _me(s), thread_id)
    with ctx.db.read() as s:
        me = _me(s)
        found, mine = messages.get_thread(s, me, thread_id)
        other = s.get(Member, mine.other_id)
        assert found.id is not None
        rows, older = messages.messages_of(s, found.id, before=request.args.get("before"))
        assert me.id is not None
        assert other is not None
        assert other.id is not None
        you_blocked = messages.is_blocked(s, me.id, other.id)
        they_blocked = messages.is_blocked(s, other.id, me.id)
    return render_template(
        "message_thread.html",
        thread_id=found.id,
        other=other,
        rows=rows,
        older=older,
        me_id=me.id,
        you_blocked=you_blocked,
        can_write=other.status == "active" and me.status == "active" and not (you_blocked or they_blocked),
        they_blocked=they_blocked,
        max_body=messages.MAX_BODY,
        max_reason=messages.MAX_REASON,
    )


@bp.post("/messages/<int:thread_id>")
@login_required
@form_action("messages.inbox")
def reply(thread_id: int):
    ctx = node_ctx()
    with ctx.db.write() as s:
        messages.reply(
            s, ctx.settings, sender=_me(s), thread_id=thread_id, body=request.form.get("body"), now=ctx.now()
        )
    flash(_("Message sent."), "info")
    return redirect(url_for("messages.thread", thread_id=thread_id) + "#reply", 303)


@bp.post("/messages/<int:thread_id>/report")
@login_required
@form_action("messages.inbox")
def report(thread_id: int):
    ctx = node_ctx()
    with ctx.db.write() as s:
        messages.report(
            s,
            member=_me(s),
            thread_id=thread_id,
            message_id=_message_id(request.form.get("message_id")),
            reason=request.form.get("reason"),
            now=ctx.now(),
        )
    flash(_("Thank you. The coordinators of this node will look at what you reported."), "info")
    return redirect(url_for("messages.thread", thread_id=thread_id), 303)


@bp.post("/coordinator/message-reports/<int:report_id>/handle")
@coordinator_required
@form_action("coordinator.overview")
def handle_report(report_id: int):
    ctx = node_ctx()
    with ctx.db.write() as s:
        messages.handle_report(s, coordinator=_me(s), report_id=report_id, note=request.form.get("note"), now=ctx.now())
    flash(_("Report marked handled."), "info")
    return redirect(url_for("coordinator.overview") + "#message-reports", 303)


def reports_panel(s):
    """Open reports of abusive messages, with the reported messages only."""
    coordinator = _me(s)
    return (
        _("Reported messages"),
        "message_reports_panel.html",
        {"reports": messages.reports(s, coordinator=coordinator), "max_note": messages.MAX_REASON},
    )


def unread_badge() -> int:
    """Conversations with unread messages, shown beside Messages in the menu."""
    me = current_member()
    if me is None:
        return 0
    with node_ctx().db.read() as s:
        assert me.id is not None
        return messages.unread_count(s, me.id)


if "messages.inbox" not in [endpoint for _label, endpoint in NAV_LINKS]:
    NAV_LINKS.append((_l("Messages"), "messages.inbox"))
    NAV_BADGES["messages.inbox"] = unread_badge
    COORDINATOR_PANELS.append(reports_panel)
