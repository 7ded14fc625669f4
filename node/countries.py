"""The countries a member can choose from: ISO 3166-1 alpha-2 codes, shown by name in the reader's language."""

from __future__ import annotations

import unicodedata

from babel import Locale

from . import formats

# Babel names these two-letter regions too, but they are not countries an applicant lives in
# (the EU, the eurozone, the UN, pseudo-locales, islands with their own code inside a country).
NOT_COUNTRIES = frozenset({"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB", "ZZ"})
# Offered first: where the network's incubators and most of its funders are. XK (Kosovo) is the
# code the EU's own programmes use.
EUROPE = (
    "AD", "AL", "AT", "BA", "BE", "BG", "BY", "CH", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR",
    "GB", "GE", "GR", "HR", "HU", "IE", "IS", "IT", "LI", "LT", "LU", "LV", "MC", "MD", "ME", "MK",
    "MT", "NL", "NO", "PL", "PT", "RO", "RS", "SE", "SI", "SK", "SM", "TR", "UA", "VA", "XK",
)  # fmt: skip
CODES = frozenset(
    code
    for code in Locale("en").territories
    if isinstance(code, str) and len(code) == 2 and code.isalpha() and code not in NOT_COUNTRIES
)


def is_country(code: object) -> bool:
    return isinstance(code, str) and code in CODES


def choices(language: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(code, name) of the European countries and of every other country, each sorted by name in the language."""

    def named(codes) -> list[tuple[str, str]]:
        return sorted(((c, formats.country_name(c, language)) for c in codes), key=lambda pair: _sort_key(pair[1]))

    return named(EUROPE), named(CODES - set(EUROPE))


def _sort_key(name: str) -> str:
    # Accents aside, so that Österreich sorts with the O's (no collation library needed for a list).
    return "".join(ch for ch in unicodedata.normalize("NFKD", name) if not unicodedata.combining(ch)).casefold()
