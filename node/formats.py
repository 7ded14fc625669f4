"""Dates, times, amounts and names in a given language and time zone (Babel; no Flask).

The template filters (node/i18n.py) and the notifications (node/notices.py) both format through
these functions; the caller says which language and zone. Stored times are aware UTC, naive UTC
(read as UTC) or ISO 8601 strings.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo

from babel import Locale, dates, numbers

NBSP = "\u00a0"  # between an amount and its unit, so a line never breaks inside "12 SIF"


def as_utc(value: datetime | str) -> datetime:
    """An aware UTC datetime from an aware or naive (UTC) datetime or an ISO 8601 string."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_when(value: datetime | str, language: str, zone: tzinfo, *, seconds: bool = False) -> str:
    """Medium date and short time (with seconds if asked) in the zone, as the language writes them."""
    locale = Locale.parse(language)
    glue = str(locale.datetime_formats["medium"])
    time_width = "medium" if seconds else "short"
    pattern = glue.replace("{1}", locale.date_formats["medium"].pattern).replace(
        "{0}", locale.time_formats[time_width].pattern
    )
    return dates.format_datetime(as_utc(value), pattern, tzinfo=zone, locale=locale)


def format_day(value: datetime | date | str, language: str, zone: tzinfo) -> str:
    """The medium date; a datetime is first moved to the zone (its day there)."""
    if isinstance(value, (datetime, str)):
        value = as_utc(value).astimezone(zone)
    return dates.format_date(value, "medium", locale=Locale.parse(language))


def format_clock(value: datetime | str, language: str, zone: tzinfo, *, seconds: bool = False) -> str:
    """The time of day in the zone: short, or medium (with seconds)."""
    return dates.format_time(
        as_utc(value), "medium" if seconds else "short", tzinfo=zone, locale=Locale.parse(language)
    )


def format_elapsed(value: datetime, now: datetime, language: str) -> str:
    """How long before now, in words ("5 minutes ago"; a time after now reads "in 5 minutes").

    A moment ago (or a stored second rounded up past now) reads "1 second ago", never "in 0 seconds".
    """
    delta = as_utc(value) - as_utc(now)
    if timedelta(seconds=-1) < delta <= timedelta(seconds=1):
        delta = timedelta(seconds=-1)
    return dates.format_timedelta(delta, add_direction=True, locale=Locale.parse(language))


def format_number(value: int | float, language: str) -> str:
    return numbers.format_decimal(value, locale=Locale.parse(language))


def format_amount(value: int, language: str, unit: str) -> str:
    """An amount with the language's digit grouping and minus sign, then the unit ("1.234 SIF" in nl)."""
    return f"{format_number(value, language)}{NBSP}{unit}"


def language_name(code: str, language: str) -> str:
    """The name of an ISO 639-1 language in the reader's language; an unknown code as given."""
    return Locale.parse(language).languages.get(str(code).lower(), str(code))


def country_name(code: str, language: str) -> str:
    """The name of an ISO 3166 alpha-2 country in the reader's language; an unknown code as given."""
    return Locale.parse(language).territories.get(str(code).upper(), str(code))


def endonym(code: str) -> str:
    """A language's name in itself, capitalised as a label ("Français", "Magyar")."""
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]
