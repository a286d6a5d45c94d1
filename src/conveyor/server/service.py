"""What the job routes do, through the library (Queue, cancel_job, requeue_job), with
each caller confined to its own jobs.

A job another user owns is reported exactly like a missing one (NoSuchJobError), so
ids cannot be probed across tenants.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from conveyor.arguments import call_mismatch
from conveyor.backends.base import Backend
from conveyor.command import cancel_job, requeue_job
from conveyor.exceptions import InvalidJobOperation, NoSuchJobError
from conveyor.functions import registered_job_types
from conveyor.ids import new_job_id
from conveyor.job import Job
from conveyor.queue import Queue
from conveyor.retry import Retry
from conveyor.server.auth import Principal
from conveyor.server.errors import ApiError, rest_status, validation_error
from conveyor.server.schemas import SubmitJob
from conveyor.status import TERMINAL, JobStatus
from conveyor.types import JobInspection, JobRecord


def visible_record(backend: Backend, principal: Principal, job_id: str) -> JobRecord:
    """The job's record if the caller may see it; NoSuchJobError otherwise."""
    (record,) = backend.jobs_get([job_id])
    return visible(principal, job_id, record)


def visible(principal: Principal, job_id: str, record: JobRecord | None) -> JobRecord:
    """``record`` if it exists and the caller may see it; NoSuchJobError otherwise."""
    if record is None or not principal.may_see(record.user_id):
        raise NoSuchJobError(job_id)
    return record


def submit(backend: Backend, principal: Principal, spec: SubmitJob) -> tuple[Job, bool]:
    """Enqueue a registered job type for the caller. Never imports anything by name:
    an unknown type is refused with the list of known ones. With an idempotency key
    held by a live job of the caller's, that job comes back instead of a new one: the
    second value says whether the job was created by this call."""
    known = registered_job_types()
    if spec.job_type not in known:
        raise validation_error(
            f"Unknown job type {spec.job_type!r}",
            [{"field": "job_type", "location": "body", "message": "not a registered job type", "type": "unknown"}],
            known_job_types=sorted(known),
        )
    _check_arguments(spec, known[spec.job_type])
    _check_references(backend, principal, spec)
    options = job_options(spec, principal)
    options["job_id"] = spec.job_id or new_job_id()
    options["depends_on"] = spec.depends_on or None
    if spec.idempotency_key is not None:  # scoped to the caller: keys of two users never meet
        options["unique_key"] = f"{principal.user_id or ''}\x1f{spec.idempotency_key}"
    queue = Queue(spec.queue, connection=backend)
    if spec.scheduled_at is not None:
        job = queue.enqueue_at(spec.scheduled_at, spec.job_type, **options)
    elif spec.delay_seconds:
        job = queue.enqueue_in(timedelta(seconds=spec.delay_seconds), spec.job_type, **options)
    else:
        job = queue.enqueue_call(spec.job_type, **options)
    return job, job.id == options["job_id"]


def _check_arguments(spec: SubmitJob, func: Callable[..., Any]) -> None:
    """Refuse arguments the job type's function cannot take, before anything is
    stored: the job would only fail in a worker."""
    mismatch = call_mismatch(func, spec.args, spec.kwargs)
    if mismatch is not None:
        field, reason = mismatch
        raise validation_error(
            f"The arguments do not fit job type {spec.job_type!r}: {reason}",
            [{"field": field, "location": "body", "message": reason, "type": "arguments"}],
        )


def job_options(spec: SubmitJob, principal: Principal) -> dict[str, Any]:
    """Job.create options from a submission (its schedule, id and dependencies aside)."""
    options: dict[str, Any] = {
        "args": spec.args,
        "kwargs": spec.kwargs,
        "priority": spec.priority,
        "user_id": principal.user_id,
        "timeout": spec.timeout,
        "ttl": spec.ttl,
        "meta": spec.meta or None,
        "retry": Retry(spec.max_retries, spec.retry_intervals, on=spec.retry_on or None) if spec.max_retries else None,
    }
    if spec.result_ttl is not None:
        options["result_ttl"] = spec.result_ttl
    return options


def _check_references(backend: Backend, principal: Principal, spec: SubmitJob) -> None:
    """Dependencies must be the caller's own jobs, and a reused job id must not replace
    another user's finished job."""
    ids = [*spec.depends_on, *([spec.job_id] if spec.job_id else [])]
    if not ids:
        return
    records = dict(zip(ids, backend.jobs_get(ids), strict=True))
    for parent in spec.depends_on:
        record = records[parent]
        if record is None or not principal.may_see(record.user_id):
            raise validation_error(
                f"depends_on names job {parent}, which does not exist",
                [{"field": "depends_on", "location": "body", "message": f"job {parent} not found", "type": "missing"}],
            )
    existing = records.get(spec.job_id) if spec.job_id else None
    if existing is not None and not principal.may_see(existing.user_id):
        raise ApiError(409, "JobIdInUseError", f"Job id {spec.job_id!r} is already used", job_id=spec.job_id)
    if spec.job_id and spec.depends_on and _waits_on(backend, spec.depends_on, spec.job_id, records):
        raise validation_error(
            f"depends_on would make job {spec.job_id} wait on itself",
            [{"field": "depends_on", "location": "body", "message": "a dependency cycle", "type": "cycle"}],
        )


CYCLE_SEARCH = 1_000
"""Most jobs read looking for a dependency cycle (deeper ones are not looked for)."""


def _waits_on(backend: Backend, parents: list[str], job_id: str, known: dict[str, JobRecord | None]) -> bool:
    """Whether ``parents``, or a job they wait on (directly or through others), is
    ``job_id``: a job reusing the id of an ended one would then wait on itself for ever."""
    seen: set[str] = set()
    frontier = list(dict.fromkeys(parents))
    while frontier and len(seen) < CYCLE_SEARCH:
        if job_id in frontier:
            return True
        seen.update(frontier)
        missing = [parent for parent in frontier if parent not in known]
        known.update(zip(missing, backend.jobs_get(missing), strict=True))
        frontier = list(dict.fromkeys(
            grand for parent in frontier if (record := known[parent]) is not None
            for grand in record.depends_on if grand not in seen
        ))  # fmt: skip
    return False


def cancel(backend: Backend, principal: Principal, job_id: str) -> None:
    """Cancel a pending, scheduled or running job (a running one is stopped)."""
    visible_record(backend, principal, job_id)
    try:
        cancel_job(job_id, connection=backend)
    except InvalidJobOperation as exc:
        current = rest_status(exc.status)
        raise ApiError(
            409,
            f"JobAlready{current.capitalize()}Error",
            f"Cannot cancel job that is already {current}",
            job_id=job_id,
            current_status=current,
        ) from None


def restart(backend: Backend, principal: Principal, job_id: str) -> JobStatus:
    """Put a failed or cancelled job back in its queue, retries reset; the status the
    restart gave it: queued (or deferred, waiting on its dependencies), or scheduled for
    a job of a batch that has not started (it is held for the batch's start again)."""
    record = visible_record(backend, principal, job_id)
    if record.status not in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
        current = rest_status(record.status)
        raise ApiError(
            409,
            "JobNotRestartableError",
            f"Cannot restart job that is {current}: only failed or cancelled jobs can be restarted",
            job_id=job_id,
            current_status=current,
        )
    job = requeue_job(job_id, connection=backend)
    return JobStatus.SCHEDULED if job.get_status() is JobStatus.SCHEDULED else JobStatus.QUEUED


def delete(backend: Backend, principal: Principal, job_id: str) -> None:
    """Remove an ended job and its result. A live job is refused, and so is a cancelled
    one its worker is still stopping: deleting it under a worker would lose track of a
    run in progress. The store checks that in the delete itself (a restart or a claim
    may come between a read and the delete); the record then says why it refused."""
    visible_record(backend, principal, job_id)
    if backend.job_delete(job_id, ended_by=time.time()):
        return
    record = visible_record(backend, principal, job_id)  # gone meanwhile: a 404
    current = rest_status(record.status)
    if record.status not in TERMINAL:
        raise ApiError(
            409,
            "JobNotDeletableError",
            f"Cannot delete job that is {current}: cancel it first, then delete it",
            job_id=job_id,
            current_status=current,
        )
    raise ApiError(
        409,
        "InvalidJobStateError",
        f"Cannot delete job {job_id} yet: its worker is still stopping it; try again shortly",
        job_id=job_id,
        current_status=current,
    )


def inspect(backend: Backend, principal: Principal, job_id: str) -> JobInspection:
    """What the backend holds for the job; admins may also ask about ids with no record."""
    if not principal.is_admin:
        visible_record(backend, principal, job_id)
    return backend.job_inspect(job_id)
