"""Pages and JSON API of advice sessions across a border: a party's actions, a coordinator's settling of a dispute.

The sessions page, the dashboard and the coordinators' disputes panel are the node's own
(node/web/advice.py); this module adds the bookings abroad to them and takes their forms.
"""

from __future__ import annotations

from flask import Blueprint, Flask, abort, current_app, flash, g, jsonify, redirect, request, url_for
from flask_babel import gettext as _

from node import i18n, labels
from node.api.advice import BOOKING, RESOLVE
from node.api.base import ApiBlueprint, arr, json_body, obj, only_fields, string
from node.context import node_ctx
from node.services import members
from node.tables import Member
from node.web.advice import DISPUTE_SOURCES, DONE, SESSION_SOURCES
from node.web.pages import coordinator_required, current_member, form_action, login_required

from . import advice_abroad, remote_advice

api = ApiBlueprint("advice_abroad_api", "advice")
# Not under /federation/: these are browser forms, and that prefix is exempt from the CSRF check.
bp = Blueprint("advice_abroad", __name__)
ACTIONS = ("accept", "decline", "confirm", "claim", "dispute", "cancel")


def _fed():
    return current_app.extensions["sifnet_federation"]


def _me_api(session) -> Member:
    return session.get(Member, g.member.id)


@api.route(
    "/advice/abroad",
    "GET",
    "Your advice sessions across a border, as booker or adviser, newest first",
    response=obj(("bookings",), bookings=arr(BOOKING)),
)
def list_abroad():
    ctx = node_ctx()
    with ctx.db.read() as s:
        return jsonify({"bookings": advice_abroad.sessions_of(s, _me_api(s), ctx.now())})


@api.route("/advice/abroad/<int:session_id>", "GET", "One of your advice sessions across a border", response=BOOKING)
def get_abroad(session_id: int):
    ctx = node_ctx()
    with ctx.db.read() as s:
        me = _me_api(s)
        return jsonify(advice_abroad.session_view(s, advice_abroad.own_session(s, me, session_id), me, ctx.now()))


# What each action does, for the API's documentation: one operation per action, like the local sessions'.
ACTION_SUMMARIES = {
    "accept": "As adviser: accept a booking from abroad (your name goes to the booker)",
    "decline": "As adviser: decline a booking from abroad, with a reason (the booker's node refunds them)",
    "claim": "As adviser: claim the session took place (not before its planned time); the booker's node pays after"
    " its dispute period",
    "cancel": "Cancel before a claim (either party); the booker is refunded at home",
    "confirm": "As booker: confirm the session took place (not before its planned time); the adviser is paid"
    " across the border",
    "dispute": "As booker: dispute the adviser's claim before its deadline, with a reason; a coordinator here settles",
}


def _action_view(action: str):
    def view(session_id: int):
        data = only_fields(json_body(required=False), ("reason",))
        ctx = node_ctx()
        with ctx.db.write() as s:
            me = _me_api(s)
            row = advice_abroad.act(
                s, _fed(), member=me, session_id=session_id, action=action, reason=data.get("reason"), now=ctx.now()
            )
            out = advice_abroad.session_view(s, row, me, ctx.now())
        return jsonify(out)

    view.__name__ = f"{action}_abroad"
    body = obj(("reason",), reason=string(1000, minLength=1)) if action in ("decline", "dispute") else None
    body = body or (obj(reason=string(900)) if action == "cancel" else None)
    return api.route(
        f"/advice/abroad/<int:session_id>/{action}", "POST", ACTION_SUMMARIES[action], body=body, response=BOOKING
    )(view)


for _action in ACTIONS:
    _action_view(_action)


@api.route(
    "/coordinator/disputes/abroad",
    "GET",
    "Disputed sessions that members of this node booked abroad, waiting for a coordinator here",
    response=obj(("bookings",), bookings=arr(BOOKING)),
)
def disputes_abroad():
    ctx = node_ctx()
    with ctx.db.read() as s:
        me = _me_api(s)
        members.require_coordinator(me)
        return jsonify({"bookings": advice_abroad.disputes(s, me, ctx.now())})


@api.route(
    "/coordinator/disputes/abroad/<int:session_id>/resolve",
    "POST",
    "Settle a disputed session booked abroad: pay the adviser (across the border), refund the booker, or split",
    body=RESOLVE,
    response=BOOKING,
)
def resolve_abroad(session_id: int):
    data = only_fields(json_body(), ("outcome", "note", "provider_amount"))
    ctx = node_ctx()
    with ctx.db.write() as s:
        me = _me_api(s)
        row = remote_advice.resolve(
            s,
            _fed(),
            coordinator=me,
            session_id=session_id,
            outcome=data.get("outcome"),
            note=data.get("note"),
            provider_amount=data.get("provider_amount"),
            now=ctx.now(),
        )
        out = advice_abroad.session_view(s, row, me, ctx.now())
    return jsonify(out)


# --- pages -------------------------------------------------------------------------------------------------


def _int(text: str | None) -> object:
    text = (text or "").strip()
    return int(text) if text.isdigit() and len(text) < 16 else text


@bp.post("/advice/abroad/<int:session_id>/<action>")
@login_required
@form_action("advice.sessions")
def act(session_id: int, action: str):
    if action not in ACTIONS:
        abort(404)
    ctx = node_ctx()
    with ctx.db.write() as s:
        me = s.get(Member, current_member().id)
        row = advice_abroad.act(
            s,
            _fed(),
            member=me,
            session_id=session_id,
            action=action,
            reason=request.form.get("reason", ""),
            now=ctx.now(),
        )
        amount, dispute_by, side = row.amount, row.dispute_by, row.side
    if action == "accept":
        flash(_("Booking accepted; the receiver's SIF stay in escrow until the session has taken place."), "info")
    elif action == "claim" and side == "adviser":
        flash(
            _(
                "Session claimed; unless the booker disputes it in time, their node pays you %(amount)s.",
                amount=labels.amount(amount),
            ),
            "info",
        )
    else:
        values = {"amount": labels.amount(amount), "dispute_by": i18n.datetime_filter(dispute_by)}
        flash(str(DONE[action]) % values, "info")
    return redirect(url_for("advice.sessions"), 303)


@bp.post("/coordinator/advice/abroad/<int:session_id>/resolve")
@coordinator_required
@form_action("coordinator.overview")
def resolve(session_id: int):
    ctx = node_ctx()
    form = request.form
    outcome = form.get("outcome")
    share = _int(form.get("provider_amount")) if outcome == "split" else None
    with ctx.db.write() as s:
        remote_advice.resolve(
            s,
            _fed(),
            coordinator=s.get(Member, current_member().id),
            session_id=session_id,
            outcome=outcome,
            note=form.get("note"),
            provider_amount=share,
            now=ctx.now(),
        )
    flash(_("The session abroad is settled: %(outcome)s.", outcome=labels.label(outcome, "advice_outcome")), "info")
    return redirect(url_for("coordinator.overview"), 303)


NO_FEEDBACK = {"received": None, "given": None, "can_give": False}  # feedback stays with sessions on one node


def _sessions(session, member: Member, now, *, open_only: bool) -> list[dict]:
    """The sessions page's and dashboard's bookings abroad."""
    views = advice_abroad.sessions_of(session, member, now, open_only=open_only)
    return [{**view, "feedback": NO_FEEDBACK} for view in views]


def register(app: Flask) -> None:
    """Routes and pages; the node's session and dispute lists get the bookings abroad (once per process)."""
    app.register_blueprint(api.blueprint, url_prefix="/api/v1")
    app.register_blueprint(bp)
    for sources, fn in ((SESSION_SOURCES, _sessions), (DISPUTE_SOURCES, advice_abroad.disputes)):
        if fn not in sources:
            sources.append(fn)
