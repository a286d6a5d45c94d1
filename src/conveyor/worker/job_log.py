"""The worker's log record for a run that did not finish: RQ and Celery log a failed job,
with its traceback, where the worker runs, so a failure shows where one looks first
(the job keeps it too, in ``exc_info``). Finished runs are not logged: that would cost
the drain rate of quick jobs."""

from __future__ import annotations

import logging

from conveyor.clock import to_datetime
from conveyor.status import JobStatus
from conveyor.types import RELEASED, SNOOZED, JobRecord, Settlement

log = logging.getLogger("conveyor.worker")


def log_unfinished(record: JobRecord, settlement: Settlement) -> None:
    """Log a failed run (WARNING, one line, when it will be retried, else ERROR with the
    traceback), a stopped job, or a snoozed one."""
    if settlement.status is JobStatus.FINISHED or settlement.reason == RELEASED:
        return
    job = f"job {record.id} ({record.func_name})"
    if settlement.reason == SNOOZED:
        due = to_datetime(settlement.scheduled_for)
        log.info("%s snoozed %s", job, "to the back of its queue" if due is None else f"until {due:%H:%M:%S} UTC")
        return
    if settlement.status is JobStatus.STOPPED:
        log.info("%s stopped", job)
        return
    how = "timed out" if settlement.reason == "timeout" else "failed"
    traceback = (settlement.exc_info or "").strip()
    if settlement.count_retry:  # one line, as Celery's retries: the last run's failure has it all
        error = traceback.splitlines()[-1] if traceback else how
        log.warning("%s %s (%s); retry %d of %d follows", job, how, error, record.retry_count + 1, record.max_retries)
    else:
        log.error("%s %s\n%s", job, how, traceback)
