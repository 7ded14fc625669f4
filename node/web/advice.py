"""Web pages of the advice exchange: the market, a listing, my sessions, dashboard and dispute panels."""

from __future__ import annotations

from typing import cast

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from .. import i18n, labels
from ..context import node_ctx
from ..services import advice, advice_feedback, advice_listings, members
from ..tables import AdviceBooking, Member
from .coordinator import COORDINATOR_PANELS
from .member import DASHBOARD_PANELS
from .pages import (
    NAV_LINKS,
    coordinator_required,
    form_action,
    logged_in_member,
    logged_in_member_id,
    login_required,
)

bp = Blueprint("advice", __name__)
PARTY_ACTIONS = ("accept", "decline", "confirm", "claim", "dispute", "cancel")
# What the page says when a party's action on a session is done.
DONE = {
    "accept": _l("Session accepted; %(amount)s are held in escrow until it is settled."),
    "decline": _l("Session declined; any SIF held for it went back to the receiver."),
    "confirm": _l("Session confirmed; the provider is paid %(amount)s."),
    "claim": _l("Session claimed; unless the receiver disputes it by %(dispute_by)s, you are paid %(amount)s."),
    "dispute": _l("Session disputed; a coordinator will settle it."),
    "cancel": _l("Session cancelled."),
}


def _me(s) -> Member:
    return s.get_one(Member, logged_in_member_id())


def _int(text: str | None) -> object:
    """Digits from a form become an int; anything else is passed on for the service to refuse."""
    text = (text or "").strip()
    return int(text) if text.isdigit() and len(text) < 16 else text


@bp.get("/advice")
@login_required
def market():
    ctx = node_ctx()
    kind, tag, q = request.args.get("kind", ""), request.args.get("tag", ""), request.args.get("q", "")
    cursor = request.args.get("cursor", "")
    with ctx.db.read() as s:
        shown = advice_listings.origins(s, ctx.remote_advice)
        rows, next_cursor = advice_listings.list_listings(
            s, ctx.settings, kind=kind, tag=tag, q=q, cursor=cursor, shown_origins=shown
        )
        listings = [advice_listings.listing_view(listing, author) for listing, author in rows]
    return render_template(
        "advice_market.html",
        listings=listings,
        kind=kind,
        tag=tag,
        q=q,
        next_cursor=next_cursor,
        first_page=not cursor,
        kinds=advice_listings.KINDS,
        taxonomy=members.taxonomy(ctx.settings),
        max_rate=advice_listings.MAX_RATE,
        federated=ctx.remote_advice is not None,
    )


@bp.post("/advice/listings")
@login_required
@form_action("advice.market")
def post_listing():
    ctx = node_ctx()
    form = request.form
    data = {
        "kind": form.get("kind"),
        "title": form.get("title"),
        "description": form.get("description"),
        "tags": form.getlist("tags"),
        "rate": _int(form.get("rate", "1")),
        "network_wide": form.get("network_wide") == "1",
    }
    with ctx.db.write() as s:
        listing = advice_listings.create_listing(s, ctx.settings, member=_me(s), data=data, now=ctx.now())
    flash(_("Your offer is posted.") if listing.kind == "offer" else _("Your request is posted."), "info")
    return redirect(url_for("advice.listing", listing_id=listing.id), 303)


@bp.get("/advice/listings/<int:listing_id>")
@login_required
def listing(listing_id: int):
    ctx = node_ctx()
    with ctx.db.read() as s:
        me = _me(s)
        found = advice_listings.get_listing(s, listing_id, me, advice_listings.origins(s, ctx.remote_advice))
        author = s.get(Member, found.member_id) if found.member_id is not None else None
        view = advice_listings.listing_view(found, author)
        assert me.id is not None
        mine = [b for b in advice.my_bookings(s, me.id) if b.listing_id == found.id]
        # With an author, the listing has its member_id.
        feedback = (
            advice_feedback.as_adviser(s, cast(int, found.member_id), limit=0, remote=ctx.remote_advice)
            if author is not None
            else {"count": 0}
        )
    return render_template(
        "advice_listing.html",
        listing=view,
        feedback=feedback,
        is_author=found.member_id == me.id,
        my_sessions=len(mine),
        max_hours=advice.MAX_HOURS,
        federated=ctx.remote_advice is not None,
    )


@bp.post("/advice/listings/<int:listing_id>/book")
@login_required
@form_action("advice.market")
def book(listing_id: int):
    ctx = node_ctx()
    form = request.form
    data = {
        "hours": _int(form.get("hours")),
        "scheduled_for": i18n.form_time(form.get("scheduled_for"), "scheduled_for"),
        "note": form.get("note", ""),
    }
    with ctx.db.write() as s:
        booking = advice.book(
            s,
            ctx.settings,
            member=_me(s),
            listing_id=listing_id,
            data=data,
            now=ctx.now(),
            remote=ctx.remote_advice,
        )
        local = isinstance(booking, AdviceBooking)
        booking_adviser = (
            s.get_one(Member, booking.provider_id).display_name
            if isinstance(booking, AdviceBooking)
            else booking.adviser
        )
    if not local:
        flash(
            _(
                "Booked abroad: %(amount)s are held in escrow here until the session has taken place; %(name)s "
                "will accept or decline it on their node.",
                amount=labels.amount(booking.amount),
                name=booking_adviser,
            ),
            "info",
        )
    elif booking.status == "booked":
        flash(
            _(
                "Booked: %(amount)s are held in escrow until the session has taken place; %(name)s will accept "
                "or decline it.",
                amount=labels.amount(booking.amount),
                name=booking_adviser,
            ),
            "info",
        )
    else:
        flash(_("Your proposal is sent; the author pays only if they accept it."), "info")
    return redirect(url_for("advice.sessions"), 303)


@bp.post("/advice/listings/<int:listing_id>/close")
@login_required
@form_action("advice.market")
def close(listing_id: int):
    ctx = node_ctx()
    with ctx.db.write() as s:
        advice_listings.close_listing(s, member=_me(s), listing_id=listing_id, now=ctx.now())
    flash(_("Listing closed."), "info")
    return redirect(url_for("advice.market"), 303)


@bp.post("/advice/listings/<int:listing_id>/network-wide")
@login_required
@form_action("advice.market")
def share(listing_id: int):
    ctx = node_ctx()
    wanted = request.form.get("network_wide") == "1"
    with ctx.db.write() as s:
        advice_listings.set_network_wide(s, member=_me(s), listing_id=listing_id, network_wide=wanted, now=ctx.now())
    flash(
        _("Your offer is shared with members in other countries, under your pseudonym.")
        if wanted
        else _("Your offer is no longer shared with other countries."),
        "info",
    )
    return redirect(url_for("advice.listing", listing_id=listing_id), 303)


@bp.get("/advice/sessions")
@login_required
def sessions():
    ctx = node_ctx()
    with ctx.db.read() as s:
        me = _me(s)
        assert me.id is not None
        views = [
            {**advice.booking_view(s, b, me, ctx.now()), "feedback": advice_feedback.of_booking(s, b, me)}
            for b in advice.my_bookings(s, me.id)
        ]
        views += [view for source in SESSION_SOURCES for view in source(s, me, ctx.now(), open_only=False)]
    views.sort(key=lambda v: v["created_at"], reverse=True)
    return render_template("advice_sessions.html", bookings=views)


# Other areas (federation: sessions across a border) append fn(session, member, now, open_only=) -> list of views
# in the shape of advice.booking_view, with "feedback" and "abroad" set.
SESSION_SOURCES: list = []


@bp.post("/advice/bookings/<int:booking_id>/<action>")
@login_required
@form_action("advice.sessions")
def act(booking_id: int, action: str):
    if action not in PARTY_ACTIONS:
        abort(404)
    ctx = node_ctx()
    kwargs = {"reason": request.form.get("reason", "")} if action in ("dispute", "cancel", "decline") else {}
    with ctx.db.write() as s:
        me = _me(s)
        if action == "claim":
            booking = advice.claim(s, ctx.settings, member=me, booking_id=booking_id, now=ctx.now())
        else:
            booking = getattr(advice, action)(s, member=me, booking_id=booking_id, now=ctx.now(), **kwargs)
        amount, dispute_by = booking.amount, booking.dispute_by
        adviser_accepted = action == "accept" and booking.provider_id == me.id
    if adviser_accepted:
        flash(_("Booking accepted; the receiver's SIF stay in escrow until the session has taken place."), "info")
    else:
        values = {"amount": labels.amount(amount), "dispute_by": i18n.datetime_filter(dispute_by)}
        flash(str(DONE[action]) % values, "info")
    return redirect(url_for("advice.sessions"), 303)


@bp.post("/advice/bookings/<int:booking_id>/feedback")
@login_required
@form_action("advice.sessions")
def feedback(booking_id: int):
    ctx = node_ctx()
    data = {"rating": _int(request.form.get("rating")), "comment": request.form.get("comment", "")}
    with ctx.db.write() as s:
        advice_feedback.give(s, member=_me(s), booking_id=booking_id, data=data, now=ctx.now())
    flash(_("Thank you: your feedback is saved."), "info")
    return redirect(url_for("advice.sessions"), 303)


@bp.post("/coordinator/advice/bookings/<int:booking_id>/resolve")
@coordinator_required
@form_action("coordinator.overview")
def resolve(booking_id: int):
    ctx = node_ctx()
    form = request.form
    outcome = form.get("outcome")
    share = _int(form.get("provider_amount")) if outcome == "split" else None
    with ctx.db.write() as s:
        advice.resolve(
            s,
            coordinator=_me(s),
            booking_id=booking_id,
            outcome=outcome,
            note=form.get("note"),
            provider_amount=share,
            now=ctx.now(),
        )
    flash(
        _("Session %(id)s is settled: %(outcome)s.", id=booking_id, outcome=labels.label(outcome, "advice_outcome")),
        "info",
    )
    return redirect(url_for("coordinator.overview"), 303)


def dashboard_panel(session: Session, member: Member) -> tuple[str, str, dict]:
    """The member's open sessions, with what waits for them."""
    now = node_ctx().now()
    assert member.id is not None
    views = [
        advice.booking_view(session, b, member, now) for b in advice.my_bookings(session, member.id, open_only=True)
    ]
    views += [view for source in SESSION_SOURCES for view in source(session, member, now, open_only=True)]
    for view in views:
        view["waits_for_me"] = bool(view["actions"]) and view["actions"] != ["cancel"]
    views.sort(key=lambda v: not v["waits_for_me"])  # what needs the member first; the sort is stable
    return (
        _("Advice sessions"),
        "advice_dashboard_panel.html",
        {"bookings": views, "waiting": sum(1 for v in views if v["waits_for_me"])},
    )


def disputes_panel(session: Session) -> tuple[str, str, dict]:
    """Disputed sessions a coordinator settles."""
    now, me = node_ctx().now(), logged_in_member()
    views = [advice.booking_view(session, b, me, now) for b in advice.open_disputes(session)]
    views += [view for source in DISPUTE_SOURCES for view in source(session, me, now)]
    return _("Disputed advice sessions"), "advice_disputes_panel.html", {"bookings": views}


# Other areas (federation: disputes of sessions booked abroad, settled here) append fn(session, coordinator, now).
DISPUTE_SOURCES: list = []


NAV_LINKS.append((_l("Advice market"), "advice.market"))
DASHBOARD_PANELS.append(dashboard_panel)
COORDINATOR_PANELS.append(disputes_panel)
