"""Topics members follow (expertise tags), and the reminders before the deadlines of funding leads on them.

A follower is reminded once per lead, `funding_reminder_days` before its deadline, with a
notification that is also mailed (in their language). Once means once: the reminder's row
(member, origin node, lead ref) is unique and written in the same transaction as the notification,
so a sweep that runs twice, or in two processes, reminds nobody twice; a lead a peer sends again
keeps its origin and ref, so it is not a new lead either.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from sqlmodel import col

from ..context import NodeContext
from ..errors import ValidationError
from ..settings import Settings
from ..tables import FundingLead, FundingReminder, Member, TopicFollow
from . import members
from .notify import notify
from .validate import REQUIRED, clean_list, refusal

REMINDER_KIND = "funding_deadline"


def followed_topics(session: Session, member_id: int) -> list[str]:
    stmt = select(col(TopicFollow.tag)).where(col(TopicFollow.member_id) == member_id).order_by(col(TopicFollow.tag))
    return list(session.scalars(stmt).all())


def follow_topics(session: Session, settings: Settings, *, member: Member, topics: object, now: datetime) -> list[str]:
    """Replace the topics a member follows with ``topics`` (tags of the node's taxonomy); returns them."""
    members.require_active(member)
    if topics is None:
        raise ValidationError(refusal("topics", None, REQUIRED), code="missing_field", field="topics")
    taxonomy = members.taxonomy(settings)
    wanted = clean_list(topics, "topics", allowed=taxonomy, max_items=len(taxonomy))
    session.execute(
        delete(TopicFollow).where(col(TopicFollow.member_id) == member.id, col(TopicFollow.tag).not_in(wanted))
    )
    assert member.id is not None
    have = set(followed_topics(session, member.id))
    for tag in wanted:
        if tag not in have:
            session.add(TopicFollow(member_id=member.id, tag=tag, created_at=now))
    member.last_active_at = now
    return sorted(wanted)


def remind_funding_deadlines(ctx: NodeContext) -> int:
    """Sweep: remind the followers of each open lead whose deadline is within funding_reminder_days."""
    days = ctx.settings.funding_reminder_days
    if days <= 0:
        return 0
    now = ctx.now()
    with ctx.db.write() as session:
        return send_reminders(session, now=now, until=now + timedelta(days=days))


def send_reminders(session: Session, *, now: datetime, until: datetime) -> int:
    """Remind every active follower of an open lead closing after ``now`` and by ``until``, once; returns how many."""
    leads = session.scalars(
        select(FundingLead)
        .where(col(FundingLead.status) == "open", col(FundingLead.deadline) > now, col(FundingLead.deadline) <= until)
        .order_by(col(FundingLead.deadline), col(FundingLead.id))
    ).all()
    tags = {tag for lead in leads for tag in lead.topics}
    if not tags:
        return 0
    followers: dict[str, set[int]] = {}
    for member_id, tag in session.execute(
        select(col(TopicFollow.member_id), col(TopicFollow.tag))
        .join(Member, col(Member.id) == col(TopicFollow.member_id))
        .where(col(Member.status) == "active", col(TopicFollow.tag).in_(tags))
    ).all():
        followers.setdefault(tag, set()).add(member_id)
    done = set(
        session.execute(
            select(
                col(FundingReminder.member_id), col(FundingReminder.origin_node), col(FundingReminder.lead_ref)
            ).where(col(FundingReminder.lead_ref).in_({lead.ref for lead in leads}))
        )
        .tuples()
        .all()
    )
    sent = 0
    for lead in leads:
        for member_id in sorted(set().union(*(followers.get(tag, set()) for tag in lead.topics))):
            if (member_id, lead.origin_node, lead.ref) in done:
                continue
            session.add(
                FundingReminder(member_id=member_id, origin_node=lead.origin_node, lead_ref=lead.ref, sent_at=now)
            )
            notify(session, member_id=member_id, kind=REMINDER_KIND, params=_params(lead), now=now)
            done.add((member_id, lead.origin_node, lead.ref))
            sent += 1
    return sent


def _params(lead: FundingLead) -> dict:
    return {
        "title": lead.title,
        "deadline": lead.deadline,
        "url": lead.url,
        "lead_id": lead.id,
        "country": lead.origin_country,
    }
