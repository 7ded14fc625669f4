"""Pages and JSON API of cross-border reviews: a member's invitations from peers; coordinators' view per peer."""

from __future__ import annotations

import re

from flask import Blueprint, Flask, current_app, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from node.api.base import ANY_OBJECT, DATETIME, ApiBlueprint, arr, integer, json_body, obj, only_fields, string
from node.context import node_ctx
from node.services import members, reviews
from node.tables import Member
from node.web.coordinator import COORDINATOR_PANELS
from node.web.member import DASHBOARD_PANELS
from node.web.pages import coordinator_required, current_member, form_action, login_required
from node.web.reviews import REVIEW_PAGE_SECTIONS

from . import incoming_reviews as incoming
from . import pools
from .remote_reviews import peer_review_figures
from .tables import Peer

api = ApiBlueprint("federation_reviews", "federation")
# Not under /federation/: these are browser forms, and that prefix is exempt from the CSRF check.
bp = Blueprint("remote_reviews", __name__, template_folder="templates")


def nullable(schema: dict) -> dict:
    return {**schema, "type": [schema["type"], "null"]}


SCORE = integer(1, 5)
INCOMING = obj(
    ("id", "peer", "title", "summary", "tags", "language", "bounty", "status", "accept_by", "due_by"),
    id=integer(),
    peer=string(),
    peer_name=string(),
    peer_country=string(),
    proposal_ref=string(),
    title=string(),
    summary=string(),
    tags=arr(string()),
    language=string(),
    bounty=integer(1),
    status=string(enum=sorted(incoming.INCOMING.transitions)),
    accept_by=DATETIME,
    due_by=DATETIME,
    responded_at=nullable(DATETIME),
    decline_reason=string(),
    end_reason=string(),
    received_at=DATETIME,
    payment=nullable(string()),
    full_text=string(),
    stage=string(),
    review=obj(
        ("shared_value", "social_transformation", "impact", "confidence", "feedback"),
        shared_value=SCORE,
        social_transformation=SCORE,
        impact=SCORE,
        confidence=SCORE,
        feedback=string(),
        submitted_at=DATETIME,
        helpfulness=nullable(SCORE),
        rated_at=nullable(DATETIME),
    ),
)
REVIEW_BODY = obj(
    reviews.REVIEW_FIELDS,
    shared_value=SCORE,
    social_transformation=SCORE,
    impact=SCORE,
    confidence=SCORE,
    feedback=string(20000),
)


def _fed():
    return current_app.extensions["sifnet_federation"]


def _me_api(session) -> Member:
    return session.get(Member, g.member.id)


@api.route(
    "/remote-invitations",
    "GET",
    "Your invitations to review proposals of other national nodes",
    response=obj(("invitations",), invitations=arr(INCOMING)),
)
def list_incoming():
    ctx = node_ctx()
    with ctx.db.read() as s:
        rows = incoming.incoming_of(s, _me_api(s))
        return jsonify({"invitations": [incoming.incoming_view(s, r) for r in rows]})


@api.route(
    "/remote-invitations/<int:incoming_id>",
    "GET",
    "One invitation from another node; the full text once you accepted and the proposer's node shared it",
    response=INCOMING,
)
def get_incoming(incoming_id: int):
    ctx = node_ctx()
    with ctx.db.read() as s:
        return jsonify(incoming.incoming_view(s, incoming.own_incoming(s, _me_api(s), incoming_id)))


@api.route(
    "/remote-invitations/<int:incoming_id>/accept", "POST", "Accept an invitation from another node", response=INCOMING
)
def accept_incoming(incoming_id: int):
    ctx = node_ctx()
    with ctx.db.write() as s:
        row = incoming.accept(s, _fed(), member=_me_api(s), incoming_id=incoming_id, now=ctx.now())
        out = incoming.incoming_view(s, row)
    return jsonify(out)


@api.route(
    "/remote-invitations/<int:incoming_id>/decline",
    "POST",
    "Decline an invitation from another node",
    body=obj(reason=string(280)),
    response=INCOMING,
)
def decline_incoming(incoming_id: int):
    data = only_fields(json_body(required=False), ("reason",))
    ctx = node_ctx()
    with ctx.db.write() as s:
        row = incoming.decline(
            s, _fed(), member=_me_api(s), incoming_id=incoming_id, reason=data.get("reason"), now=ctx.now()
        )
        out = incoming.incoming_view(s, row)
    return jsonify(out)


@api.route(
    "/remote-invitations/<int:incoming_id>/review",
    "POST",
    "Submit your review; the proposer's node pays the bounty across the border",
    body=REVIEW_BODY,
    response=INCOMING,
    status=201,
)
def submit_incoming(incoming_id: int):
    data = only_fields(json_body(), reviews.REVIEW_FIELDS)
    ctx = node_ctx()
    with ctx.db.write() as s:
        row = incoming.submit(s, _fed(), member=_me_api(s), incoming_id=incoming_id, data=data, now=ctx.now())
        out = incoming.incoming_view(s, row)
    return jsonify(out), 201


def _coordinator(session) -> Member:
    me = session.get(Member, g.member.id)
    members.require_coordinator(me)
    return me


@api.route(
    "/federation/reviews",
    "GET",
    "Per peer: reviews given and received, bounties, open invitations both ways, pool sizes (coordinators)",
    response=obj(("peers",), peers=arr(ANY_OBJECT)),
)
def peer_reviews():
    ctx = node_ctx()
    with ctx.db.read() as s:
        _coordinator(s)
        return jsonify({"peers": peer_review_figures(s)})


@api.route(
    "/federation/pools",
    "GET",
    "The reviewer pool this node shares, and each peer's shared pool (coordinators)",
    response=obj(("own", "peers"), own=arr(ANY_OBJECT), peers=arr(ANY_OBJECT)),
)
def reviewer_pools():
    ctx = node_ctx()
    with ctx.db.read() as s:
        _coordinator(s)
        own = list(pools.reviewer_records(s, ctx.settings).values())
        peers = [
            {"peer": p.node_id, "country": p.country, "status": p.status, "reviewers": pools.peer_pool(s, p.node_id)}
            for p in s.query(Peer).filter(Peer.status != "pending").order_by(Peer.node_id).all()
        ]
        return jsonify({"own": own, "peers": peers})


# --- pages -------------------------------------------------------------------------------------------------


def _me(s) -> Member:
    return s.get(Member, current_member().id)


def _form_int(name: str) -> object:
    raw = request.form.get(name, "").strip()
    return int(raw) if re.fullmatch(r"-?\d{1,16}", raw) else raw


@bp.get("/reviews/abroad/<int:incoming_id>")
@login_required
def incoming_page(incoming_id: int):
    ctx = node_ctx()
    with ctx.db.read() as s:
        view = incoming.incoming_view(s, incoming.own_incoming(s, _me(s), incoming_id))
    return render_template("remote_invitation.html", i=view)


@bp.get("/reviews/abroad/<int:incoming_id>/text")
@login_required
def text_arrived(incoming_id: int):
    """Whether the full text has arrived (the invitation page's script asks, then shows it)."""
    ctx = node_ctx()
    with ctx.db.read() as s:
        row = incoming.own_incoming(s, _me(s), incoming_id)
        return jsonify({"ready": row.full_text is not None and row.status in ("accepted", "submitted")})


@bp.post("/reviews/abroad/<int:incoming_id>/<any(accept, decline):action>")
@login_required
@form_action("reviews.invitations")
def answer(incoming_id: int, action: str):
    ctx = node_ctx()
    with ctx.db.write() as s:
        if action == "accept":
            incoming.accept(s, _fed(), member=_me(s), incoming_id=incoming_id, now=ctx.now())
        else:
            incoming.decline(
                s, _fed(), member=_me(s), incoming_id=incoming_id, reason=request.form.get("reason", ""), now=ctx.now()
            )
    flash(
        _("Invitation accepted; the full text is on its way from the proposer's node.")
        if action == "accept"
        else _("Invitation declined."),
        "info",
    )
    return redirect(url_for("remote_reviews.incoming_page", incoming_id=incoming_id), 303)


@bp.post("/reviews/abroad/<int:incoming_id>/review")
@login_required
@form_action("reviews.invitations")
def submit_review(incoming_id: int):
    ctx = node_ctx()
    data = {name: _form_int(name) for name in (*reviews.TENETS, "confidence")}
    data["feedback"] = request.form.get("feedback", "")
    with ctx.db.write() as s:
        incoming.submit(s, _fed(), member=_me(s), incoming_id=incoming_id, data=data, now=ctx.now())
    flash(_("Review sent; the bounty arrives once the proposer's node has received it."), "info")
    return redirect(url_for("remote_reviews.incoming_page", incoming_id=incoming_id), 303)


@bp.get("/coordinator/peers/reviews")
@coordinator_required
def peers_reviews_page():
    ctx = node_ctx()
    with ctx.db.read() as s:
        figures = peer_review_figures(s)
        own = list(pools.reviewer_records(s, ctx.settings).values())
    return render_template("remote_reviews_peers.html", peers=figures, own=own)


# --- panels --------------------------------------------------------------------------------------------------


def _open_incoming(s, member: Member) -> list[dict]:
    return [incoming.incoming_view(s, r) for r in incoming.incoming_of(s, member) if r.status in pools.INCOMING_OPEN]


def dashboard_panel(s, member: Member):
    """Open invitations from other nodes, on the member's dashboard."""
    return (
        _("Review invitations from other countries"),
        "remote_invitations_panel.html",
        {"rows": _open_incoming(s, member), "compact": True},
    )


def reviews_section(s, member: Member):
    """Every invitation from other nodes, on the Reviews page."""
    return (
        _("Invitations from other countries"),
        "remote_invitations_panel.html",
        {"rows": [incoming.incoming_view(s, r) for r in incoming.incoming_of(s, member)], "compact": False},
    )


def coordinator_panel(s):
    """Cross-border reviews per peer, in brief, with a link to the full page."""
    return _("Cross-border reviews"), "remote_reviews_coordinator_panel.html", {"peers": peer_review_figures(s)}


def register(app: Flask) -> None:
    """Routes, pages and panels; panels are added once per process."""
    app.register_blueprint(api.blueprint, url_prefix="/api/v1")
    app.register_blueprint(bp)
    for panels, fn in (
        (DASHBOARD_PANELS, dashboard_panel),
        (REVIEW_PAGE_SECTIONS, reviews_section),
        (COORDINATOR_PANELS, coordinator_panel),
    ):
        if fn not in panels:
            panels.append(fn)
