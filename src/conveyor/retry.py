"""Retry policy: how many times a failed job runs again and how long it waits."""

from __future__ import annotations

import random
from collections.abc import Sequence

from conveyor.durations import LONGEST
from conveyor.exceptions import InvalidJobError


class Retry:
    """Retry a failed job up to ``max`` times.

    The n-th retry waits ``interval[n]`` seconds (the last interval repeats); one number
    waits the same time before each retry. Seconds may be ints or floats; ``intervals``
    reads them back as given, a list, as RQ's. ``jitter`` adds up to that
    fraction of random extra wait, so that a burst of failures does not retry in
    lockstep.
    """

    def __init__(self, max: int, interval: int | float | Sequence[int | float] = 0, jitter: float = 0.0) -> None:
        if isinstance(max, bool) or not isinstance(max, int) or max < 1:
            raise InvalidJobError(f"Retry max must be an integer >= 1, got {max!r}")
        if not isinstance(interval, int | float | Sequence) or isinstance(interval, str | bytes):
            raise InvalidJobError(f"Retry interval must be seconds or a list of seconds, got {interval!r}")
        intervals = [interval] if isinstance(interval, int | float) else list(interval)
        if any(isinstance(i, bool) or not isinstance(i, int | float) or not 0 <= i <= LONGEST for i in intervals):
            raise InvalidJobError(f"Retry intervals must be seconds from 0 to 100 years, got {interval!r}")  # NaN too
        if isinstance(jitter, bool) or not isinstance(jitter, int | float) or not 0 <= jitter <= 1:
            raise InvalidJobError(f"Retry jitter must be a number between 0 and 1, got {jitter!r}")
        self.max = max
        self.intervals: list[int | float] = intervals or [0]
        self.jitter = jitter

    def __repr__(self) -> str:
        return f"Retry(max={self.max}, interval={self.intervals!r})"


def retry_delay(intervals: Sequence[float], retry_number: int, jitter: float = 0.0) -> float:
    """Seconds to wait before the ``retry_number``-th retry (0-based)."""
    if not intervals:
        return 0.0
    base = intervals[min(retry_number, len(intervals) - 1)]
    return base * (1 + random.random() * jitter) if jitter else base
