"""JSON API: funding leads (post, edit, withdraw, share with the network) and the topics a member follows."""

from __future__ import annotations

from flask import g, jsonify, request
from sqlalchemy.orm import Session

from .. import i18n
from ..context import node_ctx
from ..services import funding, topics
from ..tables import Member
from .base import BOOL, DATETIME, ApiBlueprint, arr, integer, json_body, obj, only_fields, string

api = ApiBlueprint("funding", "funding")

NULL_TIME = {"type": ["string", "null"], "format": "date-time"}
NULL_TEXT = {"type": ["string", "null"]}
_LEAD_PROPS = dict(
    id=integer(1),
    ref=string(64),
    title=string(200),
    url=string(2048),
    deadline=NULL_TIME,
    past=BOOL,
    countries=arr(string(2), funding.MAX_COUNTRIES),
    topics=arr(string(64), funding.MAX_TOPICS),
    description=string(1000),
    network_wide=BOOL,
    status=string(enum=["open", "withdrawn"]),
    origin_node=NULL_TEXT,
    origin_country=NULL_TEXT,
    poster=NULL_TEXT,
    poster_name=NULL_TEXT,
    created_at=DATETIME,
    updated_at=DATETIME,
    can_change=BOOL,
)
LEAD = obj(tuple(_LEAD_PROPS), **_LEAD_PROPS)
DEADLINE = string(
    64,
    description="A day (closing at its end) or a time without an offset, both in your time zone; or ISO 8601 "
    "with an offset. Empty or absent: no deadline.",
)
_FIELD_PROPS = dict(
    title=string(200, minLength=1),
    url=string(2048),
    deadline=DEADLINE,
    countries=arr(string(2), funding.MAX_COUNTRIES),
    topics=arr(string(64), funding.MAX_TOPICS),
    description=string(1000),
)
NEW_LEAD = obj(("title", "url"), **_FIELD_PROPS)
LEAD_CHANGES = obj(**_FIELD_PROPS)
PAGE = obj(
    ("leads", "page", "pages", "total"),
    leads=arr(LEAD),
    page=integer(1),
    pages=integer(1),
    total=integer(0),
)
TOPICS = obj(("topics",), topics=arr(string(64)))


def _me(session: Session) -> Member:
    return session.get_one(Member, g.member.id)


@api.route(
    "/funding",
    "GET",
    "Open funding leads, here and shared by peers: upcoming deadlines first; ?topic=, ?country= (leads open to any "
    "country included), ?past=1 adds those whose deadline passed; 20 a page (?page=)",
    response=PAGE,
    query={"topic": string(64), "country": string(2), "past": string(enum=["0", "1"]), "page": string(8)},
)
def list_leads():
    ctx = node_ctx()
    args, now = request.args, ctx.now()
    with ctx.db.read() as s:
        page = funding.list_leads(
            s,
            ctx.settings,
            now=now,
            topic=args.get("topic"),
            country=(args.get("country") or "").upper(),
            past=args.get("past") == "1",
            page=_number(args.get("page")),
        )
        leads = funding.views(s, page.leads, _me(s), now)
    return jsonify({"leads": leads, "page": page.number, "pages": page.pages, "total": page.total})


def _number(text: str | None) -> object:
    text = (text or "1").strip()
    return int(text) if text.isdigit() and len(text) < 10 else text


@api.route("/funding", "POST", "Post a funding lead (listed on this node)", body=NEW_LEAD, response=LEAD, status=201)
def post_lead():
    data = only_fields(json_body(), funding.FIELDS)
    ctx = node_ctx()
    now = ctx.now()
    with ctx.db.write() as s:
        me = _me(s)
        lead = funding.post_lead(s, ctx.settings, member=me, data=data, zone=i18n.current_time_zone(), now=now)
        (out,) = funding.views(s, [lead], me, now)
    return jsonify(out), 201


@api.route("/funding/<int:lead_id>", "GET", "One funding lead (a withdrawn one only for its poster)", response=LEAD)
def get_lead(lead_id: int):
    ctx = node_ctx()
    now = ctx.now()
    with ctx.db.read() as s:
        me = _me(s)
        (out,) = funding.views(s, [funding.get_lead(s, lead_id, me)], me, now)
    return jsonify(out)


@api.route(
    "/funding/<int:lead_id>",
    "POST",
    "Change some fields of a lead of this node (its poster or a coordinator)",
    body=LEAD_CHANGES,
    response=LEAD,
)
def update_lead(lead_id: int):
    data = only_fields(json_body(), funding.FIELDS)
    ctx = node_ctx()
    now = ctx.now()
    with ctx.db.write() as s:
        me = _me(s)
        lead = funding.update_lead(
            s, ctx.settings, member=me, lead_id=lead_id, data=data, zone=i18n.current_time_zone(), now=now
        )
        (out,) = funding.views(s, [lead], me, now)
    return jsonify(out)


@api.route(
    "/funding/<int:lead_id>/withdraw",
    "POST",
    "Withdraw a lead (its poster or a coordinator); shared, peers and the directory drop it too",
    response=LEAD,
)
def withdraw_lead(lead_id: int):
    only_fields(json_body(required=False), ())
    ctx = node_ctx()
    now = ctx.now()
    with ctx.db.write() as s:
        me = _me(s)
        lead = funding.withdraw_lead(s, member=me, lead_id=lead_id, now=now)
        (out,) = funding.views(s, [lead], me, now)
    return jsonify(out)


@api.route(
    "/funding/<int:lead_id>/network-wide",
    "POST",
    "A coordinator shares a lead with every peer node and the directory (true), or stops sharing it (false)",
    body=obj(("network_wide",), network_wide=BOOL),
    response=LEAD,
)
def network_wide(lead_id: int):
    data = only_fields(json_body(), ("network_wide",))
    ctx = node_ctx()
    now = ctx.now()
    with ctx.db.write() as s:
        me = _me(s)
        lead = funding.set_network_wide(s, member=me, lead_id=lead_id, network_wide=data.get("network_wide"), now=now)
        (out,) = funding.views(s, [lead], me, now)
    return jsonify(out)


@api.route("/me/topics", "GET", "The topics you follow", response=TOPICS)
def my_topics():
    ctx = node_ctx()
    with ctx.db.read() as s:
        return jsonify({"topics": topics.followed_topics(s, g.member.id)})


@api.route(
    "/me/topics",
    "PUT",
    "Follow exactly these topics: you are reminded before the deadlines of funding leads on them",
    body=TOPICS,
    response=TOPICS,
)
def follow_topics():
    data = only_fields(json_body(), ("topics",))
    ctx = node_ctx()
    with ctx.db.write() as s:
        chosen = topics.follow_topics(s, ctx.settings, member=_me(s), topics=data.get("topics"), now=ctx.now())
    return jsonify({"topics": chosen})
