"""Coordinator pages for federation: peers (add, confirm, trust limit, suspend, resume) and disputes."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from node.context import node_ctx
from node.errors import ValidationError
from node.web.member import DASHBOARD_PANELS
from node.web.pages import coordinator_required, current_member, form_action

from federation.transport import peers as peers_service
from federation.transport.checkpoints import exchange_checkpoint, resolve_dispute
from federation.tables import Dispute
from federation.payments.transfers import transfers_of

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
            peers_service.add_peer(
                s, doc, own_node_id=ctx.settings.node_id, now=ctx.now(), actor_id=current_member().id
            )
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
    me, now = current_member().id, ctx.now()
    if action == "confirm":
        limit = _trust_limit_field(form, default=ctx.settings.default_trust_limit)
        peers_service.confirm_peer(
            s, node_id=node_id, fingerprint=form.get("fingerprint"), trust_limit=limit, now=now, actor_id=me
        )
    elif action == "trust":
        limit = _trust_limit_field(form, default=None)
        below = form.get("below_debt") == "on"
        peers_service.set_trust_limit(s, node_id=node_id, limit=limit, now=now, actor_id=me, below_debt=below)
    elif action == "suspend":
        peers_service.suspend_peer(s, node_id=node_id, reason=form.get("reason"), now=now, actor_id=me)
    elif action == "resume":
        peers_service.resume_peer(s, node_id=node_id, now=now, actor_id=me)
    else:
        raise ValidationError(
            _("This form asked for an action the page does not know."), code="bad_choice", field="action"
        )


def _trust_limit_field(form, *, default: int | None) -> object:
    """The form's trust limit as a number (the service refuses anything else); empty: the default, if there is one.

    Setting a limit is the whole point of the trust form, so an empty one is refused there, changing nothing.
    """
    raw = form.get("trust_limit", "").strip()
    if not raw:
        if default is None:
            raise ValidationError(
                _("Give the trust limit: how much this peer may owe this node, a whole number, 0 or more."),
                code="missing_trust_limit",
                field="trust_limit",
            )
        return default
    return int(raw) if raw.isdigit() else raw


@bp.post("/coordinator/disputes/<int:dispute_id>/resolve")
@coordinator_required
@form_action("federation.peers_page")
def resolve(dispute_id: int):
    ctx = node_ctx()
    with ctx.db.write() as s:
        resolve_dispute(s, dispute_id, request.form.get("resolution"), ctx.now(), actor_id=current_member().id)
    flash(_("The dispute is marked resolved."), "info")
    return redirect(url_for("federation.peers_page"), 303)


def cross_border_panel(session, member):
    rows = transfers_of(session, member.id, limit=10)
    return (_("Cross-border payments"), "federation_panel.html", {"xfers": rows})


if cross_border_panel not in DASHBOARD_PANELS:
    DASHBOARD_PANELS.append(cross_border_panel)
