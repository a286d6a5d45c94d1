"""Turning what happened to a claimed job into a Settlement, with the retry policy.

Written once, above the backend contract: backends only apply the settlement.
"""

from __future__ import annotations

import traceback

from conveyor.exceptions import JobStopRequested, JobTimeoutException
from conveyor.ids import as_text
from conveyor.retry import FailJob, RetryJob, SnoozeJob, retried_on, retry_delay
from conveyor.status import JobStatus
from conveyor.types import RELEASED, SNOOZED, JobRecord, Settlement


def _keep_until(now: float, ttl: float | None) -> float | None:
    return None if ttl is None else now + ttl


def finished(record: JobRecord, started_at: float, result: bytes, now: float) -> Settlement:
    """The job returned; keep it for result_ttl (0 deletes it at once)."""
    return Settlement(
        record.id,
        record.lease_token or "",
        JobStatus.FINISHED,
        started_at=started_at,
        result=result,
        keep_until=_keep_until(now, record.result_ttl),
        delete=record.result_ttl == 0,
    )


def failed(
    record: JobRecord,
    started_at: float | None,
    exc_info: str,
    now: float,
    reason: str = "error",
    *,
    retriable: bool = True,
    delay: float | None = None,
) -> Settlement:
    """The job raised (or timed out): retry while retries remain, after ``delay`` (None:
    the policy's interval), else fail it. A failure another run would only repeat is not
    ``retriable``. ``exc_info`` is made text (a message may name a file with a byte that
    is not UTF-8): the store could not hold it, and the worker would die settling."""
    token = record.lease_token or ""
    exc_info = as_text(exc_info)
    if retriable and record.retry_count < record.max_retries:
        if delay is None:
            delay = retry_delay(record.retry_intervals, record.retry_count, record.retry_jitter)
        return Settlement(
            record.id,
            token,
            JobStatus.SCHEDULED if delay > 0 else JobStatus.QUEUED,
            started_at=started_at,
            exc_info=exc_info,
            reason=reason,
            scheduled_for=now + delay if delay > 0 else None,
            count_retry=True,
        )
    return Settlement(
        record.id,
        token,
        JobStatus.FAILED,
        started_at=started_at,
        exc_info=exc_info,
        reason=reason,
        keep_until=_keep_until(now, record.failure_ttl),
    )


def stopped(record: JobRecord, started_at: float | None, exc_info: str, now: float) -> Settlement:
    """A stop command ended the job: never retried, kept like a failure."""
    exc_info = as_text(exc_info)  # as in failed
    return Settlement(
        record.id,
        record.lease_token or "",
        JobStatus.STOPPED,
        started_at=started_at,
        exc_info=exc_info,
        reason="stopped",
        keep_until=_keep_until(now, record.failure_ttl),
    )


def released(record: JobRecord) -> Settlement:
    """The job was claimed but never started (the worker is shutting down)."""
    return Settlement(record.id, record.lease_token or "", JobStatus.QUEUED, reason=RELEASED)


def snoozed(record: JobRecord, started_at: float | None, delay: float, now: float) -> Settlement:
    """The job asked to run again in ``delay`` seconds (SnoozeJob): not a failure."""
    return Settlement(
        record.id,
        record.lease_token or "",
        JobStatus.SCHEDULED if delay > 0 else JobStatus.QUEUED,
        started_at=started_at,
        reason=SNOOZED,
        scheduled_for=now + delay if delay > 0 else None,
    )


def raised(record: JobRecord, started_at: float | None, error: BaseException, now: float) -> Settlement:
    """The job raised ``error``: failed or retried (timed out, if it was a timeout; only
    on the exceptions of its ``Retry(on=...)``), or stopped by a stop command; or it
    asked for its next run itself (RetryJob, SnoozeJob, FailJob)."""
    if isinstance(error, SnoozeJob):
        return snoozed(record, started_at, error.delay, now)
    text = "".join(traceback.format_exception(error))
    if isinstance(error, JobStopRequested):
        return stopped(record, started_at, text, now)
    reason = "timeout" if isinstance(error, JobTimeoutException) else "error"
    if isinstance(error, RetryJob):  # asked for, whatever the exceptions retried on
        return failed(record, started_at, text, now, reason=reason, delay=error.delay)
    retriable = not isinstance(error, FailJob) and retried_on(record.retry_on, error)
    return failed(record, started_at, text, now, reason=reason, retriable=retriable)
