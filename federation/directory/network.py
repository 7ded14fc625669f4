"""The network as the directory sees it: every table of the directory page, built from the latest summaries.

Each function returns plain rows (dicts) so that the HTML page, the JSON API and the CSV
export show the same thing. Only listed nodes' verified summaries count.
"""

from __future__ import annotations

import json
import statistics
from datetime import datetime, timedelta

from sqlalchemy import func, select

from node.services.members import DEFAULT_TAXONOMY

from .tables import InitiativeRecord, Listing, PollRecord, Refusal, SummaryRecord

FIGURES = ("members", "active_30d", "active_180d", "proposals_open", "proposals_reviewed", "sif_in_circulation")


def listed(session) -> list[Listing]:
    return list(
        session.scalars(
            select(Listing).where(Listing.status == "listed").order_by(Listing.country, Listing.node_id)
        ).all()
    )


def uptime(session, since: datetime) -> dict[str, int]:
    """Per node: percent of polls since ``since`` that got a verified answer (up or slow)."""
    rows = session.execute(
        select(PollRecord.node_id, PollRecord.outcome, func.count())
        .where(PollRecord.at >= since)
        .group_by(PollRecord.node_id, PollRecord.outcome)
    ).all()
    total: dict[str, int] = {}
    good: dict[str, int] = {}
    for node_id, outcome, n in rows:
        total[node_id] = total.get(node_id, 0) + n
        if outcome in ("up", "slow"):
            good[node_id] = good.get(node_id, 0) + n
    return {node_id: round(100 * good.get(node_id, 0) / n) for node_id, n in total.items()}


def node_rows(session, now: datetime) -> list[dict]:
    """Every node that applied or is listed: its status, since when, key fingerprint and version."""
    up = uptime(session, now - timedelta(hours=24))
    rows = []
    for r in session.scalars(
        select(Listing).where(Listing.status != "delisted").order_by(Listing.country, Listing.node_id)
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
    rows = []
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


def flows(nodes: list[Listing]) -> dict:
    """Reviews and SIF between countries: who reviewed for whom, and which way SIF went (net)."""
    country = {n.node_id: n.country for n in nodes}
    reports = _reports(nodes)
    reviews: dict[tuple[str, str], int] = {}
    sif: dict[tuple[str, str], int] = {}
    for (a, b), entry in reports.items():
        ca, cb = country[a], country.get(b, f"{b} (unlisted)")
        if entry["reviews_given"]:  # the giver's report counts; the receiver's only when the giver is unlisted
            reviews[ca, cb] = reviews.get((ca, cb), 0) + entry["reviews_given"]
        if b not in country and entry["reviews_received"]:
            reviews[cb, ca] = reviews.get((cb, ca), 0) + entry["reviews_received"]
        # A positive position: the peer owes this node, so the peer's members paid this node's members, net.
        if b not in country or a < b or (b, a) not in reports:  # one report per pair
            owed = entry["position"]
            if owed > 0:
                sif[cb, ca] = sif.get((cb, ca), 0) + owed
            elif owed < 0:
                sif[ca, cb] = sif.get((ca, cb), 0) - owed
    labels = sorted({c for pair in list(reviews) + list(sif) for c in pair} | set(country.values()))
    return {
        "countries": labels,
        "reviews": _edges(reviews),
        "sif": _edges(sif),
        "reviews_matrix": _matrix(labels, reviews),
        "sif_matrix": _matrix(labels, sif),
    }


def _edges(values: dict[tuple[str, str], int]) -> list[dict]:
    return [{"from": a, "to": b, "amount": v} for (a, b), v in sorted(values.items()) if v]


def _matrix(labels: list[str], values: dict[tuple[str, str], int]) -> list[dict]:
    return [{"from": a, **{b: values.get((a, b), 0) for b in labels}} for a in labels]


def positions(nodes: list[Listing]) -> list[dict]:
    """Each pair's positions as both sides state them, and whether they agree (they must sum to zero)."""
    reports = _reports(nodes)
    rows = []
    for a, b in sorted({tuple(sorted(pair)) for pair in reports}):
        ab, ba = reports.get((a, b)), reports.get((b, a))
        a_says = ab["position"] if ab else None
        b_says = ba["position"] if ba else None
        if ab and ba:
            state = "agree" if a_says + b_says == 0 else "disagree"
        else:
            state = "one side reports"
        rows.append(
            {
                "node_a": a,
                "node_b": b,
                "a_says": a_says,
                "b_says": b_says,
                "sum": (a_says or 0) + (b_says or 0) if ab and ba else None,
                "state": state,
            }
        )
    return rows


def clearing(nodes: list[Listing]) -> list[dict]:
    """Clearing rounds reported in summaries, one row per round, newest first."""
    rounds: dict[str, dict] = {}
    for n in nodes:
        for c in (n.summary or {}).get("clearings") or ():
            row = rounds.setdefault(c["round_id"], {**c, "reported_by": []})
            row["reported_by"].append(n.node_id)
            row["applied"] = max(row["applied"], c["applied"])
    for row in rounds.values():
        row["participants"] = ", ".join(row["participants"])
        row["reported_by"] = ", ".join(sorted(row["reported_by"]))
    return sorted(rounds.values(), key=lambda r: r["applied"], reverse=True)


def initiatives(session) -> list[dict]:
    """Initiatives of listed nodes, with their node's country."""
    rows = session.execute(
        select(InitiativeRecord, Listing.country, Listing.name)
        .join(Listing, Listing.node_id == InitiativeRecord.node_id)
        .where(Listing.status == "listed")
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


def refusals(session, limit: int = 50) -> list[dict]:
    rows = session.scalars(select(Refusal).order_by(Refusal.at.desc(), Refusal.id.desc()).limit(limit)).all()
    return [{"at": r.at, "node_id": r.node_id, "source": r.source, "code": r.code, "message": r.message} for r in rows]


def history(session, node_id: str | None, since: datetime) -> dict:
    """Figures over time (from stored summaries) and latency per poll, for one node or the whole network."""
    stmt = select(SummaryRecord).where(SummaryRecord.received_at >= since).order_by(SummaryRecord.received_at)
    polls = select(PollRecord).where(PollRecord.at >= since).order_by(PollRecord.at)
    if node_id:
        stmt, polls = stmt.where(SummaryRecord.node_id == node_id), polls.where(PollRecord.node_id == node_id)
    before = select(func.max(SummaryRecord.id)).where(SummaryRecord.received_at < since)
    if node_id:
        before = before.where(SummaryRecord.node_id == node_id)
    # The figures each node had when the window opens, so that a quiet week still has a line.
    latest = {
        r.node_id: json.loads(r.envelope)["body"]
        for r in session.scalars(
            select(SummaryRecord).where(SummaryRecord.id.in_(before.group_by(SummaryRecord.node_id)))
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
