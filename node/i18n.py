"""Languages and time zones per reader: Flask-Babel wiring, the language switch and the template filters.

A page is in the logged-in member's saved language, else the one chosen with the language switch
(session), else the browser's Accept-Language, else the default_language setting; a JSON API
request (/api/) puts Accept-Language first, then the token member's language, then the default; a peer
node's request (/federation/) gets English.
Times show in the member's time zone, else the time_zone setting. One catalog domain, `messages`,
in node/translations (see the README there); the node and the directory use it alike.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeGuard
from zoneinfo import ZoneInfo, available_timezones

import flask_babel
from babel import Locale
from babel.support import NullTranslations, Translations
from flask import Flask, current_app, has_request_context, request, session

from . import formats
from .clock import iso
from .errors import ValidationError

LANGUAGES = ("en", "nl", "de", "it", "hu", "fr")
SOURCE_LANGUAGE = "en"  # the msgids are English; its catalog's empty msgstrs mean "as written"
# Requests of peer nodes: their answers (a bounce's reason, a refusal) are read on another node, so in English.
PEER_PATHS = ("/federation/", "/.well-known/sifnet-node")
TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
DOMAIN = "messages"
# Offered first on the profile page; every other IANA zone follows.
COMMON_TIME_ZONES = (
    "Europe/Amsterdam",
    "Europe/Athens",
    "Europe/Berlin",
    "Europe/Bratislava",
    "Europe/Brussels",
    "Europe/Bucharest",
    "Europe/Budapest",
    "Europe/Copenhagen",
    "Europe/Dublin",
    "Europe/Helsinki",
    "Europe/Lisbon",
    "Europe/Ljubljana",
    "Europe/London",
    "Europe/Luxembourg",
    "Europe/Madrid",
    "Europe/Paris",
    "Europe/Prague",
    "Europe/Riga",
    "Europe/Rome",
    "Europe/Sofia",
    "Europe/Stockholm",
    "Europe/Tallinn",
    "Europe/Vienna",
    "Europe/Vilnius",
    "Europe/Warsaw",
    "Europe/Zagreb",
    "UTC",
)
_LOCAL_INPUT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?")
_DAY = re.compile(r"\d{4}-\d\d-\d\d")
log = logging.getLogger(__name__)


def is_language(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and value in LANGUAGES


@functools.cache
def time_zones() -> frozenset[str]:
    """Every IANA time zone name this system knows."""
    return frozenset(available_timezones())


def is_time_zone(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and value in time_zones()


@functools.cache
def translations(language: str) -> NullTranslations:
    """The compiled catalog of a language (outside requests: notifications); English is identity."""
    return Translations.load(str(TRANSLATIONS_DIR), [language], DOMAIN)


@dataclass
class I18n:
    """One app's language settings and how to find the reader's saved choices."""

    default_language: str
    time_zone: str
    unit: str = "SIF"
    # The logged-in member (with .language and .time_zone, "" = not chosen), or None.
    viewer: Callable[[], Any] = field(default=lambda: None)


def init_app(
    app: Flask, *, default_language: str, time_zone: str, unit: str = "SIF", viewer: Callable[[], Any] | None = None
) -> None:
    """Wire Flask-Babel with our selectors, and register the filters and template globals."""
    app.extensions["sifnet_i18n"] = I18n(default_language, time_zone, unit, viewer or (lambda: None))
    flask_babel.Babel(
        app,
        locale_selector=select_language,
        timezone_selector=select_time_zone,
        default_locale=default_language,
        default_timezone=time_zone,
        default_translation_directories=str(TRANSLATIONS_DIR),
        default_domain=DOMAIN,
    )
    # {% trans %} blocks collapse their whitespace, as babel.cfg tells the extractor (trimmed = true).
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.jinja_env.filters.update(
        datetime=datetime_filter,
        date=date_filter,
        time=time_filter,
        sif=sif_filter,
        number=number_filter,
        language_name=language_name,
        country_name=country_name,
    )
    app.context_processor(template_globals)
    warn_about_stale_catalogs()


def _conf() -> I18n:
    return current_app.extensions["sifnet_i18n"]


def select_language() -> str:
    """The reader's language (Flask-Babel's locale selector)."""
    conf = _conf()
    if not has_request_context():
        return conf.default_language
    if request.path.startswith(PEER_PATHS):
        return SOURCE_LANGUAGE
    browser = request.accept_languages.best_match(LANGUAGES)
    api = request.path.startswith("/api/")
    if api and browser:
        return browser  # before the token's member: no lookup when the client says what it wants
    member = conf.viewer()
    saved = getattr(member, "language", "") if member is not None else ""
    order = (saved, conf.default_language) if api else (saved, session.get("lang"), browser, conf.default_language)
    return next((code for code in order if is_language(code)), SOURCE_LANGUAGE)


def select_time_zone() -> str:
    """The reader's time zone (Flask-Babel's timezone selector)."""
    conf = _conf()
    member = conf.viewer() if has_request_context() else None
    saved = getattr(member, "time_zone", "") if member is not None else ""
    return saved if is_time_zone(saved) else conf.time_zone


def current_language() -> str:
    return str(flask_babel.get_locale() or _conf().default_language)


def current_time_zone() -> str:
    return flask_babel.get_timezone().zone


def _zone() -> ZoneInfo:
    return ZoneInfo(current_time_zone())


def refresh() -> None:
    """Forget this request's language and zone: the reader changed them."""
    flask_babel.refresh()


# --- template filters: the reader's language and zone ------------------------------------------


def datetime_filter(value: datetime | str | None, seconds: bool = False) -> str:
    return "" if value is None else formats.format_when(value, current_language(), _zone(), seconds=seconds)


def date_filter(value) -> str:
    return "" if value is None else formats.format_day(value, current_language(), _zone())


def time_filter(value: datetime | str | None, seconds: bool = False) -> str:
    return "" if value is None else formats.format_clock(value, current_language(), _zone(), seconds=seconds)


def sif_filter(value: int | None) -> str:
    return "" if value is None else formats.format_amount(value, current_language(), _conf().unit)


def number_filter(value: int | float | None) -> str:
    return "" if value is None else formats.format_number(value, current_language())


def local_day(value: datetime) -> str:
    """A moment's day in the reader's time zone, as ISO 8601 (YYYY-MM-DD): for machine formats such as CSV."""
    return value.astimezone(_zone()).date().isoformat()


def language_name(code: str) -> str:
    return formats.language_name(code, current_language())


def country_name(code: str) -> str:
    return formats.country_name(code, current_language())


def template_globals() -> dict:
    return {
        "current_lang": current_language(),
        "current_time_zone": current_time_zone(),
        "language_choices": language_choices,
        "here": here,
    }


# --- the language switch -------------------------------------------------------------------------


@dataclass(frozen=True)
class LanguageChoice:
    code: str
    endonym: str  # the button's text: the language's own name
    title: str  # the language's name in the reader's language


def language_choices() -> list[LanguageChoice]:
    reader = Locale.parse(current_language())
    return [
        LanguageChoice(code, formats.endonym(code), Locale.parse(code).get_display_name(reader) or code)
        for code in LANGUAGES
    ]


def choose_language(lang: object) -> str:
    """Remember the browser session's language (the switch); refuses anything but LANGUAGES."""
    if not is_language(lang):
        raise ValidationError(
            flask_babel.gettext("Please choose one of the languages offered."), code="invalid_language", field="lang"
        )
    session["lang"] = lang
    refresh()
    return lang


def clear_session() -> None:
    """Clear the browser session (log in, log out) but keep the language chosen with the switch."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def on_site(target: object, fallback: str) -> str:
    """A path on this site to go back to; anything else (another host, //x, \\x) gives the fallback."""
    if isinstance(target, str) and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return fallback


def here() -> str:
    """This page's path and query, for the switch's `next`."""
    return request.full_path.rstrip("?") if request.query_string else request.path


# --- form input ------------------------------------------------------------------------------------


def parse_local_datetime(text: str | None, field: str, zone: str | None = None) -> datetime | None:
    """A datetime-local form value, read in the reader's time zone, as aware UTC (None when empty).

    A wall time in a daylight-saving gap does not exist and is refused; one that occurs twice
    (clocks going back) is read as the first of the two.
    """
    text = (text or "").strip()
    if not text:
        return None
    try:
        wall = datetime.fromisoformat(text) if _LOCAL_INPUT.fullmatch(text) else None
    except ValueError:
        wall = None
    if wall is None:
        raise ValidationError(
            flask_babel.gettext(
                "Please give a date and a time of day, such as %(example)s.", example="2026-05-01T10:00"
            ),
            code="invalid_time",
            field=field,
        )
    name = zone or current_time_zone()
    moment = wall.replace(tzinfo=ZoneInfo(name)).astimezone(UTC)
    if moment.astimezone(ZoneInfo(name)).replace(tzinfo=None) != wall:
        raise ValidationError(
            flask_babel.gettext(
                "%(time)s does not exist in %(zone)s: the clocks go forward then. Please choose another time.",
                time=text.replace("T", " "),
                zone=name,
            ),
            code="nonexistent_local_time",
            field=field,
        )
    return moment


def parse_local_date(text: object, field: str, *, end: bool = False) -> datetime | None:
    """A day (YYYY-MM-DD) in the reader's time zone as the aware UTC moment it starts (None when empty).

    With `end` it is the moment the day ends (the next day's start), for a range that includes the day.
    """
    if text in (None, ""):
        return None
    try:
        day = date.fromisoformat(text) if isinstance(text, str) and _DAY.fullmatch(text) else None
    except ValueError:
        day = None
    if day is None or not 1900 <= day.year <= 2999:  # beyond: no money moved, and the arithmetic would overflow
        raise ValidationError(
            flask_babel.gettext("Please give a date such as %(example)s.", example="2026-05-01"),
            code="invalid_date",
            field=field,
        )
    if end:
        day = day + timedelta(days=1)
    return datetime.combine(day, time.min, tzinfo=_zone()).astimezone(UTC)


def form_time(text: str | None, field: str) -> str | None:
    """parse_local_datetime as the ISO 8601 UTC text services take (None when empty)."""
    moment = parse_local_datetime(text, field)
    return iso(moment)


# --- catalogs ----------------------------------------------------------------------------------------


def warn_about_stale_catalogs() -> None:
    """Log when a catalog was not compiled since it last changed: the app would show older texts."""
    stale = [code for code in LANGUAGES if _stale(TRANSLATIONS_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po")]
    if stale:
        log.warning(
            "message catalogs not compiled or older than their .po (%s): run `make translations` or "
            "`pybabel compile -d %s`",
            ", ".join(stale),
            TRANSLATIONS_DIR,
        )


def _stale(po: Path) -> bool:
    mo = po.with_suffix(".mo")
    return po.exists() and (not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime)
