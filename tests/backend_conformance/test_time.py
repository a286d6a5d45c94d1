"""Time-driven transitions: promote due scheduled jobs, expire old queued jobs, purge ended jobs."""

from __future__ import annotations

import pytest

from backend_conformance.helpers import NOW, TERMINAL_STATUSES, claim, claim_ids, get, put, settle, status
from conveyor.status import JobStatus
from conveyor.testing import make_record


# -- promote ---------------------------------------------------------------------------
def test_due_scheduled_jobs_are_queued(backend):
    put(backend, JobStatus.SCHEDULED, id="past", scheduled_for=NOW - 5)
    put(backend, JobStatus.SCHEDULED, id="now", scheduled_for=NOW)
    put(backend, JobStatus.SCHEDULED, id="future", scheduled_for=NOW + 1)
    assert backend.jobs_promote_due(NOW) == 2
    assert [status(backend, i) for i in ("past", "now", "future")] == [
        JobStatus.QUEUED,
        JobStatus.QUEUED,
        JobStatus.SCHEDULED,
    ]
    assert get(backend, "past").enqueued_at == NOW
    assert claim_ids(backend) == ["past", "now"]  # in the order they were due
    assert backend.jobs_promote_due(NOW) == 0


@pytest.mark.parametrize("job_status", [s for s in JobStatus if s is not JobStatus.SCHEDULED])
def test_promote_moves_only_scheduled_jobs(backend, job_status):
    job = put(backend, job_status, scheduled_for=NOW - 5)
    assert backend.jobs_promote_due(NOW) == 0
    assert status(backend, job.id) is job_status


def test_the_next_due_time_is_the_earliest_scheduled_job_past_or_future(backend):
    assert backend.schedule_next_due() is None
    put(backend, JobStatus.SCHEDULED, id="later", scheduled_for=NOW + 30)
    put(backend, JobStatus.SCHEDULED, id="sooner", scheduled_for=NOW + 2.5)
    put(backend, JobStatus.QUEUED, id="queued", scheduled_for=NOW - 100)  # ran already: no longer waits
    assert backend.schedule_next_due() == NOW + 2.5
    put(backend, JobStatus.SCHEDULED, id="overdue", scheduled_for=NOW - 1)
    assert backend.schedule_next_due() == NOW - 1
    assert backend.jobs_promote_due(NOW + 3) == 2
    assert backend.schedule_next_due() == NOW + 30
    backend.jobs_promote_due(NOW + 30)
    assert backend.schedule_next_due() is None


# -- expire ----------------------------------------------------------------------------
def test_queued_jobs_past_their_ttl_are_canceled_as_expired(backend):
    put(backend, id="old", expires_at=NOW - 1, failure_ttl=100.0)
    put(backend, id="due", expires_at=NOW, failure_ttl=None)
    put(backend, id="young", expires_at=NOW + 1)
    put(backend, id="forever")
    assert backend.jobs_expire(NOW) == 2
    old = get(backend, "old")
    assert (old.status, old.status_reason, old.ended_at, old.keep_until) == (
        JobStatus.CANCELED,
        "expired",
        NOW,
        NOW + 100,
    )
    assert get(backend, "due").keep_until is None
    assert claim_ids(backend) == ["young", "forever"]


@pytest.mark.parametrize("job_status", [s for s in JobStatus if s is not JobStatus.QUEUED])
def test_only_queued_jobs_expire(backend, job_status):
    job = put(backend, job_status, expires_at=NOW - 1)
    assert backend.jobs_expire(NOW) == 0
    assert status(backend, job.id) is job_status


def enqueue_then_scheduled(backend):
    put(backend, JobStatus.SCHEDULED, id="job", ttl=10.0, scheduled_for=NOW + 100)
    backend.jobs_promote_due(NOW + 100)


def enqueue_then_deferred(backend):
    put(backend, id="parent")
    (parent,) = claim(backend, token="parent-token")
    put(backend, id="job", ttl=10.0, expires_at=NOW + 10, depends_on=("parent",))
    settle(backend, parent, JobStatus.FINISHED, now=NOW + 100)


def enqueue_then_retried(backend):
    put(backend, id="job", ttl=10.0, expires_at=NOW + 10, max_retries=1)
    (record,) = claim(backend)
    settle(backend, record, JobStatus.QUEUED, now=NOW + 100, count_retry=True)


def enqueue_then_recovered(backend):
    put(backend, id="job", ttl=10.0, expires_at=NOW + 10, max_retries=1)
    backend.jobs_claim(["default"], "worker-1", 1, "token-1", NOW + 99, NOW)
    backend.leases_recover(NOW + 100)


def enqueue_then_requeued(backend):
    put(backend, JobStatus.FAILED, id="job", ttl=10.0, expires_at=NOW + 10)
    backend.jobs_requeue(["job"], NOW + 100)


@pytest.mark.parametrize(
    "queue_again",
    [
        enqueue_then_scheduled,
        enqueue_then_deferred,
        enqueue_then_retried,
        enqueue_then_recovered,
        enqueue_then_requeued,
    ],
)
def test_the_ttl_counts_from_the_moment_a_job_is_queued_again(backend, queue_again):
    queue_again(backend)  # each queues "job" (ttl 10 s) at NOW + 100
    assert status(backend, "job") is JobStatus.QUEUED
    assert backend.jobs_expire(NOW + 109) == 0
    assert backend.jobs_expire(NOW + 110) == 1
    assert get(backend, "job").status_reason == "expired"


# -- purge -----------------------------------------------------------------------------
@pytest.mark.parametrize("ended_status", TERMINAL_STATUSES)
def test_ended_jobs_are_purged_once_kept_long_enough(backend, ended_status):
    put(backend, ended_status, id="gone", keep_until=NOW)
    put(backend, ended_status, id="kept", keep_until=NOW + 1)
    put(backend, ended_status, id="forever", keep_until=None)
    assert backend.jobs_purge(NOW, 100) == 1
    assert backend.jobs_get(["gone", "kept", "forever"])[0] is None
    assert None not in backend.jobs_get(["kept", "forever"])


@pytest.mark.parametrize("live_status", [s for s in JobStatus if s not in TERMINAL_STATUSES])
def test_jobs_that_have_not_ended_are_never_purged(backend, live_status):
    job = put(backend, live_status, keep_until=NOW - 1)
    assert backend.jobs_purge(NOW, 100) == 0
    assert status(backend, job.id) is live_status


def test_purge_deletes_at_most_the_limit_per_call(backend):
    for i in range(5):
        put(backend, JobStatus.FINISHED, id=f"job{i}", keep_until=NOW)
    assert backend.jobs_purge(NOW, 2) == 2
    assert backend.jobs_purge(NOW, 2) == 2
    assert backend.jobs_purge(NOW, 2) == 1
    assert backend.jobs_purge(NOW, 2) == 0


def test_time_driven_passes_change_at_most_their_limit(backend):
    for n in range(5):
        put(backend, JobStatus.SCHEDULED, id=f"due{n}", scheduled_for=NOW)
        put(backend, id=f"old{n}", expires_at=NOW)
    assert backend.jobs_promote_due(NOW, 2) == 2
    assert backend.jobs_expire(NOW, 3) == 3
    assert backend.jobs_promote_due(NOW, 10) == 3
    assert backend.jobs_expire(NOW, 10) == 2


def test_emptying_a_large_queue_takes_every_job(backend):
    backend.jobs_enqueue([make_record(id=f"job{n}") for n in range(2_500)], NOW)
    assert backend.queue_empty("default") == 2_500
    assert backend.jobs_count("default", [JobStatus.QUEUED]) == 0
