"""Commands that steer jobs and workers from outside: cancel, stop, requeue, shutdown.

RQ keeps ``send_stop_job_command`` and ``send_shutdown_command`` in ``rq.command``;
conveyor keeps these together here, and exports them from the package too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from conveyor.backends.base import Backend
from conveyor.clock import SYSTEM_CLOCK, Clock
from conveyor.connection import resolve_connection
from conveyor.exceptions import STATUS_MARK, InvalidJobOperation, NoSuchJobError, NoSuchWorkerError
from conveyor.ids import is_text
from conveyor.job import Job, stored_records
from conveyor.options import validate_at_front
from conveyor.rq_absent import module_attribute
from conveyor.status import REQUEUEABLE


def cancel_job(
    job_id: str,
    connection: Backend | None = None,
    serializer: object = None,
    enqueue_dependents: bool = False,
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> Job:
    """Cancel a job that has not ended. A running job is told to stop as well.

    With ``enqueue_dependents`` the jobs waiting on this one no longer wait on it, as if
    it had finished: those waiting on nothing else are queued. Raises NoSuchJobError, or InvalidJobOperation if the job
    already ended.
    """
    backend = resolve_connection(connection)
    (record,) = stored_records(backend, [job_id])
    if record is None:
        raise NoSuchJobError(job_id)
    now = clock.now()
    keep_until = None if record.failure_ttl is None else now + record.failure_ttl
    return Job(connection=backend, record=backend.job_cancel(job_id, now, keep_until, enqueue_dependents))


def send_stop_job_command(
    connection: Backend | None, job_id: str, serializer: object = None, *, clock: Clock = SYSTEM_CLOCK
) -> None:
    """Stop a running job: it ends as ``stopped``, lands in the failed registry and is
    never retried. Raises InvalidJobOperation if the job is not running. RQ's
    ``serializer`` is taken and not needed, as in ``cancel_job``."""
    backend = resolve_connection(connection)
    if isinstance(job_id, str) and not is_text(job_id):
        raise NoSuchJobError(job_id)  # no job holds such an id (see Job.fetch)
    backend.job_request_stop(job_id, clock.now())


def send_shutdown_command(connection: Backend | None, worker_name: str) -> None:
    """Ask a worker, on any machine, to shut down as a SIGTERM would make it: take no more
    jobs, finish the running ones (within its shutdown timeout), give back what it holds,
    exit. It hears at its next heartbeat, within a third of its lease (10 s by default).
    Raises NoSuchWorkerError if no worker of that name is registered."""
    backend = resolve_connection(connection)
    if not backend.workers_request_shutdown(worker_name):
        raise NoSuchWorkerError(worker_name)


def requeue_job(
    job_id: str,
    connection: Backend | None = None,
    serializer: object = None,
    *,
    clock: Clock = SYSTEM_CLOCK,
    at_front: bool | None = None,
) -> Job:
    """Put a failed, stopped or canceled job back in its queue, with its retries reset
    (RQ's ``serializer`` is taken and not needed); ``at_front`` as for ``Job.requeue``."""
    backend = resolve_connection(connection)
    if isinstance(job_id, str) and not is_text(job_id):
        raise NoSuchJobError(job_id)  # no job holds such an id (see Job.fetch)
    if not backend.jobs_requeue([job_id], clock.now(), _requeue_place(at_front)):
        (record,) = backend.jobs_get([job_id])
        if record is None:
            raise NoSuchJobError(job_id)
        if record.lease_token is not None and record.status.value == "canceled":
            message = f"Cannot requeue job {job_id} yet: its worker is still stopping it; try again shortly"
        elif record.status in REQUEUEABLE and record.unique_key is not None:
            message = (f"Cannot requeue job {job_id}: another job with its unique key (over REST, its "
                       "idempotency key) has not ended")  # fmt: skip
        else:
            message = f"Cannot requeue job {job_id}: it is {STATUS_MARK}"
        raise InvalidJobOperation(job_id, record.status.value, message)
    return Job.fetch(job_id, connection=backend)


def requeue_jobs(
    job_ids: Sequence[str],
    connection: Backend | None = None,
    *,
    clock: Clock = SYSTEM_CLOCK,
    at_front: bool | None = None,
) -> list[str]:
    """Requeue many jobs in one step; return the ids that were requeueable."""
    backend = resolve_connection(connection)
    ids = [job_id for job_id in job_ids if not isinstance(job_id, str) or is_text(job_id)]  # others name no job
    return backend.jobs_requeue(ids, clock.now(), _requeue_place(at_front)) if ids else []


def _requeue_place(at_front: object) -> bool | None:
    """A requeue's ``at_front``: None keeps each job's own (enqueue_at_front)."""
    return None if at_front is None else validate_at_front(at_front)


if not TYPE_CHECKING:  # type checkers keep flagging unknown names

    def __getattr__(name: str) -> object:
        """RQ's commands conveyor lacks: refused saying what to use."""
        module_attribute(__name__, name)
