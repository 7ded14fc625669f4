"""The coordinators' audit trail: who did what and when, filtered by action, actor and day; a page or CSV."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, render_template, request, stream_with_context, url_for

from .. import audit_words, labels
from ..clock import iso
from ..context import node_ctx
from ..services import audit
from .pages import coordinator_required, csv_line

bp = Blueprint("audit", __name__, url_prefix="/coordinator")


@bp.get("/audit")
@coordinator_required
def trail():
    ctx = node_ctx()
    args = request.args
    with ctx.db.read() as s:
        filters = audit.filters_from(s, args)
        lines, older = audit.page(s, filters, before=_cursor(args.get("before")))
        actors = audit.actors(s)
    kept: dict[str, Any] = {k: args[k] for k in ("action", "actor", "from", "to") if args.get(k)}
    return render_template(
        "coordinator_audit.html",
        lines=lines,
        actors=actors,
        actions=labels.LABELS["audit_action"],
        chosen=kept,
        older=url_for("audit.trail", **kept, before=older) if older else None,
        newest=url_for("audit.trail", **kept) if args.get("before") else None,
        csv_url=url_for("audit.export", **kept),
        operator=audit.OPERATOR,
    )


@bp.get("/audit.csv")
@coordinator_required
def export():
    """Every line the filters keep, newest first; the headers stay English (a machine format)."""
    ctx = node_ctx()
    with ctx.db.read() as s:
        filters = audit.filters_from(s, request.args)  # refused here, before the answer starts
    return Response(
        stream_with_context(_csv_rows(filters)),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=sifnet-audit.csv"},
    )


CSV_HEADER = ("id", "at", "actor", "action", "subject", "detail")


def _csv_rows(filters: audit.Filters) -> Iterator[str]:
    ctx = node_ctx()
    yield csv_line(CSV_HEADER)
    with ctx.db.read() as s:
        for e in audit.every(s, filters):
            detail = json.dumps(e["detail"], ensure_ascii=False, sort_keys=True)
            yield csv_line((e["id"], iso(e["at"]), e["actor"] or "", e["action"], e["subject"], detail))


def _cursor(value: object) -> int | None:
    """The `before` of an older page: a line's id; anything else shows the newest page."""
    return int(value) if isinstance(value, str) and value.isdigit() and len(value) < 16 else None


bp.add_app_template_global(audit_words.detail_text, "audit_detail")
bp.add_app_template_global(audit_words.subject_text, "audit_subject")
