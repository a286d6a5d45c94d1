"""What the batch routes do, through conveyor.Batch, each caller confined to its own batches."""

from __future__ import annotations

from conveyor.arguments import call_mismatch
from conveyor.backends.base import Backend
from conveyor.batch import Batch
from conveyor.clock import to_datetime
from conveyor.exceptions import NoSuchBatchError
from conveyor.functions import registered_job_types
from conveyor.job import Job
from conveyor.server import service
from conveyor.server.auth import Principal
from conveyor.server.batch_schemas import (
    BackendStarterInfo,
    BatchBackendView,
    BatchCounts,
    BatchDetail,
    BatchRestStatus,
    CreateBatch,
)
from conveyor.server.errors import validation_error
from conveyor.status import BATCH_REST_NAMES, REST_NAMES, BatchStatus
from conveyor.types import BatchInspection


def visible(backend: Backend, principal: Principal, batch_id: str) -> Batch:
    """The batch if the caller may see it; NoSuchBatchError otherwise (another user's too)."""
    batch = Batch.fetch(batch_id, connection=backend)
    if not principal.may_see(batch.user_id):
        raise NoSuchBatchError(batch_id)
    return batch


def create(backend: Backend, principal: Principal, spec: CreateBatch, max_jobs: int) -> tuple[Batch, list[str]]:
    """Check every spec first (types, no own schedule, size), then store all or nothing;
    the batch and its jobs' ids."""
    if len(spec.jobs) > max_jobs:
        raise validation_error(
            f"A batch may hold at most {max_jobs} jobs, got {len(spec.jobs)}",
            [{"field": "jobs", "location": "body", "message": f"at most {max_jobs} jobs", "type": "too_long"}],
        )
    known = registered_job_types()
    problems = []
    for index, job in enumerate(spec.jobs):
        if job.job_type not in known:
            problems.append((f"jobs.{index}.job_type", "not a registered job type"))
        elif mismatch := call_mismatch(known[job.job_type], job.args, job.kwargs):
            problems.append((f"jobs.{index}.{mismatch[0]}", mismatch[1]))
        for field in ("scheduled_at", "delay_seconds", "job_id"):
            if getattr(job, field) is not None:
                problems.append((f"jobs.{index}.{field}", "jobs of a batch start with the batch"))
        if job.depends_on:
            problems.append((f"jobs.{index}.depends_on", "jobs of a batch cannot depend on other jobs"))
        if job.idempotency_key is not None:  # it would be ignored: a retried creation makes a new batch
            problems.append((f"jobs.{index}.idempotency_key", "jobs of a batch take no idempotency key"))
    for field in ("on_complete", "on_failure"):
        callback = getattr(spec, field)
        if callback is not None and callback not in known:
            problems.append((field, "not a registered job type"))
        elif callback is not None and (mismatch := call_mismatch(known[callback], ["batch-id"], {})):
            # it is called with the batch id alone: it would only fail in the worker, once every job ended
            problems.append((field, f"it is called with the batch id alone: {mismatch[1]}"))
    if problems:
        raise validation_error(
            f"The batch was not created: {problems[0][0]}: {problems[0][1]}",
            [
                {"field": field, "location": "body", "message": message, "type": "invalid"}
                for field, message in problems
            ],
            known_job_types=sorted(known),
        )
    jobs = [
        Job.create(job.job_type, connection=backend, origin=job.queue, **service.job_options(job, principal))
        for job in spec.jobs
    ]
    batch = Batch.create(jobs, name=spec.name, scheduled_start=spec.scheduled_start_time, on_complete=spec.on_complete,
                         on_failure=spec.on_failure, user_id=principal.user_id, max_jobs=max_jobs,
                         connection=backend)  # fmt: skip
    return batch, [job.id for job in jobs]


def rest(status: BatchStatus) -> BatchRestStatus:
    return BATCH_REST_NAMES[status]  # type: ignore[return-value]


def detail(batch: Batch) -> BatchDetail:
    counts = dict.fromkeys(("pending", "scheduled", "running", "completed", "failed", "cancelled"), 0)
    for status, n in batch.counts.items():
        counts[REST_NAMES[status]] += n
    record = batch.record
    return BatchDetail(
        batch_id=batch.id,
        name=batch.name,
        status=rest(batch.status),
        scheduled_start_time=to_datetime(record.scheduled_start),
        created_at=to_datetime(record.created_at),  # type: ignore[arg-type]
        started_at=to_datetime(record.started_at),
        completed_at=to_datetime(record.completed_at),
        total=batch.total,
        counts=BatchCounts(**counts),
        progress=round(batch.progress, 4),
        user_id=batch.user_id,
    )


def backend_view(batch: Batch | None, batch_id: str, seen: BatchInspection) -> BatchBackendView:
    """The SPEC's debugging shape: the batch record's status against the store's starter."""
    scheduled = batch is not None and batch.status is BatchStatus.SCHEDULED
    if batch is None:
        note = "No batch record: it never existed, or the store lost it."
    elif scheduled and seen.starter_exists:
        note = f"Scheduled: the store will release its {seen.held_jobs} held jobs at the starter's time."
    elif scheduled:
        note = ("Out of sync: the batch is scheduled but the store holds no starter entry; "
                "start it by hand (POST .../start) or run `conveyor doctor --repair`.")  # fmt: skip
    elif seen.starter_exists:
        note = "Out of sync: a starter entry remains for a batch that is not scheduled (`conveyor doctor --repair`)."
    else:
        note = "Not scheduled: its jobs were released when it started (or canceled with it)."
    return BatchBackendView(
        batch_id=batch_id,
        database_status=None if batch is None else rest(batch.status),
        scheduled_job_id=f"start:{batch_id}" if scheduled else None,
        scheduled_start_time=None if batch is None else to_datetime(batch.record.scheduled_start),
        backend_job_info=BackendStarterInfo(
            job_id=f"start:{batch_id}" if seen.starter_exists else None,
            in_defer_queue=seen.starter_exists,
            job_metadata_exists=seen.exists,
            scheduled_time=to_datetime(seen.starter_time),
            held_jobs=seen.held_jobs,
            note=note,
        ),
    )
