"""GET /api/v1/events: the token member's live updates as a text/event-stream (the same stream as /events)."""

from __future__ import annotations

from flask import g, request

from .. import live
from ..context import NodeContext, node_ctx
from ..i18n import current_language, current_time_zone
from ..services import members
from .base import ApiBlueprint, bearer_token, integer, string

api = ApiBlueprint("events", "members")

EVENTS = (
    "Server-sent events (text/event-stream), each with an `id`, a name and one line of JSON `data`: `balance` "
    "(`balance`, `shown`), `payment` (`amount`, `payer`, `memo`, `shown`, `text`), `notification` (`id`, `kind`, "
    "`subject`, `body`, `at`, `at_shown`, `unread`, `unread_shown`, `label`), `invitation` (`id`, `title`, "
    "`abroad`, `url`, `text`), `text` (the full text of an invitation from abroad arrived: `id`, `url`), and "
    "`reset` (events since the resume point may be lost: `balance`, `shown`, `unread`, ...). Words and amounts "
    "follow Accept-Language. Comment lines every 15 seconds keep the connection open; the stream ends after a "
    "few minutes: connect again with the last id seen as Last-Event-ID (or `after`) and nothing is missed."
)

# The schema of each event of the stream (its fields as the EventSource format names them).
EVENT = {
    "type": "object",
    "description": EVENTS,
    "required": ["event", "data"],
    "properties": {
        "id": string(20, pattern="^[0-9]+$", description="the id to resume after (Last-Event-ID)"),
        "event": string(enum=["balance", "payment", "notification", "invitation", "text", "reset"]),
        "data": string(description="one line of JSON", contentMediaType="application/json"),
    },
}


@api.route(
    "/events",
    "GET",
    "Your live updates: balance, payments, notifications, invitations, full texts",
    response=EVENT,
    media_type="text/event-stream",
    query={"after": integer(0, 10**18 - 1)},
    headers={"Last-Event-ID": string(20, pattern="^[0-9]+$")},
    busy=True,
)
def stream():
    token, ctx = bearer_token(), node_ctx()
    reader = live.Reader(g.member.id, current_language(), current_time_zone(), allowed=lambda: _token_alive(ctx, token))
    after = live.cursor_from(request.headers.get("Last-Event-ID"), request.args.get("after"))
    return live.response(reader, after)


def _token_alive(ctx: NodeContext, token: str) -> bool:
    """Whether the token that opened the stream still works (asked outside the request, at each heartbeat)."""
    with ctx.db.read() as s:
        return members.member_for_token(s, token, ctx.now(), light=True) is not None
