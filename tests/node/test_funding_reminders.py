"""Deadline reminders to the followers of a topic: once per member and lead, however often and wherever it runs."""

from __future__ import annotations

import threading
from datetime import timedelta
from email import message_from_bytes, policy

from sqlalchemy import select

from federation.state import federation_of
from node import notices
from node.app import create_app
from node.services import notify, topics
from node.tables import FundingLead, FundingReminder, Member, Notification
from tests.conftest import START

DAY = timedelta(days=1)


def lead(ctx, title: str, deadline, tags, *, origin: str = "", status: str = "open") -> int:
    with ctx.db.write() as s:
        row = FundingLead(
            ref=f"f-{title.lower().replace(' ', '-')}",
            origin_node=origin,
            origin_country="HU" if origin else "",
            title=title,
            url="https://example.org/call",
            deadline=deadline,
            topics=tags,
            status=status,
            created_at=START,
            updated_at=START,
        )
        s.add(row)
        s.flush()
        return row.id


def follow(ctx, member, *tags: str) -> None:
    with ctx.db.write() as s:
        topics.follow_topics(s, ctx.settings, member=s.get(Member, member.id), topics=list(tags), now=ctx.now())


def reminded(ctx) -> list[tuple[int, str]]:
    """(member, English subject) of every reminder notification."""
    with ctx.db.read() as s:
        rows = s.scalars(select(Notification).where(Notification.kind == topics.REMINDER_KIND)).all()
        return sorted(
            (n.member_id, notices.text_of(n, language="en", time_zone="UTC", settings=ctx.settings)[0]) for n in rows
        )


def test_followers_are_reminded_once_before_the_deadline(ctx, make_member, clock):
    anna, bert, carl = make_member("anna"), make_member("bert"), make_member("carl")
    follow(ctx, anna, "food", "energy")
    follow(ctx, bert, "culture")
    follow(ctx, carl, "food")
    lead(ctx, "Food fund", START + 5 * DAY, ["food", "energy"])  # within the 7 days: anna (once) and carl
    lead(ctx, "Culture call", START + 30 * DAY, ["culture"])  # too far ahead yet
    lead(ctx, "Energy grant", START + 2 * DAY, ["energy"], origin="hu")  # from a peer: reminded too
    lead(ctx, "Old food call", START - DAY, ["food"])  # passed
    lead(ctx, "Withdrawn food call", START + DAY, ["food"], status="withdrawn")
    with ctx.db.write() as s:
        s.get(Member, carl.id).status = "closed"

    assert topics.remind_funding_deadlines(ctx) == 2
    assert reminded(ctx) == [(anna.id, "Deadline soon: Energy grant"), (anna.id, "Deadline soon: Food fund")]
    assert topics.remind_funding_deadlines(ctx) == 0  # the sweep again: nothing twice
    clock.advance(25 * 86400)  # the culture call is 5 days away now
    assert topics.remind_funding_deadlines(ctx) == 1
    assert reminded(ctx)[-1] == (bert.id, "Deadline soon: Culture call")
    assert len(reminded(ctx)) == 3


def test_the_reminder_is_mailed_in_the_members_language(ctx, make_member):
    anna = make_member("anna", language="de", time_zone="Europe/Berlin")
    follow(ctx, anna, "food")
    lead(ctx, "Lebensmittelfonds", START + 3 * DAY, ["food"], origin="hu")
    topics.remind_funding_deadlines(ctx)
    assert notify.deliver_notifications(ctx) == 1
    (mail,) = (ctx.settings.data_path / "mail").glob("*-funding_deadline.eml")
    message = message_from_bytes(mail.read_bytes(), policy=policy.default)
    text = message.get_content()  # decoded: the raw file is quoted-printable and may break a line anywhere
    assert message["Content-Language"] == "de" and "Lebensmittelfonds" in text
    assert "05.03.2026, 10:00" in text  # the deadline in her zone and language
    assert "Ungarn" in text  # shared by the network in Hungary


def test_no_reminders_when_the_setting_is_zero(app, ctx, make_member):
    anna = make_member("anna")
    follow(ctx, anna, "food")
    lead(ctx, "Food fund", START + DAY, ["food"])
    settings = ctx.settings
    ctx.settings = settings.replace(funding_reminder_days=0)
    try:
        assert topics.remind_funding_deadlines(ctx) == 0
    finally:
        ctx.settings = settings
    assert reminded(ctx) == []


def test_two_processes_running_the_sweep_at_once_remind_once(app, ctx, make_member, clock):
    """A second app on the same database stands for a second process (the worker beside `sifnet node run`)."""
    followers = [make_member(f"member{n}") for n in range(6)]
    for member in followers:
        follow(ctx, member, "food")
    for n in range(4):
        lead(ctx, f"Food call {n}", START + (n + 1) * DAY, ["food"])
    other = create_app(dict(ctx.settings.values), clock=clock, start_delivery=False)
    try:
        contexts = [ctx, other.extensions["sifnet"]]
        barrier, counts = threading.Barrier(2), []

        def run(c):
            barrier.wait()
            counts.append(topics.remind_funding_deadlines(c))

        threads = [threading.Thread(target=run, args=(c,)) for c in contexts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        federation_of(other).stop()
        other.extensions["sifnet"].db.dispose()
    assert sorted(counts) == [0, 24]
    assert len(reminded(ctx)) == 24
    with ctx.db.read() as s:
        assert len(s.scalars(select(FundingReminder)).all()) == 24
