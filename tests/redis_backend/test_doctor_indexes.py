"""The doctor on what only Redis keeps apart from its job records: the indexes."""

from __future__ import annotations

import pytest

from backend_conformance import corruption
from backend_conformance.test_doctor import check_then_repair
from conveyor.backends.base import Backend
from conveyor.status import JobStatus
from conveyor.testing import make_job

NOW = 1_000_000.0


@pytest.mark.parametrize(
    ("status", "index"),
    [(JobStatus.SCHEDULED, "due"), (JobStatus.STARTED, "leases"), (JobStatus.FINISHED, "status:default:finished")],
)
def test_a_job_missing_from_its_index(backend: Backend, status: JobStatus, index: str) -> None:
    fields = {"scheduled_for": NOW + 60} if status is JobStatus.SCHEDULED else {}
    if status is JobStatus.FINISHED:
        fields["keep_until"] = NOW + 500
    job = make_job(backend, status=status, now=NOW, **fields)
    corruption.unindex(backend, job.id, index)
    check_then_repair(backend, {("missing_index", job.id)})


def test_a_job_in_an_index_it_does_not_belong_to(backend: Backend) -> None:
    job = make_job(backend, status=JobStatus.FINISHED, now=NOW, keep_until=NOW + 500)
    corruption.stray(backend, job.id, "leases")
    check_then_repair(backend, {("stray_index", job.id)})


def test_a_queued_job_missing_from_its_queue(backend: Backend) -> None:
    job = make_job(backend, now=NOW)
    member = backend._redis.hget(backend.keys.job(job.id), "qmember")  # type: ignore[attr-defined]
    backend._redis.zrem(backend.keys.queued("default"), member)  # type: ignore[attr-defined]
    check_then_repair(backend, {("missing_index", job.id)})
    assert [r.id for r in backend.jobs_claim(["default"], "w", 1, "t", NOW + 30, NOW)] == [job.id]


def test_a_users_job_missing_from_or_stray_in_the_users_index(backend: Backend) -> None:
    job = make_job(backend, status=JobStatus.FINISHED, now=NOW, keep_until=NOW + 500, user_id="alice")
    corruption.unindex(backend, job.id, "ustatus:7:default:alice:finished")
    check_then_repair(backend, {("missing_index", job.id)})
    assert backend.counts("alice") == {"default": {JobStatus.FINISHED: 1}}
    corruption.stray(backend, job.id, "ustatus:7:default:alice:failed")
    check_then_repair(backend, {("stray_index", job.id)})
    assert backend.counts("alice") == {"default": {JobStatus.FINISHED: 1}}


def test_a_queued_job_whose_id_holds_the_member_separator_is_sound(backend: Backend) -> None:
    job = make_job(backend, now=NOW, id="order|42")  # queued members are "<order>|<id>"
    assert backend.invariants_check(NOW, repair=True) == []
    assert [r.id for r in backend.jobs_claim(["default"], "w", 1, "t", NOW + 30, NOW)] == [job.id]


def test_a_users_jobs_of_a_queue_named_beyond_ascii_are_counted_and_sound(backend: Backend) -> None:
    queue = "队列-ü"  # the per-user keys hold the name's length: in bytes, as Lua counts it
    job = make_job(backend, now=NOW, queue=queue, user_id="alice")
    assert backend.counts("alice") == {queue: {JobStatus.QUEUED: 1}}
    assert backend.invariants_check(NOW, repair=False) == []
    (claimed,) = backend.jobs_claim([queue], "w", 1, "t", NOW + 30, NOW)
    assert backend.counts("alice") == {queue: {JobStatus.STARTED: 1}}
    assert backend.job_ids_newest(queue, [JobStatus.STARTED], None, 10, user_id="alice") == [(job.id, 1)]
    assert backend.invariants_check(NOW, repair=False) == [], claimed
