"""The member directory: members of this node find each other by name, expertise, language and country.

A member is listed only when they chose to be (`in_directory`, off until they switch it on) and only while
their account is active; a listed member shows their name and handle, and of their organisation, bio,
languages, expertise and country only what they chose (`show_*`). What is hidden is neither shown nor
searchable: only the shown parts become search terms (node.services.search), so a search by a hidden
language cannot find, and thereby reveal, the member.

Why off until switched on: a directory shows a person to every member of the node, tens of thousands on a
large one; GDPR article 25(2) asks that personal data are not made accessible to an indefinite number of
people without the person's own intervention. Once listed, expertise, languages and country are shown
(what the directory is searched by, and what members fill in to be found); organisation and bio, free text
that identifies more, only when ticked. Members of before the directory (revision 0007) are not listed
either: they never chose it; their dashboard invites them to.

The profile page of a member who is not listed shows their name and handle only, which the advice market
and payments show anyway, and the way to send them a message.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from ..errors import NotFoundError, ValidationError
from ..settings import Settings
from ..tables import Member, MemberSearchTerm, table_of
from . import members, search
from .search import EVERYTHING, Match, TermTable
from .validate import clean_choice

# The parts of a profile a member may show in the directory, each with its switch.
SHOWABLE = {
    "organisation": "show_organisation",
    "bio": "show_bio",
    "languages": "show_languages",
    "expertise": "show_expertise",
    "country": "show_country",
}
VISIBILITY_FIELDS = ("in_directory", *SHOWABLE.values())
PAGE = 20

TERMS = TermTable(table_of(MemberSearchTerm), "member_id", ("sort_name", "member_id"))


def listed(member: Member) -> bool:
    return member.status == "active" and bool(member.in_directory)


def terms_of(member: Member) -> list[str]:
    """What a listed member is found by: their name, handle and the parts they show."""
    texts = [member.display_name, member.handle]
    if member.show_organisation:
        texts.append(member.organisation)
    out = [EVERYTHING, *(search.word_term(w) for w in search.words(*texts))]
    initial = next((ch for ch in sort_name(member) if ch.isalnum()), "")
    if initial:
        out.append(f"i:{initial}")
    if member.show_expertise:
        out += [f"x:{tag}" for tag in member.expertise]
    if member.show_languages:
        out += [f"l:{lang}" for lang in member.languages]
    if member.show_country and member.country:
        out.append(f"c:{member.country}")
    return out


def sort_name(member: Member) -> str:
    return search.fold(member.display_name)[:120]


def index_member(session: Session, member: Member) -> None:
    """Bring the member's search terms in line with their profile, status and choices (same transaction)."""
    session.flush()
    terms = terms_of(member) if listed(member) else []
    assert member.id is not None
    TERMS.replace(session, member.id, terms, sort_name=sort_name(member))


def rebuild(session: Session) -> int:
    """Index every member again (after the tokenizer changed); the number listed."""
    count = 0
    for member in session.scalars(select(Member)):
        index_member(session, member)
        count += listed(member)
    return count


@dataclass(frozen=True)
class Filters:
    q: str = ""
    expertise: str = ""
    language: str = ""
    country: str = ""

    def matches(self) -> list[Match]:
        letter = search.fold(self.q.strip())
        # One letter: names that start with it (an A-Z index); a word of a name would match a third of them.
        out = [Match(f"i:{letter}")] if len(letter) == 1 and letter.isalnum() else search.query_words(self.q)
        if self.expertise:
            out.append(Match(f"x:{self.expertise}"))
        if self.language:
            out.append(Match(f"l:{self.language}"))
        if self.country:
            out.append(Match(f"c:{self.country}"))
        return out

    @property
    def any(self) -> bool:
        return bool(self.q.strip() or self.expertise or self.language or self.country)


def filters(settings: Settings, *, q: object = None, expertise: object = None, language: object = None,
            country: object = None) -> Filters:  # fmt: skip
    """The directory's filters from a form or query string; an unknown tag, language or country is refused."""
    q = q if isinstance(q, str) else ""
    if len(q) > 200:
        raise ValidationError(_("Please search for at most 200 characters."), code="too_long", field="q")
    expertise = clean_choice(expertise, "expertise", members.taxonomy(settings)) if expertise else ""
    language = clean_choice(language, "languages", members.LANGUAGES) if language else ""
    country = str(country or "").strip().upper()
    if country and not (len(country) == 2 and country.isascii() and country.isalpha()):
        raise ValidationError(
            _("Country: please give the two-letter code of the country, such as BE or HU."),
            code="invalid_country",
            field="country",
        )
    return Filters(q.strip(), expertise, language, country)


def search_members(
    session: Session, found: Filters, *, cursor: object = None, limit: int = PAGE
) -> tuple[list[Member], str]:
    """One page of listed members matching every filter, by name; and the next page's cursor ("" at the end)."""
    after = search.decode_cursor(cursor, (str, int))
    keys, more = TERMS.page(session, found.matches(), after=after, limit=limit)
    ids = [member_id for _name, member_id in keys]
    by_id = {m.id: m for m in session.scalars(select(Member).where(col(Member.id).in_(ids)))} if ids else {}
    # The index holds listed members only; checked again here, so a stale row could never show anyone.
    page = [by_id[i] for i in ids if i in by_id and listed(by_id[i])]
    return page, search.encode_cursor(keys[-1]) if more else ""


def public_view(member: Member, node_id: str) -> dict:
    """What another member sees of a member: name and handle, and the parts they show if they are listed."""
    out: dict = {
        "id": member.id,
        "handle": member.handle,
        "address": f"{member.handle}@{node_id}",
        "display_name": member.display_name,
        "role": member.role,
        "status": member.status,
        "in_directory": listed(member),
    }
    if listed(member):
        for part, switch in SHOWABLE.items():
            if getattr(member, switch):
                value = getattr(member, part)
                out[part] = list(value) if isinstance(value, list) else value
        if member.show_expertise:
            out["is_reviewer"] = member.is_reviewer
    return out


def visible_member(session: Session, handle: object) -> Member:
    """An active member of this node by handle (anyone else: not found)."""
    found = members.find_by_handle(session, str(handle or ""))
    if found.status != "active":
        raise NotFoundError(_("There is no such member."), code="member_not_found")
    return found
