"""Deferred jobs stored before conveyor kept their unmet set (no ``unmet`` field): the
first parent to end gets the set from their parents' current status, read as the release
rule read it then (a parent gone counts as met); from then on the set decides."""

from __future__ import annotations

from conveyor.backends.redis.backend import RedisBackend
from conveyor.status import JobStatus
from conveyor.testing import make_job
from conveyor.types import Settlement

NOW = 1_000_000.0


def _finish(backend: RedisBackend, job_id: str) -> None:
    (claimed,) = backend.jobs_claim([job_id], "worker", 1, "token", NOW + 30, NOW)
    assert backend.jobs_settle([Settlement(claimed.id, "token", JobStatus.FINISHED)], NOW) == [True]


def _statuses(backend: RedisBackend, *job_ids: str) -> list[JobStatus | None]:
    return [record and record.status for record in backend.jobs_get(job_ids)]


def test_jobs_deferred_before_the_unmet_set_wait_on_what_they_waited_on(backend: RedisBackend) -> None:
    make_job(backend, id="done", status=JobStatus.FINISHED)
    make_job(backend, id="failed", status=JobStatus.FAILED)
    for parent in ("running", "other", "last", "gone", "pending"):
        make_job(backend, id=parent, queue=parent)
    children = {
        "strict": (("done", "gone", "running"), False),
        "lenient": (("failed", "running"), True),
        "blocked": (("failed", "running"), False),
        "late": (("running", "other", "last"), False),
        "canceled": (("pending",), False),
    }
    for child, (parents, allow) in children.items():
        make_job(backend, id=child, depends_on=parents, allow_dependency_failures=allow)
    backend.job_cancel("canceled", NOW, None, False)
    assert backend.job_delete("gone") is True
    for child in children:  # as the previous layout stored them
        backend._redis.hdel(backend.keys.job(child), "unmet")

    _finish(backend, "running")
    assert _statuses(backend, "strict", "lenient", "blocked", "late") == [
        JobStatus.QUEUED, JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.DEFERRED]  # fmt: skip
    assert backend.job_delete("other") is True  # unfinished: 'late' now waits for good
    _finish(backend, "last")
    assert _statuses(backend, "late") == [JobStatus.DEFERRED]
    assert backend.jobs_requeue(["canceled"], NOW) == ["canceled"]
    assert _statuses(backend, "canceled") == [JobStatus.DEFERRED]
    _finish(backend, "pending")
    assert _statuses(backend, "canceled") == [JobStatus.QUEUED]
