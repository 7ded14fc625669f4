"""JSON API for coordinators: approvals, balances, flags, the invariant and the audit trail."""

from __future__ import annotations

from flask import g, jsonify, request
from sqlalchemy.orm import Session

from .. import audit_words, labels
from ..context import node_ctx
from ..services import audit, dashboard, members
from ..tables import Member
from .base import ANY_OBJECT, DATETIME, ApiBlueprint, arr, integer, json_body, obj, only_fields, string
from .members import PROFILE, profile_json

api = ApiBlueprint("coordinator", "coordinator")
REASON = obj(reason=string(500))


def _coordinator(session: Session) -> Member:
    me = session.get_one(Member, g.member.id)
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


AUDIT_ENTRY = obj(
    id=integer(),
    at=DATETIME,
    actor_id={"type": ["integer", "null"]},
    actor={"type": ["string", "null"], "description": "the coordinator's handle; null: the operator or the node"},
    action=string(description="a stable code, such as member_approved or trust_limit_changed"),
    action_text=string(description="the action in words, in the request's language"),
    subject=string(description='what it concerns: "member:7", "peer:hu", "round:<id>", "booking:5", ...'),
    detail=ANY_OBJECT,
    detail_text=string(description="the detail in words, in the request's language"),
)
AUDIT_QUERY = {
    "action": string(40, description="only this action (a code)"),
    "actor": string(32, description=f"only this coordinator's handle, or `{audit.OPERATOR}`"),
    "from": string(10, format="date", description="from this day on, in your time zone"),
    "to": string(10, format="date", description="up to and including this day, in your time zone"),
    "before": string(16, pattern="^[0-9]{1,15}$", description="the next_before of the previous page"),
}


@api.route(
    "/coordinator/audit",
    "GET",
    "The audit trail of coordinators' and the node's actions, newest first, a page at a time",
    response=obj(("entries",), entries=arr(AUDIT_ENTRY), next_before={"type": ["integer", "null"]}),
    query=AUDIT_QUERY,
)
def get_audit():
    ctx = node_ctx()
    args = request.args
    with ctx.db.read() as session:
        _coordinator(session)
        filters = audit.filters_from(session, args)
        before = args.get("before", "")
        entries, older = audit.page(session, filters, before=int(before) if before.isdigit() else None)
    out = [
        {
            **{k: e[k] for k in ("id", "at", "actor_id", "actor", "action", "subject", "detail")},
            "action_text": labels.label(e["action"], "audit_action"),
            "detail_text": audit_words.detail_text(e),
        }
        for e in entries
    ]
    return jsonify({"entries": out, "next_before": older})
