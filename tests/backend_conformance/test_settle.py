"""jobs_settle: outcomes applied only under the lease that claimed the job."""

from __future__ import annotations

import dataclasses

import pytest

from backend_conformance.helpers import NOW, claim, claim_ids, get, put, settle, snapshot, status
from conveyor.status import JobStatus
from conveyor.types import RELEASED, Settlement

LATER = NOW + 7


@pytest.fixture
def running(backend):
    """A job claimed by worker-1 under token-1."""
    put(backend, id="job", max_retries=2, ttl=100.0)
    (record,) = claim(backend)
    return record


def test_finished(backend, running):
    assert settle(
        backend, running, JobStatus.FINISHED, now=LATER, result=b"42", started_at=NOW + 1, keep_until=NOW + 500
    )
    stored = get(backend, "job")
    assert stored.status is JobStatus.FINISHED
    assert (stored.result, stored.started_at, stored.ended_at, stored.keep_until) == (b"42", NOW + 1, LATER, NOW + 500)


@pytest.mark.parametrize("outcome", [JobStatus.FAILED, JobStatus.STOPPED])
def test_failed_or_stopped(backend, running, outcome):
    assert settle(backend, running, outcome, now=LATER, exc_info="Traceback: boom", reason="error", keep_until=NOW + 9)
    stored = get(backend, "job")
    assert stored.status is outcome
    assert (stored.exc_info, stored.status_reason, stored.ended_at, stored.keep_until) == (
        "Traceback: boom",
        "error",
        LATER,
        NOW + 9,
    )


def test_keep_until_none_is_stored_as_none(backend, running):
    assert settle(backend, running, JobStatus.FINISHED, keep_until=None)
    assert get(backend, "job").keep_until is None


@pytest.mark.parametrize("outcome", [JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED])
def test_an_ended_job_no_longer_holds_its_lease(backend, running, outcome):
    assert settle(backend, running, outcome)
    assert backend.leases_extend("worker-1", [("job", "token-1")], NOW + 100, NOW) == []
    assert not settle(backend, running, JobStatus.FINISHED, now=LATER)
    assert get(backend, "job").status is outcome


def test_retry_to_queued(backend, running):
    put(backend, id="waiting")
    assert settle(backend, running, JobStatus.QUEUED, now=LATER, exc_info="Traceback", reason="error", count_retry=True)
    stored = get(backend, "job")
    assert (stored.status, stored.retry_count, stored.exc_info) == (JobStatus.QUEUED, 1, "Traceback")
    assert not settle(backend, running, JobStatus.FINISHED)  # the old lease is gone
    assert claim_ids(backend, token="t2", now=LATER) == ["waiting", "job"]  # back of the queue


def test_retry_to_scheduled(backend, running):
    assert settle(backend, running, JobStatus.SCHEDULED, now=LATER, scheduled_for=NOW + 60, count_retry=True)
    stored = get(backend, "job")
    assert (stored.status, stored.scheduled_for, stored.retry_count) == (JobStatus.SCHEDULED, NOW + 60, 1)
    assert claim(backend, token="t2", now=LATER) == []
    assert backend.jobs_promote_due(NOW + 60) == 1
    assert claim_ids(backend, token="t3", now=NOW + 60) == ["job"]


def test_released_job_is_queued_again_without_counting_a_retry(backend, running):
    assert settle(backend, running, JobStatus.QUEUED, reason=RELEASED)
    assert (status(backend, "job"), get(backend, "job").retry_count) == (JobStatus.QUEUED, 0)
    (again,) = claim(backend, worker="w2", token="t2")
    assert again.retry_count == 0


def test_a_released_job_goes_back_to_its_place_with_its_ttl_running(backend):
    put(backend, id="job", ttl=100.0, expires_at=NOW + 100)
    (running,) = claim(backend)
    put(backend, id="waiting")
    assert settle(backend, running, JobStatus.QUEUED, now=LATER, reason=RELEASED)
    stored = get(backend, "job")
    assert (stored.enqueued_at, stored.expires_at) == (NOW, NOW + 100)
    assert claim_ids(backend, token="t2", now=LATER) == ["job", "waiting"]  # ahead of a job enqueued after it


def test_a_released_job_expires_when_its_ttl_from_the_first_enqueue_runs_out(backend):
    put(backend, id="job", ttl=100.0, expires_at=NOW + 100)
    (running,) = claim(backend)
    assert settle(backend, running, JobStatus.QUEUED, now=LATER, reason=RELEASED)
    assert backend.jobs_expire(NOW + 99) == 0
    assert backend.jobs_expire(NOW + 101) == 1


@pytest.mark.parametrize("outcome", [JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED])
def test_delete_drops_the_record(backend, running, outcome):
    assert settle(backend, running, outcome, delete=True)
    assert backend.jobs_get(["job"]) == [None]


def test_wrong_token_is_refused_and_changes_nothing(backend, running):
    before = snapshot(backend)
    assert not settle(backend, running, JobStatus.FINISHED, token="someone-else", result=b"x")
    assert not settle(backend, running, JobStatus.QUEUED, token="someone-else", count_retry=True)
    assert snapshot(backend) == before


@pytest.mark.parametrize("job_status", [s for s in JobStatus if s is not JobStatus.STARTED])
def test_a_job_that_is_not_started_is_not_settled(backend, job_status):
    job = put(backend, job_status, lease_token="token-1")  # a token left over, as after a cancel
    (before,) = backend.jobs_get([job.id])
    assert not settle(backend, job, JobStatus.FINISHED, result=b"x", delete=True)
    (after,) = backend.jobs_get([job.id])
    assert dataclasses.replace(after, lease_token="token-1") == before  # the refusal may drop the stale token


def test_a_job_canceled_while_it_ran_stays_canceled(backend, running):
    backend.job_cancel("job", NOW + 1, NOW + 99, False)
    assert not settle(backend, running, JobStatus.FINISHED, now=LATER, result=b"late", delete=True)
    stored = get(backend, "job")
    assert (stored.status, stored.result, stored.ended_at, stored.keep_until) == (
        JobStatus.CANCELED,
        None,
        NOW + 1,
        NOW + 99,
    )


def test_a_settle_of_a_missing_job_is_refused(backend):
    assert backend.jobs_settle([Settlement("ghost", "token-1", JobStatus.FINISHED)], NOW) == [False]


def test_each_settlement_of_a_batch_is_guarded_on_its_own(backend):
    put(backend, id="a")
    put(backend, id="b")
    put(backend, id="c")
    claim(backend)
    applied = backend.jobs_settle(
        [
            Settlement("a", "token-1", JobStatus.FINISHED, result=b"1"),
            Settlement("b", "stale", JobStatus.FINISHED, result=b"2"),
            Settlement("c", "token-1", JobStatus.FAILED, exc_info="E"),
        ],
        LATER,
    )
    assert applied == [True, False, True]
    assert [status(backend, i) for i in "abc"] == [JobStatus.FINISHED, JobStatus.STARTED, JobStatus.FAILED]


@pytest.mark.parametrize(
    "outcome",
    [
        dict(status=JobStatus.QUEUED, reason="error", count_retry=True),  # a retry
        dict(status=JobStatus.SCHEDULED, scheduled_for=NOW + 60, count_retry=True),  # a retry after a delay
        dict(status=JobStatus.QUEUED, reason=RELEASED),  # given back at a stop
    ],
)
def test_a_job_back_in_its_queue_names_the_worker_it_last_ran_on(backend, running, outcome):
    outcome = dict(outcome)
    assert settle(backend, running, outcome.pop("status"), **outcome)
    assert get(backend, "job").worker_name == "worker-1"  # where it ran: the traceback's machine
    backend.jobs_promote_due(NOW + 60)
    claim(backend, worker="w2", token="t2", now=NOW + 60)
    assert get(backend, "job").worker_name == "w2"  # until another worker starts it
