"""JSON API: the advice exchange (listings, sessions, escrow, disputes)."""

from __future__ import annotations

from flask import g, jsonify, request
from sqlalchemy.orm import Session

from ..context import node_ctx
from ..lifecycle import BOOKING as BOOKING_STATES
from ..services import advice, advice_feedback, advice_listings, members, search
from ..tables import AdviceBooking, Member
from .base import BOOL, DATETIME, ApiBlueprint, arr, integer, json_body, obj, only_fields, string

api = ApiBlueprint("advice", "advice")

NULL_TIME = {"type": ["string", "null"], "format": "date-time"}
NULL_INT = {"type": ["integer", "null"]}
STATES = sorted(BOOKING_STATES.transitions)
KIND = string(enum=list(advice_listings.KINDS))
# Where a peer's offer, or a session across a border, comes from: the peer node and its country.
ABROAD = {**obj(("node", "country"), node=string(32), country=string(2)), "type": ["object", "null"]}

LISTING = obj(
    (
        "id",
        "kind",
        "title",
        "description",
        "tags",
        "rate",
        "status",
        "author",
        "author_name",
        "created_at",
        "network_wide",
        "abroad",
    ),
    id=integer(1),
    kind=KIND,
    title=string(160),
    description=string(4000),
    tags=arr(string(64)),
    rate=integer(1),
    status=string(enum=["open", "closed"]),
    author=string(64, description="the author's handle; for an offer from abroad the adviser's pseudonym"),
    author_name=string(120, description="the author's name; for an offer from abroad the adviser's pseudonym"),
    created_at=DATETIME,
    network_wide={**BOOL, "description": "the author shares this offer with members of peer nodes"},
    abroad=ABROAD,
)
NEW_LISTING = obj(
    ("kind", "title"),
    kind=KIND,
    title=string(160, minLength=1),
    description=string(4000),
    tags=arr(string(64), 8),
    rate=integer(1, advice_listings.MAX_RATE),
    network_wide={**BOOL, "description": "share this offer with members of peer nodes (offers only; off by default)"},
)
_BOOKING_PROPS = dict(
    id=integer(1),
    listing_id={**integer(1), "type": ["integer", "null"], "description": "null once a peer's offer is unshared"},
    listing_title=string(160),
    listing_kind=KIND,
    provider=string(64),
    provider_name=string(120),
    receiver=string(32),
    receiver_name=string(120),
    hours=integer(1, advice.MAX_HOURS),
    rate=integer(1),
    amount=integer(1),
    scheduled_for=NULL_TIME,
    note=string(1000),
    status=string(enum=STATES),
    claimed_at=NULL_TIME,
    dispute_by=NULL_TIME,
    dispute_reason=string(1000),
    resolution=string(1000),
    created_at=DATETIME,
    settled_at=NULL_TIME,
    provider_amount=NULL_INT,
    refunded_amount=NULL_INT,
    accepted_at=NULL_TIME,
    my_role=string(enum=["provider", "receiver", "coordinator"]),
    actions=arr(string(enum=list(advice.ACTIONS))),
    abroad={
        **obj(
            ("node", "country", "payment"),
            node=string(32),
            country=string(2),
            payment={"type": ["string", "null"], "enum": ["pending", "completed", "returned", None]},
        ),
        "type": ["object", "null"],
        "description": "null for a session on this node; for one across a border the peer node, its country and"
        " what became of the payment to the adviser (its actions are at /advice/abroad/{id})",
    },
)
BOOKING = obj(tuple(_BOOKING_PROPS), **_BOOKING_PROPS)
BOOK = obj(("hours",), hours=integer(1, advice.MAX_HOURS), scheduled_for=DATETIME, note=string(1000))
REASON = obj(reason=string(900))
FEEDBACK_IN = obj(("rating",), rating=integer(1, 5), comment=string(advice_feedback.MAX_COMMENT))
FEEDBACK = obj(("rating", "comment", "created_at"), rating=integer(1, 5), comment=string(500), created_at=DATETIME)
RESOLVE = obj(
    ("outcome", "note"),
    outcome=string(enum=list(advice.OUTCOMES)),
    note=string(900, minLength=1),
    provider_amount=integer(1),
)


def _me(session: Session) -> Member:
    return session.get_one(Member, g.member.id)


@api.route(
    "/advice/listings",
    "GET",
    "Open offers and requests, newest first, a page at a time; filter with ?kind=offer|request&tag=<tag>&q=<words>",
    response=obj(("listings", "next_cursor"), listings=arr(LISTING), next_cursor=string()),
    query={
        "kind": KIND,
        "tag": string(64),
        "q": string(200, description="words of the title or description; each a prefix, any case or accent"),
        "cursor": string(400, description="next_cursor of the previous page"),
        "limit": string(3, pattern="^[0-9]+$", description="results per page, 1 to 100 (50)"),
    },
)
def list_listings():
    ctx = node_ctx()
    args = request.args
    limit = search.page_size(args.get("limit"), advice_listings.PAGE)
    with ctx.db.read() as session:
        rows, next_cursor = advice_listings.list_listings(
            session,
            ctx.settings,
            kind=args.get("kind"),
            tag=args.get("tag"),
            q=args.get("q"),
            cursor=args.get("cursor"),
            limit=limit,
            shown_origins=advice_listings.origins(session, ctx.remote_advice),
        )
        listings = [advice_listings.listing_view(listing, author) for listing, author in rows]
    return jsonify({"listings": listings, "next_cursor": next_cursor})


@api.route(
    "/advice/listings", "POST", "Post an offer or a request for advice", body=NEW_LISTING, response=LISTING, status=201
)
def create_listing():
    data = only_fields(json_body(), ("kind", "title", "description", "tags", "rate", "network_wide"))
    ctx = node_ctx()
    with ctx.db.write() as session:
        me = _me(session)
        listing = advice_listings.create_listing(session, ctx.settings, member=me, data=data, now=ctx.now())
        out = advice_listings.listing_view(listing, me)
    return jsonify(out), 201


@api.route(
    "/advice/listings/<int:listing_id>",
    "GET",
    "One listing (a closed one only for its author; an offer from abroad while its node is an active peer)",
    response=LISTING,
)
def get_listing(listing_id: int):
    ctx = node_ctx()
    with ctx.db.read() as session:
        shown = advice_listings.origins(session, ctx.remote_advice)
        listing = advice_listings.get_listing(session, listing_id, _me(session), shown)
        author = session.get(Member, listing.member_id) if listing.member_id is not None else None
        return jsonify(advice_listings.listing_view(listing, author))


@api.route(
    "/advice/listings/<int:listing_id>/close", "POST", "Close your listing (booked sessions go on)", response=LISTING
)
def close_listing(listing_id: int):
    only_fields(json_body(required=False), ())
    ctx = node_ctx()
    with ctx.db.write() as session:
        me = _me(session)
        listing = advice_listings.close_listing(session, member=me, listing_id=listing_id, now=ctx.now())
        out = advice_listings.listing_view(listing, me)
    return jsonify(out)


@api.route(
    "/advice/listings/<int:listing_id>/network-wide",
    "POST",
    "Share your offer with members of peer nodes (under your pseudonym), or stop sharing it",
    body=obj(("network_wide",), network_wide=BOOL),
    response=LISTING,
)
def share_listing(listing_id: int):
    data = only_fields(json_body(), ("network_wide",))
    ctx = node_ctx()
    with ctx.db.write() as session:
        me = _me(session)
        listing = advice_listings.set_network_wide(
            session, member=me, listing_id=listing_id, network_wide=data.get("network_wide"), now=ctx.now()
        )
        out = advice_listings.listing_view(listing, me)
    return jsonify(out)


@api.route(
    "/advice/listings/<int:listing_id>/book",
    "POST",
    "Book a session on an offer (your SIF go into escrow) or propose one on a request (the author accepts and pays);"
    " an offer from abroad is booked across the border (`abroad` set; your name goes to the adviser's node)",
    body=BOOK,
    response=BOOKING,
    status=201,
)
def book(listing_id: int):
    data = only_fields(json_body(), ("hours", "scheduled_for", "note"))
    ctx = node_ctx()
    with ctx.db.write() as session:
        me = _me(session)
        booking = advice.book(
            session,
            ctx.settings,
            member=me,
            listing_id=listing_id,
            data=data,
            now=ctx.now(),
            remote=ctx.remote_advice,
        )
        if isinstance(booking, AdviceBooking):
            out = advice.booking_view(session, booking, me, ctx.now())
        else:
            assert ctx.remote_advice is not None
            out = ctx.remote_advice.view(session, booking, me, ctx.now())
    return jsonify(out), 201


@api.route(
    "/advice/bookings",
    "GET",
    "Sessions you give or receive, newest first",
    response=obj(("bookings",), bookings=arr(BOOKING)),
)
def my_bookings():
    ctx = node_ctx()
    with ctx.db.read() as session:
        me = _me(session)
        assert me.id is not None
        rows = advice.my_bookings(session, me.id)
        return jsonify({"bookings": [advice.booking_view(session, b, me, ctx.now()) for b in rows]})


@api.route("/advice/bookings/<int:booking_id>", "GET", "One of your sessions", response=BOOKING)
def get_booking(booking_id: int):
    ctx = node_ctx()
    with ctx.db.read() as session:
        me = _me(session)
        return jsonify(advice.booking_view(session, advice.get_booking(session, booking_id, me), me, ctx.now()))


def _act(booking_id: int, action, **kwargs):
    """Run one party action in a write transaction and answer with the session."""
    ctx = node_ctx()
    with ctx.db.write() as session:
        me = _me(session)
        booking = action(session, member=me, booking_id=booking_id, now=ctx.now(), **kwargs)
        out = advice.booking_view(session, booking, me, ctx.now())
    return jsonify(out)


@api.route(
    "/advice/bookings/<int:booking_id>/accept",
    "POST",
    "Accept: as receiver a proposed session on your request (your SIF go into escrow), as adviser a booking"
    " of your offer (its SIF stay in escrow until the session has taken place)",
    response=BOOKING,
)
def accept_booking(booking_id: int):
    only_fields(json_body(required=False), ())
    return _act(booking_id, advice.accept)


@api.route(
    "/advice/bookings/<int:booking_id>/decline",
    "POST",
    "Decline, with a reason: as adviser a booking you have not accepted (its SIF go back), as receiver a"
    " proposed session",
    body=obj(("reason",), reason=string(900, minLength=1)),
    response=BOOKING,
)
def decline_booking(booking_id: int):
    data = only_fields(json_body(), ("reason",))
    return _act(booking_id, advice.decline, reason=data.get("reason"))


@api.route(
    "/advice/bookings/<int:booking_id>/feedback",
    "POST",
    "Feedback on a session that took place (either party, once): a rating of 1 to 5 and a short comment",
    body=FEEDBACK_IN,
    response=FEEDBACK,
    status=201,
)
def give_feedback(booking_id: int):
    data = only_fields(json_body(), ("rating", "comment"))
    ctx = node_ctx()
    with ctx.db.write() as session:
        row = advice_feedback.give(session, member=_me(session), booking_id=booking_id, data=data, now=ctx.now())
        out = {"rating": row.rating, "comment": row.comment, "created_at": row.created_at}
    return jsonify(out), 201


@api.route(
    "/advice/bookings/<int:booking_id>/confirm",
    "POST",
    "Confirm the session took place (receiver; not before its planned time); the provider is paid at once",
    response=BOOKING,
)
def confirm_booking(booking_id: int):
    only_fields(json_body(required=False), ())
    return _act(booking_id, advice.confirm)


@api.route(
    "/advice/bookings/<int:booking_id>/claim",
    "POST",
    "Claim the session took place (provider); it pays after the dispute period",
    response=BOOKING,
)
def claim_booking(booking_id: int):
    only_fields(json_body(required=False), ())
    ctx = node_ctx()
    return _act(booking_id, lambda session, **kw: advice.claim(session, ctx.settings, **kw))


@api.route(
    "/advice/bookings/<int:booking_id>/dispute",
    "POST",
    "Dispute a claimed session before its deadline (receiver), with a reason",
    body=obj(("reason",), reason=string(1000, minLength=1)),
    response=BOOKING,
)
def dispute_booking(booking_id: int):
    data = only_fields(json_body(), ("reason",))
    return _act(booking_id, advice.dispute, reason=data.get("reason"))


@api.route(
    "/advice/bookings/<int:booking_id>/cancel",
    "POST",
    "Cancel a session before it is claimed (either party); held SIF go back",
    body=REASON,
    response=BOOKING,
)
def cancel_booking(booking_id: int):
    data = only_fields(json_body(required=False), ("reason",))
    return _act(booking_id, advice.cancel, reason=data.get("reason"))


@api.route(
    "/coordinator/disputes",
    "GET",
    "Disputed advice sessions waiting for a coordinator",
    response=obj(("bookings",), bookings=arr(BOOKING)),
)
def disputes():
    ctx = node_ctx()
    with ctx.db.read() as session:
        me = _me(session)
        members.require_coordinator(me)
        rows = advice.open_disputes(session)
        return jsonify({"bookings": [advice.booking_view(session, b, me, ctx.now()) for b in rows]})


@api.route(
    "/coordinator/bookings/<int:booking_id>/resolve",
    "POST",
    "Settle a disputed session: pay the provider, refund the receiver, or split (provider_amount)",
    body=RESOLVE,
    response=BOOKING,
)
def resolve(booking_id: int):
    data = only_fields(json_body(), ("outcome", "note", "provider_amount"))
    ctx = node_ctx()
    with ctx.db.write() as session:
        me = _me(session)
        booking = advice.resolve(
            session,
            coordinator=me,
            booking_id=booking_id,
            outcome=data.get("outcome"),
            note=data.get("note"),
            provider_amount=data.get("provider_amount"),
            now=ctx.now(),
        )
        out = advice.booking_view(session, booking, me, ctx.now())
    return jsonify(out)
