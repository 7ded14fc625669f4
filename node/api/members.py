"""JSON API: sign-up, tokens, profile, statement, transfers, export and closing."""

from __future__ import annotations

from flask import current_app, g, jsonify, request
from sqlalchemy.orm import Session

from .. import i18n, labels
from ..context import node_ctx
from ..errors import DomainError
from ..services import directory, export, ledger, logins, members, payments, resets, search, signups, statement
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
IN_DIRECTORY_HELP = (
    "listed in the member directory, where active members of this node find you by name, and by the parts you "
    "show; off until you switch it on"
)
SHOW_HELP = "show your %s in the directory and on your profile (only while you are listed)"
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
        "in_directory": {**BOOL, "description": IN_DIRECTORY_HELP},
        **{switch: {**BOOL, "description": SHOW_HELP % part} for part, switch in directory.SHOWABLE.items()},
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
    in_directory={**BOOL, "description": IN_DIRECTORY_HELP},
    **{switch: {**BOOL, "description": SHOW_HELP % part} for part, switch in directory.SHOWABLE.items()},
)
# Another member as the directory and their profile show them: the parts they chose, nothing else.
PUBLIC_PROFILE = obj(
    ("id", "handle", "address", "display_name", "role", "status", "in_directory"),
    id=integer(),
    handle=string(),
    address=string(),
    display_name=string(),
    role=string(),
    status=string(),
    in_directory={**BOOL, "description": "listed in the directory; when false, nothing but the name is shown"},
    organisation=string(),
    bio=string(),
    languages=arr(string()),
    expertise=arr(string()),
    country=string(),
    is_reviewer=BOOL,
)
DIRECTORY_QUERY = {
    "q": string(
        200, description="words of the name, handle or (if shown) organisation; each a prefix, any case or accent"
    ),
    "expertise": string(64, description="an expertise tag (GET /taxonomy)"),
    "language": string(8, description="a spoken language (GET /taxonomy)"),
    "country": string(2, description="a two-letter country code"),
    "cursor": string(400, description="next_cursor of the previous page"),
    "limit": string(3, pattern="^[0-9]+$", description="results per page, 1 to 100 (20)"),
}
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


def profile_json(session: Session, member: Member) -> dict:
    """A member's own profile, everything in it (what others see: directory.public_view)."""
    ctx = node_ctx()
    assert member.id is not None
    return {
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
        "email": member.email,
        "pseudonym": member.pseudonym,
        "pool_consent": member.pool_consent,
        "review_capacity": member.review_capacity,
        "unit": ctx.settings.unit,
        "language": member.language,
        "time_zone": member.time_zone,
        "balance": ledger.member_account(session, member.id).balance,
        **{field: getattr(member, field) for field in directory.VISIBILITY_FIELDS},
    }


@api.route(
    "/signup",
    "POST",
    "Sign up: every field is checked, then a link to finish is mailed (the same answer whether or not the "
    "address has an account)",
    auth=False,
    status=202,
    body=obj(
        ("email", "password", "display_name"),
        email=string(254),
        password=string(256),
        display_name=string(120),
        handle=string(32),
        language=string(8),
    ),
    response={"type": "object", "properties": {"status": string()}},
)
def signup():
    data = only_fields(json_body(), ("email", "password", "display_name", "handle", "language"))
    ctx = node_ctx()
    with ctx.db.write() as session:
        signups.ask(
            session,
            ctx.settings,
            email=data.get("email"),
            password=data.get("password"),
            display_name=data.get("display_name"),
            handle=data.get("handle"),
            language=data.get("language") or "",
            hasher=ctx.hasher,
            now=ctx.now(),
        )
    return jsonify({"status": "confirmation_mailed"}), 202


@api.route(
    "/signup/confirm",
    "POST",
    "Finish signing up with the token of the mailed link (once): the account is made",
    auth=False,
    status=201,
    body=obj(("token",), token=string(100)),
    response=PROFILE,
)
def confirm_signup():
    data = only_fields(json_body(), ("token",))
    ctx = node_ctx()
    with ctx.db.write() as session:
        member = signups.confirm(session, ctx.settings, token=data.get("token"), now=ctx.now())
        out = profile_json(session, member)
    return jsonify(out), 201


@api.route(
    "/password/forgot",
    "POST",
    "Ask for a mailed link to choose a new password (the same answer whether or not the address has an account)",
    auth=False,
    status=202,
    body=obj(("email",), email=string(254)),
    response={"type": "object", "properties": {"status": string()}},
)
def forgot_password():
    data = only_fields(json_body(), ("email",))
    ctx = node_ctx()
    with ctx.db.write() as session:
        resets.ask_for_link(
            session, ctx.settings, email=data.get("email"), secret=current_app.config["SECRET_KEY"], now=ctx.now()
        )
    return jsonify({"status": "mailed_if_known"}), 202


@api.route(
    "/password/reset",
    "POST",
    "Set a new password with the token of a mailed link (once; every session and token of the member ends)",
    auth=False,
    body=obj(("token", "password"), token=string(500), password=string(256)),
    response={"type": "object", "properties": {"status": string()}},
)
def reset_password():
    data = only_fields(json_body(), ("token", "password"))
    ctx = node_ctx()
    with ctx.db.write() as session:
        resets.set_new_password(
            session,
            token=data.get("token"),
            password=data.get("password"),
            secret=current_app.config["SECRET_KEY"],
            hasher=ctx.hasher,
            now=ctx.now(),
        )
    return jsonify({"status": "password_changed"})


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
        member = session.get_one(Member, member.id)
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
            session, ctx.settings, member=session.get_one(Member, g.member.id), data=data, now=ctx.now()
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
        assert account.id is not None
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
        return jsonify(export.member_data(session, ctx.export_parts, session.get_one(Member, g.member.id)))


@api.route("/me/close", "POST", "Close your account (balance retired, profile pseudonymized)", response=PROFILE)
def close_me():
    ctx = node_ctx()
    with ctx.db.write() as session:
        member = members.close_account(
            session, member=session.get_one(Member, g.member.id), now=ctx.now(), remote=ctx.remote_advice
        )
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
    if payments.must_ask(ctx.settings, to, remote):  # ask the payee's node first, outside the transaction
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
        assert payer.id is not None
        out["balance"] = ledger.member_account(session, payer.id).balance
    return jsonify(out), 201


@api.route(
    "/members",
    "GET",
    "The member directory: active members of this node who chose to be listed, by name, with the parts they show; "
    "filter with q, expertise, language, country",
    response=obj(("members", "next_cursor"), members=arr(PUBLIC_PROFILE), next_cursor=string()),
    query=DIRECTORY_QUERY,
)
def member_directory():
    ctx = node_ctx()
    args = request.args
    found = directory.filters(
        ctx.settings,
        q=args.get("q"),
        expertise=args.get("expertise"),
        language=args.get("language"),
        country=args.get("country"),
    )
    limit = search.page_size(args.get("limit"), directory.PAGE)
    with ctx.db.read() as session:
        members.require_active(g.member)  # the directory is for the node's members, not for anyone who signs up
        page, next_cursor = directory.search_members(session, found, cursor=args.get("cursor"), limit=limit)
        out = [directory.public_view(m, ctx.settings.node_id) for m in page]
    return jsonify({"members": out, "next_cursor": next_cursor})


@api.route(
    "/members/<handle>",
    "GET",
    "A member's profile as other members see it (yours too: GET /me has everything): name and handle, and the "
    "parts they show if they are listed",
    response=PUBLIC_PROFILE,
)
def public_profile(handle: str):
    ctx = node_ctx()
    with ctx.db.read() as session:
        members.require_active(g.member)
        member = directory.visible_member(session, handle)
        return jsonify(directory.public_view(member, ctx.settings.node_id))


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
