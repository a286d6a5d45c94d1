"""Calling a job's callbacks (see conveyor.callbacks) once its function has ended.

Shared by every place a job runs: the worker's main thread or pool threads, a thread
beside the event loop for ``async def`` jobs, a job process, and ``Queue(is_async=False)``.
Each is a Place: it starts a callback's own clock and lets its interrupt in (``enter``),
and stops them as soon as the callback returns (``leave``), so that no interrupt meant
for a callback lands in the code around it.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from conveyor.callbacks import DEFAULT_TIMEOUT
from conveyor.exceptions import InvalidJobError, JobInterrupted, JobTimeoutException, SerializationError
from conveyor.functions import resolve_function
from conveyor.job import Job
from conveyor.status import JobStatus
from conveyor.types import RELEASED, SNOOZED, JobRecord, Settlement

from . import outcomes

log = logging.getLogger("conveyor.worker")


class Place(Protocol):
    """Where callbacks run, as the runner needs it."""

    def enter_callback(self, event: str, timeout: float, outcome: Settlement) -> bool:
        """Before a callback (``outcome``: the job's so far): start its clock and let its
        interrupts in; False skips it (the worker is past its shutdown deadline)."""

    def leave_callback(self) -> None:
        """Right after it: stop its clock; no interrupt may land from here."""

    def described(self, landed: BaseException) -> BaseException:
        """An interrupt that landed in a callback, in the words the worker gives it."""


class _Untimed:
    """Queue(is_async=False): callbacks run in the caller's thread, without time limits."""

    def enter_callback(self, event: str, timeout: float, outcome: Settlement) -> bool:
        return True

    def leave_callback(self) -> None:
        pass

    def described(self, landed: BaseException) -> BaseException:
        return landed


UNTIMED: Place = _Untimed()


def wanted(record: JobRecord, outcome: Settlement, handlers: Sequence[str]) -> bool:
    """Whether a job that ended with ``outcome`` has anything to call: callbacks of its
    own, or the worker's exception handlers for a run that failed (retried or not)."""
    return record.callbacks is not None or (
        bool(handlers) and (outcome.status is JobStatus.FAILED or outcome.count_retry)
    )


def run(
    job: Job,
    outcome: Settlement,
    value: Any,
    error: BaseException | None,
    place: Place,
    handlers: Sequence[str] = (),
) -> Settlement:
    """Call the job's callbacks for ``outcome`` (``value`` returned, or ``error`` raised,
    by its function), and after a failed run the worker's exception ``handlers`` (import
    paths); returns the outcome to record. An interrupt that lands outside a callback
    propagates: the caller settles the outcome it was told at ``enter``."""
    stored = json.loads(job.record.callbacks or "{}")
    if outcome.reason in (RELEASED, SNOOZED):  # the job has not ended
        return outcome
    if outcome.status is JobStatus.FINISHED:
        if "on_success" not in stored:
            return outcome
        try:
            _call(job, "on_success", *stored["on_success"], outcome, place, job.connection, value)
            return outcome
        except JobInterrupted as landed:
            cut = place.described(landed)
            if not isinstance(cut, JobTimeoutException):  # a shutdown: the job has run to its end
                log.warning("the on_success callback of job %s was cut short: %s", job.id, cut)
                return outcome
            error = cut
        except BaseException as exc:  # SystemExit too: a callback's error is the job's
            _reraise_ctrl_c(exc, place)
            error = exc
        outcome = outcomes.raised(job.record, outcome.started_at, error, job.clock.now())
        if outcome.reason == SNOOZED:  # the callback asked for a later run: nothing failed
            return outcome
        log.warning("the on_success callback of job %s failed, and so the job: %s", job.id, type(error).__name__)
    elif error is None:  # it returned a result its serializer refused
        error = SerializationError(outcome.exc_info or "the result could not be encoded")
    if outcome.status is JobStatus.STOPPED:
        if "on_stopped" in stored:
            _call_logged(job, "on_stopped", *stored["on_stopped"], outcome, place, job.connection)
        return outcome
    exc_info = (type(error), error, error.__traceback__)
    if "on_failure" in stored:
        _call_logged(job, "on_failure", *stored["on_failure"], outcome, place, job.connection, *exc_info)
    for path in handlers:  # RQ's order: on_failure, then the worker's handlers
        fall_through = _call_logged(job, "exception_handler", path, DEFAULT_TIMEOUT, outcome, place, *exc_info)
        if fall_through is not None and not fall_through:  # RQ's rule: a false value but None ends the chain
            break
    return outcome


def _reraise_ctrl_c(error: BaseException, place: Place) -> None:
    """A Ctrl-C in a program that runs jobs at once is for the caller; in a worker (which
    stops on signals only) it is a callback's error like any other."""
    if isinstance(error, KeyboardInterrupt) and place is UNTIMED:
        raise error


def _call_logged(job: Job, event: str, path: str, timeout: float, outcome: Settlement, place: Place, *args: Any) -> Any:
    """A callback called after the job ended as it did: what it raises is logged."""
    try:
        return _call(job, event, path, timeout, outcome, place, *args)
    except BaseException as exc:  # the job has ended as it did, whatever its callback does
        _reraise_ctrl_c(exc, place)
        described = place.described(exc) if isinstance(exc, JobInterrupted) else exc
        log.error("the %s callback %s of job %s failed: %r", event, path, job.id, described, exc_info=exc)
        return None


def _call(job: Job, event: str, path: str, timeout: float, outcome: Settlement, place: Place, *args: Any) -> Any:
    """Call one callback within its own clock, unless the place says to skip it; what it
    returned (None if skipped)."""
    if not place.enter_callback(event, timeout, outcome):
        log.warning("the %s callback of job %s is skipped: the worker is past its shutdown deadline", event, job.id)
        return None
    try:
        returned = resolve_function(path)(job, *args)
    finally:
        place.leave_callback()
    if inspect.isawaitable(returned):
        if inspect.iscoroutine(returned):
            returned.close()  # never awaited: no warning
        raise InvalidJobError(f"the {event} callback must be a plain function, as in RQ, not an async one")
    return returned
