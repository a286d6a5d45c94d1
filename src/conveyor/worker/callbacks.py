"""Calling a job's callbacks (see conveyor.callbacks) once its function has ended.

Shared by every place a job runs: the worker's threads, its main thread, a thread
beside the event loop for ``async def`` jobs, and a job process. Each gives ``enter``,
which starts a callback's own clock where that place keeps it.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from conveyor.exceptions import InvalidJobError, JobInterrupted, JobTimeoutException, SerializationError
from conveyor.functions import resolve_function
from conveyor.job import Job
from conveyor.status import JobStatus
from conveyor.types import RELEASED, Settlement

from .execution import failure

log = logging.getLogger("conveyor.worker")

Enter = Callable[[str, float, Settlement], bool]
"""Called before each callback with its event, its timeout and the job's outcome so far:
the worker starts the callback's own clock; False skips it (the worker is past its
shutdown deadline)."""


def run(
    job: Job,
    outcome: Settlement,
    value: Any,
    error: BaseException | None,
    enter: Enter,
    describe: Callable[[JobInterrupted], JobInterrupted] = lambda interrupt: interrupt,
) -> Settlement:
    """Call the job's callbacks for ``outcome`` (``value`` returned, or ``error`` raised,
    by its function); returns the outcome to record. ``describe`` gives an interrupt that
    landed in a callback its words (one raised in a thread comes without). An interrupt
    that lands outside a callback propagates: the caller settles ``outcome`` (as it
    noted it in ``enter``)."""
    stored = json.loads(job.record.callbacks or "{}")
    if outcome.reason == RELEASED:
        return outcome
    if outcome.status is JobStatus.FINISHED:
        if "on_success" not in stored:
            return outcome
        try:
            _call(job, stored, "on_success", outcome, enter, value)
            return outcome
        except JobInterrupted as cut:
            if not isinstance(cut, JobTimeoutException):  # a shutdown: the job has run to its end
                log.warning("the on_success callback of job %s was cut short: %s", job.id, cut)
                return outcome
            error = describe(cut)
        except Exception as exc:
            error = exc
        log.warning("the on_success callback of job %s failed, and so the job: %r", job.id, error)
        outcome = failure(job.record, outcome.started_at, error, job.clock.now())
    elif error is None:  # it returned a result its serializer refused
        error = SerializationError(outcome.exc_info or "the result could not be encoded")
    event = "on_stopped" if outcome.status is JobStatus.STOPPED else "on_failure"
    if event in stored:
        try:
            args = () if event == "on_stopped" else (type(error), error, error.__traceback__)
            _call(job, stored, event, outcome, enter, *args)
        except (Exception, JobInterrupted):
            log.exception("the %s callback of job %s failed", event, job.id)
    return outcome


def _call(job: Job, stored: Mapping[str, list[Any]], event: str, outcome: Settlement, enter: Enter, *args: Any) -> None:
    """Call one callback once the worker has started its clock, unless it says to skip it."""
    path, timeout = stored[event]
    if not enter(event, timeout, outcome):
        log.warning("the %s callback of job %s is skipped: the worker is past its shutdown deadline", event, job.id)
        return
    returned = resolve_function(path)(job, job.connection, *args)
    if inspect.isawaitable(returned):
        if inspect.iscoroutine(returned):
            returned.close()  # never awaited: no warning
        raise InvalidJobError(f"the {event} callback must be a plain function, as in RQ, not an async one")
