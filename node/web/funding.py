"""Web pages of funding leads: the Funding list with its filters, posting, one lead (edit, withdraw, share), topics."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import countries, i18n, labels
from ..context import node_ctx
from ..services import funding, members, topics
from ..tables import FundingLead, Member
from .pages import NAV_LINKS, form_action, logged_in_member_id, login_required

bp = Blueprint("funding", __name__)


def _me(s) -> Member:
    return s.get_one(Member, logged_in_member_id())


def _fields(form) -> dict:
    """The lead's fields from the form; the deadline as a day and an optional time, read in the reader's zone."""
    day, at = form.get("deadline", "").strip(), form.get("deadline_time", "").strip()
    return {
        "title": form.get("title"),
        "url": form.get("url"),
        "deadline": f"{day}T{at}" if day and at else day,
        "countries": form.getlist("countries"),
        "topics": form.getlist("topics"),
        "description": form.get("description"),
    }


def _choices() -> dict:
    """What the forms offer: the taxonomy and the countries by name in the reader's language."""
    europe, others = countries.choices(i18n.current_language())
    return {"taxonomy": members.taxonomy(node_ctx().settings), "europe": europe, "other_countries": others}


@bp.get("/funding")
@login_required
def leads():
    ctx = node_ctx()
    args = request.args
    topic, country, past = args.get("topic", ""), args.get("country", "").upper(), args.get("past") == "1"
    now = ctx.now()
    with ctx.db.read() as s:
        me = _me(s)
        page = funding.list_leads(
            s, ctx.settings, now=now, topic=topic, country=country, past=past, page=_page(args.get("page"))
        )
        shown = funding.views(s, page.leads, me, now)
        assert me.id is not None
        mine = funding.views(s, funding.my_leads(s, me.id), me, now)
        followed = topics.followed_topics(s, me.id)
    return render_template(
        "funding.html",
        leads=shown,
        page=page,
        mine=mine,
        followed=followed,
        topic=topic,
        country=country,
        past=past,
        reminder_days=ctx.settings.funding_reminder_days,
        **_choices(),
    )


def _page(text: str | None) -> object:
    """Digits become a number; anything else goes to the service, which refuses it with its code."""
    text = (text or "1").strip()
    return int(text) if text.isdigit() and len(text) < 10 else text


@bp.post("/funding/leads")
@login_required
@form_action("funding.leads")
def post_lead():
    ctx = node_ctx()
    with ctx.db.write() as s:
        lead = funding.post_lead(
            s, ctx.settings, member=_me(s), data=_fields(request.form), zone=i18n.current_time_zone(), now=ctx.now()
        )
    flash(_("Your funding lead is posted."), "info")
    return redirect(url_for("funding.lead", lead_id=lead.id), 303)


@bp.get("/funding/leads/<int:lead_id>")
@login_required
def lead(lead_id: int):
    ctx = node_ctx()
    now = ctx.now()
    with ctx.db.read() as s:
        me = _me(s)
        found = funding.get_lead(s, lead_id, me)
        (view,) = funding.views(s, [found], me, now)
    return render_template(
        "funding_lead.html",
        lead=view,
        values={**view, **_form_values(found)},
        coordinator=funding.is_coordinator(me),
        **_choices(),
    )


def _form_values(lead: FundingLead) -> dict:
    """The deadline as the edit form shows it: a day and a time in the reader's time zone."""
    if lead.deadline is None:
        return {"deadline": "", "deadline_time": ""}
    local = lead.deadline.astimezone(ZoneInfo(i18n.current_time_zone()))
    return {"deadline": local.strftime("%Y-%m-%d"), "deadline_time": local.strftime("%H:%M")}


@bp.post("/funding/leads/<int:lead_id>")
@login_required
@form_action("funding.leads")
def update_lead(lead_id: int):
    ctx = node_ctx()
    with ctx.db.write() as s:
        funding.update_lead(
            s,
            ctx.settings,
            member=_me(s),
            lead_id=lead_id,
            data=_fields(request.form),
            zone=i18n.current_time_zone(),
            now=ctx.now(),
        )
    flash(_("The funding lead is saved."), "info")
    return redirect(url_for("funding.lead", lead_id=lead_id), 303)


@bp.post("/funding/leads/<int:lead_id>/withdraw")
@login_required
@form_action("funding.leads")
def withdraw_lead(lead_id: int):
    ctx = node_ctx()
    with ctx.db.write() as s:
        found = funding.withdraw_lead(s, member=_me(s), lead_id=lead_id, now=ctx.now())
        shared = found.network_wide
    flash(
        _("The funding lead is withdrawn; peer nodes and the directory drop it too.")
        if shared
        else _("The funding lead is withdrawn."),
        "info",
    )
    return redirect(url_for("funding.leads"), 303)


@bp.post("/funding/leads/<int:lead_id>/network")
@login_required
@form_action("funding.leads")
def network_wide(lead_id: int):
    ctx = node_ctx()
    wanted = request.form.get("network_wide") == "1"
    with ctx.db.write() as s:
        funding.set_network_wide(s, member=_me(s), lead_id=lead_id, network_wide=wanted, now=ctx.now())
    flash(
        _("The funding lead is shared with the network: peer nodes and the directory list it.")
        if wanted
        else _("The funding lead is no longer shared with the network."),
        "info",
    )
    return redirect(url_for("funding.lead", lead_id=lead_id), 303)


@bp.post("/funding/topics")
@login_required
@form_action("funding.leads")
def follow():
    ctx = node_ctx()
    with ctx.db.write() as s:
        chosen = topics.follow_topics(
            s, ctx.settings, member=_me(s), topics=request.form.getlist("topics"), now=ctx.now()
        )
    if chosen:
        names = ", ".join(labels.label(tag, "tag") for tag in chosen)
        flash(_("You follow these topics: %(topics)s.", topics=names), "info")
    else:
        flash(_("You follow no topic now."), "info")
    return redirect(url_for("funding.leads"), 303)


if "funding.leads" not in [endpoint for _label, endpoint in NAV_LINKS]:
    NAV_LINKS.append((_l("Funding"), "funding.leads"))
