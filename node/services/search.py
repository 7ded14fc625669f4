"""Search by words and facets, written once for SQLite and PostgreSQL: a table of terms per searchable kind of thing.

Each searchable row (a listed member, an open advice listing) has one row per term it is found by in a term
table (node.tables.MemberSearchTerm, ListingSearchTerm), kept up to date by the service that changes it, in the
same transaction:

- ``*``: every searchable row has it (the unfiltered list);
- ``w:<word>``: a word of its text, folded (lower case, accents dropped: "Zsófia" is found by "zsofia" and
  "Zsó"), matched by prefix: "crowd" finds "crowdfunding";
- facets matched exactly: ``x:<tag>``, ``l:<language>``, ``c:<country>`` (members), ``k:<kind>``, ``t:<tag>``
  (listings).

A page is one index range scan: the table's index is (term, <order columns>), so the rows of one exact term
come out in page order and a keyset page (``WHERE (key) > (last key) ORDER BY key LIMIT n``) reads n rows
however deep it is. Several conditions: the rarest one drives the scan (counted first, each count stopping
at COUNT_CAP rows) and the others are checked per row through the primary key (ref, term). When every
condition is common, an exact one drives, or ``*`` when all are prefixes (a common intersection is found
within a few rows of an ordered scan). A prefix that is not common drives itself, and its rows (fewer than
COUNT_CAP) are sorted: driving by ``*`` instead would read every name before the first match when the
prefix is that of first names ("no": Noah, Noor sort together, half-way down the list). A single letter
in the directory is the initial of the name (``i:<letter>``, exact and ordered), as in an A-Z index.

Why not SQLite FTS5 and PostgreSQL's full text search behind one interface: two query languages, a
virtual table that Alembic does not know and that needs its own triggers, ranking that differs
between the two, and neither orders by name or keeps keyset pages cheap when a word is common. The
term tables are plain B-trees, behave the same on both databases, hold only what a member chose to
show (so a hidden field cannot be found, let alone shown), and answer from one index. They cost rows:
about 10 per listed member, up to MAX_WORDS per listing.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import Table, delete, func, insert, literal, select, tuple_
from sqlalchemy.orm import Session

from ..errors import ValidationError

EVERYTHING = "*"
WORD_MAX = 40  # longer "words" (a URL, a run of letters) are cut: terms hold 64 characters
MAX_WORDS = 200  # distinct words indexed per listing (its title's first)
MAX_QUERY_WORDS = 8
COUNT_CAP = 20_000
PAGE_MAX = 100
_WORD = re.compile(r"\w+")


def fold(text: str) -> str:
    """Lower case without accents: what is stored and what is searched for ("Ő" -> "o", "ß" -> "ss")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(*texts: str, limit: int | None = None) -> list[str]:
    """The distinct folded words of the texts, in order of appearance, each at most WORD_MAX long."""
    out: dict[str, None] = {}
    for text in texts:
        for word in _WORD.findall(fold(text or "")):
            out.setdefault(word[:WORD_MAX], None)
            if limit is not None and len(out) >= limit:
                return list(out)
    return list(out)


def word_term(word: str) -> str:
    return f"w:{word}"


@dataclass(frozen=True, slots=True)
class Match:
    """One condition: the term itself, or (prefix) every term starting with it."""

    term: str
    prefix: bool = False


def query_words(q: object) -> list[Match]:
    """A search box's text as prefix conditions, one per word (at most MAX_QUERY_WORDS)."""
    if not isinstance(q, str):
        return []
    return [Match(word_term(w), prefix=True) for w in words(q)[:MAX_QUERY_WORDS]]


@dataclass(frozen=True)
class TermTable:
    """A term table: its reference column and the key columns a page is ordered by (the reference last)."""

    table: Table
    ref: str
    order: tuple[str, ...]
    descending: bool = False

    def replace(self, session: Session, ref: int, terms: Iterable[str], **extra: object) -> None:
        """Make `terms` the row's terms (none: it cannot be found)."""
        session.execute(delete(self.table).where(self.table.c[self.ref] == ref))
        rows = [{self.ref: ref, "term": term, **extra} for term in dict.fromkeys(terms)]
        if rows:
            session.execute(insert(self.table), rows)

    def page(
        self, session: Session, matches: Sequence[Match], *, after: tuple | None, limit: int
    ) -> tuple[list[tuple], bool]:
        """Keys of the rows with every condition, in order, after the key `after`; and whether more follow."""
        matches = list(matches) or [Match(EVERYTHING)]
        plan = self._plan(session, matches)
        if plan is None:
            return [], False
        driver, others = plan
        t0 = self.table.alias("t0")
        keys = [t0.c[name] for name in self.order]
        stmt = select(*keys).where(_condition(t0.c.term, driver))
        for n, match in enumerate(others, 1):
            other = self.table.alias(f"t{n}")
            probe = select(literal(1)).where(other.c[self.ref] == t0.c[self.ref], _probe(other.c.term, match))
            stmt = stmt.where(probe.exists())
        if after is not None:
            row = keys[0] if len(keys) == 1 else tuple_(*keys)
            mark = after[0] if len(keys) == 1 else tuple_(*(literal(v) for v in after))
            stmt = stmt.where(row < mark if self.descending else row > mark)
        if driver.prefix:
            stmt = stmt.distinct()  # a row with two words of the prefix
        stmt = stmt.order_by(*(k.desc() if self.descending else k.asc() for k in keys)).limit(limit + 1)
        rows = [tuple(r) for r in session.execute(stmt)]
        return rows[:limit], len(rows) > limit

    def _plan(self, session: Session, matches: list[Match]) -> tuple[Match, list[Match]] | None:
        """(the condition that drives the scan, the ones checked per row); None when one matches nothing."""
        if len(matches) == 1 and not matches[0].prefix:
            return matches[0], []
        counted = []
        for match in matches:
            found = self._capped_count(session, match)
            if found == 0:
                return None
            counted.append((found, match.prefix, match))
        found, _prefix, rarest = min(counted, key=lambda c: (c[0], c[1]))
        if found < COUNT_CAP:
            driver = rarest
        else:
            exact = [m for m in matches if not m.prefix]
            driver = exact[0] if exact else Match(EVERYTHING)
        return driver, [m for m in matches if m is not driver]

    def _capped_count(self, session: Session, match: Match) -> int:
        t = self.table
        rows = select(t.c[self.ref]).where(_condition(t.c.term, match)).limit(COUNT_CAP).subquery()
        return session.execute(select(func.count()).select_from(rows)).scalar_one()


def _condition(column, match: Match):
    if not match.prefix:
        return column == match.term
    return (column >= match.term) & (column < _successor(match.term))


def _probe(column, match: Match):
    """A condition checked for one row's terms, through the primary key (ref, term) and nothing else.

    A prefix is written so that no index on the term alone can serve it: PostgreSQL estimates a narrow
    range of terms at one row and would scan the whole range again for every row of the driving scan.
    """
    if not match.prefix:
        return column == match.term
    return func.substr(column, 1, len(match.term)) == match.term


def _successor(prefix: str) -> str:
    """The first string after every string that starts with `prefix`, in code point (= UTF-8 byte) order."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


# --- cursors ---------------------------------------------------------------------------------------------------


def encode_cursor(key: tuple) -> str:
    """A page's last key as an opaque token for the next page's `cursor`."""
    raw = json.dumps(list(key), separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: object, types: tuple[type, ...]) -> tuple | None:
    """The key a `cursor` names (None for no cursor); a token this node did not make is refused."""
    if token in (None, ""):
        return None
    try:
        if not isinstance(token, str) or len(token) > 400:
            raise ValueError
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(data, list) or len(data) != len(types):
            raise ValueError
        if not all(type(v) is t for v, t in zip(data, types)):
            raise ValueError
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationError(
            _("This page link is not valid any more; please start from the first page."),
            code="invalid_cursor",
            field="cursor",
        ) from None
    return tuple(data)


def page_size(value: object, default: int) -> int:
    """A page size from a query string: digits from 1 to PAGE_MAX; anything else is refused."""
    if value in (None, ""):
        return default
    text = str(value).strip()
    if not text.isdigit() or not 1 <= int(text) <= PAGE_MAX:
        raise ValidationError(
            _("Please ask for 1 to %(most)s results per page.", most=PAGE_MAX), code="invalid_limit", field="limit"
        )
    return int(text)
