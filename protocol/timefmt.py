"""The one timestamp form on the wire: RFC 3339, UTC, whole seconds, "Z"."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from .errors import LocalProtocolError, RemoteProtocolError

# [0-9], not \d: \d also matches other scripts' digits, which int() would accept.
_TIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")


def format_time(dt: datetime) -> str:
    """Write an aware datetime as ``YYYY-MM-DDTHH:MM:SSZ`` in UTC.

    Fractions of a second are dropped (truncated), so the result never lies in
    the future of ``dt``.

    Raises:
        LocalProtocolError: code ``naive_datetime`` if ``dt`` has no time zone.
    """
    require_aware(dt, "dt")
    u = dt.astimezone(UTC)
    # Not strftime: its %Y does not zero-pad years below 1000 on every platform.
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}Z"


def parse_time(text: str, *, where: str | None = None) -> datetime:
    """Read a wire timestamp into an aware UTC datetime.

    Raises:
        RemoteProtocolError: code ``bad_time`` for any other spelling (offsets,
            fractions, lower-case letters, missing "Z") or an impossible date.
    """
    match = _TIME.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise RemoteProtocolError("bad_time", "not of the form YYYY-MM-DDTHH:MM:SSZ", where=where)
    try:
        year, month, day, hour, minute, second = (int(g) for g in match.groups())
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        raise RemoteProtocolError("bad_time", "not a real instant", where=where) from None


def require_aware(dt: datetime, name: str) -> None:
    """Refuse a naive datetime argument.

    Raises:
        LocalProtocolError: code ``naive_datetime`` (or ``bad_argument`` if it is
            not a datetime at all).
    """
    if not isinstance(dt, datetime):
        raise LocalProtocolError("bad_argument", f"{name} must be a datetime")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise LocalProtocolError("naive_datetime", f"{name} has no time zone")
