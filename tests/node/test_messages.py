"""Messages between members: one thread per pair, seen by its two members only; rate limits that change nothing
when they refuse; blocking; abuse reports that coordinators (and only they) see, with the reported messages only;
the recipient's notification in their language."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from node.services import messages
from node.tables import AuditEntry, Message, MessageReport, MessageThread, Notification
from tests.hostile.digest import changed_tables, db_digest
from tests.node.test_notices import mails
from tests.node.test_web import csrf, login

API = "/api/v1"


@pytest.fixture
def people(make_member, token_for):
    out = {}
    for handle, kw in {
        "anna": {"in_directory": True},
        "bert": {"language": "de"},
        "carol": {},
        "coord": {"role": "coordinator"},
    }.items():
        member = make_member(handle, **kw)
        out[handle] = (member, token_for(member))
    return out


def write(client, headers, to, body="Hello!", status=201) -> dict:
    r = client.post(f"{API}/messages/threads", headers=headers, json={"to": to, "body": body})
    assert r.status_code == status, r.json
    return r.json


def answer(client, headers, thread_id, body="Thanks!", status=201) -> dict:
    r = client.post(f"{API}/messages/threads/{thread_id}/messages", headers=headers, json={"body": body})
    assert r.status_code == status, r.json
    return r.json


def test_a_thread_between_two_members_only_they_see(client, people):
    (_anna, a), (_bert, b), (_carol, c), (_coord, k) = (people[h] for h in ("anna", "bert", "carol", "coord"))
    first = write(client, a, "bert", "Hello Bert, can you help with our <b>statutes</b>?")
    again = write(client, a, "bert", "Also: are you free on Monday?")  # the same thread continues
    assert first["thread_id"] == again["thread_id"] and first["mine"] and first["sender"] == "anna"
    thread_id = first["thread_id"]
    reply = answer(client, b, thread_id, "Yes, Monday works.")
    assert reply["thread_id"] == thread_id
    assert write(client, b, "anna", "See you!")["thread_id"] == thread_id  # either side, one thread per pair
    seen = client.get(f"{API}/messages/threads/{thread_id}", headers=b).json
    assert [m["body"] for m in seen["messages"]] == [
        "Hello Bert, can you help with our <b>statutes</b>?",
        "Also: are you free on Monday?",
        "Yes, Monday works.",
        "See you!",
    ]
    assert [m["mine"] for m in seen["messages"]] == [False, False, True, True]
    assert seen["other"] == {"handle": "anna", "display_name": "Anna", "status": "active"}
    for outsider in (c, k):  # another member, a coordinator: there is no such thread for them
        r = client.get(f"{API}/messages/threads/{thread_id}", headers=outsider)
        assert r.status_code == 404 and r.json["error"]["code"] == "thread_not_found"
        r = client.post(f"{API}/messages/threads/{thread_id}/messages", headers=outsider, json={"body": "hi"})
        assert r.status_code == 404
        r = client.post(f"{API}/messages/threads/{thread_id}/report", headers=outsider, json={"reason": "x"})
        assert r.status_code == 404
        assert client.get(f"{API}/messages/threads", headers=outsider).json["threads"] == []


def test_the_list_shows_unread_threads_first_with_counts(client, people):
    (_a, a), (_b, b), (_c, c) = people["anna"], people["bert"], people["carol"]
    with_bert = write(client, a, "bert")["thread_id"]
    with_carol = write(client, a, "carol")["thread_id"]
    answer(client, b, with_bert, "one")
    answer(client, b, with_bert, "two")
    answer(client, c, with_carol, "three")  # the latest, but...
    threads = client.get(f"{API}/messages/threads", headers=a).json["threads"]
    assert [(t["id"], t["unread"]) for t in threads] == [(with_carol, 1), (with_bert, 2)]
    r = client.post(f"{API}/messages/threads/{with_carol}/read", headers=a)
    assert r.status_code == 200 and r.json["unread"] is False
    threads = client.get(f"{API}/messages/threads", headers=a).json["threads"]
    assert [(t["id"], t["unread"]) for t in threads] == [(with_bert, 2), (with_carol, 0)]  # ...unread come first
    assert threads[1]["last_message"] == "three" and threads[1]["last_from_me"] is False


def test_the_thread_list_and_the_messages_come_in_pages(client, people):
    (_a, a), (_b, b) = people["anna"], people["bert"]
    thread_id = write(client, a, "bert", "m0")["thread_id"]
    for n in range(1, messages.PAGE + 5):
        answer(client, a if n % 2 else b, thread_id, f"m{n}")
    page = client.get(f"{API}/messages/threads/{thread_id}", headers=b).json
    assert len(page["messages"]) == messages.PAGE and page["messages"][-1]["body"] == f"m{messages.PAGE + 4}"
    older = client.get(f"{API}/messages/threads/{thread_id}", headers=b, query_string={"before": page["older_cursor"]})
    assert [m["body"] for m in older.json["messages"]] == [f"m{n}" for n in range(5)]
    assert older.json["older_cursor"] == ""


def test_a_message_is_plain_text_of_limited_length(app, client, people):
    (_a, a) = people["anna"]
    r = client.post(f"{API}/messages/threads", headers=a, json={"to": "bert", "body": "x" * (messages.MAX_BODY + 1)})
    assert r.status_code == 422 and r.json["error"]["code"] == "too_long"
    r = client.post(f"{API}/messages/threads", headers=a, json={"to": "bert", "body": "   "})
    assert r.status_code == 422 and r.json["error"]["code"] == "missing_field"
    r = client.post(f"{API}/messages/threads", headers=a, json={"to": "anna", "body": "me"})
    assert r.status_code == 422 and r.json["error"]["code"] == "own_address"
    r = client.post(f"{API}/messages/threads", headers=a, json={"to": "nobody", "body": "hi"})
    assert r.status_code == 404 and r.json["error"]["code"] == "member_not_found"
    thread_id = write(client, a, "bert", '<script>alert("x")</script>\nline two')["thread_id"]
    web = app.test_client()
    login(web, "bert@example.org")
    html = web.get(f"/messages/{thread_id}").get_data(as_text=True)
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;\nline two" in html and "<script>alert" not in html


def test_only_active_members_send_and_receive(client, make_member, token_for, people):
    (_a, a) = people["anna"]
    pending = make_member("pete", approve=False)
    r = client.post(f"{API}/messages/threads", headers=token_for(pending), json={"to": "anna", "body": "hi"})
    assert r.status_code == 403 and r.json["error"]["code"] == "account_pending"
    r = client.post(f"{API}/messages/threads", headers=a, json={"to": "pete", "body": "hi"})
    assert r.status_code == 404
    thread_id = write(client, a, "carol")["thread_id"]
    assert client.post(f"{API}/me/close", headers=people["carol"][1]).status_code == 200
    r = client.post(f"{API}/messages/threads/{thread_id}/messages", headers=a, json={"body": "still there?"})
    assert r.status_code == 409 and r.json["error"]["code"] == "recipient_not_active"
    other = client.get(f"{API}/messages/threads/{thread_id}", headers=a).json["other"]
    assert other["status"] == "closed" and other["display_name"].startswith("Former member")


def refused_unchanged(ctx, call, status: int, code: str):
    before = db_digest(ctx, exclude=set())
    response = call()
    assert (response.status_code, response.json["error"]["code"]) == (status, code), response.json
    after = db_digest(ctx, exclude=set())
    assert after == before, changed_tables(before, after)
    return response


def test_rate_limits_refuse_and_change_nothing(app, client, ctx, clock, make_member, token_for):
    ctx.settings = ctx.settings.replace(message_threads_per_day=2, messages_per_hour=4)
    sender = token_for(make_member("sender"))
    for handle in ("r1", "r2", "r3"):
        make_member(handle)
    write(client, sender, "r1")
    clock.advance(10 * 60)
    thread_id = write(client, sender, "r2")["thread_id"]
    r = refused_unchanged(
        ctx, lambda: client.post(f"{API}/messages/threads", headers=sender, json={"to": "r3", "body": "x"}), 429,
        "too_many_new_threads",
    )  # fmt: skip
    assert r.headers["Retry-After"] == str(24 * 3600 - 10 * 60 + 1)  # when the first thread leaves the window
    assert "24 hours" in r.json["error"]["message"]
    answer(client, sender, thread_id, "a reply still goes")  # replies do not count as new threads
    write(client, sender, "r1")  # nor does writing again in an existing thread: 4 messages this hour
    r = refused_unchanged(
        ctx, lambda: client.post(f"{API}/messages/threads/{thread_id}/messages", headers=sender, json={"body": "5"}),
        429, "too_many_messages",
    )  # fmt: skip
    assert int(r.headers["Retry-After"]) == 3600 - 10 * 60 + 1  # the first message leaves the hour then
    clock.advance(3600)  # the first two messages left the hour
    answer(client, sender, thread_id, "later")
    clock.advance(24 * 3600)
    write(client, sender, "r3")
    # the web form refuses the same way: a flash with the code, nothing changed
    web = app.test_client()
    login(web, "sender@example.org")
    ctx.settings = ctx.settings.replace(messages_per_hour=1)
    token = csrf(web, f"/messages/{thread_id}")
    before = db_digest(ctx, exclude=set())
    page = web.post(f"/messages/{thread_id}", data={"body": "too many", "csrf_token": token}, follow_redirects=True)
    assert 'data-code="too_many_messages"' in page.get_data(as_text=True)
    assert db_digest(ctx, exclude=set()) == before


def test_blocking_stops_messages_both_ways_until_unblocked(client, ctx, people):
    (_a, a), (_b, b) = people["anna"], people["bert"]
    thread_id = write(client, a, "bert")["thread_id"]
    r = client.post(f"{API}/members/anna/block", headers=b)
    assert r.status_code == 200 and r.json == {"handle": "anna", "blocked": True}
    assert client.post(f"{API}/members/anna/block", headers=b).status_code == 200  # twice: the same
    refused_unchanged(
        ctx, lambda: client.post(f"{API}/messages/threads/{thread_id}/messages", headers=a, json={"body": "?"}), 403,
        "messages_blocked",
    )  # fmt: skip
    refused_unchanged(
        ctx, lambda: client.post(f"{API}/messages/threads", headers=a, json={"to": "bert", "body": "?"}), 403,
        "messages_blocked",
    )  # fmt: skip
    refused_unchanged(
        ctx, lambda: client.post(f"{API}/messages/threads/{thread_id}/messages", headers=b, json={"body": "!"}), 409,
        "you_blocked_member",
    )  # fmt: skip
    assert [x["handle"] for x in client.get(f"{API}/me/blocks", headers=b).json["blocked"]] == ["anna"]
    assert client.get(f"{API}/messages/threads/{thread_id}", headers=b).json["you_blocked"] is True
    r = client.post(f"{API}/members/bert/block", headers=b)
    assert r.status_code == 422 and r.json["error"]["code"] == "own_address"
    assert client.post(f"{API}/members/anna/unblock", headers=b).json == {"handle": "anna", "blocked": False}
    answer(client, a, thread_id, "Sorry about that.")


def test_reports_reach_coordinators_with_the_reported_messages_only(client, ctx, people):
    (_a, a), (_b, b), (_c, c), (_k, k) = (people[h] for h in ("anna", "bert", "carol", "coord"))
    thread_id = write(client, a, "bert", "Nice to meet you.")["thread_id"]
    rude = answer(client, b, thread_id, "Buy my pills!!!")
    answer(client, a, thread_id, "Please stop.")
    r = client.post(
        f"{API}/messages/threads/{thread_id}/report", headers=a, json={"message_id": rude["id"], "reason": "spam"}
    )
    assert r.status_code == 201 and r.json["status"] == "open" and r.json["message_id"] == rude["id"]
    report_id = r.json["id"]
    r = client.post(
        f"{API}/messages/threads/{thread_id}/report", headers=a, json={"message_id": rude["id"], "reason": "x"}
    )
    assert r.status_code == 409 and r.json["error"]["code"] == "already_reported"
    mine = client.get(f"{API}/messages/threads/{thread_id}", headers=a).json["messages"][0]["id"]
    r = client.post(f"{API}/messages/threads/{thread_id}/report", headers=a, json={"message_id": mine, "reason": "x"})
    assert r.status_code == 409 and r.json["error"]["code"] == "own_message"
    whole = client.post(f"{API}/messages/threads/{thread_id}/report", headers=a, json={"reason": "harassment"})
    assert whole.status_code == 201 and whole.json["message_id"] is None
    answer(client, b, thread_id, "after the report")

    for member in (a, b, c):
        r = client.get(f"{API}/coordinator/message-reports", headers=member)
        assert r.status_code == 403 and r.json["error"]["code"] == "coordinator_only"
    reports = client.get(f"{API}/coordinator/message-reports", headers=k).json["reports"]
    assert [(x["id"], x["reason"]) for x in reports] == [(report_id, "spam"), (whole.json["id"], "harassment")]
    assert [m["body"] for m in reports[0]["messages"]] == ["Buy my pills!!!"]
    assert [m["body"] for m in reports[1]["messages"]] == ["Buy my pills!!!"]  # bert's, up to the report
    assert reports[0]["reporter"]["handle"] == "anna" and reports[0]["reported"]["handle"] == "bert"
    with ctx.db.read() as s:
        notes = s.scalars(select(Notification).where(Notification.kind == "message_reported")).all()
    assert [n.member_id for n in notes] == [people["coord"][0].id] * 2 and notes[0].params["reason"] == "spam"

    r = client.post(f"{API}/coordinator/message-reports/{report_id}/handle", headers=a, json={"note": "x"})
    assert r.status_code == 403
    r = client.post(f"{API}/coordinator/message-reports/{report_id}/handle", headers=k, json={"note": "Warned bert."})
    assert r.status_code == 200 and r.json["status"] == "handled" and r.json["handled_by"] == "coord"
    r = client.post(f"{API}/coordinator/message-reports/{report_id}/handle", headers=k, json={})
    assert r.status_code == 409 and r.json["error"]["code"] == "illegal_transition"
    assert [x["id"] for x in client.get(f"{API}/coordinator/message-reports", headers=k).json["reports"]] == [
        whole.json["id"]
    ]
    handled = client.get(f"{API}/coordinator/message-reports?status=handled", headers=k).json["reports"]
    assert [(x["id"], x["note"]) for x in handled] == [(report_id, "Warned bert.")]
    with ctx.db.read() as s:  # in the audit trail once, by the coordinator, about the reported member
        lines = s.scalars(select(AuditEntry).where(AuditEntry.action == "message_report_handled")).all()
    assert [(x.actor_id, x.subject, x.detail) for x in lines] == [
        (people["coord"][0].id, f"member:{people['bert'][0].id}", {"report": report_id, "note": "Warned bert."})
    ]
    # the coordinator still cannot open the thread itself
    assert client.get(f"{API}/messages/threads/{thread_id}", headers=k).status_code == 404


def test_a_new_message_notifies_the_recipient_in_their_language_once_until_read(client, ctx, people):
    (_a, a), (bert, b) = people["anna"], people["bert"]
    thread_id = write(client, a, "bert", "Hallo Bert!")["thread_id"]
    write(client, a, "bert", "Noch etwas.")  # bert has not read the first: no second notification
    with ctx.db.read() as s:
        notes = s.scalars(select(Notification).where(Notification.member_id == bert.id)).all()
    assert [(n.kind, n.params) for n in notes] == [
        ("message_received", {"sender": "Anna", "sender_handle": "anna", "thread_id": thread_id})
    ]
    sent = mails(ctx)
    [(name, mail)] = [(n, m) for n, m in sent.items() if "message_received" in n]
    assert mail["To"] == "bert@example.org" and mail["Content-Language"] == "de"
    assert f"/messages/{thread_id}" in mail.get_content() and "Hallo Bert" not in mail.get_content()
    assert (ctx.settings.data_path / "mail" / name).exists()
    client.post(f"{API}/messages/threads/{thread_id}/read", headers=b)
    write(client, a, "bert", "Third.")  # read since: notified again
    with ctx.db.read() as s:
        assert s.scalars(select(Notification).where(Notification.member_id == bert.id)).all()[1].kind == (
            "message_received"
        )


def test_the_web_pages_from_profile_to_reply(app, ctx, people):
    anna, bert = app.test_client(), app.test_client()
    login(anna, "anna@example.org")
    login(bert, "bert@example.org")
    profile = bert.get("/members/anna").get_data(as_text=True)
    assert 'href="/messages/to/anna"' in profile
    compose = bert.get("/messages/to/anna").get_data(as_text=True)
    assert 'action="/messages/to/anna"' in compose
    r = bert.post("/messages/to/anna", data={"body": "Hi Anna", "csrf_token": csrf(bert, "/messages/to/anna")})
    assert r.status_code == 303
    thread_id = int(r.headers["Location"].rsplit("/", 1)[1])
    assert bert.get("/messages/to/anna").headers["Location"].endswith(f"/messages/{thread_id}#reply")
    dashboard = anna.get("/dashboard").get_data(as_text=True)
    assert '<span class="badge" title="unread">1</span>' in dashboard and "1 conversation has unread" in dashboard
    inbox = anna.get("/messages").get_data(as_text=True)
    assert f'href="/messages/{thread_id}"' in inbox and "Hi Anna" in inbox and "1 unread" in inbox
    page = anna.get(f"/messages/{thread_id}").get_data(as_text=True)
    assert "Hi Anna" in page and 'id="reply"' in page
    assert '<span class="badge"' not in anna.get("/dashboard").get_data(as_text=True)  # read now
    r = anna.post(
        f"/messages/{thread_id}", data={"body": "Hi Bert", "csrf_token": csrf(anna, f"/messages/{thread_id}")}
    )
    assert r.status_code == 303
    assert "Hi Bert" in bert.get(f"/messages/{thread_id}").get_data(as_text=True)
    carol = app.test_client()
    login(carol, "carol@example.org")
    assert carol.get(f"/messages/{thread_id}").status_code == 404
    r = carol.post(f"/messages/{thread_id}", data={"body": "x", "csrf_token": csrf(carol, "/messages")})
    assert r.status_code == 303  # refused as a flash: there is no such conversation for her
    assert 'data-code="thread_not_found"' in carol.get("/messages").get_data(as_text=True)
    with ctx.db.read() as s:
        assert [m.body for m in s.scalars(select(Message).order_by(Message.id))] == ["Hi Anna", "Hi Bert"]


def test_report_and_handle_through_the_pages(app, ctx, people):
    anna, bert, coord = app.test_client(), app.test_client(), app.test_client()
    for web, who in ((anna, "anna"), (bert, "bert"), (coord, "coord")):
        login(web, f"{who}@example.org")
    bert.post("/messages/to/anna", data={"body": "Rude words", "csrf_token": csrf(bert, "/messages/to/anna")})
    with ctx.db.read() as s:
        thread = s.scalars(select(MessageThread)).one()
        message = s.scalars(select(Message)).one()
    page = anna.get(f"/messages/{thread.id}").get_data(as_text=True)
    token = csrf(anna, f"/messages/{thread.id}")
    r = anna.post(
        f"/messages/{thread.id}/report", data={"message_id": str(message.id), "reason": "rude", "csrf_token": token}
    )
    assert r.status_code == 303 and 'name="message_id"' in page
    overview = coord.get("/coordinator/").get_data(as_text=True)
    assert "Rude words" in overview and "Reported messages" in overview
    with ctx.db.read() as s:
        report_id = s.scalars(select(MessageReport.id)).one()
    assert "Rude words" not in anna.get("/coordinator/").get_data(as_text=True)  # members: 403 page
    r = coord.post(
        f"/coordinator/message-reports/{report_id}/handle",
        data={"note": "talked to bert", "csrf_token": csrf(coord, "/coordinator/")},
    )
    assert r.status_code == 303
    assert "Rude words" not in coord.get("/coordinator/").get_data(as_text=True)


def test_the_data_export_holds_the_members_threads(client, people):
    a = people["anna"][1]
    thread_id = write(client, a, "bert", "Export me")["thread_id"]
    client.post(f"{API}/members/carol/block", headers=a)
    export = client.get(f"{API}/me/export", headers=a).json["messages"]
    assert export["threads"][0]["thread_id"] == thread_id
    assert export["threads"][0]["messages"][0]["body"] == "Export me"
    assert [x["handle"] for x in export["blocked"]] == ["carol"]
