"""Coordinator pages for federation: peers (add, confirm, trust limit, suspend, resume) and disputes."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from node.context import node_ctx
from node.errors import ValidationError
from node.web.member import DASHBOARD_PANELS
from node.web.pages import coordinator_required, form_action

from . import peers as peers_service
from .checkpoints import exchange_checkpoint, resolve_dispute
from .tables import Dispute
from .transfers import transfers_of

bp = Blueprint("federation", __name__, template_folder="templates")


def _fed():
    return current_app.extensions["sifnet_federation"]


@bp.get("/coordinator/peers")
@coordinator_required
def peers_page():
    ctx = node_ctx()
    with ctx.db.read() as s:
        peers = peers_service.peer_states(s)
        disputes = s.query(Dispute).order_by(Dispute.status.desc(), Dispute.id.desc()).limit(50).all()
        own = _fed().identity.current_key().public_key
    return render_template("federation_peers.html", peers=peers, disputes=disputes, own_key=own)


@bp.post("/coordinator/peers")
@coordinator_required
@form_action("federation.peers_page")
def peers_action():
    ctx = node_ctx()
    form, action, node_id = request.form, request.form.get("action"), request.form.get("node_id", "")
    if action == "add":
        doc = peers_service.fetch_document(form.get("url"), now=ctx.now(), max_skew=_fed().max_skew)
        with ctx.db.write() as s:
            peers_service.add_peer(s, doc, own_node_id=ctx.settings.node_id, now=ctx.now())
        flash(f"Added {doc.node_id}. Read its fingerprint {doc.fingerprint} back with its coordinator, then confirm.", "info")
    elif action == "check":
        result = exchange_checkpoint(_fed(), node_id)
        flash(f"Checkpoint with {node_id}: {'agrees' if result.get('agrees') else result}", "info")
    else:
        with ctx.db.write() as s:
            _change_peer(s, ctx, action, node_id, form)
        flash(f"{node_id}: {action} done.", "info")
    return redirect(url_for("federation.peers_page"), 303)


def _change_peer(s, ctx, action: str, node_id: str, form) -> None:
    limit_raw = form.get("trust_limit", "").strip()
    limit = int(limit_raw) if limit_raw.isdigit() else (ctx.settings.default_trust_limit if not limit_raw else limit_raw)
    if action == "confirm":
        peers_service.confirm_peer(s, node_id=node_id, fingerprint=form.get("fingerprint"), trust_limit=limit, now=ctx.now())
    elif action == "trust":
        peers_service.set_trust_limit(s, node_id=node_id, limit=limit, now=ctx.now())
    elif action == "suspend":
        peers_service.suspend_peer(s, node_id=node_id, reason=form.get("reason"), now=ctx.now())
    elif action == "resume":
        peers_service.resume_peer(s, node_id=node_id, now=ctx.now())
    else:
        raise ValidationError("unknown action", code="bad_choice", field="action")


@bp.post("/coordinator/disputes/<int:dispute_id>/resolve")
@coordinator_required
@form_action("federation.peers_page")
def resolve(dispute_id: int):
    ctx = node_ctx()
    with ctx.db.write() as s:
        resolve_dispute(s, dispute_id, request.form.get("resolution"), ctx.now())
    flash("Dispute marked resolved.", "info")
    return redirect(url_for("federation.peers_page"), 303)


def cross_border_panel(session, member):
    rows = transfers_of(session, member.id)[:10]
    return ("Cross-border payments", "federation_panel.html", {"xfers": rows})


if cross_border_panel not in DASHBOARD_PANELS:
    DASHBOARD_PANELS.append(cross_border_panel)
