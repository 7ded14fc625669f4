"""JSON API for coordinators: approvals, balances, flags, the invariant and the audit trail."""

from __future__ import annotations

from flask import g, jsonify

from ..context import node_ctx
from ..services import dashboard, members
from ..tables import Member
from .base import ANY_OBJECT, ApiBlueprint, arr, json_body, obj, only_fields, string
from .members import PROFILE, profile_json

api = ApiBlueprint("coordinator", "coordinator")
REASON = obj(reason=string(500))


def _coordinator(session) -> Member:
    me = session.get(Member, g.member.id)
    members.require_coordinator(me)
    return me


@api.route(
    "/coordinator/dashboard",
    "GET",
    "Balances, flagged accounts, totals and the live ledger invariant",
    response=ANY_OBJECT,
)
def get_dashboard():
    ctx = node_ctx()
    with ctx.db.read() as session:
        _coordinator(session)
        return jsonify(dashboard.overview(session, ctx.settings, ctx.now()))


@api.route(
    "/coordinator/members/<int:member_id>/approve",
    "POST",
    "Approve a member (issues the welcome grant)",
    body=REASON,
    response=PROFILE,
)
def approve_member(member_id: int):
    data = only_fields(json_body(required=False), ("reason",))
    ctx = node_ctx()
    with ctx.db.write() as session:
        member = members.approve(
            session,
            ctx.settings,
            coordinator=_coordinator(session),
            member_id=member_id,
            reason=data.get("reason", ""),
            now=ctx.now(),
        )
        out = profile_json(session, member)
    return jsonify(out)


@api.route(
    "/coordinator/members/<int:member_id>/refuse",
    "POST",
    "Refuse a pending member, with a reason",
    body=obj(("reason",), reason=string(500)),
    response=PROFILE,
)
def refuse_member(member_id: int):
    data = only_fields(json_body(), ("reason",))
    ctx = node_ctx()
    with ctx.db.write() as session:
        member = members.refuse(
            session, coordinator=_coordinator(session), member_id=member_id, reason=data.get("reason"), now=ctx.now()
        )
        out = profile_json(session, member)
    return jsonify(out)


@api.route(
    "/coordinator/members/<int:member_id>/role",
    "POST",
    "Make a member a coordinator or back",
    body=obj(("role",), role=string(16, enum=["member", "coordinator"])),
    response=PROFILE,
)
def set_role(member_id: int):
    data = only_fields(json_body(), ("role",))
    ctx = node_ctx()
    with ctx.db.write() as session:
        member = members.set_role(
            session, coordinator=_coordinator(session), member_id=member_id, role=data.get("role"), now=ctx.now()
        )
        out = profile_json(session, member)
    return jsonify(out)


@api.route(
    "/coordinator/audit",
    "GET",
    "The audit trail of approvals, refusals and role changes",
    response={"type": "object", "properties": {"entries": arr(ANY_OBJECT)}},
)
def get_audit():
    ctx = node_ctx()
    with ctx.db.read() as session:
        _coordinator(session)
        return jsonify({"entries": dashboard.audit_trail(session)})
