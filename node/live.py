"""Live updates: a member's events (node/services/events.py) as a text/event-stream, for their pages and API.

Each process keeps one Hub. It holds the streams open in this process: at most `live_streams_per_member`
per member (a new one ends that member's oldest, which is most likely a page already left) and at most
`live_max_streams` in all (more are answered 503, so ordinary requests always find a free thread). After a
commit that wrote events, the Database's commit hook rings the hub for those members and their streams
read the new rows at once. Events written by other processes (other gunicorn workers, the worker process)
are found by one watcher thread per process while streams are open: on PostgreSQL it LISTENs for the NOTIFY
that such a commit sends, on SQLite it asks for new ids every `live_poll_ms`; either way one indexed query per
process, never one per stream.

A stream sends every event of its member with an id above the one it resumes from (the `Last-Event-ID`
an EventSource sends when it reconnects, else `?after=`, which a page sets to the newest id when it was
drawn, else the newest id now), a comment every `live_heartbeat_seconds`, and ends after
`live_stream_seconds`; the browser then reconnects with its Last-Event-ID. A resume point older than the
oldest event kept (swept) gets a `reset` event with the balance and unread count as they are now.
"""

from __future__ import annotations

import json
import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from flask import Flask, Response, current_app, request
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from . import formats, notices
from .clock import iso
from .context import node_ctx
from .db import Database
from .errors import DomainError, NotFoundError
from .i18n import translations
from .services import events, ledger, notifications
from .settings import Settings

log = logging.getLogger(__name__)

RETRY_MS = 3000  # how long an EventSource waits before it reconnects (sent as the stream's first line)
BATCH = 100  # events read and sent at once
HEARTBEAT = ": keep-alive\n\n"
# How often a waiting stream looks whether its client closed the connection: a page left (or a proxy that let
# go) frees its thread within this, not at the next heartbeat, since a worker has only a few threads.
GONE_CHECK_SECONDS = 1.0


class BusyError(DomainError):
    """This process holds as many streams as it may; the client tries again after Retry-After seconds."""

    status = 503
    code = "too_many_streams"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(eq=False)
class Slot:
    """One open stream of a member in this process; `ended` tells it to finish."""

    member_id: int
    ended: bool = False


@dataclass(frozen=True)
class Reader:
    """Who a stream is for, in which language and zone, and whether they may still read (asked at each beat)."""

    member_id: int
    language: str
    time_zone: str
    allowed: Callable[[], bool] = field(default=lambda: True)


class Hub:
    """This process's open streams, the bell that wakes them, and the watcher of other processes' events."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self._cond = threading.Condition()
        self._slots: dict[int, list[Slot]] = {}
        self._marks: dict[int, int] = {}  # member id -> rings since their first stream here opened
        self._open = 0
        self._watcher: threading.Thread | None = None

    def open(self, member_id: int) -> Slot:
        """A slot for a new stream of this member, ending their oldest beyond the per-member cap."""
        with self._cond:
            if self._open >= self._settings.live_max_streams:
                raise BusyError(
                    _("Too many live updates are open on this node; the page tries again in a moment."),
                    retry_after=max(1, RETRY_MS // 1000),
                )
            slots = self._slots.setdefault(member_id, [])
            while len(slots) >= max(1, self._settings.live_streams_per_member):
                self._drop(slots[0])
            slot = Slot(member_id)
            slots.append(slot)
            self._open += 1
            self._cond.notify_all()  # a dropped stream finishes now
            return slot

    def release(self, slot: Slot) -> None:
        """The stream finished (or its client went): free its slot."""
        with self._cond:
            self._drop(slot)

    def _drop(self, slot: Slot) -> None:
        slot.ended = True
        slots = self._slots.get(slot.member_id, [])
        if slot in slots:
            slots.remove(slot)
            self._open -= 1
        if not slots:
            self._slots.pop(slot.member_id, None)
            self._marks.pop(slot.member_id, None)

    @property
    def open_streams(self) -> int:
        with self._cond:
            return self._open

    def mark(self, member_id: int) -> int:
        """How often this member's streams were rung: read it before reading the database, wait on it after."""
        with self._cond:
            return self._marks.get(member_id, 0)

    def ring(self, member_ids: set[int]) -> None:
        """Wake the streams of these members (their events were committed)."""
        with self._cond:
            rung = [m for m in member_ids if m in self._slots]
            for member_id in rung:
                self._marks[member_id] = self._marks.get(member_id, 0) + 1
            if rung:
                self._cond.notify_all()

    def wait(self, slot: Slot, seen: int, timeout: float) -> int:
        """Block until the member is rung after `seen`, the slot is ended, or the timeout; the mark now."""
        with self._cond:
            if self._watcher is None and not slot.ended:  # only waiting streams need other processes' events
                self._watcher = threading.Thread(target=self._watch, name="sifnet-live-watcher", daemon=True)
                self._watcher.start()
            self._cond.wait_for(lambda: slot.ended or self._marks.get(slot.member_id, 0) != seen, max(0.0, timeout))
            return self._marks.get(slot.member_id, 0)

    def _watch(self) -> None:
        """While streams are open here: ring the members of events that other processes committed."""
        try:
            with self._db.listening(events.CHANNEL) as wait:
                self._follow(wait)
        except Exception:  # the database went away: a stream that waits next starts a new watcher
            log.exception("live watcher stopped")
            with self._cond:
                self._watcher = None

    def _follow(self, wait: Callable[[float], bool]) -> None:
        # Listening first, then the cursor: nothing committed in between is missed.
        with self._db.read() as session:
            cursor = events.newest_id(session)
        with self._cond:
            waiting = set(self._slots)
        self.ring(waiting)  # what another process committed before the cursor was read: its streams read again
        pause = self._settings.live_poll_ms / 1000
        while True:
            with self._cond:
                if not self._slots:
                    self._watcher = None  # under the lock: a stream that waits after this starts a new one
                    return
            wait(pause)  # woken by another process's commit (PostgreSQL NOTIFY, SQLite node/wakeup.py), else a poll
            with self._db.read() as session:
                rows = events.written_since(session, cursor)
            if rows:
                cursor = rows[-1][0]
                self.ring({member_id for _id, member_id in rows})


def init_app(app: Flask) -> None:
    """One hub per app (one app per process), rung after every commit that wrote events."""
    ctx = node_ctx(app)
    hub = Hub(ctx.db, ctx.settings)
    app.extensions["sifnet_live"] = hub
    ctx.db.commit_hooks.append(lambda session: hub.ring(events.written_for(session)))


def cursor_from(given_id: str | None, after: str | None) -> int | None:
    """Where a stream resumes: the Last-Event-ID header, else ?after=; None when neither is a plain number."""
    for value in (given_id, after):
        text = (value or "").strip()
        if text.isascii() and text.isdigit() and len(text) <= 18:  # "²".isdigit() too, but int() refuses it
            return int(text)
    return None


def response(reader: Reader, after: int | None) -> Response:
    """The text/event-stream answer for this reader (503 when this process holds all the streams it may)."""
    ctx = node_ctx()
    hub: Hub = current_app.extensions["sifnet_live"]
    seconds = ctx.settings.live_stream_seconds if holds_threads(request.environ) else 0
    stream = Stream(hub, ctx.db, ctx.settings, reader, after, seconds, client_socket(request.environ))
    answer = Response(stream, mimetype="text/event-stream")
    answer.headers["Cache-Control"] = "no-store"
    answer.headers["X-Accel-Buffering"] = "no"  # nginx passes each event on at once
    return answer


def holds_threads(environ: dict) -> bool:
    """Whether a long stream is safe here: the server runs requests in threads (wsgi.multithread).

    Gunicorn's sync workers serve one request at a time per process: a stream would take a whole worker
    for minutes (and be killed at their timeout). There a stream sends what is waiting and ends, and the
    EventSource asks again after RETRY_MS (README: run gthread workers, `--threads`).
    """
    return bool(environ.get("wsgi.multithread"))


def client_socket(environ: dict) -> socket.socket | None:
    """The connection to the client, where the server says which (gunicorn and werkzeug do)."""
    sock = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
    return sock if isinstance(sock, socket.socket) else None


def client_left(sock: socket.socket | None) -> bool:
    """Whether the client closed its end: a stream's client sends nothing after its request, so a readable
    connection with nothing to read has ended (data, say a pipelined request, is left where it is)."""
    if sock is None:
        return False
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        if not poller.poll(0):
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except (OSError, ValueError):  # reset, or already closed here
        return True


class Stream:
    """The iterable body of one event stream; the WSGI server closes it when it ends or its client goes."""

    def __init__(
        self,
        hub: Hub,
        db: Database,
        settings: Settings,
        reader: Reader,
        after: int | None,
        seconds: int,
        client: socket.socket | None = None,
    ) -> None:
        self._hub, self._db, self._settings, self._reader = hub, db, settings, reader
        self._client = client
        self._slot = hub.open(reader.member_id)
        self._frames = self._run(after, seconds)

    def __iter__(self) -> Iterator[str]:
        return self._frames

    def close(self) -> None:
        self._hub.release(self._slot)  # first: a stream waiting in another thread wakes up and ends
        try:
            self._frames.close()
        except ValueError:  # closed from another thread while it runs: it ends by itself, its slot is gone
            pass

    def _run(self, after: int | None, seconds: int) -> Generator[str, None, None]:
        try:
            yield from self._frames_until_end(after, seconds)
        finally:  # also when a server never calls close(): the slot is free once the stream ended
            self._hub.release(self._slot)

    def _frames_until_end(self, after: int | None, seconds: int) -> Iterator[str]:
        hub, slot, reader = self._hub, self._slot, self._reader
        started = time.monotonic()
        deadline, beat = started + seconds, started + self._settings.live_heartbeat_seconds
        yield f"retry: {RETRY_MS}\n\n"
        mark = hub.mark(reader.member_id)  # before each read: a ring after it is not lost
        with self._db.read() as session:
            after, frames = _start(session, self._settings, reader, after)
        yield from frames
        while True:
            with self._db.read() as session:
                found = events.events_after(session, reader.member_id, after, BATCH)
                frames = present(session, self._settings, reader, found)
            after = found[-1].id if found else after
            yield from frames
            if len(found) == BATCH:
                mark = hub.mark(reader.member_id)
                continue
            while mark == hub.mark(reader.member_id):
                now = time.monotonic()
                if seconds <= 0 or now >= deadline or slot.ended or client_left(self._client):
                    return
                if now >= beat:
                    if not reader.allowed():
                        return
                    yield HEARTBEAT
                    beat = now + self._settings.live_heartbeat_seconds
                hub.wait(slot, mark, min(deadline, beat, now + GONE_CHECK_SECONDS) - now)
            mark = hub.mark(reader.member_id)


def _start(session: Session, settings: Settings, reader: Reader, after: int | None) -> tuple[int, list[str]]:
    """Where the stream starts: its resume point; the newest event without one; after a stale one, the newest
    with a reset first."""
    low, high = events.kept_range(session)
    if after is None:
        return high, []
    if after > high or (high > 0 and after < low - 1):  # events after it may be swept, or it is another database's
        return high, [frame(high, "reset", _state(session, settings, reader))]
    return after, []


def frame(event_id: int, name: str, data: dict) -> str:
    """One event on the wire: its id (the EventSource's Last-Event-ID), its name and its data as one JSON line."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event_id}\nevent: {name}\ndata: {text}\n\n"


def present(session: Session, settings: Settings, reader: Reader, found: list[events.Event]) -> list[str]:
    """The events as frames, worded for the reader (language, zone); the unread count read once."""
    unread = None
    out = []
    for event in found:
        data = {name: value for name, value in event.data.items() if name != "params"}
        if event.kind == "notification" and unread is None:
            unread = notifications.unread_count(session, reader.member_id)
        data.update(_words(settings, reader, event, unread))
        out.append(frame(event.id, event.kind, data))
    return out


def _words(settings: Settings, reader: Reader, event: events.Event, unread: int | None) -> dict:
    """What the page shows for an event, in the reader's language: amounts, subjects, the menu's count."""
    data, language = event.data, reader.language
    if event.kind == "balance":
        return {"shown": formats.format_amount(data["balance"], language, settings.unit)}
    if event.kind == "payment":
        subject = notices.subject("payment", data, language=language, settings=settings)
        return {"shown": formats.format_amount(data["amount"], language, settings.unit), "text": subject}
    if event.kind == "invitation":
        kind = "review_invitation_abroad" if data.get("abroad") else "review_invitation"
        return {"text": notices.subject(kind, data, language=language, settings=settings)}
    if event.kind == "notification":
        subject, body = notices.render(
            data["kind"], data.get("params") or {}, language=language, time_zone=reader.time_zone, settings=settings
        )
        at = formats.format_when(event.created_at, language, ZoneInfo(reader.time_zone))
        count = _unread_words(language, unread or 0)
        return {"subject": subject, "body": body, "at": iso(event.created_at), "at_shown": at, **count}
    return {}


def _unread_words(language: str, unread: int) -> dict:
    """The unread count as the menu shows it: the number, and the link's label for screen readers."""
    shown = formats.format_number(unread, language)
    label = translations(language).ngettext(
        "Notifications, %(count)s unread", "Notifications, %(count)s unread", unread
    ) % {"count": shown}
    return {"unread": unread, "unread_shown": shown, "label": label}


def _state(session: Session, settings: Settings, reader: Reader) -> dict:
    """The balance and unread count as they are now (for a stream that may have missed events)."""
    out = _unread_words(reader.language, notifications.unread_count(session, reader.member_id))
    try:
        balance = ledger.member_account(session, reader.member_id).balance
    except NotFoundError:  # a member waiting for approval has no account yet
        return out
    return {**out, "balance": balance, "shown": formats.format_amount(balance, reader.language, settings.unit)}
