"""Retry policy: how many times a failed job runs again and how long it waits; and the
exceptions a job raises to steer its own next run (RetryJob, SnoozeJob, FailJob)."""

from __future__ import annotations

import builtins
import functools
import keyword
import logging
import random
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta

from conveyor.durations import LONGEST, parse_duration
from conveyor.exceptions import InvalidJobError
from conveyor.functions import import_path

log = logging.getLogger("conveyor.worker")

MAX_RETRIES = 2**31 - 1
"""The most retries a Retry takes (as priorities, 32 bits: beyond it no store could count them)."""


class Retry:
    """Retry a failed job up to ``max`` times.

    The n-th retry waits ``interval[n]`` seconds (the last interval repeats); one number
    waits the same time before each retry. Seconds may be ints or floats; ``intervals``
    reads them back as given, a list, as RQ's. ``jitter`` adds up to that
    fraction of random extra wait, so that a burst of failures does not retry in
    lockstep. ``on`` (Celery's ``autoretry_for``): only these exceptions (classes, or
    names like ``'requests.exceptions.Timeout'``), and their subclasses, are retried;
    any other fails the job at once.
    """

    def __init__(
        self,
        max: int,
        interval: int | float | Sequence[int | float] = 0,
        jitter: float = 0.0,
        on: type[BaseException] | str | Iterable[type[BaseException] | str] | None = None,
    ) -> None:
        if isinstance(max, bool) or not isinstance(max, int) or not 1 <= max <= MAX_RETRIES:
            raise InvalidJobError(f"Retry max must be an integer from 1 to {MAX_RETRIES}, got {max!r:.40}")
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
        self.on: tuple[str, ...] = exception_names(on)

    def __repr__(self) -> str:
        on = f", on={list(self.on)!r}" if self.on else ""
        return f"Retry(max={self.max}, interval={self.intervals!r}{on})"


def exception_names(
    on: type[BaseException] | str | Iterable[type[BaseException] | str] | None,
) -> tuple[str, ...]:
    """How a job stores the exceptions it is retried on: ``module.QualName``, a built-in
    by its bare name. Names are checked for their form only: the process enqueueing (a
    web server, the REST API) need not be able to import the worker's modules."""
    if on is None:
        return ()
    if isinstance(on, bytes | bytearray | Mapping) or not isinstance(on, type | str | Iterable):
        raise InvalidJobError(f"Retry on must be an exception class, a name or a list of them, got {on!r}")
    given = [on] if isinstance(on, type | str) else list(on)
    if not given:
        raise InvalidJobError(f"Retry on must be an exception class, a name or a list of them, got {on!r}")
    names = []
    for item in given:
        if isinstance(item, type) and issubclass(item, BaseException):
            module, qualname = item.__module__, item.__qualname__
            if "<" in qualname:
                raise InvalidJobError(f"Retry on: {qualname} is defined in a function; workers cannot import it")
            if module == "__main__":
                raise InvalidJobError(
                    f"Retry on: {qualname} is defined in __main__, which a worker cannot import; move it into a module"
                )
            name = qualname if module == "builtins" else f"{module}.{qualname}"
        elif isinstance(item, str) and _is_dotted_name(item.strip()):
            name = item.strip()
            if "." not in name and not _is_builtin_exception(name):
                raise InvalidJobError(
                    f"Retry on: {name!r} is not a built-in exception; name others with their module, "
                    "like 'requests.exceptions.Timeout'"
                )
            if name.startswith("__main__."):
                raise InvalidJobError(f"Retry on: {name!r} is in __main__, which a worker cannot import")
        else:
            raise InvalidJobError(f"Retry on takes exception classes or their names, got {item!r}")
        if name not in names:
            names.append(name)
    return tuple(names)


def _is_dotted_name(text: str) -> bool:
    """``module.Class`` as Python spells names (non-ASCII letters too), keywords aside."""
    return all(part.isidentifier() and not keyword.iskeyword(part) for part in text.split("."))


def _is_builtin_exception(name: str) -> bool:
    found = getattr(builtins, name, None)
    return isinstance(found, type) and issubclass(found, BaseException)


def retried_on(names: Sequence[str], error: BaseException) -> bool:
    """Whether a job stored with ``Retry(on=names)`` is retried after ``error`` (any
    error, without ``on``). A name this process cannot import matches nothing."""
    return not names or any(isinstance(error, cls) for cls in map(_exception_class, names) if cls is not None)


@functools.cache
def _exception_class(name: str) -> type[BaseException] | None:
    """The class a stored name stands for (once per process: the warning too). Whatever
    importing it raises (a module failing at import, even with ``sys.exit``; a module
    ``__getattr__`` raising ImportError) is this name's problem, not the job's or the
    worker's: it matches nothing."""
    try:
        found = getattr(builtins, name, None) if "." not in name else import_path(name)
    except (Exception, SystemExit) as exc:
        problem = str(exc) if isinstance(exc, InvalidJobError) else f"{type(exc).__name__}: {exc}"
        log.warning(
            "Retry on %r: this worker cannot import it (%s); jobs failing with it are not retried", name, problem
        )
        return None
    if not (isinstance(found, type) and issubclass(found, BaseException)):
        log.warning("Retry on %r: not an exception class here; jobs are not retried on it", name)
        return None
    return found


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
