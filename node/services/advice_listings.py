"""The advice market's listings: offers and requests members post here, offers peers share, and how all are found.

A member's offer may be marked network-wide: their consent (off by default) to federation sharing it
with every active peer under their pseudonym (federation/advice/offers.py). Offers peers share are
stored in the same table under the peer's node id and ref (`origin_node`, `origin_ref`), with no
member here: they are read-only, found by the same search, and shown only while their peer is
active, which only federation knows; it hands that in through the `RemoteAdvice` hooks
(`ctx.remote_advice`), which also book such an offer across the border.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, Protocol

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, or_, select

from .. import labels
from ..errors import ForbiddenError, NotFoundError, ValidationError
from ..lifecycle import LISTING
from ..settings import Settings
from ..tables import AdviceListing, ListingSearchTerm, Member
from . import members, search
from .search import Match, TermTable
from .validate import REQUIRED, Fields, clean_bool, clean_choice, clean_list, clean_text, refusal, whole_number

KINDS = ("offer", "request")
MAX_RATE = 100  # SIF per hour; a time currency has no business with luxury rates
PAGE = 50
# What a refused number should have been.
RATE_RULE = _l("The rate is a whole number of %(unit)s per hour, from %(low)s to %(high)s.")


class RemoteAdvice(Protocol):
    """What the market needs from federation (set as ctx.remote_advice when federation is wired in)."""

    def active_origins(self, session) -> set[str]:
        """The peers whose shared offers may be shown and booked now (the active ones)."""
        ...

    def book(self, session, *, member: Member, listing: AdviceListing, data: dict, now: datetime) -> Any:
        """Book a peer's offer: hold the fee in escrow here and tell the adviser's node."""
        ...

    def view(self, session, booking: Any, viewer: Member, now: datetime) -> dict:
        """A booking across the border in the shape of a local session's view (advice.booking_view)."""
        ...


def origins(session, remote: RemoteAdvice | None) -> frozenset[str]:
    """The peers whose offers are shown now; none without federation."""
    return frozenset(remote.active_origins(session)) if remote is not None else frozenset()


def whole(value: object, field: str, low: int, high: int, rule: object) -> int:
    """A JSON whole number in [low, high]; strings, floats and booleans are refused with the rule."""
    if value is None:
        raise ValidationError(refusal(field, None, REQUIRED), code="missing_field", field=field)
    return whole_number(value, field, low, high, message=rule, unit=labels.unit())


def create_listing(session, settings: Settings, *, member: Member, data: dict, now: datetime) -> AdviceListing:
    """An active member posts an offer or a request (an offer may be shared network-wide)."""
    members.require_active(member)
    fields = Fields()
    kind = fields(clean_choice, data.get("kind"), "kind", KINDS)
    title = fields(clean_text, data.get("title"), "title", max_len=160, required=True)
    description = fields(clean_text, data.get("description"), "description", max_len=4000)
    tags = fields(clean_list, data.get("tags", []), "tags", allowed=members.taxonomy(settings), max_items=8)
    rate = fields(whole, data.get("rate", 1), "rate", 1, MAX_RATE, RATE_RULE)
    network_wide = fields(clean_bool, data.get("network_wide", False), "network_wide")
    fields.done()
    if network_wide and kind != "offer":
        raise _offers_only()
    listing = AdviceListing(
        member_id=member.id,
        kind=kind,
        title=title,
        description=description,
        tags=tags,
        rate=rate,
        status=LISTING.initial,
        created_at=now,
        network_wide=network_wide,
    )
    session.add(listing)
    session.flush()
    member.last_active_at = now
    index_listing(session, listing)
    return listing


def _offers_only() -> ValidationError:
    return ValidationError(
        _("Only an offer can be shared with members in other countries."), code="not_an_offer", field="network_wide"
    )


def set_network_wide(session, *, member: Member, listing_id: int, network_wide: object, now: datetime) -> AdviceListing:
    """The author gives or withdraws consent to share their offer with peers (it leaves them at the next share)."""
    members.require_active(member)
    listing = get_listing(session, listing_id, member)
    if listing.member_id != member.id:
        raise ForbiddenError(_("Only its author can change a listing."), code="not_author")
    value = clean_bool(network_wide, "network_wide")
    if value and listing.kind != "offer":
        raise _offers_only()
    listing.network_wide = value
    member.last_active_at = now
    return listing


# --- finding listings ----------------------------------------------------------------


LISTING_TERMS = TermTable(ListingSearchTerm.__table__, "listing_id", ("listing_id",), descending=True)


def listing_terms(listing: AdviceListing) -> list[str]:
    """What an open listing is found by: its kind, tags and the words of its title and description."""
    found = search.words(listing.title, listing.description, limit=search.MAX_WORDS)
    return [
        search.EVERYTHING,
        f"k:{listing.kind}",
        *(f"t:{tag}" for tag in listing.tags),
        *(search.word_term(w) for w in found),
    ]


def index_listing(session, listing: AdviceListing) -> None:
    """Make an open listing findable in the market; a closed one not (same transaction as the change)."""
    session.flush()
    LISTING_TERMS.replace(session, listing.id, listing_terms(listing) if listing.status == "open" else [])


def unindex_listings_of(session, member_id: int) -> None:
    """A member who leaves: their listings drop out of the market (they stay open for their sessions' sake)."""
    mine = select(AdviceListing.id).where(AdviceListing.member_id == member_id)
    session.execute(delete(ListingSearchTerm).where(ListingSearchTerm.listing_id.in_(mine)))


def rebuild_index(session) -> int:
    """Index every listing again (after the tokenizer changed); the number findable.

    Peers' offers are indexed whatever their peer's state: the market leaves out those of a peer
    that is not active when it reads a page.
    """
    session.execute(delete(ListingSearchTerm))
    count = 0
    rows = session.execute(
        select(AdviceListing, Member.status).outerjoin(Member, Member.id == AdviceListing.member_id)
    ).tuples()
    for listing, author_status in rows:
        if listing.status == "open" and (author_status == "active" or listing.origin_node is not None):
            LISTING_TERMS.replace(session, listing.id, listing_terms(listing))
            count += 1
    return count


def _shown(shown_origins: Collection[str]):
    """SQL condition: a listing of an active member here, or an offer of an active peer."""
    return or_(Member.status == "active", AdviceListing.origin_node.in_(list(shown_origins)))


def list_listings(
    session,
    settings: Settings,
    *,
    kind: object = None,
    tag: object = None,
    q: object = None,
    cursor: object = None,
    limit: int = PAGE,
    shown_origins: Collection[str] = (),
) -> tuple[list[tuple[AdviceListing, Member | None]], str]:
    """A page of open listings, newest first: of active members here and of the peers in `shown_origins`; of one
    kind, with a tag, with words of the title or description (each word a prefix: "crowd" finds crowdfunding);
    and the next page's cursor. A peer's offer comes without a member (None)."""
    if isinstance(q, str) and len(q) > 200:
        raise ValidationError(_("Please search for at most 200 characters."), code="too_long", field="q")
    matches = search.query_words(q)
    if kind not in (None, ""):
        matches.append(Match(f"k:{clean_choice(kind, 'kind', KINDS)}"))
    if tag not in (None, ""):
        (tag,) = clean_list([tag], "tag", allowed=members.taxonomy(settings), max_items=1)
        matches.append(Match(f"t:{tag}"))
    after = search.decode_cursor(cursor, (int,))
    keys, more = LISTING_TERMS.page(session, matches, after=after, limit=limit)
    ids = [listing_id for (listing_id,) in keys]
    found = {}
    if ids:
        stmt = (
            select(AdviceListing, Member)
            .outerjoin(Member, Member.id == AdviceListing.member_id)
            .where(AdviceListing.id.in_(ids), AdviceListing.status == "open", _shown(shown_origins))
        )
        found = {listing.id: (listing, author) for listing, author in session.execute(stmt).tuples()}
    rows = [found[i] for i in ids if i in found]
    return rows, search.encode_cursor(keys[-1]) if more else ""


def get_listing(session, listing_id: int, viewer: Member, shown_origins: Collection[str] = ()) -> AdviceListing:
    """A listing; a closed one only for its author, a peer's offer only while the peer is in `shown_origins`."""
    listing = session.get(AdviceListing, listing_id)
    hidden = listing is not None and (
        (listing.status != "open" and listing.member_id != viewer.id)
        or (listing.origin_node is not None and listing.origin_node not in shown_origins)
    )
    if listing is None or hidden:
        raise NotFoundError(_("There is no such listing."), code="listing_not_found")
    return listing


def close_listing(session, *, member: Member, listing_id: int, now: datetime) -> AdviceListing:
    """The author closes a listing; sessions already booked on it go on."""
    listing = get_listing(session, listing_id, member)
    if listing.member_id != member.id:
        raise ForbiddenError(_("Only its author can close a listing."), code="not_author")
    LISTING.move(listing, "closed")
    member.last_active_at = now
    index_listing(session, listing)
    return listing


def listing_view(listing: AdviceListing, author: Member | None) -> dict:
    """A listing as members see it; a peer's offer by its adviser's pseudonym and the peer's country."""
    abroad = None
    if listing.origin_node is not None:
        abroad = {"node": listing.origin_node, "country": listing.origin_country}
    return {
        "id": listing.id,
        "kind": listing.kind,
        "title": listing.title,
        "description": listing.description,
        "tags": list(listing.tags),
        "rate": listing.rate,
        "status": listing.status,
        "author": author.handle if author is not None else listing.origin_adviser,
        "author_name": author.display_name if author is not None else listing.origin_adviser,
        "created_at": listing.created_at,
        "network_wide": listing.network_wide,
        "abroad": abroad,
    }
