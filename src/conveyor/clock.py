"""Time as an injectable dependency, so tests freeze it instead of sleeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Source of the current time in float seconds since the epoch (UTC)."""

    def now(self) -> float: ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> float:
        return time.time()


class FrozenClock:
    """A clock that moves only when told to; for tests."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def set(self, timestamp: float) -> None:
        self._now = timestamp


SYSTEM_CLOCK = SystemClock()


def to_datetime(timestamp: float | None) -> datetime | None:
    """A stored timestamp as a timezone-aware UTC datetime."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC)


def to_timestamp(moment: datetime) -> float:
    """A datetime as epoch seconds; a naive datetime is local time, as in RQ and Python."""
    return moment.timestamp()
