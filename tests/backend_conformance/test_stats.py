"""throughput and job_inspect: statistics from counters, and what the store holds for a job."""

from __future__ import annotations

import pytest

from backend_conformance.helpers import LEASE_TTL, NOW, claim, put, settle
from conveyor.status import JobStatus


def run(backend, outcome: JobStatus, *, started: float, ended: float, **fields) -> None:
    job = put(backend, max_retries=fields.pop("max_retries", 0))
    (claimed,) = claim(backend, now=started)
    assert claimed.id == job.id
    assert settle(backend, claimed, outcome, now=ended, **fields)


def test_finished_and_failed_runs_are_counted_with_their_runtime(backend):
    run(backend, JobStatus.FINISHED, started=NOW, ended=NOW + 2, keep_until=NOW + 500)
    run(backend, JobStatus.FINISHED, started=NOW, ended=NOW + 3, keep_until=NOW + 500)
    run(backend, JobStatus.FAILED, started=NOW, ended=NOW + 1, keep_until=NOW + 500)
    counted = backend.throughput(NOW - 60)
    assert (counted.finished, counted.failed) == (2, 1)
    assert counted.runtime_total == pytest.approx(6.0)


def test_stopped_and_canceled_jobs_are_counted_apart_and_retried_runs_not_at_all(backend):
    run(backend, JobStatus.STOPPED, started=NOW, ended=NOW + 1, keep_until=NOW + 500)
    run(backend, JobStatus.QUEUED, started=NOW, ended=NOW + 1, count_retry=True, max_retries=1)
    backend.job_cancel(put(backend).id, NOW, NOW + 50, False)
    counted = backend.throughput(NOW - 60)
    assert (counted.finished, counted.failed, counted.cancelled, counted.runtime_total) == (0, 0, 2, 0.0)
    assert counted.ended == 2


def test_a_running_job_canceled_is_counted_once(backend):
    put(backend)
    (claimed,) = claim(backend)
    backend.job_cancel(claimed.id, NOW + 1, NOW + 50, False)
    assert not settle(backend, claimed, JobStatus.STOPPED, now=NOW + 2, keep_until=NOW + 500)  # its stop handled
    counted = backend.throughput(NOW - 60)
    assert (counted.finished, counted.failed, counted.cancelled) == (0, 0, 1)


def test_expired_jobs_count_as_cancelled(backend):
    put(backend, ttl=60, expires_at=NOW + 60)
    assert backend.jobs_expire(NOW + 61) == 1
    assert backend.throughput(NOW - 60).cancelled == 1


def test_abandoned_jobs_count_as_failed(backend):
    put(backend)
    claim(backend)
    backend.leases_recover(NOW + LEASE_TTL + 1)
    assert backend.throughput(NOW - 60).failed == 1


def test_windows_start_at_their_minute(backend):
    run(backend, JobStatus.FINISHED, started=NOW - 7200, ended=NOW - 7199, keep_until=NOW + 500)
    run(backend, JobStatus.FINISHED, started=NOW, ended=NOW + 1, keep_until=NOW + 500)
    assert backend.throughput(NOW - 3600).finished == 1
    assert backend.throughput(NOW - 86400).finished == 2
    assert backend.throughput(NOW + 120).finished == 0


def test_inspect_a_missing_job(backend):
    seen = backend.job_inspect("nope")
    assert (seen.job_id, seen.exists, seen.status, seen.locations) == ("nope", False, None, ())


def test_inspect_a_queued_job(backend):
    put(backend, priority=5)
    job = put(backend)
    seen = backend.job_inspect(job.id)
    assert (seen.exists, seen.status, seen.in_queue, seen.queue_position) == (True, JobStatus.QUEUED, True, 1)
    assert (seen.in_schedule, seen.lease_owner) == (False, None)
    assert seen.locations


def test_inspect_a_scheduled_job(backend):
    job = put(backend, JobStatus.SCHEDULED, scheduled_for=NOW + 60)
    seen = backend.job_inspect(job.id)
    assert (seen.in_queue, seen.in_schedule, seen.scheduled_time) == (False, True, NOW + 60)


def test_inspect_a_running_job(backend):
    put(backend)
    (claimed,) = claim(backend, worker="w-7")
    seen = backend.job_inspect(claimed.id)
    assert (seen.status, seen.in_queue, seen.lease_owner) == (JobStatus.STARTED, False, "w-7")
    assert seen.lease_expires_at == NOW + LEASE_TTL


@pytest.mark.parametrize("ended", [JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELED])
def test_inspect_an_ended_job(backend, ended):
    job = put(backend, ended)
    seen = backend.job_inspect(job.id)
    assert (seen.exists, seen.status, seen.in_queue, seen.in_schedule, seen.lease_owner) == (
        True, ended, False, False, None,
    )  # fmt: skip
