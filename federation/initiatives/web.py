"""Initiatives on a node: the coordinators' form and API, and the public contact page the directory links to."""

from __future__ import annotations

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from node.api.base import BOOL, ApiBlueprint, arr, json_body, obj, only_fields, string
from node.context import node_ctx
from node.errors import ValidationError
from node.services import members
from node.tables import Member
from node.web.coordinator import COORDINATOR_PANELS
from node.web.pages import coordinator_required, form_action
from protocol.messages import STAGES

from . import initiatives as service
from .tables import Initiative

bp = Blueprint("initiatives", __name__, template_folder="templates")
api = ApiBlueprint("initiatives", "initiatives")
TAGS = arr(string(32), 16)
INITIATIVE = {
    "type": "object",
    "properties": {
        "ref": string(),
        "name": string(),
        "summary": string(),
        "interests": TAGS,
        "sectors": TAGS,
        "stage": string(),
        "city": string(),
        "contact_handle": string(),
        "listed": BOOL,
        "consent_note": string(),
        "contact": string(),
    },
}
FIELDS_SCHEMA = obj(
    ("name", "stage"),
    name=string(200),
    summary=string(500),
    interests=TAGS,
    sectors=TAGS,
    stage=string(enum=list(STAGES)),
    city=string(100),
    contact_handle=string(32),
)


def as_json(session, row: Initiative) -> dict:
    contact = session.get(Member, row.contact_member_id) if row.contact_member_id else None
    return {
        "ref": row.ref,
        "name": row.name,
        "summary": row.summary,
        "interests": row.interests,
        "sectors": row.sectors,
        "stage": row.stage,
        "city": row.city,
        "contact_handle": contact.handle if contact else "",
        "listed": row.consent_at is not None,
        "consent_at": row.consent_at,
        "consent_note": row.consent_note,
        "contact": service.contact_url(node_ctx().settings.base_url, row.ref),
    }


def _coordinator(session) -> None:
    members.require_coordinator(session.get(Member, g.member.id))


# --- JSON API (coordinators) ---------------------------------------------------------------


@api.route(
    "/initiatives",
    "GET",
    "Every initiative this node incubates, listed or not",
    response={"type": "object", "properties": {"initiatives": arr(INITIATIVE)}},
)
def list_initiatives():
    ctx = node_ctx()
    with ctx.db.read() as s:
        _coordinator(s)
        return jsonify({"initiatives": [as_json(s, r) for r in service.all_initiatives(s)]})


@api.route(
    "/initiatives",
    "POST",
    "Record an initiative (listed in the directory only once it consents)",
    body=FIELDS_SCHEMA,
    response=INITIATIVE,
    status=201,
)
def create_initiative():
    data = json_body()
    ctx = node_ctx()
    with ctx.db.write() as s:
        _coordinator(s)
        out = as_json(s, service.create_initiative(s, ctx.settings, data=data, now=ctx.now()))
    return jsonify(out), 201


@api.route(
    "/initiatives/<ref>",
    "POST",
    "Change some fields of an initiative",
    body={**FIELDS_SCHEMA, "required": []},
    response=INITIATIVE,
)
def update_initiative(ref: str):
    data = json_body()
    ctx = node_ctx()
    with ctx.db.write() as s:
        _coordinator(s)
        out = as_json(s, service.update_initiative(s, ctx.settings, ref=ref, data=data, now=ctx.now()))
    return jsonify(out)


@api.route(
    "/initiatives/<ref>/consent",
    "POST",
    "Record that the initiative agreed to be listed, or withdrew",
    body=obj(("consent",), consent=BOOL, note=string(300)),
    response=INITIATIVE,
)
def consent(ref: str):
    data = only_fields(json_body(), ("consent", "note"))
    ctx = node_ctx()
    with ctx.db.write() as s:
        _coordinator(s)
        row = service.set_consent(s, ref=ref, consent=data.get("consent"), note=data.get("note"), now=ctx.now())
        out = as_json(s, row)
    return jsonify(out)


# --- coordinator pages -----------------------------------------------------------------------


def _form_fields(form) -> dict:
    return {
        "name": form.get("name"),
        "summary": form.get("summary"),
        "interests": form.getlist("interests"),
        "sectors": form.get("sectors", ""),
        "stage": form.get("stage"),
        "city": form.get("city"),
        "contact_handle": form.get("contact_handle"),
    }


@bp.get("/coordinator/initiatives")
@coordinator_required
def coordinator_page():
    ctx = node_ctx()
    with ctx.db.read() as s:
        rows = [as_json(s, r) for r in service.all_initiatives(s)]
    return render_template(
        "initiatives_coordinator.html",
        initiatives=rows,
        stages=STAGES,
        interests=members.taxonomy(ctx.settings),
        sectors=service.SECTORS,
        directory_id=ctx.settings.directory_id,
    )


@bp.post("/coordinator/initiatives")
@coordinator_required
@form_action("initiatives.coordinator_page")
def coordinator_action():
    ctx = node_ctx()
    form, action, ref = request.form, request.form.get("action"), request.form.get("ref", "")
    with ctx.db.write() as s:
        if action == "create":
            row = service.create_initiative(s, ctx.settings, data=_form_fields(form), now=ctx.now())
            message = _("Recorded %(name)s; it is listed in the directory once it agrees.", name=row.name)
        elif action == "update":
            row = service.update_initiative(s, ctx.settings, ref=ref, data=_form_fields(form), now=ctx.now())
            message = _("Saved %(name)s.", name=row.name)
        elif action in ("consent", "withdraw"):
            row = service.set_consent(s, ref=ref, consent=action == "consent", note=form.get("note"), now=ctx.now())
            message = (
                _("%(name)s is listed in the directory.", name=row.name)
                if row.consent_at
                else _("%(name)s is no longer listed in the directory.", name=row.name)
            )
        else:
            raise ValidationError(
                _("This form asked for an action the page does not know."), code="bad_choice", field="action"
            )
    flash(message, "info")
    return redirect(url_for("initiatives.coordinator_page"), 303)


def initiatives_panel(session):
    listed = len(service.listed_initiatives(session))
    total = len(service.all_initiatives(session))
    return (_("Initiatives"), "initiatives_panel.html", {"listed": listed, "total": total})


if initiatives_panel not in COORDINATOR_PANELS:
    COORDINATOR_PANELS.append(initiatives_panel)


# --- the public contact page ------------------------------------------------------------------


@bp.get("/initiatives/<ref>")
def public_page(ref: str):
    ctx = node_ctx()
    with ctx.db.read() as s:
        row = service.listed_initiative(s, ref)
    return render_template("initiative_public.html", initiative=row)


@bp.post("/initiatives/<ref>")
@form_action("auth.home")
def contact(ref: str):
    ctx = node_ctx()
    form = request.form
    with ctx.db.write() as s:
        service.send_contact(
            s, ref=ref, name=form.get("name"), email=form.get("email"), message=form.get("message"), now=ctx.now()
        )
    flash(_("Your message was passed on. The initiative answers you by email."), "info")
    return redirect(url_for("initiatives.public_page", ref=ref), 303)


def register(app) -> None:
    """Wire the initiative pages and API into a node app."""
    app.register_blueprint(bp)
    app.register_blueprint(api.blueprint, url_prefix="/api/v1")
