"""The one timestamp form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from protocol import LocalProtocolError, RemoteProtocolError, format_time, parse_time


def test_format_time_is_utc_seconds_z() -> None:
    dt = datetime(2026, 11, 27, 21, 56, 20, 999999, tzinfo=timezone(timedelta(hours=1)))
    assert format_time(dt) == "2026-11-27T20:56:20Z"
    assert format_time(datetime(9, 1, 2, 3, 4, 5, tzinfo=UTC)) == "0009-01-02T03:04:05Z"


def test_parse_time_round_trips() -> None:
    dt = parse_time("2026-11-27T20:56:20Z")
    assert dt == datetime(2026, 11, 27, 20, 56, 20, tzinfo=UTC)
    assert dt.tzinfo is UTC
    assert format_time(dt) == "2026-11-27T20:56:20Z"


def test_format_time_refuses_naive() -> None:
    with pytest.raises(LocalProtocolError) as info:
        format_time(datetime(2026, 1, 1))
    assert info.value.code == "naive_datetime"


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-27T20:56:20+00:00",
        "2026-11-27T20:56:20.5Z",
        "2026-11-27t20:56:20z",
        "2026-11-27 20:56:20Z",
        "2026-11-27T20:56:20",
        "2026-02-30T00:00:00Z",
        "2026-11-27T24:00:00Z",
        "2026-12-31T23:59:60Z",
        "0000-01-01T00:00:00Z",
        "２０２６-11-27T20:56:20Z",
        " 2026-11-27T20:56:20Z",
        "2026-11-27T20:56:20Z\n",
        "",
    ],
)
def test_parse_time_refuses_every_other_form(text: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_time(text, where="created")
    assert (info.value.code, info.value.where) == ("bad_time", "created")


def test_parse_time_refuses_non_strings() -> None:
    with pytest.raises(RemoteProtocolError):
        parse_time(20260101)  # type: ignore[arg-type]
