"""The network as the directory sees it: every table of the directory page, built from the latest summaries.

Each function returns plain rows (dicts) so that the HTML page, its charts, the JSON API and the CSV
export show the same thing. Only listed nodes' verified summaries count. Money has three views, never
mixed: payments made (gross, per period), positions now (who owes whom) and what clearing changed.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from federation.tables import SettlementRound
from node.services.members import DEFAULT_TAXONOMY
from protocol.messages import PAYMENT_PERIODS

from .tables import InitiativeRecord, Listing, PollRecord, Refusal, SummaryRecord

FIGURES = ("members", "active_30d", "active_180d", "proposals_open", "proposals_reviewed", "sif_in_circulation")


def listed(session: Session) -> list[Listing]:
    return list(
        session.scalars(
            select(Listing).where(col(Listing.status) == "listed").order_by(Listing.country, Listing.node_id)
        ).all()
    )


def uptime(session: Session, since: datetime) -> dict[str, int]:
    """Per node: percent of polls since ``since`` that got a verified answer (up or slow)."""
    rows = session.execute(
        select(col(PollRecord.node_id), col(PollRecord.outcome), func.count())
        .where(col(PollRecord.at) >= since)
        .group_by(PollRecord.node_id, PollRecord.outcome)
    ).all()
    total: dict[str, int] = {}
    good: dict[str, int] = {}
    for node_id, outcome, n in rows:
        total[node_id] = total.get(node_id, 0) + n
        if outcome in ("up", "slow"):
            good[node_id] = good.get(node_id, 0) + n
    return {node_id: round(100 * good.get(node_id, 0) / n) for node_id, n in total.items()}


def node_rows(session: Session, now: datetime) -> list[dict]:
    """Every node that applied or is listed: its status, since when, key fingerprint and version."""
    up = uptime(session, now - timedelta(hours=24))
    rows = []
    for r in session.scalars(
        select(Listing).where(col(Listing.status) != "delisted").order_by(Listing.country, Listing.node_id)
    ).all():
        summary = r.summary or {}
        status = r.health if r.status == "listed" else "pending approval"
        if r.status == "listed" and r.candidate:
            status += " (new key waiting for approval)"
        rows.append(
            {
                "node_id": r.node_id,
                "name": r.name,
                "country": r.country,
                "status": status,
                "health": r.health if r.status == "listed" else "pending",
                "new_key_waiting": bool(r.status == "listed" and r.candidate),
                "since": r.down_since if r.health in ("unreachable", "refused") else r.last_ok_at,
                "latency_ms": r.latency_ms,
                "uptime_24h": up.get(r.node_id),
                "fingerprint": r.fingerprint or (r.candidate or {}).get("fingerprint", ""),
                "software_version": summary.get("software_version", ""),
                "protocol_version": summary.get("protocol_version"),
                "members": summary.get("members"),
                "last_poll_at": r.last_poll_at,
                "code": r.last_code,
                "detail": r.last_error,
                "base_url": r.base_url,
            }
        )
    return rows


def totals(nodes: list[Listing]) -> dict:
    """Network totals over the nodes with a verified summary."""
    reporting = [n.summary for n in nodes if n.summary]
    out: dict = {name: sum(s[name] for s in reporting) for name in FIGURES}
    medians = [s["median_turnaround_days"] for s in reporting if s.get("median_turnaround_days") is not None]
    out.update(
        nodes_listed=len(nodes),
        nodes_reporting=len(reporting),
        nodes_up=sum(1 for n in nodes if n.health in ("up", "slow")),
        countries=len({n.country for n in nodes}),
        median_turnaround_days=round(statistics.median(medians)) if medians else None,
        reviews_across_borders=sum(c["reviews_given"] for s in reporting for c in s.get("cross_border", ())),
    )
    return out


def reviewer_pool(nodes: list[Listing]) -> dict:
    """Shared reviewers per expertise tag and country: what the network has and what it lacks."""
    countries = sorted({n.country for n in nodes if n.summary})
    cells: dict[tuple[str, str], int] = {}
    for n in nodes:
        for tag, count in ((n.summary or {}).get("reviewers_by_tag") or {}).items():
            cells[tag, n.country] = cells.get((tag, n.country), 0) + count
    tags = sorted({t for t, _ in cells} | set(DEFAULT_TAXONOMY))
    rows: list[dict[str, Any]] = []
    for tag in tags:
        per = {c: cells.get((tag, c), 0) for c in countries}
        total, present = sum(per.values()), sum(1 for v in per.values() if v)
        note = "missing" if total == 0 else ("one country only" if present == 1 and len(countries) > 1 else "")
        rows.append({"tag": tag, **per, "total": total, "countries_with": present, "note": note})
    rows.sort(key=lambda r: (-r["total"], r["tag"]))
    return {
        "countries": countries,
        "rows": rows,
        "lacking": [r["tag"] for r in rows if r["note"] == "missing"],
        "thin": [r["tag"] for r in rows if r["note"] == "one country only"],
    }


def languages(nodes: list[Listing]) -> dict:
    """Shared reviewers per language and country."""
    countries = sorted({n.country for n in nodes if n.summary})
    cells: dict[tuple[str, str], int] = {}
    for n in nodes:
        for lang, count in ((n.summary or {}).get("reviewers_by_language") or {}).items():
            cells[lang, n.country] = cells.get((lang, n.country), 0) + count
    rows = [
        {
            "language": lang,
            **{c: cells.get((lang, c), 0) for c in countries},
            "total": sum(cells.get((lang, c), 0) for c in countries),
        }
        for lang in sorted({k for k, _ in cells})
    ]
    return {"countries": countries, "rows": sorted(rows, key=lambda r: (-r["total"], r["language"]))}


def _reports(nodes: list[Listing]) -> dict[tuple[str, str], dict]:
    """(node, peer) -> that node's cross-border entry about the peer."""
    return {(n.node_id, c["peer"]): c for n in nodes for c in (n.summary or {}).get("cross_border", ())}


def _country_of(nodes: list[Listing]) -> Callable[[str], str]:
    country = {n.node_id: n.country for n in nodes}
    return lambda node_id: country.get(node_id, f"{node_id} (unlisted)")


def flows(nodes: list[Listing]) -> dict:
    """Reviews between countries: who reviewed for whom (the giver's report, or the receiver's if unlisted)."""
    country = {n.node_id: n.country for n in nodes}
    reviews: dict[tuple[str, str], int] = {}
    for (a, b), entry in _reports(nodes).items():
        ca, cb = country[a], country.get(b, f"{b} (unlisted)")
        if entry["reviews_given"]:
            reviews[ca, cb] = reviews.get((ca, cb), 0) + entry["reviews_given"]
        if b not in country and entry["reviews_received"]:
            reviews[cb, ca] = reviews.get((cb, ca), 0) + entry["reviews_received"]
    labels = sorted({c for pair in reviews for c in pair} | set(country.values()))
    return {"countries": labels, "reviews": _edges(reviews), "reviews_matrix": _matrix(labels, reviews)}


def _edges(values: dict[tuple[str, str], int]) -> list[dict]:
    return [{"from": a, "to": b, "amount": v} for (a, b), v in sorted(values.items()) if v]


def _matrix(labels: list[str], values: dict[tuple[str, str], int]) -> list[dict]:
    return [{"from": a, **{b: values.get((a, b), 0) for b in labels}} for a in labels]


def country_edges(rows: list[dict], origin: str, destination: str) -> list[dict]:
    """A view's rows summed per pair of countries, for its chart (`origin` and `destination` name the columns).

    A pair within one country has no arrow on a map of countries; the table shows it."""
    sums: dict[tuple[str, str], int] = {}
    for r in rows:
        if r[origin] != r[destination]:
            sums[r[origin], r[destination]] = sums.get((r[origin], r[destination]), 0) + r["amount"]
    return _edges(sums)


def chart_countries(nodes: list[Listing], *edge_lists: list[dict]) -> list[str]:
    """The countries a flow chart places: every listed node's and every one an arrow names."""
    return sorted({n.country for n in nodes} | {c for edges in edge_lists for e in edges for c in (e["from"], e["to"])})


# --- payments made ------------------------------------------------------------------------------------------


def _payment_reports(nodes: list[Listing]) -> dict[str, dict[str, dict]]:
    """node -> peer -> its `payments` entry, for the nodes whose summary reports payments."""
    return {
        n.node_id: {p["peer"]: p for p in n.summary["payments"]}
        for n in nodes
        if n.summary and n.summary.get("payments") is not None
    }


def _stated(reports: dict[str, dict[str, dict]], node: str, peer: str, name: str) -> int | None:
    """What ``node`` reports in ``name`` about ``peer``: None when it reports no payments, 0 when it lists no entry."""
    if node not in reports:
        return None
    return (reports[node].get(peer) or {}).get(name, 0)


def payments(nodes: list[Listing]) -> list[dict]:
    """Payments made: SIF paid from one node's members to another's, gross, per period (PAYMENT_PERIODS).

    A directed pair counts from the payer's report (``paid_<period>``), cross-checked with the payee's mirror
    (``received_<period>``); from the payee's report when the payer reports no payments. Rows by period, then
    payer and payee; a pair with nothing either way is left out.
    """
    reports = _payment_reports(nodes)
    country = _country_of(nodes)
    pairs = sorted({pair for a, peers in reports.items() for b in peers for pair in ((a, b), (b, a))})
    rows = []
    for period in PAYMENT_PERIODS:
        for payer, payee in pairs:
            said = _stated(reports, payer, payee, f"paid_{period}")
            mirror = _stated(reports, payee, payer, f"received_{period}")
            amount, by, other = (said, payer, mirror) if said is not None else (mirror, payee, None)
            if not amount and not other:
                continue
            state = "not reported" if said is None or mirror is None else ("agree" if said == mirror else "disagree")
            rows.append(
                {
                    "period": period,
                    "payer": payer,
                    "payer_country": country(payer),
                    "payee": payee,
                    "payee_country": country(payee),
                    "amount": amount,
                    "reported_by": by,
                    "mirror": other,
                    "state": state,
                }
            )
    return rows


def payments_not_reported(nodes: list[Listing]) -> list[str]:
    """Listed nodes whose summary reports no payments (older software): their side is "not reported"."""
    return [n.node_id for n in nodes if n.summary and n.summary.get("payments") is None]


# --- positions now -------------------------------------------------------------------------------------------


def positions(nodes: list[Listing]) -> list[dict]:
    """Positions now: who owes whom, as both sides state it, and whether they agree (they must sum to zero).

    ``debtor`` owes ``creditor`` ``amount`` SIF, by the first side's statement (the second's when the first
    does not report the pair); a pair that owes nothing has no debtor.
    """
    reports = _reports(nodes)
    country = _country_of(nodes)
    rows = []
    for a, b in sorted({tuple(sorted(pair)) for pair in reports}):
        ab, ba = reports.get((a, b)), reports.get((b, a))
        a_says = ab["position"] if ab else None
        b_says = ba["position"] if ba else None
        if ab and ba:
            state = "agree" if ab["position"] + ba["position"] == 0 else "disagree"
        else:
            state = "one side reports"
        owed_to_a = a_says if a_says is not None else -(b_says or 0)  # positive: b owes a
        debtor, creditor = (b, a) if owed_to_a > 0 else ((a, b) if owed_to_a < 0 else ("", ""))
        rows.append(
            {
                "node_a": a,
                "node_b": b,
                "a_says": a_says,
                "b_says": b_says,
                "sum": (a_says or 0) + (b_says or 0) if ab and ba else None,
                "state": state,
                "debtor": debtor,
                "debtor_country": country(debtor) if debtor else "",
                "creditor": creditor,
                "creditor_country": country(creditor) if creditor else "",
                "amount": abs(owed_to_a),
            }
        )
    return rows


# --- what clearing changed ------------------------------------------------------------------------------------

CLEARING_ROWS = 100  # the rounds shown (newest first) on the page, the admin page, the JSON and the CSV
APPLIED_STATES = ("settled", "undelivered")  # a round of the directory's that nodes applied (some, for undelivered)


def clearing(session: Session, nodes: list[Listing], directory_id: str, limit: int = CLEARING_ROWS) -> list[dict]:
    """Every clearing round: those the directory ran (its own round table) and those nodes report having applied.

    One row per round, newest first; the public history and the working group's page both show these.
    ``changed`` says whether the set-off was applied (by a node that reports it, or a round settled here).
    """
    rounds: dict[str, dict] = {}
    for r in session.scalars(select(SettlementRound).order_by(col(SettlementRound.created_at).desc()).limit(limit)):
        rounds[r.round_id] = {
            "round_id": r.round_id,
            "coordinator": directory_id,
            "state": r.state,
            "participants": json.loads(r.participants),
            "total_before": r.total_before,
            "total_after": r.total_after,
            "cleared": json.loads(r.plan or "{}").get("cleared", 0),
            "started": _wire(r.created_at),
            "applied": "",
            "reported_by": [],
        }
    for n in nodes:
        for c in (n.summary or {}).get("clearings") or ():
            row = rounds.setdefault(
                c["round_id"], {**c, "state": "applied", "started": "", "applied": "", "reported_by": []}
            )
            row["reported_by"].append(n.node_id)
            row["applied"] = max(row["applied"], c["applied"])
    out = []
    for row in rounds.values():
        changed = bool(row["reported_by"]) or row["state"] in APPLIED_STATES
        out.append(
            {
                **row,
                "participants": ", ".join(row["participants"]),
                "reduced_by": row["total_before"] - row["total_after"] if changed else 0,
                "changed": changed,
                "reported_by": ", ".join(sorted(row["reported_by"])),
            }
        )
    out.sort(key=lambda r: r["applied"] or r["started"], reverse=True)
    return out[:limit]


def _wire(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


def initiatives(session: Session) -> list[dict]:
    """Initiatives of listed nodes, with their node's country."""
    rows = session.execute(
        select(InitiativeRecord, col(Listing.country), col(Listing.name))
        .join(Listing, col(Listing.node_id) == col(InitiativeRecord.node_id))
        .where(col(Listing.status) == "listed")
        .order_by(Listing.country, InitiativeRecord.name)
    ).all()
    return [
        {
            "node_id": i.node_id,
            "ref": i.ref,
            "country": country,
            "node_name": node_name,
            "name": i.name,
            "summary": i.summary,
            "interests": list(i.interests),
            "sectors": list(i.sectors),
            "stage": i.stage,
            "city": i.city,
            "contact": i.contact,
        }
        for i, country, node_name in rows
    ]


def refusals(session: Session, limit: int = 50) -> list[dict]:
    rows = session.scalars(select(Refusal).order_by(col(Refusal.at).desc(), col(Refusal.id).desc()).limit(limit)).all()
    return [{"at": r.at, "node_id": r.node_id, "source": r.source, "code": r.code, "message": r.message} for r in rows]


def history(session: Session, node_id: str | None, since: datetime) -> dict:
    """Figures over time (from stored summaries) and latency per poll, for one node or the whole network."""
    stmt = select(SummaryRecord).where(col(SummaryRecord.received_at) >= since).order_by(col(SummaryRecord.received_at))
    polls = select(PollRecord).where(col(PollRecord.at) >= since).order_by(col(PollRecord.at))
    if node_id:
        stmt, polls = stmt.where(col(SummaryRecord.node_id) == node_id), polls.where(col(PollRecord.node_id) == node_id)
    before = select(func.max(SummaryRecord.id)).where(col(SummaryRecord.received_at) < since)
    if node_id:
        before = before.where(col(SummaryRecord.node_id) == node_id)
    # The figures each node had when the window opens, so that a quiet week still has a line.
    latest = {
        r.node_id: json.loads(r.envelope)["body"]
        for r in session.scalars(
            select(SummaryRecord).where(col(SummaryRecord.id).in_(before.group_by(SummaryRecord.node_id)))
        )
    }
    figures = [{"at": since, **{f: sum(b[f] for b in latest.values()) for f in FIGURES}}] if latest else []
    for rec in session.scalars(stmt):
        latest[rec.node_id] = json.loads(rec.envelope)["body"]
        point = {"at": rec.received_at, **{f: sum(b[f] for b in latest.values()) for f in FIGURES}}
        if figures and figures[-1]["at"] == rec.received_at:  # one point per poll, after all its nodes
            figures[-1] = point
        else:
            figures.append(point)
    return {
        "figures": figures,
        "polls": [
            {"at": p.at, "node_id": p.node_id, "outcome": p.outcome, "latency_ms": p.latency_ms, "code": p.code}
            for p in session.scalars(polls)
        ],
    }
