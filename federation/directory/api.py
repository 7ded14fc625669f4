"""The directory's JSON API and CSV export: one endpoint of each per table of the page, plus applications and pushes.

The CSV headers are the JSON field names, in English whatever the reader's language: a CSV file is a
machine format that spreadsheets and scripts read by column name. Error messages follow the request.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from node.api.base import json_body, only_fields
from node.clock import iso
from node.errors import DomainError, NotFoundError, ValidationError
from protocol.messages import PAYMENT_PERIODS

from . import funding, listings, network, scan, scan_groups, scan_hints, scan_words
from .poller import Refused, record_push

bp = Blueprint("directory_api", __name__)
PAIRS_SHOWN = 20  # the strongest pairs on the initiatives page, and by default in /api/v1/groups


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
        args: dict[str, Any] = request.args.to_dict()
        return redirect(url_for("directory_api.table_json", name=RENAMED[name], **args), 308)
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
        args: dict[str, Any] = request.args.to_dict()
        return redirect(url_for("directory_api.table_csv", name=RENAMED[name], **args), 308)
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


def _tags(args, name: str) -> frozenset[str]:
    return frozenset(t.lower() for t in (args.get(name) or "").replace(",", " ").split() if t)


def scan_request(args, items: list[scan.Item]) -> tuple[scan.Query, scan.Item | None]:
    """The query a scan asks for: like one initiative (?initiative=node:ref), or a set of interests."""
    key = (args.get("initiative") or "").strip()
    if key:
        found = next((i for i in items if i.key == key), None)
        if found is None:
            raise NotFoundError(_("There is no listed initiative %(key)s.", key=key), code="initiative_not_found")
        return scan.Query.like(found), found
    interests, sectors = _tags(args, "interests"), _tags(args, "sectors")
    if not interests and not sectors:
        raise ValidationError(
            _("Choose an initiative, or give at least one interest or sector."), code="missing_query", field="interests"
        )
    stage = args.get("stage") or None
    if stage is not None and stage not in scan.STAGES:
        raise ValidationError(
            _("Choose a stage: %(stages)s.", stages=", ".join(scan.STAGES)), code="bad_choice", field="stage"
        )
    return scan.Query(interests, sectors, stage), None


def scan_args(query: scan.Query, subject: scan.Item | None, other: bool) -> dict[str, str]:
    """The parameters that run this scan again (a suggestion's link changes one of them)."""
    if subject is not None:
        return {"initiative": subject.key, "other_countries": "1" if other else "0"}
    return {
        "interests": ",".join(sorted(query.interests)),
        "sectors": ",".join(sorted(query.sectors)),
        "stage": query.stage or "",
    }


def scan_items(session: Session) -> list[scan.Item]:
    return [scan.Item.of(r) for r in network.initiatives(session)]


def scan_answer(args, limit: int) -> tuple[dict, scan.Query, scan.Item | None]:
    """A scan's matches with their reasons, and a hint when something needs saying: the page's and the API's."""
    d = directory()
    with d.db.read() as s:
        items = scan_items(s)
    query, subject = scan_request(args, items)
    other = args.get("other_countries", "1") != "0"
    vocab = scan.Vocabulary.of(items)
    matches = scan.rank(query.known(vocab), items, vocab, limit=limit, other_countries=other)
    hint = scan_hints.hint(query, items, vocab, matches, other_countries=other)
    answer = {
        "matches": [scan_words.match_json(m) for m in matches],
        "hint": scan_words.hint_json(hint, scan_args(query, subject, other)),
    }
    return answer, query, subject


@bp.get("/api/v1/scan")
def scan_json():
    """The most similar initiatives across the network, ranked, each with its reasons; a hint when none."""
    answer, _query, _subject = scan_answer(request.args, _limit(10))
    return jsonify(answer)


def _limit(default: int) -> int:
    text = request.args.get("limit", "")
    return min(100, int(text)) if text.isdigit() and int(text) > 0 else default


def groups_answer(limit: int) -> dict:
    """The strongest pairs of initiatives of different nodes, and small groups that could join forces."""
    d = directory()
    with d.db.read() as s:
        items = scan_items(s)
    vocab, threshold = scan.Vocabulary.of(items), d.settings.scan_threshold
    every = scan.pairs(items, vocab, minimum=threshold)
    strongest = [p for p in every if p.cross_node and p.match.score >= threshold][:limit]
    return {
        "threshold": threshold,
        "max_group": scan_groups.MAX_GROUP,
        "max_per_node": scan_groups.MAX_PER_NODE,
        "groups": [scan_words.group_json(g) for g in scan_groups.groups(every, vocab, threshold)],
        "pairs": [scan_words.pair_json(p) for p in strongest],
    }


@bp.get("/api/v1/groups")
def groups_json():
    """Small groups of initiatives of several nodes that could join forces, and the strongest pairs."""
    return jsonify(groups_answer(_limit(PAIRS_SHOWN)))


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
