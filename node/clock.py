"""Clocks: services never read the system time directly, so tests can move it.

All times are timezone-aware UTC with whole seconds.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SystemClock:
    """Real time plus an offset that only development/test builds move."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Current UTC time (aware, whole seconds)."""
        with self._lock:
            offset = self._offset
        return datetime.now(UTC).replace(microsecond=0) + offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += timedelta(seconds=seconds)


class FixedClock(SystemClock):
    """A clock that stands still until told to move (tests)."""

    def __init__(self, start: datetime) -> None:
        super().__init__()
        self._start = start.astimezone(UTC)

    def now(self) -> datetime:
        with self._lock:
            return self._start + self._offset


def iso(dt: datetime | None) -> str | None:
    """RFC 3339 UTC with a Z, the form the API and exports use."""
    return None if dt is None else dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
