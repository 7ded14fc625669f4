"""Messages between members of this node: contact someone without either side seeing the other's email.

Two members have at most one thread, started by the first message either sends to the other and continued
by both. Only the two see it: anyone else (coordinators included) is told there is no such thread. A
message is plain text of at most MAX_BODY characters, shown escaped with its line breaks.

The recipient is notified (kind message_received, mailed by the notification sweep in their language) when
a message arrives in a thread they had read up to its end; further messages are not mailed until they
read it, so a conversation does not flood a mailbox.

Limits, each a refusal that changes nothing (429 with Retry-After): `message_threads_per_day` new threads
per member per 24 hours (too_many_new_threads) and `messages_per_hour` messages per member per hour
(too_many_messages). A member may block another: no messages either way between them until the block
is lifted (messages_blocked). A member may report a message, or a thread, as abuse with a reason: the
node's coordinators are notified and see the reported member's messages in it (that message, or every
one of theirs up to the report) and nothing else of the conversation, and mark the report handled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from flask_babel import gettext as _
from sqlalchemy import and_, case, delete, func, literal, or_, select, tuple_
from sqlalchemy.orm import Session
from sqlmodel import col

from ..errors import ConflictError, ForbiddenError, NotFoundError, RateLimitedError, ValidationError
from ..lifecycle import REPORT
from ..settings import Settings
from ..tables import Member, MemberBlock, Message, MessageReport, MessageThread, ThreadMember
from . import audit, directory, members, search
from .notify import notify
from .validate import clean_text

MAX_BODY = 4000
MAX_REASON = 1000
PAGE = 50


# --- sending -------------------------------------------------------------------------------------------------


def write_to(
    session: Session, settings: Settings, *, sender: Member, handle: object, body: object, now: datetime
) -> Message:
    """Send a message to a member by handle: in the thread between the two, started now if there is none."""
    text = _body(body)
    members.require_active(sender)
    recipient = directory.visible_member(session, handle)
    if recipient.id == sender.id:
        raise ValidationError(_("You cannot send a message to yourself."), code="own_address", field="to")
    assert sender.id is not None
    assert recipient.id is not None
    thread = thread_between(session, sender.id, recipient.id)
    return _send(session, settings, sender=sender, recipient=recipient, thread=thread, text=text, now=now)


def reply(
    session: Session, settings: Settings, *, sender: Member, thread_id: int, body: object, now: datetime
) -> Message:
    """Send a message in one of the sender's threads."""
    text = _body(body)
    members.require_active(sender)
    thread, mine = get_thread(session, sender, thread_id)
    recipient = session.get(Member, mine.other_id)
    assert recipient is not None
    if recipient.status != "active":
        raise ConflictError(_("This member has left; your message cannot be delivered."), code="recipient_not_active")
    return _send(session, settings, sender=sender, recipient=recipient, thread=thread, text=text, now=now)


def _body(body: object) -> str:
    return clean_text(body, "body", max_len=MAX_BODY, required=True)


def _send(
    session: Session, settings: Settings, *, sender: Member, recipient: Member, thread: MessageThread | None, text: str,
    now: datetime,
) -> Message:  # fmt: skip
    assert sender.id is not None
    assert recipient.id is not None
    if blocked_between(session, sender.id, recipient.id):
        if is_blocked(session, sender.id, recipient.id):
            raise ConflictError(_("You blocked this member; unblock them to write to them."), code="you_blocked_member")
        raise ForbiddenError(_("This member does not accept messages from you."), code="messages_blocked")
    _check_limits(session, settings, sender.id, new_thread=thread is None, now=now)
    if thread is None:
        thread = MessageThread(started_by=sender.id, created_at=now)
        session.add(thread)
        session.flush()
        assert thread.id is not None
        session.add(ThreadMember(thread_id=thread.id, member_id=sender.id, other_id=recipient.id))
        session.add(ThreadMember(thread_id=thread.id, member_id=recipient.id, other_id=sender.id))
        session.flush()
    theirs = session.get(ThreadMember, (thread.id, recipient.id))
    assert theirs is not None
    caught_up = theirs.last_read_message_id >= thread.last_message_id
    assert thread.id is not None
    message = Message(thread_id=thread.id, sender_id=sender.id, body=text, created_at=now)
    session.add(message)
    session.flush()
    assert message.id is not None
    thread.last_message_id, thread.last_message_at = message.id, now
    session.get_one(ThreadMember, (thread.id, sender.id)).last_read_message_id = message.id
    sender.last_active_at = now
    if caught_up:
        notify(
            session,
            member_id=recipient.id,
            kind="message_received",
            now=now,
            params={"sender": sender.display_name, "sender_handle": sender.handle, "thread_id": thread.id},
        )
    return message


def _check_limits(session: Session, settings: Settings, sender_id: int, *, new_thread: bool, now: datetime) -> None:
    """Refuse a message beyond the sender's hourly limit, or a new thread beyond the daily one."""
    hourly = settings.messages_per_hour
    if hourly:
        since = now - timedelta(hours=1)
        recent = select(col(Message.created_at)).where(
            col(Message.sender_id) == sender_id, col(Message.created_at) > since
        )
        _refuse_beyond(
            session,
            recent,
            Message.created_at,
            hourly,
            timedelta(hours=1),
            now,
            code="too_many_messages",
            message=_(
                "You have sent %(count)s messages in the last hour, as many as a member may; please wait a little.",
                count=hourly,
            ),
        )
    daily = settings.message_threads_per_day
    if new_thread and daily:
        since = now - timedelta(days=1)
        started = select(col(MessageThread.created_at)).where(
            col(MessageThread.started_by) == sender_id, col(MessageThread.created_at) > since
        )
        _refuse_beyond(
            session,
            started,
            MessageThread.created_at,
            daily,
            timedelta(days=1),
            now,
            code="too_many_new_threads",
            message=_(
                "You have started %(count)s conversations in the last 24 hours, as many as a member may; you can "
                "still answer in the ones you have.",
                count=daily,
            ),
        )


def _refuse_beyond(session: Session, recent, column, limit: int, window: timedelta, now: datetime, *, code: str,
                   message: str) -> None:  # fmt: skip
    """Refuse when `recent` (times inside the window) holds `limit` rows; Retry-After: until the oldest leaves it."""
    rows = session.scalars(recent.order_by(column.desc()).limit(limit)).all()
    if len(rows) < limit:
        return
    wait = int((rows[-1] + window - now).total_seconds()) + 1
    raise RateLimitedError(message, code=code, retry_after=max(wait, 1))


# --- reading -------------------------------------------------------------------------------------------------


def thread_between(session: Session, a_id: int, b_id: int) -> MessageThread | None:
    found = session.scalars(
        select(MessageThread)
        .join(ThreadMember, col(ThreadMember.thread_id) == col(MessageThread.id))
        .where(col(ThreadMember.member_id) == a_id, col(ThreadMember.other_id) == b_id)
    ).first()
    return found


def get_thread(session: Session, member: Member, thread_id: int) -> tuple[MessageThread, ThreadMember]:
    """One of the member's threads, with their side of it; anyone else's: not found."""
    mine = session.get(ThreadMember, (thread_id, member.id)) if isinstance(thread_id, int) else None
    if mine is None:
        raise NotFoundError(_("There is no such conversation."), code="thread_not_found")
    return session.get_one(MessageThread, thread_id), mine


@dataclass(frozen=True)
class ThreadRow:
    """A thread in the member's list."""

    id: int
    other: Member
    last_message_at: datetime | None
    last_message: str
    last_from_me: bool
    unread: int


def my_threads(
    session: Session, member: Member, *, cursor: object = None, limit: int = PAGE
) -> tuple[list[ThreadRow], str]:
    """The member's threads, those with unread messages first, then the latest first; and the next page's cursor."""
    after = search.decode_cursor(cursor, (int, int))
    unread_flag = case((col(MessageThread.last_message_id) > col(ThreadMember.last_read_message_id), 1), else_=0)
    stmt = (
        select(MessageThread, ThreadMember, Member, Message, unread_flag)
        .join(ThreadMember, col(ThreadMember.thread_id) == col(MessageThread.id))
        .join(Member, col(Member.id) == col(ThreadMember.other_id))
        .outerjoin(Message, col(Message.id) == col(MessageThread.last_message_id))
        .where(col(ThreadMember.member_id) == member.id)
    )
    if after is not None:
        mark = tuple_(literal(after[0]), literal(after[1]))
        stmt = stmt.where(tuple_(unread_flag, col(MessageThread.last_message_id)) < mark)
    stmt = stmt.order_by(unread_flag.desc(), col(MessageThread.last_message_id).desc()).limit(limit + 1)
    rows = session.execute(stmt).tuples().all()
    more, rows = len(rows) > limit, rows[:limit]
    assert member.id is not None
    counts = _unread_counts(session, member.id, [(t.id, mine.last_read_message_id) for t, mine, *_ in rows])
    out = [
        ThreadRow(
            id=thread.id,
            other=other,
            last_message_at=thread.last_message_at,
            last_message=(last.body[:140] if last is not None else ""),
            last_from_me=last is not None and last.sender_id == member.id,
            unread=counts.get(thread.id, 0),
        )
        for thread, _mine, other, last, _flag in rows
    ]
    next_cursor = search.encode_cursor((rows[-1][4], rows[-1][0].last_message_id)) if more else ""
    return out, next_cursor


def _unread_counts(session: Session, member_id: int, threads: list[tuple[int, int]]) -> dict[int, int]:
    """Unread messages per thread: sent by the other member after the last one read."""
    wanted = [(tid, read) for tid, read in threads]
    if not wanted:
        return {}
    conditions = or_(*(and_(col(Message.thread_id) == tid, col(Message.id) > read) for tid, read in wanted))
    stmt = (
        select(col(Message.thread_id), func.count())
        .where(conditions, col(Message.sender_id) != member_id)
        .group_by(col(Message.thread_id))
    )
    return dict(session.execute(stmt).tuples().all())


def unread_count(session: Session, member_id: int) -> int:
    """Threads with a message the member has not read (the menu's badge)."""
    return session.execute(
        select(func.count())
        .select_from(ThreadMember)
        .join(MessageThread, col(MessageThread.id) == col(ThreadMember.thread_id))
        .where(
            col(ThreadMember.member_id) == member_id,
            col(MessageThread.last_message_id) > col(ThreadMember.last_read_message_id),
        )
    ).scalar_one()


def messages_of(
    session: Session, thread_id: int, *, before: object = None, limit: int = PAGE
) -> tuple[list[Message], str]:
    """A thread's messages, oldest first: the latest `limit`, or those before the cursor; and the older page's
    cursor ("" when there is none)."""
    until = search.decode_cursor(before, (int,))
    stmt = select(Message).where(col(Message.thread_id) == thread_id)
    if until is not None:
        stmt = stmt.where(Message.id < until[0])
    rows = session.scalars(stmt.order_by(col(Message.id).desc()).limit(limit + 1)).all()
    more, rows = len(rows) > limit, list(rows[:limit])
    rows.reverse()
    return rows, search.encode_cursor((rows[0].id,)) if more else ""


def mark_read(session: Session, member: Member, thread_id: int) -> ThreadMember:
    """The member has read the thread up to its last message."""
    thread, mine = get_thread(session, member, thread_id)
    if mine.last_read_message_id < thread.last_message_id:
        mine.last_read_message_id = thread.last_message_id
    return mine


def has_unread(session: Session, member: Member, thread_id: int) -> bool:
    thread, mine = get_thread(session, member, thread_id)
    return thread.last_message_id > mine.last_read_message_id


# --- blocking ------------------------------------------------------------------------------------------------


def is_blocked(session: Session, member_id: int, other_id: int) -> bool:
    """Whether member_id blocked other_id."""
    return session.get(MemberBlock, (member_id, other_id)) is not None


def blocked_between(session: Session, a_id: int, b_id: int) -> bool:
    """Whether either blocked the other."""
    found = session.scalars(
        select(col(MemberBlock.member_id)).where(
            or_(
                and_(col(MemberBlock.member_id) == a_id, col(MemberBlock.blocked_id) == b_id),
                and_(col(MemberBlock.member_id) == b_id, col(MemberBlock.blocked_id) == a_id),
            )
        )
    ).first()
    return found is not None


def block(session: Session, *, member: Member, handle: object, now: datetime) -> Member:
    """Block a member: no messages either way until unblocked (blocking twice changes nothing)."""
    other = members.find_by_handle(session, str(handle or ""))
    if other.id == member.id:
        raise ValidationError(_("You cannot block yourself."), code="own_address", field="handle")
    assert member.id is not None
    assert other.id is not None
    if not is_blocked(session, member.id, other.id):
        session.add(MemberBlock(member_id=member.id, blocked_id=other.id, created_at=now))
    return other


def unblock(session: Session, *, member: Member, handle: object) -> Member:
    """Lift a block (a member not blocked stays so)."""
    other = members.find_by_handle(session, str(handle or ""))
    session.execute(
        delete(MemberBlock).where(col(MemberBlock.member_id) == member.id, col(MemberBlock.blocked_id) == other.id)
    )
    return other


def my_blocks(session: Session, member_id: int) -> list[tuple[Member, datetime]]:
    return list(
        session.execute(
            select(Member, col(MemberBlock.created_at))
            .join(MemberBlock, col(MemberBlock.blocked_id) == col(Member.id))
            .where(col(MemberBlock.member_id) == member_id)
            .order_by(col(MemberBlock.created_at).desc())
        ).tuples()
    )


# --- abuse reports -------------------------------------------------------------------------------------------


def report(
    session: Session, *, member: Member, thread_id: int, message_id: object = None, reason: object, now: datetime
) -> MessageReport:
    """Report a message (message_id), or the other member's messages in a thread, as abuse."""
    thread, mine = get_thread(session, member, thread_id)
    reason = clean_text(reason, "reason", max_len=MAX_REASON, required=True)
    if message_id is not None:
        if isinstance(message_id, bool) or not isinstance(message_id, int):
            raise ValidationError(_("Please name the message to report."), code="wrong_type", field="message_id")
        message = session.get(Message, message_id)
        if message is None or message.thread_id != thread.id:
            raise NotFoundError(_("There is no such message in this conversation."), code="message_not_found")
        if message.sender_id == member.id:
            raise ConflictError(_("You can only report messages someone else sent you."), code="own_message")
    else:
        theirs = session.scalars(
            select(col(Message.id))
            .where(col(Message.thread_id) == thread.id, col(Message.sender_id) == mine.other_id)
            .limit(1)
        ).first()
        if theirs is None:
            raise ConflictError(_("The other member has not written anything here yet."), code="nothing_to_report")
    already = session.scalars(
        select(col(MessageReport.id)).where(
            col(MessageReport.thread_id) == thread.id,
            col(MessageReport.reporter_id) == member.id,
            col(MessageReport.status) == "open",
            col(MessageReport.message_id).is_(None)
            if message_id is None
            else col(MessageReport.message_id) == message_id,
        )
    ).first()
    if already is not None:
        raise ConflictError(_("You reported this already; a coordinator will look at it."), code="already_reported")
    assert thread.id is not None
    assert member.id is not None
    found = MessageReport(
        thread_id=thread.id,
        message_id=message_id,
        up_to_message_id=thread.last_message_id,
        reporter_id=member.id,
        reported_id=mine.other_id,
        reason=reason,
        created_at=now,
    )
    session.add(found)
    session.flush()
    reported = session.get(Member, mine.other_id)
    for coordinator_id in _coordinator_ids(session):
        assert reported is not None
        notify(
            session,
            member_id=coordinator_id,
            kind="message_reported",
            now=now,
            params={
                "reporter": f"{member.display_name} ({member.handle})",
                "reported": f"{reported.display_name} ({reported.handle})",
                "reason": reason,
            },
        )
    return found


def _coordinator_ids(session: Session) -> list[int]:
    ids = session.scalars(
        select(col(Member.id)).where(col(Member.role) == "coordinator", col(Member.status) == "active")
    ).all()
    return cast(list[int], list(ids))  # ids of stored members


@dataclass(frozen=True)
class ReportView:
    """A report as coordinators see it: who reported whom, why, and the reported messages only."""

    report: MessageReport
    reporter: Member
    reported: Member
    messages: list[Message]
    handler: Member | None


def reports(session: Session, *, coordinator: Member, status: object = "open", limit: int = 100) -> list[ReportView]:
    """Reports for coordinators, oldest open first (status open), or the latest handled (status handled)."""
    members.require_coordinator(coordinator)
    if status not in ("open", "handled"):
        raise ValidationError(_("Please choose open or handled."), code="bad_choice", field="status")
    order = col(MessageReport.id).asc() if status == "open" else col(MessageReport.id).desc()
    rows = session.scalars(
        select(MessageReport).where(col(MessageReport.status) == status).order_by(order).limit(limit)
    )
    return [report_view(session, r) for r in rows.all()]


def report_view(session: Session, found: MessageReport) -> ReportView:
    return ReportView(
        report=found,
        reporter=session.get_one(Member, found.reporter_id),
        reported=session.get_one(Member, found.reported_id),
        messages=reported_messages(session, found),
        handler=session.get(Member, found.handled_by) if found.handled_by else None,
    )


def reported_messages(session: Session, found: MessageReport, limit: int = 50) -> list[Message]:
    """The messages a report shows coordinators: the one reported, or the reported member's up to the report."""
    if found.message_id is not None:
        return [session.get_one(Message, found.message_id)]
    rows = session.scalars(
        select(Message)
        .where(
            col(Message.thread_id) == found.thread_id,
            col(Message.sender_id) == found.reported_id,
            col(Message.id) <= found.up_to_message_id,
        )
        .order_by(col(Message.id).desc())
        .limit(limit)
    ).all()
    return list(reversed(rows))


def handle_report(
    session: Session, *, coordinator: Member, report_id: int, note: object, now: datetime
) -> MessageReport:
    """A coordinator marks a report handled, with an optional note of what they did."""
    members.require_coordinator(coordinator)
    found = session.get(MessageReport, report_id)
    if found is None:
        raise NotFoundError(_("There is no such report."), code="report_not_found")
    note = clean_text(note, "note", max_len=MAX_REASON)
    REPORT.move(found, "handled")
    found.handled_by, found.handled_at, found.note = coordinator.id, now, note
    detail = {"report": found.id, "note": note}
    audit.record(session, coordinator.id, "message_report_handled", f"member:{found.reported_id}", detail, now)
    return found


# --- a member's data -----------------------------------------------------------------------------------------


def export_for(session: Session, member_id: int) -> dict:
    """The member's threads with their messages, their blocks and their reports (the data export)."""
    threads = []
    for mine in session.scalars(select(ThreadMember).where(col(ThreadMember.member_id) == member_id)):
        other = session.get(Member, mine.other_id)
        rows = session.scalars(
            select(Message).where(col(Message.thread_id) == mine.thread_id).order_by(col(Message.id))
        )
        assert other is not None
        threads.append(
            {
                "thread_id": mine.thread_id,
                "with": other.handle,
                "messages": [
                    {
                        "id": m.id,
                        "from": "me" if m.sender_id == member_id else other.handle,
                        "body": m.body,
                        "at": m.created_at,
                    }  # fmt: skip
                    for m in rows
                ],
            }
        )
    blocks = [{"handle": m.handle, "since": at} for m, at in my_blocks(session, member_id)]
    made = session.scalars(select(MessageReport).where(col(MessageReport.reporter_id) == member_id)).all()
    return {
        "threads": threads,
        "blocked": blocks,
        "reports": [r.model_dump(exclude={"handled_by"}) for r in made],
    }


def forget_blocks_of(session: Session, member_id: int) -> None:
    """A closed account's own blocks go (others' blocks of it stay: they are the others' choice)."""
    session.execute(delete(MemberBlock).where(col(MemberBlock.member_id) == member_id))
