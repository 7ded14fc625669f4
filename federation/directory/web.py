"""The directory's pages: the network at a glance, one node's history, initiatives and the quick scan, funding
leads, applying."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from node import i18n
from node.errors import DomainError
from protocol import canonical_json

from . import charts, funding, network, scan
from .admin import bp as admin_bp
from .api import PAIRS_SHOWN, directory, groups_answer, scan_answer, submit_application
from .tables import Listing

SCAN_SHOWN = 20  # matches on the scan page; the API gives ?limit= of them (10 unless asked)
bp = Blueprint("directory", __name__)  # templates and static files are the directory app's own folders
bp.register_blueprint(admin_bp)  # the working group's admin under /admin (endpoints "directory.admin.*")


@bp.get("/healthz")
def healthz():
    return {"status": "ok", "node_id": directory().id}


@bp.get("/.well-known/sifnet-node")
def document():
    """The directory's self-signed description and key (node_document form)."""
    return Response(canonical_json(directory().document().to_dict()), mimetype="application/json")


PERIOD_WORDS = {"30d": _l("last 30 days"), "365d": _l("last 365 days"), "all": _l("all time")}
# Whole titles per period, not a period slotted into a sentence: its case changes with the sentence (de, hu).
PAYMENT_TITLES = {
    "30d": _l("Payments made in the last 30 days (payer's country to payee's country)"),
    "365d": _l("Payments made in the last 365 days (payer's country to payee's country)"),
    "all": _l("Payments made, all time (payer's country to payee's country)"),
}
DEFAULT_PERIOD = "all"


def money_views(session, directory, listed: list) -> dict:
    """The three money views' rows: payments made, positions now, what clearing changed (one function each)."""
    return {
        "payments": network.payments(listed),
        "payments_not_reported": network.payments_not_reported(listed),
        "positions": network.positions(listed),
        "clearing": network.clearing(session, listed, directory.id),
    }


@bp.get("/")
def index():
    """Every node and its health, network totals, the reviewer pool, reviews, payments, positions and clearing."""
    d = directory()
    now = d.now()
    period = request.args.get("period", DEFAULT_PERIOD)
    if period not in PERIOD_WORDS:
        period = DEFAULT_PERIOD
    with d.db.read() as s:
        listed = network.listed(s)
        page = {
            "nodes": network.node_rows(s, now),
            "totals": network.totals(listed),
            "pool": network.reviewer_pool(listed),
            "languages": network.languages(listed),
            "flows": network.flows(listed),
            **money_views(s, d, listed),
            "refusals": network.refusals(s, 20),
            "history": network.history(s, None, now - timedelta(days=7)),
            "initiatives": len(network.initiatives(s)),
        }
    page["charts"] = money_charts(page, listed, period)
    page["charts"].update(
        pool=charts.stacked_bars(
            page["pool"]["rows"], page["pool"]["countries"], "tag", _("Shared reviewers by expertise and country")
        ),
        reviews=charts.flow_diagram(
            page["flows"]["countries"],
            page["flows"]["reviews"],
            _("Reviews across borders (reviewer's country to author's country)"),
            "reviews",
            _reviews_flow,
        ),
        figures=charts.line_chart(
            page["history"]["figures"],
            ["members", "active_30d", "sif_in_circulation"],
            _("Network figures over the last 7 days"),
            now,
        ),
    )
    shown = [r for r in page["payments"] if r["period"] == period]
    return render_template(
        "directory_index.html", now=now, period=period, periods=PERIOD_WORDS, payments_shown=shown, **page
    )


def money_charts(page: dict, listed: list, period: str) -> dict:
    """The charts of the three money views, drawn from the same rows as their tables, JSON and CSV."""
    paid = network.country_edges(
        [r for r in page["payments"] if r["period"] == period], "payer_country", "payee_country"
    )
    owed = network.country_edges([r for r in page["positions"] if r["debtor"]], "debtor_country", "creditor_country")
    return {
        "payments": charts.flow_diagram(
            network.chart_countries(listed, paid),
            paid,
            str(PAYMENT_TITLES[period]),
            "payments",
            _payment_flow,
        ),
        "positions": charts.flow_diagram(
            network.chart_countries(listed, owed),
            owed,
            _("Positions now (debtor's country to creditor's country)"),
            "positions",
            _owed_flow,
        ),
        "clearing": charts.clearing_bars(
            page["clearing"], _("What clearing changed: debts before and after each round")
        ),
    }


def _reviews_flow(edge: dict) -> str:
    return ngettext(
        "%(origin)s → %(destination)s: %(num)d review",
        "%(origin)s → %(destination)s: %(num)d reviews",
        edge["amount"],
        origin=edge["from"],
        destination=edge["to"],
    )


def _payment_flow(edge: dict) -> str:
    return _(
        "%(origin)s → %(destination)s: %(amount)s",
        origin=edge["from"],
        destination=edge["to"],
        amount=i18n.sif_filter(edge["amount"]),
    )


def _owed_flow(edge: dict) -> str:
    return _(
        "%(debtor)s owes %(creditor)s %(amount)s",
        debtor=edge["from"],
        creditor=edge["to"],
        amount=i18n.sif_filter(edge["amount"]),
    )


@bp.get("/nodes/<node_id>")
def node_page(node_id: str):
    """One node: its status, key, its polls (uptime and latency) and its figures over time."""
    d = directory()
    now = d.now()
    with d.db.read() as s:
        row = s.get(Listing, node_id)
        if row is None:
            return render_template(
                "directory_error.html", message=_("No node %(node)s applied here.", node=node_id), status=404
            ), 404
        history = network.history(s, node_id, now - timedelta(days=1))
        uptime = network.uptime(s, now - timedelta(hours=24)).get(node_id)
    strip = charts.poll_strip(
        history["polls"], _("Polls of %(node)s in the last 24 hours (height: latency)", node=node_id)
    )
    figures = charts.line_chart(
        history["figures"],
        ["members", "active_30d", "proposals_open"],
        _("Figures of %(node)s over the last day", node=node_id),
        now,
    )
    return render_template(
        "directory_node.html",
        node=row,
        strip=strip,
        figures=figures,
        uptime=uptime,
        polls=history["polls"][-20:][::-1],
        now=now,
    )


@bp.get("/initiatives")
def initiatives_page():
    """Every listed initiative, the quick scan form, the strongest pairs and groups that could join forces."""
    d = directory()
    with d.db.read() as s:
        rows = network.initiatives(s)
    return render_template(
        "directory_initiatives.html", initiatives=rows, stages=scan.STAGES, **groups_answer(PAIRS_SHOWN)
    )


@bp.get("/funding")
def funding_page():
    """The funding leads listed nodes share network-wide, soonest deadline first, with filters."""
    d = directory()
    now = d.now()
    try:
        chosen = funding.check_filters(request.args)
    except DomainError as exc:
        flash(f"{exc.message} [{exc.code}]", "error")
        return redirect(url_for("directory.funding_page"), 303)
    with d.db.read() as s:
        every = funding.leads(s, now)
        shown = funding.leads(s, now, **chosen) if any(chosen.values()) else every
    query = {name: value for name, value in chosen.items() if value}
    return render_template(
        "directory_funding.html", leads=shown, total=len(every), chosen=chosen, query=query, **funding.choices(every)
    )


@bp.get("/scan")
def scan_page():
    """The quick scan: the initiatives most like one initiative, or like a set of interests, and why."""
    try:
        answer, query, subject = scan_answer(request.args, SCAN_SHOWN)
    except DomainError as exc:
        flash(f"{exc.message} [{exc.code}]", "error")
        return redirect(url_for("directory.initiatives_page"), 303)
    other = request.args.get("other_countries", "1") != "0"
    return render_template("directory_scan.html", subject=subject, query=query, other_countries=other, **answer)


@bp.route("/apply", methods=["GET", "POST"])
def apply_page():
    """A node's coordinator applies to be listed by giving the node's URL."""
    d = directory()
    result = None
    if request.method == "POST":
        try:
            result = submit_application(request.form.get("url"))
        except DomainError as exc:
            flash(f"{exc.message} [{exc.code}]", "error")
    return render_template(
        "directory_apply.html",
        result=result,
        open=d.settings.open_applications,
        fingerprint=d.key.public_key.fingerprint,
    )
