"""Clearing rounds for coordinators: the JSON API, the settlement page and the history both show."""

from __future__ import annotations

import json

from flask import current_app, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from node import i18n
from node.api.base import ANY_OBJECT, BOOL, arr, integer, json_body, obj, only_fields, string
from node.context import node_ctx
from node.errors import NotFoundError, ValidationError
from node.services import members
from node.tables import Member
from node.web.pages import coordinator_required, current_member, form_action
from protocol import Envelope, ProtocolError, check_signature, parse_time

from . import settlement_round as rounds
from .api import NODE_ID, api
from .labels import ROUND_STATE
from .settlement import load, node_keyring, owed_to
from .tables import Peer, SettlementPart, SettlementRound
from .web import bp

SETTLEMENT = {
    "type": "object",
    "properties": {
        "round_id": string(),
        "coordinator": string(),
        "state": string(),
        "participation": string(),
        "participants": arr(string()),
        "before": arr(ANY_OBJECT),
        "after": arr(ANY_OBJECT),
        "total_before": integer(),
        "total_after": integer(),
        "cleared": integer(),
        "changes": ANY_OBJECT,
        "positions": arr(ANY_OBJECT),
        "excluded": arr(ANY_OBJECT),
        "reason": string(),
        "certificate": ANY_OBJECT,
    },
}


def _fed():
    return current_app.extensions["sifnet_federation"]


def history(session, fed, round_id: str | None = None) -> list[dict]:
    """Rounds this node ran or took part in, newest first: debts before and after, our changes, the certificate."""
    ran = {r.round_id: r for r in session.scalars(_where(select(SettlementRound), SettlementRound, round_id)).all()}
    part = {p.round_id: p for p in session.scalars(_where(select(SettlementPart), SettlementPart, round_id)).all()}
    entries = [_entry(fed, ran.get(rid), part.get(rid)) for rid in set(ran) | set(part)]
    return sorted(entries, key=lambda e: (e["created_at"], e["round_id"]), reverse=True)


def _where(stmt, table, round_id: str | None):
    return stmt if round_id is None else stmt.where(table.round_id == round_id)


def _entry(fed, ran: SettlementRound | None, part: SettlementPart | None) -> dict:
    proposal_text = (ran.proposal if ran else "") or (part.proposal if part else "")
    proposal = load(proposal_text).body if proposal_text else {}
    plan = json.loads(ran.plan) if ran else {}
    before, after = proposal.get("before", plan.get("before", [])), proposal.get("after", plan.get("after", []))
    certificate = (ran.certificate if ran else "") or (part.certificate if part else "")
    total_before, total_after = sum(d["amount"] for d in before), sum(d["amount"] for d in after)
    owed_before, owed_after = owed_to(fed.node_id, before), owed_to(fed.node_id, after)
    ours = (
        [
            {"peer": q, "before": owed_before.get(q, 0), "after": owed_after.get(q, 0)}
            for q in sorted(set(owed_before) | set(owed_after))
        ]
        if part
        else []
    )
    return {
        "round_id": (ran or part).round_id,
        "coordinator": fed.node_id if ran else part.coordinator,
        "state": ran.state if ran else part.state,
        "participation": part.state if part else None,
        "participants": json.loads(ran.participants) if ran else proposal.get("participants", []),
        "deadline": ran.deadline if ran else part.deadline,
        "before": before,
        "after": after,
        "total_before": total_before,
        "total_after": total_after,
        "cleared": total_before - total_after,
        "changes": json.loads(part.changes) if part else {},
        "positions": ours,
        "excluded": json.loads(ran.excluded) if ran else [],
        "delivered": json.loads(ran.delivered) if ran else {},
        "reason": "; ".join(r for r in ((ran.reason if ran else ""), (part.reason if part else "")) if r),
        "certificate": json.loads(certificate) if certificate else None,
        "created_at": (ran or part).created_at,
        "finished_at": ran.finished_at if ran else part.applied_at,
    }


def signatures(session, fed, certificate: dict) -> list[dict]:
    """Who signed a stored certificate, and whether each signature verifies with the keys this node holds.

    `result` says it in English (the API's text); `verdict` is its code (verifies, no_key, invalid) for the page.
    """
    keyring = node_keyring(session, fed)
    known = {info.node_id for info in keyring.values()}
    envs = [certificate, certificate["body"]["proposal"], *certificate["body"]["acceptances"]]
    out = []
    for raw in envs:
        env = Envelope.from_dict(raw)
        if env.from_ not in known:
            verdict, result = "no_key", "no key here (not a peer)"
        else:
            try:
                check_signature(env, keyring, parse_time(env.created))
                verdict, result = "verifies", "verifies"
            except ProtocolError as exc:
                verdict, result = "invalid", f"does not verify: {exc.code}"
        out.append(
            {"type": env.type, "signer": env.from_, "created": env.created, "result": result, "verdict": verdict}
        )
    return out


def _coordinator(session) -> Member:
    me = session.get(Member, g.member.id)
    members.require_coordinator(me)
    return me


def _one(session, fed, round_id: str) -> dict:
    found = history(session, fed, round_id)
    if not found:
        raise NotFoundError(_("This node knows no clearing round %(round)s.", round=round_id), code="round_not_found")
    return found[0]


@api.route(
    "/federation/settlements",
    "GET",
    "Clearing rounds this node ran or took part in, newest first",
    response={"type": "object", "properties": {"settlements": arr(SETTLEMENT)}},
)
def list_settlements():
    ctx = node_ctx()
    with ctx.db.read() as session:
        _coordinator(session)
        return jsonify({"settlements": history(session, _fed())})


@api.route(
    "/federation/settlements/<round_id>",
    "GET",
    "One clearing round, with its certificate verbatim and whose signatures verify here",
    response=SETTLEMENT,
)
def get_settlement(round_id: str):
    ctx = node_ctx()
    with ctx.db.read() as session:
        _coordinator(session)
        out = _one(session, _fed(), round_id)
        out["signatures"] = signatures(session, _fed(), out["certificate"]) if out["certificate"] else []
        ran = session.get(SettlementRound, round_id)
        if ran is not None:  # what the coordinator collected, verbatim, for an audit
            out["statements"], out["answers"] = json.loads(ran.statements), json.loads(ran.acceptances)
            out["proposal"] = json.loads(ran.proposal) if ran.proposal else None
        return jsonify(out)


@api.route(
    "/federation/settlements",
    "POST",
    "Start a clearing round (default: this node and every active peer); propose=false stops at a preview",
    status=201,
    response=SETTLEMENT,
    body=obj((), participants=arr(NODE_ID, 64), deadline_seconds=integer(10, 86400), propose=BOOL),
)
def start_settlement():
    data = only_fields(json_body(required=False), ("participants", "deadline_seconds", "propose"))
    ctx = node_ctx()
    with ctx.db.read() as session:
        me = _coordinator(session)
    propose = data.get("propose", True)
    if not isinstance(propose, bool):
        raise ValidationError(
            _("Whether to propose the round is true or false."), code="invalid_propose", field="propose"
        )
    round_id = rounds.start_round(
        _fed(),
        participants=data.get("participants"),
        deadline_seconds=data.get("deadline_seconds"),
        propose=propose,
        actor_id=me.id,
    )
    with ctx.db.read() as session:
        return jsonify(_one(session, _fed(), round_id)), 201


@api.route(
    "/federation/settlements/<round_id>/propose", "POST", "Send a previewed round's proposal now", response=SETTLEMENT
)
def propose_settlement(round_id: str):
    return _act(round_id, lambda fed, _me: rounds.propose(fed, round_id))


@api.route(
    "/federation/settlements/<round_id>/abandon",
    "POST",
    "Abandon a round still waiting for answers",
    body=obj((), reason=string(500)),
    response=SETTLEMENT,
)
def abandon_settlement(round_id: str):
    data = only_fields(json_body(required=False), ("reason",))
    reason = data.get("reason", "")
    if not isinstance(reason, str):
        raise ValidationError(_("The reason must be text."), code="invalid_reason", field="reason")
    return _act(round_id, lambda fed, me: rounds.abandon(fed, round_id, reason[:500], actor_id=me))


def _act(round_id: str, action):
    ctx = node_ctx()
    with ctx.db.read() as session:
        me = _coordinator(session)
    action(_fed(), me.id)
    with ctx.db.read() as session:
        return jsonify(_one(session, _fed(), round_id))


@bp.get("/coordinator/settlements")
@coordinator_required
def settlements_page():
    ctx = node_ctx()
    with ctx.db.read() as s:
        entries = history(s, _fed())[:50]
        peers = [p.node_id for p in s.scalars(select(Peer).where(Peer.status == "active").order_by(Peer.node_id))]
        for entry in entries:
            entry["signatures"] = signatures(s, _fed(), entry["certificate"]) if entry["certificate"] else []
    return render_template("federation_settlement.html", entries=entries, peers=peers, own=ctx.settings.node_id)


@bp.post("/coordinator/settlements")
@coordinator_required
@form_action("federation.settlements_page")
def settlements_action():
    form, fed = request.form, _fed()
    action, round_id = form.get("action"), form.get("round_id", "")
    if action == "start":
        chosen = form.getlist("participant")
        round_id = rounds.start_round(
            fed, participants=chosen, propose=not form.get("preview"), actor_id=current_member().id
        )
        flash(_("Round %(round)s started.", round=round_id), "info")
    elif action == "propose":
        rounds.propose(fed, round_id)
    elif action == "abandon":
        rounds.abandon(fed, round_id, form.get("reason", "")[:500], actor_id=current_member().id)
    else:
        raise ValidationError(
            _("This form asked for an action the page does not know."), code="bad_choice", field="action"
        )
    with fed.ctx.db.read() as s:
        entry = _one(s, fed, round_id)
    flash(
        _(
            "Round %(round)s: %(state)s, %(amount)s cleared.",
            round=round_id,
            state=ROUND_STATE(entry["state"]),
            amount=i18n.sif_filter(entry["cleared"]),
        ),
        "info",
    )
    if entry["reason"]:
        flash(entry["reason"], "info")  # what the round recorded, as it was written (the nodes' own words)
    return redirect(url_for("federation.settlements_page") + f"#round-{round_id}", 303)
