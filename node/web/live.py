"""GET /events: the logged-in member's live updates for their open pages (node/live.py; node/static/live.js)."""

from __future__ import annotations

from flask import Blueprint, request, session, url_for
from flask_babel import gettext as _

from .. import live
from ..context import NodeContext, node_ctx
from ..errors import AuthError
from ..i18n import current_language, current_time_zone
from ..services import events
from ..tables import Member
from .pages import current_member

bp = Blueprint("live", __name__)


@bp.get("/events")
def stream():
    member = current_member()
    if member is None:  # an EventSource cannot follow a redirect to the login page: say it plainly
        raise AuthError(_("Please log in first."), code="login_required")
    version, ctx = session.get("session_version"), node_ctx()
    member_id = member.id
    assert member_id is not None
    reader = live.Reader(
        member_id, current_language(), current_time_zone(), allowed=lambda: _still_logged_in(ctx, member_id, version)
    )
    after = live.cursor_from(request.headers.get("Last-Event-ID"), request.args.get("after"))
    return live.response(reader, after)


def _still_logged_in(ctx: NodeContext, member_id: int, version: object) -> bool:
    """Whether the session that opened the stream still holds (no log-out everywhere, no closing); asked outside
    the request, at each heartbeat."""
    with ctx.db.read() as s:
        member = s.get(Member, member_id)
    return member is not None and member.session_version == version and member.status != "closed"


def live_url() -> str:
    """Where this page's script listens: the stream, resuming after the newest event as the page is drawn."""
    if current_member() is None:
        return ""
    with node_ctx().db.read() as s:
        return url_for("live.stream", after=events.newest_id(s))


bp.add_app_template_global(live_url, "live_url")
