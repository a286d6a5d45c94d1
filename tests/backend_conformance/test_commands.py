"""Steering jobs from outside: cancel, stop requests, requeue, delete."""

from __future__ import annotations

import pytest

from backend_conformance.helpers import (
    LEASE_TTL,
    LIVE_STATUSES,
    NOW,
    TERMINAL_STATUSES,
    claim,
    claim_ids,
    get,
    put,
    settle,
    snapshot,
    status,
)
from conveyor.exceptions import InvalidJobOperation, JobIdInUseError, NoSuchJobError
from conveyor.status import REQUEUEABLE, JobStatus

LATER = NOW + 10


def running_job(backend, job_id: str = "job", **fields):
    put(backend, id=job_id, **fields)
    (record,) = claim(backend)
    return record


# -- cancel ----------------------------------------------------------------------------
@pytest.mark.parametrize("live_status", LIVE_STATUSES)
def test_cancel_a_job_that_has_not_ended(backend, live_status):
    job = put(backend, live_status)
    returned = backend.job_cancel(job.id, LATER, LATER + 99, False)
    stored = get(backend, job.id)
    assert returned.status is stored.status is JobStatus.CANCELED
    assert (stored.ended_at, stored.keep_until) == (LATER, LATER + 99)
    assert stored.status_reason != "expired"


@pytest.mark.parametrize("terminal_status", TERMINAL_STATUSES)
def test_cancel_a_job_that_ended_is_invalid(backend, terminal_status):
    job = put(backend, terminal_status)
    before = snapshot(backend)
    with pytest.raises(InvalidJobOperation) as raised:
        backend.job_cancel(job.id, LATER, None, False)
    assert (raised.value.job_id, raised.value.status) == (job.id, terminal_status.value)
    assert snapshot(backend) == before


def test_cancel_a_missing_job(backend):
    with pytest.raises(NoSuchJobError):
        backend.job_cancel("ghost", NOW, None, False)


def test_a_canceled_job_is_not_claimed(backend):
    put(backend, id="job")
    backend.job_cancel("job", NOW, None, False)
    assert claim(backend) == []


def test_a_running_job_that_is_canceled_is_told_to_stop(backend):
    running = running_job(backend)
    backend.job_cancel("job", LATER, None, False)
    assert backend.stop_requests("worker-1") == ["job"]
    assert backend.stop_requests("worker-2") == []
    assert backend.leases_extend("worker-1", [("job", running.lease_token)], LATER + 30, LATER) == []
    assert backend.leases_recover(LATER + LEASE_TTL + 1) == []  # canceled is final, not abandoned
    assert status(backend, "job") is JobStatus.CANCELED


# -- stop requests ---------------------------------------------------------------------
def test_request_stop_of_a_running_job(backend):
    running = running_job(backend)
    backend.job_request_stop("job", LATER)
    assert backend.stop_requests("worker-1") == ["job"]
    assert backend.stop_requests("worker-2") == []
    assert status(backend, "job") is JobStatus.STARTED
    assert settle(backend, running, JobStatus.STOPPED, now=LATER, reason="stopped")
    assert backend.stop_requests("worker-1") == []
    stored = get(backend, "job")
    assert (stored.status, stored.stop_requested) == (JobStatus.STOPPED, False)


@pytest.mark.parametrize("job_status", [s for s in JobStatus if s is not JobStatus.STARTED])
def test_request_stop_of_a_job_that_is_not_running_is_invalid(backend, job_status):
    job = put(backend, job_status, worker_name="worker-1")
    before = snapshot(backend)
    with pytest.raises(InvalidJobOperation):
        backend.job_request_stop(job.id, NOW)
    assert snapshot(backend) == before
    assert backend.stop_requests("worker-1") == []


def test_request_stop_of_a_missing_job(backend):
    with pytest.raises(NoSuchJobError):
        backend.job_request_stop("ghost", NOW)


# -- requeue ---------------------------------------------------------------------------
@pytest.mark.parametrize("ended_status", sorted(REQUEUEABLE))
def test_requeue_puts_an_ended_job_back_in_its_queue(backend, ended_status):
    put(backend, id="waiting", queue="emails")
    put(backend, ended_status, id="job", queue="emails", retry_count=3, max_retries=3, exc_info="E")
    assert backend.jobs_requeue(["job"], LATER) == ["job"]
    stored = get(backend, "job")
    assert (stored.status, stored.retry_count, stored.ended_at, stored.keep_until) == (JobStatus.QUEUED, 0, None, None)
    assert claim_ids(backend, ("emails",), now=LATER) == ["waiting", "job"]  # back of the queue


def test_requeue_moves_only_requeueable_jobs(backend):
    ids = {s: put(backend, s).id for s in JobStatus}
    moved = backend.jobs_requeue([*ids.values(), "ghost"], LATER)
    assert sorted(moved) == sorted(ids[s] for s in REQUEUEABLE)
    for job_status in set(JobStatus) - REQUEUEABLE:
        assert status(backend, ids[job_status]) is job_status


def test_a_job_canceled_while_running_is_not_requeued_until_its_worker_stops_it(backend):
    running = running_job(backend)
    backend.job_cancel("job", NOW + 1, None, False)
    assert backend.jobs_requeue(["job"], NOW + 2) == []  # it may still be running
    with pytest.raises(JobIdInUseError) as refused:
        put(backend, id="job")
    assert (refused.value.status, refused.value.still_stopping) == ("canceled", True)
    assert str(refused.value) == "Job id 'job' is already used by a canceled job still stopping on its worker"
    assert not settle(backend, running, JobStatus.STOPPED, now=NOW + 3)  # the worker stops it
    assert backend.jobs_requeue(["job"], NOW + 4) == ["job"]


def test_a_job_canceled_while_running_is_requeueable_once_its_lease_ran_out(backend):
    running_job(backend)
    backend.job_cancel("job", NOW + 1, None, False)
    assert backend.jobs_requeue(["job"], NOW + LEASE_TTL + 1) == ["job"]


def test_a_job_canceled_while_running_and_requeued_runs_clean(backend):
    running = running_job(backend)
    backend.job_cancel("job", NOW + 1, None, False)
    assert not settle(backend, running, JobStatus.STOPPED, now=NOW + 2)
    assert backend.jobs_requeue(["job"], NOW + 2) == ["job"]
    (again,) = claim(backend, worker="worker-2", token="token-2", now=NOW + 3)
    assert not again.stop_requested
    assert backend.stop_requests("worker-2") == []
    assert settle(backend, again, JobStatus.FINISHED, now=NOW + 4)


# -- delete ----------------------------------------------------------------------------
def test_delete(backend):
    put(backend, id="job")
    assert backend.job_delete("job") is True
    assert backend.jobs_get(["job"]) == [None]
    assert backend.job_delete("job") is False
    assert claim(backend) == []


def test_a_delete_with_dependents_takes_every_job_below_it_and_no_other(backend):
    put(backend, id="parent")
    put(backend, id="child", depends_on=("parent",))
    put(backend, id="grandchild", depends_on=("child",))
    put(backend, id="other-parent")
    put(backend, id="shared", depends_on=("parent", "other-parent"))
    put(backend, id="unrelated", depends_on=("other-parent",))
    assert status(backend, "grandchild") is JobStatus.DEFERRED
    assert backend.job_delete("parent", with_dependents=True) is True
    assert backend.jobs_get(["parent", "child", "grandchild", "shared"]) == [None] * 4
    assert (status(backend, "other-parent"), status(backend, "unrelated")) == (JobStatus.QUEUED, JobStatus.DEFERRED)
    (other,) = claim(backend)
    assert settle(backend, other, JobStatus.FINISHED)
    assert claim_ids(backend, token="t2") == ["unrelated"], "what is left still runs after its parent"


def test_a_delete_without_dependents_leaves_them(backend):
    put(backend, id="parent")
    put(backend, id="child", depends_on=("parent",))
    assert backend.job_delete("parent") is True
    assert status(backend, "child") is JobStatus.DEFERRED


@pytest.mark.parametrize("job_status", LIVE_STATUSES)
def test_a_delete_of_ended_jobs_only_leaves_a_live_one(backend, job_status):
    job = put(backend, job_status)
    assert backend.job_delete(job.id, ended_by=NOW) is False
    assert status(backend, job.id) is job_status


def test_a_delete_of_ended_jobs_only_waits_for_a_worker_still_stopping_its_job(backend):
    ended = put(backend, JobStatus.FINISHED)
    assert backend.job_delete(ended.id, ended_by=NOW) is True
    put(backend, id="running")
    claim(backend)
    backend.job_cancel("running", NOW, None, False)  # canceled while its worker still runs it
    assert backend.job_delete("running", ended_by=NOW) is False
    assert backend.job_delete("running", ended_by=NOW + LEASE_TTL + 1) is True  # its lease has run out
    assert backend.job_delete("ghost", ended_by=NOW) is False
