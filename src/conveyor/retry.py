"""Retry policy: how many times a failed job runs again and how long it waits; and the
exceptions a job raises to steer its own next run (RetryJob, SnoozeJob, FailJob)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import timedelta

from conveyor.durations import LONGEST, parse_duration
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


def _delay_seconds(delay: float | str | timedelta, what: str) -> float:
    seconds = parse_duration(
        delay.total_seconds() if isinstance(delay, timedelta) else delay, what, forever_allowed=False
    )
    if seconds is None:
        raise InvalidJobError(f"{what} must be seconds, a string like '5m' or a timedelta, got None")
    return seconds


class RetryJob(Exception):
    """Raised by a job to be tried again after ``delay`` (seconds, ``'5m'`` or a
    timedelta; None: its ``Retry`` interval), as Celery's ``self.retry(countdown=...)``
    or ARQ's ``Retry(defer=...)``: the run is a failed one and counts as one of the
    job's retries, so a job without a retry left fails with this error. Raise it
    ``from`` the error that caused it to keep that in ``exc_info``."""

    def __init__(self, delay: float | str | timedelta | None = None, message: str | None = None) -> None:
        self.delay = None if delay is None else _delay_seconds(delay, "RetryJob delay")
        self.message = message
        super().__init__(message or ("retry" if self.delay is None else f"retry in {self.delay:g} s"))

    def __reduce__(self) -> tuple[type[RetryJob], tuple[float | None, str | None]]:
        # pickled (a job's own process pool, copy.copy) with its arguments, not its text
        return type(self), (self.delay, self.message)


class SnoozeJob(Exception):
    """Raised by a job to run again after ``delay`` (seconds, ``'5m'`` or a timedelta)
    without having failed: the job goes back to ``scheduled`` (``status_reason ==
    'snoozed'``, at the back of its queue when due), no retry is counted, no failure is
    kept and no callback is called. For a job waiting on something outside (an export
    not ready yet, a rate limit's Retry-After), as River's and Oban's snooze."""

    def __init__(self, delay: float | str | timedelta) -> None:
        self.delay = _delay_seconds(delay, "SnoozeJob delay")
        super().__init__(f"snoozed for {self.delay:g} s")

    def __reduce__(self) -> tuple[type[SnoozeJob], tuple[float]]:
        return type(self), (self.delay,)


class FailJob(Exception):
    """Raised by a job that another run would not help (bad input, a record gone): the
    job fails at once, whatever retries it has left, as BullMQ's ``UnrecoverableError``."""
