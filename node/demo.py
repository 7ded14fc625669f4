"""Demo data for one node: a small, believable cast with profiles, advice, payments and a full review cycle.

The people come from demo_cast.json, keyed by node id (or by country for another id).
Seeding is one write transaction through the public services, so it happens completely
or not at all; a node that already has any demo email is left as it is, which makes
`sifnet node seed-demo` safe to run on every start.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from .clock import iso
from .context import NodeContext, node_ctx
from .services import advice, advice_listings, funding, ledger, members, messages, proposals, reviews
from .tables import Member

DEMO_PASSWORD = "sif-demo-2026"
CAST_FILE = Path(__file__).with_name("demo_cast.json")
COUNTRY_CAST = {"BE": "be-vl", "NL": "nl", "AT": "at", "IT": "it", "HU": "hu"}


def load_cast(node_id: str, country: str) -> dict:
    """The cast for this node id, else the one of its country, else the Flemish one."""
    casts = json.loads(CAST_FILE.read_text(encoding="utf-8"))
    key = node_id if node_id in casts else COUNTRY_CAST.get(country.upper(), "be-vl")
    return casts[key]


def demo_email(handle: str, node_id: str) -> str:
    return f"{handle}@{node_id}.example"


def seed_demo(app: Flask) -> list[str]:
    """Add the demo cast once; return printable lines with every demo login."""
    ctx = node_ctx(app)
    cast = load_cast(ctx.settings.node_id, ctx.settings.country)
    emails = [demo_email(m["handle"], ctx.settings.node_id) for m in cast["members"]]
    with ctx.db.read() as s:
        seeded = _any_member(s, emails)
    if not seeded:
        with ctx.db.write() as s:
            seeded = _any_member(s, emails)  # another process may have seeded meanwhile
            if not seeded:
                _seed(s, ctx, cast)
    with ctx.db.read() as s:
        return _report(s, ctx.settings, emails, added=not seeded)


def _any_member(session: Session, emails: list[str]) -> bool:
    return session.scalars(select(col(Member.id)).where(col(Member.email).in_(emails))).first() is not None


def _seed(s, ctx: NodeContext, cast: dict) -> None:
    """Everything in one transaction: people, listings, a session, payments, proposals, a review and funding leads."""
    now, settings = ctx.now(), ctx.settings
    coordinator = _coordinator(s, ctx, now)
    people = {m["handle"]: _member(s, ctx, coordinator, m, now) for m in cast["members"]}
    listings = [
        advice_listings.create_listing(
            s,
            settings,
            member=people[item["who"]],
            now=now,
            data={
                "kind": item["kind"],
                "title": item["title"],
                "rate": item["rate"],
                "description": item["description"],
                "tags": _tags(settings, item),
                "network_wide": item.get("network_wide", False),
            },
        )
        for item in cast["listings"]
    ]
    plan = cast["session"]
    receiver = people[plan["receiver"]]
    booking = advice.book(
        s,
        settings,
        member=receiver,
        listing_id=listings[plan["listing"]].id,
        now=now,
        data={"hours": plan["hours"], "note": plan["note"]},
    )
    assert booking.id is not None
    advice.confirm(s, member=receiver, booking_id=booking.id, now=now)
    _thank_you(s, settings, receiver, people[cast["listings"][plan["listing"]]["who"]], listings[plan["listing"]], now)
    for n, pay in enumerate(cast["payments"]):
        ledger.transfer(
            s,
            payer=people[pay["from"]],
            payee=people[pay["to"]],
            amount=pay["amount"],
            memo=pay["memo"],
            now=now,
            ref=f"demo:{settings.node_id}:payment:{n}",
        )
    for n, item in enumerate(cast["proposals"]):
        data = {k: item[k] for k in proposals.PROPOSAL_FIELDS if k != "tags"}
        proposal = proposals.create_proposal(
            s, settings, author=people[item["who"]], now=now, data={**data, "tags": _tags(settings, item)}
        )
        if n == 0:
            _review_cycle(s, ctx, proposal, people[item["who"]], cast["review"], now)
    for item in cast.get("funding", []):
        _funding_lead(s, ctx, coordinator, people[item["who"]], item, now)


def _funding_lead(s, ctx: NodeContext, coordinator: Member, poster: Member, item: dict, now) -> None:
    """A lead the member posts (its deadline some days ahead); the coordinator shares the network-wide ones."""
    data = {k: item[k] for k in ("title", "url", "countries", "description")}
    data["topics"] = _tags(ctx.settings, item, "topics")
    data["deadline"] = iso(now + timedelta(days=item["deadline_days"]))
    lead = funding.post_lead(s, ctx.settings, member=poster, data=data, zone="UTC", now=now)
    if item["network_wide"]:
        assert lead.id is not None
        funding.set_network_wide(s, member=coordinator, lead_id=lead.id, network_wide=True, now=now)


def _coordinator(s, ctx: NodeContext, now) -> Member:
    """The node's first active coordinator; a demo one when the node has none yet."""
    found = s.scalars(
        select(Member).where(col(Member.role) == "coordinator", col(Member.status) == "active").order_by(col(Member.id))
    ).first()
    if found is not None:
        return found
    return members.create_coordinator(
        s,
        ctx.settings,
        email=demo_email("coordinator", ctx.settings.node_id),
        password=DEMO_PASSWORD,
        display_name=f"{ctx.settings.node_name} coordinator",
        handle=None,
        now=now,
        hasher=ctx.hasher,
    )


def _member(s, ctx: NodeContext, coordinator: Member, person: dict, now) -> Member:
    """Sign a demo person up, approve them (welcome grant) and fill in their profile."""
    settings = ctx.settings
    taken = s.scalars(select(col(Member.id)).where(col(Member.handle) == person["handle"])).first() is not None
    member = members.sign_up(
        s,
        settings,
        email=demo_email(person["handle"], settings.node_id),
        password=DEMO_PASSWORD,
        display_name=person["name"],
        handle=None if taken else person["handle"],
        now=now,
        hasher=ctx.hasher,
    )
    if member.status == "pending":
        assert member.id is not None
        members.approve(s, settings, coordinator=coordinator, member_id=member.id, reason="demo member", now=now)
    profile: dict[str, Any] = {
        "organisation": person["organisation"],
        "bio": person["bio"],
        "expertise": _tags(settings, person, "expertise"),
        "languages": [lang for lang in person["languages"] if lang in members.LANGUAGES],
        "is_reviewer": person["reviewer"] > 0,
        "pool_consent": person["pool"],
        # The demo people chose to be in the member directory, with their organisation and bio.
        "in_directory": True,
        "show_organisation": True,
        "show_bio": True,
    }
    if person["reviewer"] > 0:
        profile["review_capacity"] = person["reviewer"]
    members.update_profile(s, settings, member=member, data=profile, now=now)
    return member


def _thank_you(s, settings, receiver: Member, provider: Member, listing, now) -> None:
    """A conversation after the advice session: the receiver thanks the provider, who answers."""
    first = messages.write_to(
        s,
        settings,
        sender=receiver,
        handle=provider.handle,
        body=f"Thank you for the session on “{listing.title}”! Could we plan a follow-up next month?",
        now=now,
    )
    messages.reply(
        s,
        settings,
        sender=provider,
        thread_id=first.thread_id,
        body="Gladly. Send me two dates that suit you and I will bring our checklist.",
        now=now,
    )


def _tags(settings, item: dict, key: str = "tags") -> list[str]:
    """The item's tags this node's taxonomy knows (a node may configure its own), at least one."""
    known = members.taxonomy(settings)
    return [t for t in item[key] if t in known] or [known[0]]


def _review_cycle(s, ctx: NodeContext, proposal, author: Member, review: dict, now) -> None:
    """The first invited reviewer accepts and reviews (paid from escrow); the author rates the review."""
    invitations = proposals.invitations_of(s, proposal.id)
    if not invitations or invitations[0].reviewer_id is None:
        return  # nobody to invite on this node: the proposal simply waits for reviewers
    first = invitations[0]
    reviewer = s.get(Member, first.reviewer_id)
    assert first.id is not None
    reviews.accept(s, ctx.settings, member=reviewer, invitation_id=first.id, now=now)
    written = reviews.submit_review(
        s,
        ctx.settings,
        member=reviewer,
        invitation_id=first.id,
        now=now,
        data={k: review[k] for k in reviews.REVIEW_FIELDS},
    )
    assert written.id is not None
    reviews.rate_review(s, member=author, review_id=written.id, helpfulness=review["helpfulness"], now=now)


def _report(s, settings, emails: list[str], *, added: bool) -> list[str]:
    """One line per demo login, coordinator first."""
    rows = s.scalars(
        select(Member)
        .where(col(Member.email).in_([demo_email("coordinator", settings.node_id), *emails]))
        .order_by(col(Member.id))
    ).all()
    people = sum(1 for m in rows if m.role != "coordinator")
    state = "added" if added else "already present, nothing added"
    lines = [
        f"demo data on {settings.node_id} ({settings.node_name}): {people} members {state}",
        f"password of every demo login: {DEMO_PASSWORD}",
    ]
    for m in rows:
        role = "coordinator" if m.role == "coordinator" else "reviewer" if m.is_reviewer else "member"
        who = f"{m.display_name}, {m.organisation}" if m.organisation else m.display_name
        address = f"{m.handle}@{settings.node_id}"
        lines.append(f"  {m.email:<30} {role:<12} {address:<18} {who}")
    return lines
