"""Web pages for a member: dashboard, profile, statement, payments, export, closing, API tokens."""

from __future__ import annotations

import json
from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from sqlmodel import col

from .. import charts, countries, i18n, labels, notices
from ..clock import iso
from ..context import node_ctx
from ..services import directory, ledger, members, payments
from ..services import export as data_export
from ..services import statement as statement_service
from ..services.validate import Fields, clean_text
from ..tables import Member, Notification
from .pages import csv_line, form_action, logged_in_member, logged_in_member_id, login_required

bp = Blueprint("member", __name__)


def _me(s) -> Member:
    return s.get_one(Member, logged_in_member_id())


@bp.get("/dashboard")
@login_required
def dashboard():
    ctx = node_ctx()
    with ctx.db.read() as s:
        me = _me(s)
        if me.status != "active":  # waiting for approval (or refused): a page that says so, and what comes next
            return _waiting(s, me)
        assert me.id is not None
        account = ledger.member_account(s, me.id)
        assert account.id is not None
        lines, _older = statement_service.page(s, ctx.statement_kinds, account.id, size=5)
        rows = (
            s.query(Notification)
            .filter(col(Notification.member_id) == me.id)
            .order_by(col(Notification.id).desc())
            .limit(8)
            .all()
        )
        panels = [panel(s, me) for panel in DASHBOARD_PANELS]
    notes = [(n.created_at, *notices.for_reader(n, ctx.settings)) for n in rows]
    return render_template("dashboard.html", account=account, lines=lines, notes=notes, panels=panels)


def _waiting(s, me: Member):
    who = [m.display_name for m in members.coordinators(s)]
    reason = members.refusal_reason(s, me) if me.status == "refused" else ""
    return render_template("waiting.html", coordinators=who, reason=reason, grant=node_ctx().settings.welcome_grant)


# Other areas (advice, reviews) append functions (session, member) -> (title, template, context).
DASHBOARD_PANELS: list = []


@bp.route("/profile", methods=["GET", "POST"])
@login_required
@form_action("member.profile")
def profile():
    ctx = node_ctx()
    if request.method == "POST":
        form = request.form
        data = {
            "display_name": form.get("display_name", ""),
            "organisation": form.get("organisation", ""),
            "bio": form.get("bio", ""),
            "country": form.get("country", ""),
            "expertise": form.getlist("expertise"),
            "languages": form.getlist("languages"),
            "is_reviewer": form.get("is_reviewer") == "on",
            "pool_consent": form.get("pool_consent") == "on",
            "review_capacity": form.get("review_capacity", "3"),
            "language": form.get("language", ""),
            "time_zone": form.get("time_zone", ""),
            **{field: form.get(field) == "on" for field in directory.VISIBILITY_FIELDS},
        }
        data["review_capacity"] = int(str(data["review_capacity"])) if str(data["review_capacity"]).isdigit() else -1
        with ctx.db.write() as s:
            member = members.update_profile(s, ctx.settings, member=_me(s), data=data, now=ctx.now())
        g.member = member  # the flash below is in the language just chosen
        i18n.refresh()
        flash(_("Profile saved."), "info")
        return redirect(url_for("member.profile"), 303)
    with ctx.db.read() as s:
        me = _me(s)
    europe, others = countries.choices(i18n.current_language())
    return render_template(
        "profile.html",
        member=me,
        europe=europe,
        other_countries=others,
        taxonomy=members.taxonomy(ctx.settings),
        languages=members.LANGUAGES,
        common_zones=i18n.COMMON_TIME_ZONES,
        all_zones=sorted(i18n.time_zones()),
    )


@bp.get("/statement")
@login_required
def statement():
    ctx = node_ctx()
    args = request.args
    filters, before = statement_service.filters_from(args), statement_service.cursor(args.get("before"))
    with ctx.db.read() as s:
        account = ledger.member_account(s, logged_in_member_id())
        assert account.id is not None
        lines, older = statement_service.page(s, ctx.statement_kinds, account.id, filters, before=before)
        points = statement_service.balance_points(s, account, filters, ctx.now())
    kept: dict[str, Any] = {k: args[k] for k in ("from", "to") if args.get(k)}
    return render_template(
        "statement.html",
        account=account,
        lines=lines,
        chart=charts.balance_chart(points),
        chosen=kept,
        older=url_for("member.statement", **kept, before=older) if older else None,
        newest=url_for("member.statement", **kept) if before else None,
        csv_url=url_for("member.statement_csv", **kept),
    )


@bp.get("/statement.csv")
@login_required
def statement_csv():
    """The (filtered) statement as CSV: amounts as integers, ISO dates; the headers stay English (a machine format)."""
    ctx = node_ctx()
    filters = statement_service.filters_from(request.args)  # refused here, before the answer starts
    with ctx.db.read() as s:
        account_id = ledger.member_account(s, logged_in_member_id()).id
    assert account_id is not None
    name = f"sifnet-statement-{logged_in_member().handle}.csv"
    return Response(
        stream_with_context(_statement_rows(account_id, filters)),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={name}"},
    )


STATEMENT_CSV_HEADER = (
    "date", "time_utc", "description", "counterparty", "status", "amount", "balance_after", "note", "kind", "txn_id"
)  # fmt: skip


def _statement_rows(account_id: int, filters):
    ctx = node_ctx()
    yield csv_line(STATEMENT_CSV_HEADER)
    with ctx.db.read() as s:
        for line in statement_service.every(s, ctx.statement_kinds, account_id, filters):
            day = i18n.local_day(line.at)
            yield csv_line(
                (day, iso(line.at), line.description, line.counterparty, line.status)
                + (line.amount, line.balance_after, line.note, line.kind, line.txn_id)
            )


@bp.route("/pay", methods=["GET", "POST"])
@login_required
@form_action("member.pay")
def pay():
    ctx = node_ctx()
    if request.method == "GET":
        return render_template("pay.html", to=request.args.get("to", ""))
    form = request.form
    amount_raw = form.get("amount", "").strip()
    amount = int(amount_raw) if amount_raw.lstrip("-").isdigit() else amount_raw
    fields = Fields()
    to = fields(clean_text, form.get("to"), "to", max_len=64, required=True)
    fields(ledger.require_amount, amount)
    memo = fields(clean_text, form.get("memo"), "memo", max_len=280)
    fields.done()
    assert isinstance(amount, int)  # require_amount refused anything else
    to = to.lower()
    remote = node_ctx().remote_payments
    payments.check_address(ctx.settings, to=to, remote=remote)
    with ctx.db.write() as s:
        me = _me(s)
        members.require_active(me)
        out = payments.pay(
            s,
            ctx.settings,
            payer=me,
            to=to,
            amount=amount,
            memo=memo,
            now=ctx.now(),
            remote=remote,
        )
    if out["status"] == "pending":
        flash(
            _(
                "Sent %(amount)s to %(to)s; it shows as pending until %(node)s confirms.",
                amount=labels.amount(amount),
                to=to,
                node=to.split("@")[1],
            ),
            "info",
        )
        return redirect(url_for("member.statement"), 303)
    flash(_("Paid %(amount)s to %(to)s.", amount=labels.amount(amount), to=to), "info")
    return redirect(url_for("member.statement"), 303)


@bp.get("/export")
@login_required
def export():
    ctx = node_ctx()
    with ctx.db.read() as s:
        data = data_export.member_data(s, ctx.export_parts, _me(s))
    body = json.dumps(data, default=iso, indent=2, ensure_ascii=False)
    return Response(
        body, mimetype="application/json", headers={"Content-Disposition": "attachment; filename=sifnet-export.json"}
    )


@bp.route("/close", methods=["GET", "POST"])
@login_required
@form_action("member.close")
def close():
    ctx = node_ctx()
    if request.method == "GET":
        return render_template("close.html")
    if request.form.get("confirm", "").strip().casefold() not in confirmations():
        flash(_("Type “%(words)s” to confirm.", words=_(CLOSE_WORDS)), "error")
        return redirect(url_for("member.close"), 303)
    with ctx.db.write() as s:
        members.close_account(s, member=_me(s), now=ctx.now(), remote=ctx.remote_advice)
    session.clear()
    flash(_("Your account is closed. Thank you for your time."), "info")
    return redirect(url_for("auth.home"), 303)


# What a member types to close their account: the English words, or the words in the reader's language.
CLOSE_WORDS = labels.N_("close my account")


def confirmations() -> set[str]:
    return {CLOSE_WORDS, _(CLOSE_WORDS).strip().casefold()}


@bp.route("/tokens", methods=["GET", "POST"])
@login_required
@form_action("member.tokens")
def tokens():
    ctx = node_ctx()
    token = None
    if request.method == "POST":
        with ctx.db.write() as s:
            token = members.create_token(s, member=_me(s), name=request.form.get("name") or "api", now=ctx.now())
    return render_template("tokens.html", token=token)
