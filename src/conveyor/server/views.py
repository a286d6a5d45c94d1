"""Jobs, workers and inspections as the API shows them (REST names, UTC times, ``error``).

Only JSON-serialized payloads are decoded: a pickled one would run code chosen by
whoever wrote it, so the API shows it as null.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from conveyor.clock import to_datetime
from conveyor.cron.published import is_stale, next_tick
from conveyor.health import worker_is_healthy
from conveyor.server import json_values
from conveyor.server.schemas import (
    BackendView,
    CronEntryView,
    JobDetail,
    JobInput,
    JobPage,
    JobStatusView,
    JobSummary,
    RestStatus,
    StatusMetrics,
    WorkerView,
)
from conveyor.status import REST_NAMES, TERMINAL, JobStatus
from conveyor.types import CronEntryRecord, JobInspection, JobRecord, JobSummaryRecord, WorkerRecord


def rest(status: JobStatus) -> RestStatus:
    return REST_NAMES[status]  # type: ignore[return-value]


def decoded(record: JobRecord, data: bytes | None) -> Any:
    """A stored value (result, meta, payload) as JSON data; None for pickled ones."""
    if data is None or record.serializer != "json":
        return None
    return json_values.decode(data)


def error_line(exc_info: str | None) -> str | None:
    """The last non-empty line of a traceback: what a user wants to read first."""
    if not exc_info:
        return None
    lines = [line for line in exc_info.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else None


def _time(timestamp: float | None) -> datetime | None:
    return to_datetime(timestamp)


def _metrics(record: JobRecord) -> dict[str, Any]:
    value = json_values.decode(record.metrics) if record.metrics else {}
    return value if isinstance(value, dict) else {}


def _input(record: JobRecord) -> JobInput | None:
    arguments = decoded(record, record.payload) if record.payload else [[], {}]
    if not isinstance(arguments, list) or len(arguments) != 2:
        return None
    return JobInput(args=arguments[0], kwargs=arguments[1])


def _ended_at(record: JobRecord | JobSummaryRecord) -> float | None:
    return record.ended_at if record.status in TERMINAL else None


def _listed(record: JobRecord | JobSummaryRecord) -> dict[str, Any]:
    """The fields a summary and a detail share, from either record."""
    ended = _ended_at(record)
    duration = None
    if ended is not None and record.started_at is not None:
        duration = round((ended - record.started_at) * 1000)
    return {
        "id": record.id,
        "job_type": record.func_name,
        "status": rest(record.status),
        "priority": record.priority,
        "retry_count": record.retry_count,
        "max_retries": record.max_retries,
        "created_at": _time(record.created_at),
        "started_at": _time(record.started_at),
        "completed_at": _time(ended),
        "duration_ms": duration,
        "error": error_line(record.exc_info),
        "progress": record.progress,
        "user_id": record.user_id,
        "worker_id": record.worker_name,
        "queue": record.queue,
        "batch_id": record.batch_id,
    }


def job_summary(record: JobSummaryRecord) -> JobSummary:
    return JobSummary(**_listed(record))


def job_detail(record: JobRecord) -> JobDetail:
    meta = decoded(record, record.meta)
    return JobDetail(
        **_listed(record),
        input=_input(record),
        result=decoded(record, record.result),
        metrics=_metrics(record),
        depends_on=list(record.depends_on),
        meta=meta if isinstance(meta, dict) else {},
        retry_on=list(record.retry_on),
    )


def job_page(record: JobRecord) -> JobPage:
    """The detail with the traceback: what the job's own page needs to tell why it failed."""
    return JobPage(**job_detail(record).model_dump(), traceback=record.exc_info or None)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def job_status(record: JobRecord, now: float) -> JobStatusView:
    ended = _ended_at(record)
    execution = None
    if record.started_at is not None:
        execution = round((ended if ended is not None else now) - record.started_at, 3)
    metrics = _metrics(record)
    return JobStatusView(
        job_id=record.id,
        job_type=record.func_name,
        status=rest(record.status),
        progress=record.progress,
        created_at=_time(record.created_at),  # type: ignore[arg-type]
        started_at=_time(record.started_at),
        completed_at=_time(ended),
        error=error_line(record.exc_info),
        user_id=record.user_id,
        metrics=StatusMetrics(
            execution_time_seconds=execution,
            items_processed=_int(metrics.get("items_processed")),
            total_items=_int(metrics.get("total_items")),
        ),
    )


def worker_view(worker: WorkerRecord, now: float, shown_jobs: set[str] | None = None) -> WorkerView:
    """A worker; its current jobs only those in ``shown_jobs`` when given (a user's own)."""
    current = [job_id for job_id in worker.current_job_ids if shown_jobs is None or job_id in shown_jobs]
    return WorkerView(
        name=worker.name,
        host=worker.hostname,
        pid=worker.pid,
        queues=list(worker.queues),
        state=worker.state,
        current_job_id=current[0] if current else None,
        current_job_ids=current,
        concurrency=worker.concurrency,
        pool=worker.pool,
        jobs_done=worker.jobs_done,
        jobs_failed=worker.jobs_failed,
        jobs_cancelled=worker.jobs_stopped,
        working_time=worker.working_time,
        started_at=_time(worker.started_at or None),
        last_heartbeat=_time(worker.last_heartbeat or None),
        healthy=worker_is_healthy(worker, now),
        shutdown_requested=worker.shutdown_requested,
    )


def cron_entry_view(entry: CronEntryRecord, now: float) -> CronEntryView:
    """A periodic job as published, with its next tick and whether a scheduler still runs it."""
    return CronEntryView(
        name=entry.name,
        schedule=entry.schedule,
        schedule_kind=entry.schedule_kind,
        timezone=entry.timezone,
        queue=entry.queue,
        job_type=entry.job_type,
        last_tick=_time(entry.last_tick),
        next_tick=_time(next_tick(entry, now)),
        scheduler=entry.scheduler,
        host=entry.hostname,
        pid=entry.pid,
        last_seen=datetime.fromtimestamp(entry.last_seen, UTC),
        stale=is_stale(entry, now),
    )


def inspection(found: JobInspection) -> BackendView:
    if not found.exists:
        note = "The backend holds no record for this id."
    elif found.status is not None and found.status in TERMINAL:
        note = "The job has ended; it stays until its result or failure TTL runs out."
    elif found.in_queue:
        note = f"Queued: {found.queue_position} job(s) ahead of it in its queue."
    elif found.in_schedule:
        note = "Scheduled: a worker moves it to its queue when its time comes."
    elif found.status is JobStatus.SCHEDULED:  # scheduled, with no time of its own
        note = "Held for its batch's start: queued when the batch starts (see GET /batches/{id}/backend)."
    elif found.lease_owner is not None:
        note = f"Running on {found.lease_owner} under a lease."
    else:
        note = "The job waits on its dependencies."
    return BackendView(
        job_id=found.job_id,
        status=rest(found.status) if found.status is not None else None,
        exists=found.exists,
        in_queue=found.in_queue,
        queue_position=found.queue_position,
        in_schedule=found.in_schedule,
        scheduled_time=_time(found.scheduled_time),
        lease_owner=found.lease_owner,
        lease_expires_at=_time(found.lease_expires_at),
        registries=list(found.locations),
        note=note,
    )
