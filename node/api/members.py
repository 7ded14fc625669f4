"""JSON API: sign-up, tokens, profile, statement, transfers, export and closing."""

from __future__ import annotations

from flask import g, jsonify, request
from flask_babel import gettext as _

from .. import i18n, labels
from ..context import node_ctx
from ..errors import DomainError, NotFoundError
from ..services import ledger, logins, members, payments, statement
from ..services.validate import clean_text, whole_number
from ..tables import Member
from .base import (
    AMOUNT,
    ANY_OBJECT,
    BOOL,
    DATETIME,
    ApiBlueprint,
    arr,
    integer,
    json_body,
    obj,
    only_fields,
    string,
    token_member,
)

api = ApiBlueprint("members", "members")

LANGUAGE_HELP = "language of pages, mails and API messages; empty: not chosen (the browser's, else the node's)"
TIME_ZONE_HELP = "IANA time zone (e.g. Europe/Brussels) of times on pages and in mails; empty: the node's"
PROFILE = {
    "type": "object",
    "properties": {
        "id": integer(),
        "email": string(),
        "handle": string(),
        "address": string(),
        "pseudonym": string(),
        "display_name": string(),
        "organisation": string(),
        "expertise": arr(string()),
        "languages": arr(string()),
        "country": string(),
        "bio": string(),
        "role": string(),
        "status": string(),
        "is_reviewer": BOOL,
        "pool_consent": BOOL,
        "review_capacity": integer(),
        "balance": integer(),
        "unit": string(),
        "language": string(enum=["", *i18n.LANGUAGES], description=LANGUAGE_HELP),
        "time_zone": string(description=TIME_ZONE_HELP),
    },
    "required": ["id", "handle", "status", "role"],
}
PROFILE_PATCH = obj(
    display_name=string(120),
    organisation=string(120),
    bio=string(2000),
    country=string(2),
    expertise=arr(string(64), 12),
    languages=arr(string(8), 8),
    is_reviewer=BOOL,
    pool_consent=BOOL,
    review_capacity=integer(0, 20),
    language=string(enum=["", *i18n.LANGUAGES], description=LANGUAGE_HELP),
    time_zone=string(64, description=TIME_ZONE_HELP),
)
STATEMENT_LINE = obj(
    posting_id=integer(),
    txn_id=integer(),
    kind=string(description="the transaction's kind, a stable code"),
    memo=string(description="what the ledger stored (English, or the payer's own words)"),
    amount=integer(),
    balance_after=integer(),
    at=DATETIME,
    description=string(description="what happened, in the request's language"),
    counterparty=string(description='who or what is on the other side, in words ("Welcome grant", "Bert")'),
    status=string(enum=["completed", "held", "paid", "refunded", "split", "pending", "returned"]),
    status_text=string(description="the status in the request's language"),
    note=string(description="the member's own memo, when the line has one"),
)
STATEMENT_QUERY = {
    "from": string(10, format="date", description="from this day on, in your time zone"),
    "to": string(10, format="date", description="up to and including this day, in your time zone"),
    "before": string(15, pattern="^[0-9]{1,15}$", description="next_before of the previous page"),
    "limit": string(3, pattern="^[0-9]{1,3}$", description="lines per page, 1 to 500 (default 200)"),
}
TXN = {
    "type": "object",
    "properties": {
        "txn_id": integer(),
        "transfer_id": string(),
        "amount": integer(),
        "balance": integer(),
        "status": string(enum=["completed", "pending"]),
    },
    "required": ["amount", "balance", "status"],
}


def profile_json(session, member: Member, *, private: bool = True) -> dict:
    """A member's profile as the API shows it (email and balance only to the member themself)."""
    ctx = node_ctx()
    out = {
        "id": member.id,
        "handle": member.handle,
        "address": f"{member.handle}@{ctx.settings.node_id}",
        "display_name": member.display_name,
        "organisation": member.organisation,
        "expertise": member.expertise,
        "languages": member.languages,
        "country": member.country,
        "bio": member.bio,
        "role": member.role,
        "status": member.status,
        "is_reviewer": member.is_reviewer,
    }
    if private:
        out.update(
            email=member.email,
            pseudonym=member.pseudonym,
            pool_consent=member.pool_consent,
            review_capacity=member.review_capacity,
            unit=ctx.settings.unit,
            language=member.language,
            time_zone=member.time_zone,
            balance=ledger.member_account(session, member.id).balance,
        )
    return out


@api.route(
    "/signup",
    "POST",
    "Sign up with email and password",
    auth=False,
    status=201,
    body=obj(
        ("email", "password", "display_name"),
        email=string(254),
        password=string(256),
        display_name=string(120),
        handle=string(32),
    ),
    response=PROFILE,
)
def signup():
    data = only_fields(json_body(), ("email", "password", "display_name", "handle"))
    ctx = node_ctx()
    with ctx.db.write() as session:
        member = members.sign_up(
            session,
            ctx.settings,
            email=data.get("email"),
            password=data.get("password"),
            display_name=data.get("display_name"),
            handle=data.get("handle"),
            now=ctx.now(),
            hasher=ctx.hasher,
        )
        out = profile_json(session, member)
    return jsonify(out), 201


@api.route(
    "/tokens",
    "POST",
    "Exchange email and password for an API token",
    auth=False,
    status=201,
    body=obj(("email", "password"), email=string(254), password=string(256), name=string(80)),
    response={"type": "object", "properties": {"token": string(), "member": PROFILE}},
)
def create_token():
    data = only_fields(json_body(), ("email", "password", "name"))
    ctx = node_ctx()
    # The same throttles as the login form (no trusted browser here: the API takes no cookies).
    member = logins.log_in(ctx, email=data.get("email"), password=data.get("password"), address=request.remote_addr)
    with ctx.db.write() as session:
        member = session.get(Member, member.id)
        token = members.create_token(session, member=member, name=data.get("name") or "api", now=ctx.now())
        out = {"token": token, "member": profile_json(session, member)}
    return jsonify(out), 201


@api.route("/me", "GET", "Your profile and balance", response=PROFILE, token_in_view=True)
def me():
    ctx = node_ctx()
    # Clients poll this for the balance: one read transaction, two queries.
    with ctx.db.read() as session:
        return jsonify(profile_json(session, token_member(session, whole=True)))


@api.route("/me", "PATCH", "Change your profile", body=PROFILE_PATCH, response=PROFILE)
def patch_me():
    data = json_body()
    ctx = node_ctx()
    with ctx.db.write() as session:
        member = members.update_profile(
            session, ctx.settings, member=session.get(Member, g.member.id), data=data, now=ctx.now()
        )
        out = profile_json(session, member)
    return jsonify(out)


@api.route(
    "/me/statement",
    "GET",
    "Your statement with running balance, newest first, a page at a time (next_before: the next, older page)",
    response={
        "type": "object",
        "properties": {
            "balance": integer(),
            "lines": arr(STATEMENT_LINE),
            "next_before": {"type": ["integer", "null"]},
        },
    },
    query=STATEMENT_QUERY,
)
def my_statement():
    ctx = node_ctx()
    args = request.args
    filters, before = statement.filters_from(args), statement.cursor(args.get("before"))
    size = whole_number(
        int(args["limit"]) if args.get("limit", "").isdigit() else args.get("limit", 200), "limit", 1, 500
    )
    with ctx.db.read() as session:
        account = ledger.member_account(session, g.member.id)
        lines, older = statement.page(session, ctx.statement_kinds, account.id, filters, before=before, size=size)
        return jsonify(
            {"balance": account.balance, "lines": [_line_json(line) for line in lines], "next_before": older}
        )


def _line_json(line: statement.Line) -> dict:
    out = {k: getattr(line, k) for k in ("posting_id", "txn_id", "kind", "memo", "amount", "balance_after", "at")}
    out.update(
        description=line.description or labels.label(line.kind, "transaction_kind"),
        counterparty=line.counterparty,
        status=line.status,
        status_text=labels.label(line.status, "statement_status"),
        note=line.note,
    )
    return out


@api.route("/me/export", "GET", "Everything the node holds about you, as JSON", response=ANY_OBJECT)
def export_me():
    ctx = node_ctx()
    with ctx.db.read() as session:
        return jsonify(members.export_data(session, session.get(Member, g.member.id)))


@api.route("/me/close", "POST", "Close your account (balance retired, profile pseudonymized)", response=PROFILE)
def close_me():
    ctx = node_ctx()
    with ctx.db.write() as session:
        member = members.close_account(session, member=session.get(Member, g.member.id), now=ctx.now())
        out = {"id": member.id, "handle": member.handle, "status": member.status, "role": member.role}
    return jsonify(out)


@api.route(
    "/transfers",
    "POST",
    "Pay a member of this node (handle) or of a peer node (handle@node)",
    status=201,
    body=obj(("to", "amount"), to=string(64), amount=AMOUNT, memo=string(280)),
    response=TXN,
    token_in_view=True,
)
def create_transfer():
    ctx = node_ctx()
    remote = node_ctx().remote_payments
    try:  # the address only; a body error is answered below, after the token
        to = json_body().get("to")
    except DomainError:
        to = None
    if payments.is_remote(ctx.settings, to):  # ask the payee's node first, outside the transaction
        with ctx.db.read() as session:
            token_member(session)  # only a member may make this node ask a peer
        payments.check_address(ctx.settings, to=to, remote=remote)
    # The hot path: the token lookup also loads the payer, inside the one write transaction.
    with ctx.db.write() as session:
        payer = token_member(session)
        data = only_fields(json_body(), ("to", "amount", "memo"))
        members.require_active(payer)
        memo = clean_text(data.get("memo"), "memo", max_len=280)
        out = payments.pay(
            session,
            ctx.settings,
            payer=payer,
            to=data.get("to"),
            amount=data.get("amount"),
            memo=memo,
            now=ctx.now(),
            remote=remote,
        )
        out["balance"] = ledger.member_account(session, payer.id).balance
    return jsonify(out), 201


@api.route("/members/<handle>", "GET", "A member's public profile", response=PROFILE)
def public_profile(handle: str):
    ctx = node_ctx()
    with ctx.db.read() as session:
        member = members.find_by_handle(session, handle)
        if member.status != "active":
            raise NotFoundError(_("There is no such member."), code="member_not_found")
        return jsonify(profile_json(session, member, private=False))


@api.route(
    "/taxonomy",
    "GET",
    "Expertise tags and languages this node knows",
    auth=False,
    response={"type": "object", "properties": {"expertise": arr(string()), "languages": arr(string())}},
)
def get_taxonomy():
    ctx = node_ctx()
    return jsonify({"expertise": list(members.taxonomy(ctx.settings)), "languages": list(members.LANGUAGES)})
