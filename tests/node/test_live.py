"""The event streams GET /events (web session) and GET /api/v1/events (token): what they send, to whom, from where.

Short streams (the `app` fixture: live_stream_seconds 0; and the test client, which serves no request in threads)
send what is waiting and end; long ones (`streamed`: a threaded server's environ) are read by a thread (Listener)
while the test changes things, and the test waits for what it expects, never for a time.
"""

from __future__ import annotations

import json
import queue
import threading

import pytest

from federation.state import federation_of
from node.app import create_app
from node.services import events
from tests.conftest import FAST_ARGON2

from .test_web import login

LONG = {"live_stream_seconds": 60, "live_heartbeat_seconds": 1, "live_poll_ms": 50}
THREADED = {"wsgi.multithread": True}  # as werkzeug's threaded server and gunicorn's gthread workers say


def streamed(client, path: str, **kwargs):
    """A stream opened as a threaded server would serve it (long), not read yet."""
    return client.get(path, buffered=False, environ_overrides=THREADED, **kwargs)


def parse(text: str) -> list[tuple[int | None, str, dict]]:
    """(id, name, data) of every event in a stream's text; comments and the retry line are left out."""
    out = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if "event" in fields:
            out.append((int(fields["id"]) if "id" in fields else None, fields["event"], json.loads(fields["data"])))
    return out


def newest(ctx) -> int:
    with ctx.db.read() as s:
        return events.newest_id(s)


class Listener:
    """Reads one long stream in a thread; the test takes its events one by one."""

    def __init__(self, response) -> None:
        assert response.status_code == 200 and response.mimetype == "text/event-stream", response.status_code
        self.response, self.chunks, self.stopping = response, queue.Queue(), threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for chunk in self.response.response:
                self.chunks.put(chunk.decode())
                if self.stopping.is_set():
                    break
        finally:
            self.response.close()  # in the reading thread, as a WSGI server does
            self.chunks.put(None)

    def next(self, name: str | None = None) -> tuple[int | None, str, dict]:
        """The next event (of that name); fails when the stream ends first (live_stream_seconds bounds the wait)."""
        while True:
            chunk = self.chunks.get(timeout=90)
            assert chunk is not None, f"the stream ended before {name or 'an event'}"
            for event in parse(chunk):
                if name is None or event[1] == name:
                    return event

    def next_comment(self) -> str:
        while True:
            chunk = self.chunks.get(timeout=90)
            assert chunk is not None, "the stream ended before a comment"
            if chunk.startswith(":"):
                return chunk

    def stop(self) -> list[tuple[int | None, str, dict]]:
        """End the stream (at its next heartbeat at the latest); the events not taken yet."""
        self.stopping.set()
        self.thread.join(timeout=90)
        rest = []
        while True:
            chunk = self.chunks.get_nowait()
            if chunk is None:
                return rest
            rest += parse(chunk)


@pytest.fixture
def long_app(tmp_path, clock):
    """A node whose streams stay open for a minute, with a beat every second."""
    app = create_app({"data_dir": str(tmp_path / "long"), "node_id": "be-vl", **LONG, **FAST_ARGON2}, clock=clock)
    yield app
    federation_of(app).stop()
    app.extensions["sifnet"].db.dispose()


@pytest.fixture
def long_ctx(long_app):
    return long_app.extensions["sifnet"]


def members_of(ctx) -> dict:
    """Anna and Bert (Bert reads Dutch) on the given app, with their API token headers."""
    from node.services import members

    out = {}
    for handle, language in (("anna", ""), ("bert", "nl")):
        with ctx.db.write() as s:
            m = members.sign_up(
                s,
                ctx.settings,
                email=f"{handle}@example.org",
                password="correct horse battery",
                display_name=handle.title(),
                handle=handle,
                now=ctx.now(),
                hasher=ctx.hasher,
            )
            members._activate(s, ctx.settings, m, actor=None, reason="test", now=ctx.now())
            if language:
                members.update_profile(s, ctx.settings, member=m, data={"language": language}, now=ctx.now())
            token = members.create_token(s, member=m, name="test", now=ctx.now())
            out[handle] = (m.id, {"Authorization": f"Bearer {token}"})
    return out


# --- short streams ------------------------------------------------------------------------------------------


def test_a_stream_without_a_resume_point_starts_at_the_newest_event(client, ctx, make_member, token_for):
    anna, bert = make_member("anna"), make_member("bert")
    client.post("/api/v1/transfers", headers=token_for(anna), json={"to": "bert", "amount": 1})
    r = client.get("/api/v1/events", headers=token_for(bert))
    assert r.status_code == 200 and r.mimetype == "text/event-stream"
    assert r.headers["Cache-Control"] == "no-store" and r.headers["X-Accel-Buffering"] == "no"
    assert r.get_data(as_text=True) == "retry: 3000\n\n"  # nothing old: the page that opens it was just drawn


def test_last_event_id_resumes_and_another_members_events_never_appear(client, ctx, make_member, token_for):
    anna, bert, carl = make_member("anna"), make_member("bert"), make_member("carl")
    start = newest(ctx)
    for payer, payee in ((anna, "bert"), (carl, "anna"), (anna, "carl"), (carl, "bert")):
        assert client.post("/api/v1/transfers", headers=token_for(payer), json={"to": payee, "amount": 1}).status_code
    with ctx.db.read() as s:
        berts = [e.id for e in events.events_after(s, bert.id, start)]
        others = {e.id for m in (anna, carl) for e in events.events_after(s, m.id, start)}
    assert len(berts) == 6 and others  # two payments of one: balance, notification, payment each
    sent = parse(client.get("/api/v1/events", headers={**token_for(bert), "Last-Event-ID": str(start)}).text)
    assert [i for i, _n, _d in sent] == berts and not others & {i for i, _n, _d in sent}
    resumed = parse(client.get("/api/v1/events", headers={**token_for(bert), "Last-Event-ID": str(berts[2])}).text)
    assert [i for i, _n, _d in resumed] == berts[3:]
    # ?after= is where a page starts; a reconnecting EventSource's Last-Event-ID wins over it.
    both = client.get(f"/api/v1/events?after={start}", headers={**token_for(bert), "Last-Event-ID": str(berts[4])})
    assert [i for i, _n, _d in parse(both.text)] == berts[5:]
    assert [i for i, _n, _d in parse(client.get(f"/api/v1/events?after={start}", headers=token_for(bert)).text)] == (
        berts
    )


def test_the_web_stream_is_the_logged_in_members_own(app, ctx, make_member, token_for):
    anna = make_member("anna")
    make_member("bert", language="nl")
    browser = app.test_client()
    assert browser.get("/events").status_code == 401  # an EventSource is told, not sent to the login page
    login(browser, "bert@example.org")
    start = newest(ctx)
    app.test_client().post("/api/v1/transfers", headers=token_for(anna), json={"to": "bert", "amount": 2})
    sent = {name: data for _i, name, data in parse(browser.get(f"/events?after={start}").text)}
    assert sent["balance"] == {"balance": 12, "shown": "12\xa0SIF"}
    assert sent["payment"]["text"] == "Je hebt 2\xa0SIF ontvangen van anna@be-vl"  # Bert reads Dutch
    note = sent["notification"]
    assert note["subject"] == sent["payment"]["text"] and note["unread"] == 1 and "1" in note["label"]
    assert "params" not in note


def test_each_page_knows_where_its_stream_starts(app, ctx, make_member):
    make_member("anna")
    browser = app.test_client()
    assert "live.js" not in browser.get("/login").text  # nobody logged in: no script, no stream
    login(browser, "anna@example.org")
    page = browser.get("/dashboard").text
    assert f'data-live="/events?after={newest(ctx)}"' in page and "/static/live.js" in page
    assert 'id="balance" data-live-balance' in page and 'id="nav-notes"' in page


def test_a_stale_resume_point_gets_the_state_as_it_is(client, ctx, clock, make_member, token_for):
    anna, bert = make_member("anna"), make_member("bert")
    old = newest(ctx)
    client.post("/api/v1/transfers", headers=token_for(anna), json={"to": "bert", "amount": 4})
    clock.advance(3600 * (ctx.settings.live_keep_hours + 1))
    make_member("carl")
    client.post("/api/v1/transfers", headers=token_for(anna), json={"to": "carl", "amount": 1})
    assert events.forget_old_events(ctx) > 0
    stale = client.get("/api/v1/events", headers={**token_for(bert), "Last-Event-ID": str(old)})
    [(event_id, name, data)] = parse(stale.text)
    assert name == "reset" and event_id == newest(ctx)
    assert data["balance"] == 14 and data["unread"] == 1
    future = client.get("/api/v1/events", headers={**token_for(bert), "Last-Event-ID": str(10**9)})
    assert [n for _i, n, _d in parse(future.text)] == ["reset"]  # an id from another database


def test_streams_need_a_token_or_a_login_and_ignore_a_malformed_resume_point(client, make_member, token_for):
    bert = make_member("bert")
    assert client.get("/api/v1/events").status_code == 401
    assert client.get("/api/v1/events", headers={"Authorization": "Bearer nonsense-token"}).status_code == 401
    for bad in ("-1", "abc", "1e3", "9" * 40, "", "²"):
        r = client.get("/api/v1/events", headers={**token_for(bert), "Last-Event-ID": bad})
        assert r.status_code == 200 and parse(r.text) == [], bad
        r = client.get("/api/v1/events", headers=token_for(bert), query_string={"after": bad})
        assert r.status_code == 200 and parse(r.text) == [], bad
    r = client.get("/api/v1/events", headers=token_for(bert), query_string={"after": "١٢"})  # digits, not ASCII ones
    assert r.status_code == 200 and parse(r.text) == []


def test_the_stream_is_documented_as_text_event_stream(client):
    operation = client.get("/api/v1/openapi.json").json["paths"]["/api/v1/events"]["get"]
    assert list(operation["responses"]["200"]["content"]) == ["text/event-stream"]
    assert "Retry-After" in operation["responses"]["503"]["headers"]
    assert {(p["name"], p["in"]) for p in operation["parameters"]} == {("after", "query"), ("Last-Event-ID", "header")}


# --- long streams ---------------------------------------------------------------------------------------------


def test_an_open_stream_gets_a_payment_after_its_commit_and_a_heartbeat(long_app, long_ctx):
    people = members_of(long_ctx)
    anna, bert = people["anna"][1], people["bert"][1]
    listener = Listener(streamed(long_app.test_client(), "/api/v1/events", headers=bert))
    assert listener.next_comment() == ": keep-alive\n\n"  # the stream is open and waiting
    paid = long_app.test_client().post("/api/v1/transfers", headers=anna, json={"to": "bert", "amount": 3, "memo": "x"})
    assert paid.status_code == 201
    _id, _name, data = listener.next("payment")
    assert data["amount"] == 3 and data["payer"] == "anna@be-vl"
    assert listener.stop() == []  # balance and notification came before it; nothing of Anna's


def test_a_server_without_threads_gets_a_short_stream(long_app, long_ctx):
    """Gunicorn's sync workers (wsgi.multithread false) would give a whole process to one page: the stream sends
    what is waiting and ends, and the browser asks again after the retry delay."""
    people = members_of(long_ctx)
    r = long_app.test_client().get(
        "/api/v1/events", headers=people["bert"][1], environ_overrides={"wsgi.multiprocess": True}
    )
    assert r.status_code == 200 and r.text == "retry: 3000\n\n"
    assert long_app.extensions["sifnet_live"].open_streams == 0


def test_a_member_beyond_the_per_member_cap_ends_their_oldest_stream(long_app, long_ctx):
    people = members_of(long_ctx)
    _bert_id, bert = people["bert"]
    cap = long_ctx.settings.live_streams_per_member
    hub = long_app.extensions["sifnet_live"]
    listeners = [Listener(streamed(long_app.test_client(), "/api/v1/events", headers=bert)) for _ in "x" * cap]
    assert hub.open_streams == cap
    newest_one = Listener(streamed(long_app.test_client(), "/api/v1/events", headers=bert))
    listeners[0].thread.join(timeout=90)
    assert not listeners[0].thread.is_alive() and hub.open_streams == cap  # the oldest ended, the new one runs
    for listener in [*listeners[1:], newest_one]:
        listener.stop()
    assert hub.open_streams == 0


def test_a_process_full_of_streams_answers_503_with_retry_after(tmp_path, clock):
    app = create_app(
        {"data_dir": str(tmp_path / "full"), "node_id": "be-vl", **LONG, "live_max_streams": 1, **FAST_ARGON2},
        clock=clock,
    )
    ctx = app.extensions["sifnet"]
    people = members_of(ctx)
    first = Listener(streamed(app.test_client(), "/api/v1/events", headers=people["anna"][1]))
    busy = streamed(app.test_client(), "/api/v1/events", headers=people["bert"][1])
    assert busy.status_code == 503 and busy.json["error"]["code"] == "too_many_streams"
    assert int(busy.headers["Retry-After"]) >= 1
    first.stop()
    again = streamed(app.test_client(), "/api/v1/events", headers=people["bert"][1])
    assert again.status_code == 200
    again.close()
    federation_of(app).stop()
    ctx.db.dispose()


def test_events_another_process_wrote_reach_the_stream(long_app, long_ctx, tmp_path, clock):
    """A second app on the same database stands for another gunicorn worker: its commit rings only its own hub,
    and this process's watcher finds the event in the database."""
    people = members_of(long_ctx)
    other = create_app({"data_dir": long_ctx.settings.data_dir, "node_id": "be-vl", **LONG, **FAST_ARGON2}, clock=clock)
    listener = Listener(streamed(long_app.test_client(), "/api/v1/events", headers=people["bert"][1]))
    listener.next_comment()
    paid = other.test_client().post("/api/v1/transfers", headers=people["anna"][1], json={"to": "bert", "amount": 2})
    assert paid.status_code == 201
    assert listener.next("payment")[2]["amount"] == 2
    listener.stop()
    federation_of(other).stop()
    other.extensions["sifnet"].db.dispose()


def test_on_postgresql_another_processs_commit_wakes_the_stream_without_polling(tmp_path, clock, pg_lane):
    """The watcher LISTENs: with a poll slower than the stream lasts, only the commit's NOTIFY can bring the event
    before the stream ends."""
    if pg_lane is None:
        pytest.skip("PostgreSQL lane only (SIFNET_TEST_DB=postgresql)")
    slow = {**LONG, "live_stream_seconds": 30, "live_poll_ms": 60000}
    here = create_app({"data_dir": str(tmp_path / "here"), "node_id": "be-vl", **slow, **FAST_ARGON2}, clock=clock)
    ctx = here.extensions["sifnet"]
    url = ctx.settings.db_url
    there = create_app(
        {"data_dir": str(tmp_path / "there"), "node_id": "be-vl", "database_url": url, **slow, **FAST_ARGON2},
        clock=clock,
    )
    people = members_of(ctx)
    listener = Listener(streamed(here.test_client(), "/api/v1/events", headers=people["bert"][1]))
    listener.next_comment()  # waiting, its watcher listening
    paid = there.test_client().post("/api/v1/transfers", headers=people["anna"][1], json={"to": "bert", "amount": 2})
    assert paid.status_code == 201
    assert listener.next("payment")[2]["amount"] == 2
    listener.stop()
    for app in (here, there):
        federation_of(app).stop()
        app.extensions["sifnet"].db.dispose()


def test_a_stream_ends_when_its_session_is_logged_out_everywhere(long_app, long_ctx):
    people = members_of(long_ctx)
    browser = long_app.test_client()
    login(browser, "bert@example.org")
    listener = Listener(streamed(browser, "/events"))
    listener.next_comment()
    from node.tables import Member

    with long_ctx.db.write() as s:  # what a new password does: every session ends
        s.get(Member, people["bert"][0]).session_version += 1
    listener.thread.join(timeout=90)
    assert not listener.thread.is_alive()
