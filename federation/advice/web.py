"""Pages and JSON API of advice sessions across a border: a party's actions, a coordinator's settling of a dispute.

The sessions page, the dashboard and the coordinators' disputes panel are the node's own
(node/web/advice.py); this module adds the bookings abroad to them and takes their forms.
"""

from __future__ import annotations

from flask import Blueprint, Flask, abort, flash, g, jsonify, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from federation.advice import booker_side
from federation.advice import feedback as remote_feedback
from federation.advice import sessions as advice_abroad
from federation.state import federation_of
from node import i18n, labels
from node.api.advice import BOOKING, FEEDBACK, FEEDBACK_IN, RESOLVE
from node.api.base import BOOL, ApiBlueprint, arr, json_body, obj, only_fields, string
from node.context import node_ctx
from node.services import members
from node.tables import Member
from node.web.advice import DISPUTE_SOURCES, DONE, SESSION_SOURCES
from node.web.pages import coordinator_required, form_action, login_required

api = ApiBlueprint("advice_abroad_api", "advice")
# Not under /federation/: these are browser forms, and that prefix is exempt from the CSRF check.
bp = Blueprint("advice_abroad", __name__)
NULL_FEEDBACK = {**FEEDBACK, "type": ["object", "null"]}
FEEDBACK_PAIR = obj(("can_give", "given", "received"), can_give=BOOL, given=NULL_FEEDBACK, received=NULL_FEEDBACK)
ACTIONS = ("accept", "decline", "confirm", "claim", "dispute", "cancel")


def _me_api(session: Session) -> Member:
    return members.get_member(session, g.member.id)


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
                s,
                federation_of(),
                member=me,
                session_id=session_id,
                action=action,
                reason=data.get("reason"),
                now=ctx.now(),
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
    "/advice/abroad/<int:session_id>/feedback",
    "POST",
    "Feedback on a session abroad that took place (either party, once): a rating of 1 to 5 and a short comment;"
    " the booker's reaches the adviser's node and counts in their rating there",
    body=FEEDBACK_IN,
    response=FEEDBACK,
    status=201,
)
def give_feedback_abroad(session_id: int):
    data = only_fields(json_body(), ("rating", "comment"))
    ctx = node_ctx()
    with ctx.db.write() as s:
        row = remote_feedback.give(
            s, federation_of(), member=_me_api(s), session_id=session_id, data=data, now=ctx.now()
        )
        out = {"rating": row.rating, "comment": row.comment, "created_at": row.created_at}
    return jsonify(out), 201


@api.route(
    "/advice/abroad/<int:session_id>/feedback",
    "GET",
    "The feedback on one of your sessions abroad: yours, the other party's, and whether you can still give it",
    response=FEEDBACK_PAIR,
)
def feedback_abroad(session_id: int):
    ctx = node_ctx()
    with ctx.db.read() as s:
        row = advice_abroad.own_session(s, _me_api(s), session_id)
        return jsonify(remote_feedback.of_session(s, row))


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
        row = booker_side.resolve(
            s,
            federation_of(),
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
        me = members.get_member(s, g.member.id)
        row = advice_abroad.act(
            s,
            federation_of(),
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
        booker_side.resolve(
            s,
            federation_of(),
            coordinator=members.get_member(s, g.member.id),
            session_id=session_id,
            outcome=outcome,
            note=form.get("note"),
            provider_amount=share,
            now=ctx.now(),
        )
    flash(_("The session abroad is settled: %(outcome)s.", outcome=labels.label(outcome, "advice_outcome")), "info")
    return redirect(url_for("coordinator.overview"), 303)


@bp.post("/advice/abroad/<int:session_id>/feedback")
@login_required
@form_action("advice.sessions")
def feedback(session_id: int):
    ctx = node_ctx()
    data = {"rating": _int(request.form.get("rating")), "comment": request.form.get("comment", "")}
    with ctx.db.write() as s:
        remote_feedback.give(
            s,
            federation_of(),
            member=members.get_member(s, g.member.id),
            session_id=session_id,
            data=data,
            now=ctx.now(),
        )
    flash(_("Thank you: your feedback is saved."), "info")
    return redirect(url_for("advice.sessions"), 303)


def _sessions(session: Session, member: Member, now, *, open_only: bool) -> list[dict]:
    """The sessions page's and dashboard's bookings abroad, with their feedback."""
    rows = advice_abroad.rows_of(session, member, open_only=open_only)
    return [
        {**advice_abroad.session_view(session, row, member, now), "feedback": remote_feedback.of_session(session, row)}
        for row in rows
    ]


def register(app: Flask) -> None:
    """Routes and pages; the node's session and dispute lists get the bookings abroad (once per process)."""
    app.register_blueprint(api.blueprint, url_prefix="/api/v1")
    app.register_blueprint(bp)
    for sources, fn in ((SESSION_SOURCES, _sessions), (DISPUTE_SOURCES, advice_abroad.disputes)):
        if fn not in sources:
            sources.append(fn)
