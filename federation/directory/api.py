"""The directory's JSON API and CSV export: one endpoint of each per table of the page, plus applications and pushes.

The CSV headers are the JSON field names, in English whatever the reader's language: a CSV file is a
machine format that spreadsheets and scripts read by column name. Error messages follow the request.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

from flask import Blueprint, Response, current_app, jsonify, redirect, request, url_for
from flask_babel import gettext as _

from node.api.base import json_body, only_fields
from node.clock import iso
from node.errors import DomainError, NotFoundError, ValidationError
from protocol.messages import PAYMENT_PERIODS

from . import funding, listings, network, scan
from .poller import Refused, record_push

bp = Blueprint("directory_api", __name__)


def directory():
    return current_app.extensions["sifnet_directory"]


def _node_rows(s, d):
    return network.node_rows(s, d.now())


def _listed(fn):
    return lambda s, d: fn(network.listed(s))


def _totals(s, d):
    return [network.totals(network.listed(s))]


def _reviews_matrix(s, d):
    return network.flows(network.listed(s))["reviews_matrix"]


def _payments(s, d):
    """Payments made, every period; ?period=30d|365d|all keeps one."""
    rows = network.payments(network.listed(s))
    period = request.args.get("period")
    return [r for r in rows if r["period"] == period] if period else rows


# name -> fn(session, directory) -> list of row dicts; each is served as JSON and as CSV.
TABLES = {
    "nodes": _node_rows,
    "totals": _totals,
    "reviewers": lambda s, d: network.reviewer_pool(network.listed(s))["rows"],
    "languages": lambda s, d: network.languages(network.listed(s))["rows"],
    "reviews": _reviews_matrix,
    "payments": _payments,
    "positions": _listed(network.positions),
    "clearing": lambda s, d: network.clearing(s, network.listed(s), d.id),
    "initiatives": lambda s, d: network.initiatives(s),
    "funding": lambda s, d: funding.leads(s, d.now(), **funding.check_filters(request.args)),
    "refusals": lambda s, d: network.refusals(s, limit=1000),
}


# Tables that were renamed: the old URL redirects. "sif" showed positions labelled as payments.
RENAMED = {"sif": "payments"}


@bp.get("/api/v1/<name>")
def table_json(name: str):
    """One table of the directory page as JSON: {"<name>": [rows]}."""
    if name in RENAMED:
        return redirect(url_for("directory_api.table_json", name=RENAMED[name], **request.args), 308)
    fn = TABLES.get(name)
    if fn is None:
        raise NotFoundError(
            _("There is no table %(name)s; the tables are: %(tables)s.", name=name, tables=", ".join(TABLES)),
            code="no_such_table",
        )
    d = directory()
    with d.db.read() as s:
        return jsonify({name: fn(s, d)})


@bp.get("/export/<name>.csv")
def table_csv(name: str):
    """One table of the directory page as CSV (UTF-8, header row)."""
    if name in RENAMED:
        return redirect(url_for("directory_api.table_csv", name=RENAMED[name], **request.args), 308)
    fn = TABLES.get(name)
    if fn is None:
        raise NotFoundError(_("There is no table %(name)s.", name=name), code="no_such_table")
    d = directory()
    with d.db.read() as s:
        rows = fn(s, d)
    out = io.StringIO()
    columns = list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
    return Response(
        out.getvalue(), mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}.csv"'}
    )


def _cell(value: object) -> object:
    """Times in ISO form; text that a spreadsheet would run as a formula is quoted (CSV injection)."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, (list, tuple)):
        value = " ".join(map(str, value))
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@bp.get("/api/v1/flows")
def flows_json():
    """Between countries, as the page's charts draw them: reviews (edges and matrix), payments made per period
    (payer's country to payee's) and positions now (debtor's country to creditor's)."""
    d = directory()
    with d.db.read() as s:
        listed = network.listed(s)
        paid, owed = network.payments(listed), network.positions(listed)
        return jsonify(
            {
                **network.flows(listed),
                "payments": {
                    period: network.country_edges(
                        [r for r in paid if r["period"] == period], "payer_country", "payee_country"
                    )
                    for period in PAYMENT_PERIODS
                },
                "positions": network.country_edges(
                    [r for r in owed if r["debtor"]], "debtor_country", "creditor_country"
                ),
            }
        )


@bp.get("/api/v1/history")
def history_json():
    """Figures over time and every poll of the last ?hours=24 (optionally of one ?node=)."""
    hours = request.args.get("hours", "24")
    if not hours.isdigit() or not 1 <= int(hours) <= 24 * 366:
        raise ValidationError(
            _("The hours are a whole number from 1 to %(max)s.", max=24 * 366), code="invalid_hours", field="hours"
        )
    d = directory()
    with d.db.read() as s:
        return jsonify(network.history(s, request.args.get("node") or None, d.now() - timedelta(hours=int(hours))))


def scan_request(args, items: list[scan.Item]) -> tuple[scan.Query, scan.Item | None]:
    """The query a scan asks for: like one initiative (?initiative=node:ref), or a set of interests."""
    key = (args.get("initiative") or "").strip()
    if key:
        found = next((i for i in items if i.key == key), None)
        if found is None:
            raise NotFoundError(_("There is no listed initiative %(key)s.", key=key), code="initiative_not_found")
        return scan.Query.like(found), found
    interests = frozenset(t for t in (args.get("interests") or "").replace(",", " ").split() if t)
    if not interests:
        raise ValidationError(
            _("Choose an initiative, or give at least one interest."), code="missing_query", field="interests"
        )
    sectors = frozenset(t for t in (args.get("sectors") or "").replace(",", " ").split() if t)
    stage = args.get("stage") or None
    if stage is not None and stage not in scan.STAGES:
        raise ValidationError(
            _("Choose a stage: %(stages)s.", stages=", ".join(scan.STAGES)), code="bad_choice", field="stage"
        )
    return scan.Query(interests, sectors, stage), None


def match_json(m: scan.Match) -> dict:
    i = m.item
    return {
        "node_id": i.node_id,
        "ref": i.ref,
        "country": i.country,
        "name": i.name,
        "score": m.score,
        "points": m.points,
        "shared_interests": list(m.shared_interests),
        "shared_sectors": list(m.shared_sectors),
        "stage": i.stage,
        "explanation": m.explanation(),
        "contact": i.contact,
    }


def scan_items(session) -> list[scan.Item]:
    return [scan.Item.of(r) for r in network.initiatives(session)]


@bp.get("/api/v1/scan")
def scan_json():
    """The most similar initiatives across the network, ranked, each with why."""
    d = directory()
    with d.db.read() as s:
        items = scan_items(s)
    query, _ = scan_request(request.args, items)
    other = request.args.get("other_countries", "1") != "0"
    matches = scan.rank(query, items, limit=_limit(), other_countries=other)
    return jsonify({"matches": [match_json(m) for m in matches]})


def _limit() -> int:
    text = request.args.get("limit", "10")
    return min(100, int(text)) if text.isdigit() and int(text) > 0 else 10


@bp.get("/api/v1/groups")
def groups_json():
    """Groups of initiatives in several countries that share interests and might join forces."""
    d = directory()
    with d.db.read() as s:
        items = scan_items(s)
    found = scan.groups(items, d.settings.scan_threshold)
    return jsonify(
        {
            "threshold": d.settings.scan_threshold,
            "groups": [
                {
                    "countries": list(g.countries),
                    "common_interests": list(g.common_interests),
                    "initiatives": [
                        {"node_id": i.node_id, "ref": i.ref, "name": i.name, "country": i.country} for i in g.items
                    ],
                    "links": [{"a": a, "b": b, "score": v} for a, b, v in g.links],
                }
                for g in found
            ],
        }
    )


@bp.get("/api/v1/about")
def about():
    d = directory()
    key = d.key.public_key
    return jsonify(
        {
            "directory_id": d.id,
            "name": d.settings.name,
            "key_id": key.key_id,
            "public": key.b64,
            "fingerprint": key.fingerprint,
        }
    )


@bp.post("/api/v1/applications")
def apply_json():
    """A node applies to be listed: the directory fetches its document and shows the fingerprint to confirm."""
    data = only_fields(json_body(), ("url",))
    return jsonify(submit_application(data.get("url"))), 201


def submit_application(url: object) -> dict:
    d = directory()
    if not d.settings.open_applications:
        raise DomainError(
            _("This directory takes applications only through its working group."),
            code="applications_closed",
            status=403,
        )
    doc = listings.fetch_candidate(url, d)  # no transaction open during the fetch
    with d.db.write() as s:
        row = listings.apply(s, doc, directory_id=d.id, now=d.now())
        return {"node_id": row.node_id, "status": row.status, "fingerprint": doc.fingerprint}


@bp.post("/api/v1/summaries")
def push_summary():
    """A listed node may also deliver its signed summary itself; anything else is refused and shown."""
    d = directory()
    try:
        node_id = record_push(d, request.get_data(cache=True))
    except Refused as exc:
        status = 403 if exc.code in ("not_listed", "origin_mismatch") else (409 if exc.code == "stale_summary" else 401)
        return jsonify({"error": {"code": exc.code, "message": exc.message}}), status
    return jsonify({"status": "accepted", "node_id": node_id}), 202
