"""RQ's job callbacks: functions a worker calls once a job's function has ended.

``queue.enqueue(f, on_success=report, on_failure=alert, on_stopped=note)``, each a
module-level function, an import path, or ``Callback(func, timeout=...)``; called as
RQ calls them, with the job and its backend:

- ``on_success(job, connection, result)`` after the function returned. If it raises
  (or passes its timeout) the job fails with that error, is retried per its ``retry``,
  and ``on_failure`` is called with the error, as in RQ.
- ``on_failure(job, connection, exc_type, exc_value, traceback)`` after a run that
  raised or timed out (also one that will be retried).
- ``on_stopped(job, connection)`` after a stop command or cancel ended the job.

They run before the outcome is recorded, where the job ran (with ``pool="processes"``
in its child process; for an ``async def`` job on a thread beside the event loop), each
within its own timeout (RQ's default, 60 s), not the job's. The job's function has
returned by then, so nothing that happens to a callback makes the job run again: a
stop command or cancel no longer interrupts it, an error in ``on_failure`` or
``on_stopped`` is logged, and a callback cut short (its timeout, or the worker's
shutdown deadline) or lost with a killed child leaves the job with the outcome of its
function. A job given back by a stopping worker calls none of them: it has not ended.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any

from conveyor.durations import as_rq_reads, parse_duration
from conveyor.exceptions import InvalidJobError
from conveyor.functions import function_name, resolve_function

EVENTS = ("on_success", "on_failure", "on_stopped")
DEFAULT_TIMEOUT = 60.0
"""Seconds a callback may run, as in RQ."""


class Callback:
    """A callback function with its time limit, as RQ's ``Callback(func, timeout=60)``;
    a plain function or import path has the default limit. ``timeout`` reads back as
    RQ's: whole seconds as an int (``'2m'`` reads 120), a fraction kept (RQ cuts it)."""

    def __init__(self, func: Callable[..., Any] | str, timeout: float | str | None = None) -> None:
        if not (callable(func) or isinstance(func, str)):
            raise InvalidJobError(f"Callback takes a function or an import path, got {func!r}")
        self.func = func
        self.timeout: int | float = as_rq_reads(_timeout(timeout))

    @property
    def name(self) -> str:
        return function_name(self.func)


def _timeout(value: float | str | None) -> float:
    if value is None:
        return DEFAULT_TIMEOUT
    seconds = parse_duration(value, "Callback timeout", forever_allowed=False, zero_allowed=False)
    assert seconds is not None  # (None is forever, refused)
    return seconds


def encode(given: Mapping[str, Any]) -> str | None:
    """The callbacks among job options, as stored (JSON: event -> [import path, timeout]);
    None if there are none. A callback a worker could not import is an error now."""
    stored: dict[str, list[Any]] = {}
    for event in EVENTS:
        callback = given.get(event)
        if callback is None:
            continue
        if not isinstance(callback, Callback):
            if not (callable(callback) or isinstance(callback, str)):
                raise InvalidJobError(f"{event} must be a function, an import path or a Callback, got {callback!r}")
            callback = Callback(callback)
        if inspect.iscoroutinefunction(callback.func):
            raise InvalidJobError(f"{event} must be a plain function, as in RQ, not an async one")
        stored[event] = [callback.name, callback.timeout]
    return json.dumps(stored, sort_keys=True) if stored else None


def stored_timeout(stored: str | None, event: str) -> float:
    """Seconds the callback stored for ``event`` may run (the default without one)."""
    entry = json.loads(stored or "{}").get(event)
    return DEFAULT_TIMEOUT if entry is None else float(entry[1])


def stored_function(stored: str | None, event: str) -> Callable[..., Any] | None:
    """The function stored for ``event`` (None without one), for RQ's job attributes."""
    entry = json.loads(stored or "{}").get(event)
    return None if entry is None else resolve_function(entry[0])
