"""JSON API: messages between members (threads, replies, reading), blocking, abuse reports."""

from __future__ import annotations

from flask import g, jsonify, request
from sqlalchemy.orm import Session

from ..context import node_ctx
from ..services import messages
from ..tables import Member, Message, MessageReport
from .base import BOOL, DATETIME, ApiBlueprint, arr, integer, json_body, obj, only_fields, string

api = ApiBlueprint("messages", "messages")

NULL_TIME = {"type": ["string", "null"], "format": "date-time"}
BODY = string(messages.MAX_BODY, minLength=1, description="plain text; shown escaped, line breaks kept")
PERSON = obj(
    ("handle", "display_name", "status"),
    handle=string(32),
    display_name=string(120),
    status=string(description="active, or closed for a member who left (no more messages reach them)"),
)
MESSAGE = obj(
    ("id", "thread_id", "sender", "sender_name", "mine", "body", "created_at"),
    id=integer(1),
    thread_id=integer(1),
    sender=string(32),
    sender_name=string(120),
    mine=BOOL,
    body=string(messages.MAX_BODY),
    created_at=DATETIME,
)
THREAD_SUMMARY = obj(
    ("id", "other", "last_message_at", "last_message", "last_from_me", "unread"),
    id=integer(1),
    other=PERSON,
    last_message_at=NULL_TIME,
    last_message=string(description="the start of the latest message"),
    last_from_me=BOOL,
    unread=integer(0),
)
THREAD = obj(
    ("id", "other", "you_blocked", "unread", "messages", "older_cursor"),
    id=integer(1),
    other=PERSON,
    you_blocked=BOOL,
    unread=BOOL,
    messages=arr(MESSAGE),
    older_cursor=string(description="pass as ?before= for the older messages; empty when there are none"),
)
REPORT = obj(
    ("id", "thread_id", "message_id", "reason", "status", "created_at"),
    id=integer(1),
    thread_id=integer(1),
    message_id={"type": ["integer", "null"]},
    reason=string(messages.MAX_REASON),
    status=string(enum=["open", "handled"]),
    created_at=DATETIME,
)
REPORT_FOR_COORDINATORS = obj(
    (
        "id",
        "thread_id",
        "message_id",
        "reason",
        "status",
        "created_at",
        "reporter",
        "reported",
        "messages",
        "handled_by",
        "handled_at",
        "note",
    ),
    id=integer(1),
    thread_id=integer(1),
    message_id={"type": ["integer", "null"]},
    reason=string(messages.MAX_REASON),
    status=string(enum=["open", "handled"]),
    created_at=DATETIME,
    reporter=PERSON,
    reported=PERSON,
    messages=arr(MESSAGE),
    handled_by={"type": ["string", "null"]},
    handled_at=NULL_TIME,
    note=string(messages.MAX_REASON),
)
BLOCK = obj(("handle", "blocked"), handle=string(32), blocked=BOOL)


def _me(session: Session) -> Member:
    return session.get_one(Member, g.member.id)


def person(member: Member) -> dict:
    return {"handle": member.handle, "display_name": member.display_name, "status": member.status}


def message_json(message: Message, sender: Member, viewer_id: int | None) -> dict:
    return {
        "id": message.id,
        "thread_id": message.thread_id,
        "sender": sender.handle,
        "sender_name": sender.display_name,
        "mine": message.sender_id == viewer_id,
        "body": message.body,
        "created_at": message.created_at,
    }


def report_json(found: MessageReport) -> dict:
    return {
        "id": found.id,
        "thread_id": found.thread_id,
        "message_id": found.message_id,
        "reason": found.reason,
        "status": found.status,
        "created_at": found.created_at,
    }


def thread_json(session: Session, me: Member, thread_id: int, before: object = None) -> dict:
    thread, mine = messages.get_thread(session, me, thread_id)
    other = session.get_one(Member, mine.other_id)
    assert thread.id is not None
    rows, older = messages.messages_of(session, thread.id, before=before)
    senders = {me.id: me, other.id: other}
    assert me.id is not None
    assert other is not None
    assert other.id is not None
    return {
        "id": thread.id,
        "other": person(other),
        "you_blocked": messages.is_blocked(session, me.id, other.id),
        "unread": thread.last_message_id > mine.last_read_message_id,
        "messages": [message_json(m, senders[m.sender_id], me.id) for m in rows],
        "older_cursor": older,
    }


@api.route(
    "/messages/threads",
    "GET",
    "Your conversations: those with unread messages first, then the latest first",
    response=obj(("threads", "next_cursor"), threads=arr(THREAD_SUMMARY), next_cursor=string()),
    query={"cursor": string(400, description="next_cursor of the previous page")},
)
def list_threads():
    ctx = node_ctx()
    with ctx.db.read() as session:
        rows, next_cursor = messages.my_threads(session, _me(session), cursor=request.args.get("cursor"))
        out = [
            {
                "id": r.id,
                "other": person(r.other),
                "last_message_at": r.last_message_at,
                "last_message": r.last_message,
                "last_from_me": r.last_from_me,
                "unread": r.unread,
            }
            for r in rows
        ]
    return jsonify({"threads": out, "next_cursor": next_cursor})


@api.route(
    "/messages/threads",
    "POST",
    "Write to a member of this node by handle: starts your conversation with them, or continues it",
    body=obj(("to", "body"), to=string(64, minLength=1), body=BODY),
    response=MESSAGE,
    status=201,
    rate_limited=True,
)
def write_to():
    data = only_fields(json_body(), ("to", "body"))
    ctx = node_ctx()
    with ctx.db.write() as session:
        me = _me(session)
        message = messages.write_to(
            session, ctx.settings, sender=me, handle=data.get("to"), body=data.get("body"), now=ctx.now()
        )
        out = message_json(message, me, me.id)
    return jsonify(out), 201


@api.route(
    "/messages/threads/<int:thread_id>",
    "GET",
    "One of your conversations with its latest messages (older ones with ?before=older_cursor); reading it does "
    "not mark it read",
    response=THREAD,
    query={"before": string(400, description="older_cursor of the page you have")},
)
def get_thread(thread_id: int):
    ctx = node_ctx()
    with ctx.db.read() as session:
        return jsonify(thread_json(session, _me(session), thread_id, request.args.get("before")))


@api.route(
    "/messages/threads/<int:thread_id>/messages",
    "POST",
    "Answer in one of your conversations",
    body=obj(("body",), body=BODY),
    response=MESSAGE,
    status=201,
    rate_limited=True,
)
def post_message(thread_id: int):
    data = only_fields(json_body(), ("body",))
    ctx = node_ctx()
    with ctx.db.write() as session:
        me = _me(session)
        message = messages.reply(
            session, ctx.settings, sender=me, thread_id=thread_id, body=data.get("body"), now=ctx.now()
        )
        out = message_json(message, me, me.id)
    return jsonify(out), 201


@api.route(
    "/messages/threads/<int:thread_id>/read",
    "POST",
    "Mark one of your conversations read up to its latest message",
    response=THREAD,
)
def read_thread(thread_id: int):
    only_fields(json_body(required=False), ())
    ctx = node_ctx()
    with ctx.db.write() as session:
        me = _me(session)
        messages.mark_read(session, me, thread_id)
        session.flush()
        out = thread_json(session, me, thread_id)
    return jsonify(out)


@api.route(
    "/messages/threads/<int:thread_id>/report",
    "POST",
    "Report the other member's messages in a conversation (or one message, message_id) as abuse; the node's "
    "coordinators see those messages only",
    body=obj(("reason",), reason=string(messages.MAX_REASON, minLength=1), message_id=integer(1)),
    response=REPORT,
    status=201,
)
def report_thread(thread_id: int):
    data = only_fields(json_body(), ("reason", "message_id"))
    ctx = node_ctx()
    with ctx.db.write() as session:
        found = messages.report(
            session,
            member=_me(session),
            thread_id=thread_id,
            message_id=data.get("message_id"),
            reason=data.get("reason"),
            now=ctx.now(),
        )
        out = report_json(found)
    return jsonify(out), 201


@api.route(
    "/me/blocks",
    "GET",
    "Members you blocked",
    response=obj(
        ("blocked",),
        blocked=arr(obj(("handle", "display_name", "since"), handle=string(), display_name=string(), since=DATETIME)),
    ),
)
def my_blocks():
    ctx = node_ctx()
    with ctx.db.read() as session:
        rows = messages.my_blocks(session, g.member.id)
        out = [{"handle": m.handle, "display_name": m.display_name, "since": at} for m, at in rows]
    return jsonify({"blocked": out})


@api.route(
    "/members/<handle>/block",
    "POST",
    "Block a member: no messages either way between you until you unblock them",
    response=BLOCK,
)
def block(handle: str):
    only_fields(json_body(required=False), ())
    ctx = node_ctx()
    with ctx.db.write() as session:
        other = messages.block(session, member=_me(session), handle=handle, now=ctx.now())
        out = {"handle": other.handle, "blocked": True}
    return jsonify(out)


@api.route("/members/<handle>/unblock", "POST", "Unblock a member you blocked", response=BLOCK)
def unblock(handle: str):
    only_fields(json_body(required=False), ())
    ctx = node_ctx()
    with ctx.db.write() as session:
        other = messages.unblock(session, member=_me(session), handle=handle)
        out = {"handle": other.handle, "blocked": False}
    return jsonify(out)


def coordinator_report_json(session: Session, view: messages.ReportView) -> dict:
    found = view.report
    return {
        **report_json(found),
        "reporter": person(view.reporter),
        "reported": person(view.reported),
        "messages": [message_json(m, view.reported, None) for m in view.messages],
        "handled_by": view.handler.handle if view.handler else None,
        "handled_at": found.handled_at,
        "note": found.note,
    }


@api.route(
    "/coordinator/message-reports",
    "GET",
    "Messages reported as abuse (coordinators): open ones oldest first, or ?status=handled the latest handled",
    response=obj(("reports",), reports=arr(REPORT_FOR_COORDINATORS)),
    query={"status": string(enum=["open", "handled"])},
)
def list_reports():
    ctx = node_ctx()
    with ctx.db.read() as session:
        views = messages.reports(session, coordinator=_me(session), status=request.args.get("status", "open"))
        out = [coordinator_report_json(session, v) for v in views]
    return jsonify({"reports": out})


@api.route(
    "/coordinator/message-reports/<int:report_id>/handle",
    "POST",
    "Mark a report handled (coordinators), with a note of what was done",
    body=obj(note=string(messages.MAX_REASON)),
    response=REPORT_FOR_COORDINATORS,
)
def handle_report(report_id: int):
    data = only_fields(json_body(required=False), ("note",))
    ctx = node_ctx()
    with ctx.db.write() as session:
        found = messages.handle_report(
            session, coordinator=_me(session), report_id=report_id, note=data.get("note"), now=ctx.now()
        )
        out = coordinator_report_json(session, messages.report_view(session, found))
    return jsonify(out)
