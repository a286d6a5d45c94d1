"""RQ's job callbacks: functions a worker calls when a job succeeds, fails or is stopped.

``queue.enqueue(f, on_success=report, on_failure=alert, on_stopped=note)``, each a
module-level function, an import path, or ``Callback(func)``; called as RQ calls them:

- ``on_success(job, connection, result)``, after the job returned, before its outcome is
  recorded: if it raises, the job fails with its traceback (and is retried per its
  ``retry``) and ``on_failure`` is called with that error, as in RQ;
- ``on_failure(job, connection, exc_type, exc_value, traceback)``, after each run that
  raised or timed out (also one that will be retried);
- ``on_stopped(job, connection)``, after a stop command or cancel ended the job.

They are plain functions, as in RQ (not ``async def``). They run where the job ran (the
worker's thread, its child process with ``pool="processes"``, or a thread beside the
event loop for an ``async def`` job), within the job's timeout; an error in
``on_failure`` or ``on_stopped`` is logged and changes nothing. ``connection`` is the
job's backend. A job given back by a stopping worker calls none of them: it has not ended.

An interrupt that lands in a callback: in ``on_success``, a stop or timeout ends the job
stopped or failed (with ``on_stopped``/``on_failure``), while a shutdown leaves it
finished (it has run); in ``on_failure`` or ``on_stopped``, nothing changes (the job
has already ended so) and only the callback is cut short.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from conveyor.exceptions import InvalidJobError, JobInterrupted, JobStopRequested
from conveyor.functions import function_name, resolve_function

if TYPE_CHECKING:
    from conveyor.job import Job

log = logging.getLogger("conveyor.worker")

EVENTS = ("on_success", "on_failure", "on_stopped")


class Callback:
    """A callback function, as RQ's ``Callback(func)``; a function or import path works as
    well. RQ's ``timeout`` is refused rather than ignored: a callback runs within its
    job's own timeout."""

    def __init__(self, func: Callable[..., Any] | str, timeout: float | None = None) -> None:
        if timeout is not None:
            raise InvalidJobError("Callback(timeout=) is not supported: a callback runs within its job's timeout")
        self.func = func

    @property
    def name(self) -> str:
        return function_name(self.func)


def encode(given: Mapping[str, Any]) -> str | None:
    """The callbacks among job options (Callback, function or path), as stored; None if
    there are none. A callback a worker could not import is an error now."""
    names = {}
    for event in EVENTS:
        callback = given.get(event)
        if callback is None:
            continue
        names[event] = callback.name if isinstance(callback, Callback) else _name(event, callback)
    return json.dumps(names, sort_keys=True) if names else None


def _name(event: str, callback: Any) -> str:
    if not (callable(callback) or isinstance(callback, str)):
        raise InvalidJobError(f"{event} must be a function, an import path or a Callback, got {callback!r}")
    if inspect.iscoroutinefunction(callback):
        raise InvalidJobError(f"{event} must be a plain function, as in RQ, not an async one")
    return function_name(callback)


def _named(job: Job, event: str) -> Callable[..., Any] | None:
    text = job.record.callbacks
    if not text:
        return None
    name = json.loads(text).get(event)
    return None if name is None else resolve_function(name)


def after_success(job: Job, result: Any) -> None:
    """Call the job's on_success; its error propagates (the job then fails)."""
    callback = _named(job, "on_success")
    if callback is not None:
        _check_plain(callback(job, job.connection, result))


def after_failure(job: Job, error: BaseException) -> None:
    """Call the job's on_stopped (a stop ended it) or on_failure. Their errors are
    logged, and an interrupt that lands in them (a stop, timeout or shutdown, raised in
    the job's thread) is too: the job has already ended with ``error``."""
    event = "on_stopped" if isinstance(error, JobStopRequested) else "on_failure"
    try:
        callback = _named(job, event)
        if callback is None:
            return
        if event == "on_stopped":
            _check_plain(callback(job, job.connection))
        else:
            _check_plain(callback(job, job.connection, type(error), error, error.__traceback__))
    except (Exception, JobInterrupted):
        log.exception("the %s callback of job %s failed", event, job.id)


def _check_plain(returned: Any) -> None:
    if inspect.isawaitable(returned):
        if inspect.iscoroutine(returned):
            returned.close()  # never awaited: no warning
        raise InvalidJobError("a callback must be a plain function, as in RQ, not an async one")
