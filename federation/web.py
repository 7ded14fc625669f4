"""Coordinator pages for federation: peers (add, confirm, trust limit, suspend, resume) and disputes."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

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
        flash(
            _(
                "Added %(node)s. Read its fingerprint %(fingerprint)s back with its coordinator, then confirm.",
                node=doc.node_id,
                fingerprint=doc.fingerprint,
            ),
            "info",
        )
    elif action == "check":
        flash(_checkpoint_outcome(node_id, exchange_checkpoint(_fed(), node_id)), "info")
    else:
        with ctx.db.write() as s:
            _change_peer(s, ctx, action, node_id, form)
        flash(_done(action, node_id), "info")
    return redirect(url_for("federation.peers_page"), 303)


def _checkpoint_outcome(node_id: str, result: dict) -> str:
    """What a checkpoint exchange found, in a sentence (the differences themselves are the peers' shared record)."""
    if result.get("agrees"):
        return _("The checkpoint with %(node)s agrees.", node=node_id)
    if "problems" in result:
        return _(
            "The checkpoint with %(node)s differs: %(problems)s. A dispute is open.",
            node=node_id,
            problems="; ".join(result["problems"]),
        )
    error = result.get("error") or {}
    return _(
        "%(node)s did not take the checkpoint: %(reason)s",
        node=node_id,
        reason=error.get("message") or error.get("code") or "?",
    )


def _done(action: str, node_id: str) -> str:
    if action == "confirm":
        return _("%(node)s is confirmed: its key is pinned.", node=node_id)
    if action == "trust":
        return _("The trust limit for %(node)s is saved.", node=node_id)
    if action == "suspend":
        return _("%(node)s is suspended.", node=node_id)
    return _("%(node)s is active again.", node=node_id)


def _change_peer(s, ctx, action: str, node_id: str, form) -> None:
    limit_raw = form.get("trust_limit", "").strip()
    limit = (
        int(limit_raw) if limit_raw.isdigit() else (ctx.settings.default_trust_limit if not limit_raw else limit_raw)
    )
    if action == "confirm":
        peers_service.confirm_peer(
            s, node_id=node_id, fingerprint=form.get("fingerprint"), trust_limit=limit, now=ctx.now()
        )
    elif action == "trust":
        peers_service.set_trust_limit(s, node_id=node_id, limit=limit, now=ctx.now())
    elif action == "suspend":
        peers_service.suspend_peer(s, node_id=node_id, reason=form.get("reason"), now=ctx.now())
    elif action == "resume":
        peers_service.resume_peer(s, node_id=node_id, now=ctx.now())
    else:
        raise ValidationError(
            _("This form asked for an action the page does not know."), code="bad_choice", field="action"
        )


@bp.post("/coordinator/disputes/<int:dispute_id>/resolve")
@coordinator_required
@form_action("federation.peers_page")
def resolve(dispute_id: int):
    ctx = node_ctx()
    with ctx.db.write() as s:
        resolve_dispute(s, dispute_id, request.form.get("resolution"), ctx.now())
    flash(_("The dispute is marked resolved."), "info")
    return redirect(url_for("federation.peers_page"), 303)


def cross_border_panel(session, member):
    rows = transfers_of(session, member.id)[:10]
    return (_("Cross-border payments"), "federation_panel.html", {"xfers": rows})


if cross_border_panel not in DASHBOARD_PANELS:
    DASHBOARD_PANELS.append(cross_border_panel)
