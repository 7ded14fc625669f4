"""Reviewers' bids (interest per expertise tag) and conflicts with reviewers on peer nodes (handle@node)."""

from __future__ import annotations

import re
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from sqlmodel import col

from ..errors import ConflictError, NotFoundError, ValidationError
from ..settings import Settings
from ..tables import Bid, Member, RemoteConflict
from . import members
from .matching import BID_LEVELS
from .validate import clean_text, refuse_unknown_fields

# handle@node as pools show remote reviewers: the peer's pseudonymous handle and its node id.
REMOTE_ADDRESS = re.compile(r"([a-z0-9][a-z0-9._-]{0,63})@([a-z0-9][a-z0-9-]{0,31})")


def bids_of(session: Session, member_id: int) -> dict[str, int]:
    """The member's bids, tag -> level (tags without a bid are neutral)."""
    return dict(
        session.execute(
            select(col(Bid.tag), col(Bid.level)).where(col(Bid.member_id) == member_id).order_by(col(Bid.tag))
        )
        .tuples()
        .all()
    )


def set_bids(session: Session, settings: Settings, *, member: Member, bids: object, now: datetime) -> dict[str, int]:
    """Replace the member's bids with {tag: level}; level 0 (neutral) is the same as no bid."""
    members.require_active(member)
    if not isinstance(bids, dict):
        raise ValidationError(
            _("Please send your interests as an object of tag: level."), code="wrong_type", field="bids"
        )
    known = set(members.taxonomy(settings))
    clean: dict[str, int] = {}
    for tag, level in bids.items():
        if tag not in known:
            raise ValidationError(
                _("“%(tag)s” is not one of this node's expertise tags.", tag=tag), code="unknown_tag", field="bids"
            )
        if isinstance(level, bool) or not isinstance(level, int) or level not in BID_LEVELS:
            raise ValidationError(
                _(
                    "Please choose how much you want to review proposals on “%(tag)s”: not "
                    "interested (-1), neutral (0), interested (1) or eager (2).",
                    tag=tag,
                ),
                code="bad_bid_level",
                field="bids",
            )
        if level:
            clean[tag] = level
    session.execute(delete(Bid).where(col(Bid.member_id) == member.id))
    for tag, level in sorted(clean.items()):
        assert member.id is not None
        session.add(Bid(member_id=member.id, tag=tag, level=level, updated_at=now))
    session.flush()
    return clean


def parse_remote(value: object, settings: Settings) -> tuple[str, str]:
    """(handle, node) from 'handle@node'; a member of this node is not a remote reviewer."""
    text = clean_text(value, "remote_reviewer", 97, required=True).lower()
    match = REMOTE_ADDRESS.fullmatch(text)
    if match is None:
        raise ValidationError(
            _("Please name the reviewer abroad as handle@node, such as rev-7f3a@hu."),
            code="bad_remote_address",
            field="remote_reviewer",
        )
    if match.group(2) == settings.node_id.lower():
        raise ValidationError(
            _("That reviewer is on this node: declare an ordinary conflict of interest on your Reviews page."),
            code="not_remote",
            field="remote_reviewer",
        )
    return match.group(1), match.group(2)


def declare_remote_conflict(
    session: Session, settings: Settings, *, member: Member, data: dict, now: datetime
) -> RemoteConflict:
    """A member declares a conflict with a reviewer on a peer node."""
    members.require_active(member)
    return _record(session, settings, member, data, now, "member")


def pin_remote_conflict(
    session: Session, settings: Settings, *, coordinator: Member, data: dict, now: datetime
) -> RemoteConflict:
    """A coordinator pins a conflict between a member here and a reviewer on a peer node."""
    members.require_coordinator(coordinator)
    handle = clean_text(data.get("member_handle"), "member_handle", 64, required=True).lower()
    return _record(session, settings, members.find_by_handle(session, handle), data, now, "coordinator")


def _record(
    session: Session, settings: Settings, member: Member, data: dict, now: datetime, source: str
) -> RemoteConflict:
    refuse_unknown_fields(data, ("member_handle", "remote_reviewer", "reason"))
    handle, node = parse_remote(data.get("remote_reviewer"), settings)
    reason = clean_text(data.get("reason"), "reason", 500)
    if (
        session.scalars(
            select(RemoteConflict).where(
                col(RemoteConflict.member_id) == member.id,
                col(RemoteConflict.remote_node) == node,
                col(RemoteConflict.remote_handle) == handle,
            )
        ).first()
        is not None
    ):
        raise ConflictError(_("This conflict is already recorded."), code="conflict_exists")
    assert member.id is not None
    row = RemoteConflict(
        member_id=member.id, remote_node=node, remote_handle=handle, source=source, reason=reason, created_at=now
    )
    session.add(row)
    session.flush()
    return row


def remote_conflicts(session: Session, member: Member, *, everyone: bool = False) -> list[RemoteConflict]:
    """The member's remote conflicts (declared and pinned on them), newest first; a coordinator may ask for all."""
    stmt = select(RemoteConflict).order_by(col(RemoteConflict.id).desc())
    if everyone:
        members.require_coordinator(member)
    else:
        stmt = stmt.where(col(RemoteConflict.member_id) == member.id)
    return list(session.scalars(stmt).all())


def remove_remote_conflict(session: Session, *, member: Member, conflict_id: int) -> None:
    """A member removes a conflict they declared; a coordinator removes any."""
    row = session.get(RemoteConflict, conflict_id)
    coordinator = member.role == "coordinator" and member.status == "active"
    if row is None or not (coordinator or row.member_id == member.id):
        raise NotFoundError(_("There is no such conflict."), code="conflict_not_found")
    if not coordinator and row.source != "member":
        raise ConflictError(_("A coordinator recorded this conflict; only a coordinator can remove it."), code="pinned")
    session.delete(row)
