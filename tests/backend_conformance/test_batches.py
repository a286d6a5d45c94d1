"""Batches: stored with their jobs in one step, held for one starter, completed exactly once."""

from __future__ import annotations

import pytest

from backend_conformance.helpers import NOW, claim, get, put, snapshot
from conveyor.exceptions import InvalidBatchOperation, JobIdInUseError, NoSuchBatchError
from conveyor.status import BatchStatus, JobStatus
from conveyor.testing import make_record
from conveyor.types import BatchRecord, Settlement

START = NOW + 3600


def create(backend, batch_id="b-1", size=3, scheduled=False, callbacks=True, user_id=None, jobs=None):
    batch = BatchRecord(
        batch_id,
        total=size,
        created_at=NOW,
        status=BatchStatus.SCHEDULED if scheduled else BatchStatus.RUNNING,
        scheduled_start=START if scheduled else None,
        started_at=None if scheduled else NOW,
        user_id=user_id,
        on_complete_job=f"{batch_id}-done" if callbacks else None,
        on_failure_job=f"{batch_id}-failed" if callbacks else None,
    )
    status = JobStatus.SCHEDULED if scheduled else JobStatus.QUEUED
    records = jobs or [make_record(id=f"{batch_id}-{i}", batch_id=batch_id, status=status) for i in range(size)]
    hooks = [make_record(id=f"{batch_id}-{kind}", status=JobStatus.DEFERRED) for kind in ("done", "failed")]
    return backend.batch_create(batch, records, hooks if callbacks else [], NOW)


def end_all(backend, outcome=JobStatus.FINISHED, limit=100):
    claimed = claim(backend, limit=limit)
    backend.jobs_settle([Settlement(r.id, r.lease_token or "", outcome, keep_until=NOW + 99) for r in claimed], NOW)
    return claimed


def test_a_running_batch_queues_its_jobs_and_holds_its_callbacks(backend):
    batch = create(backend)
    assert (batch.id, batch.status, batch.total) == ("b-1", BatchStatus.RUNNING, 3)
    assert backend.batch_counts("b-1") == {JobStatus.QUEUED: 3}
    assert get(backend, "b-1-done").status is JobStatus.DEFERRED
    assert backend.batches_get(["b-1", "nope"]) == [batch, None]


def test_a_scheduled_batch_holds_its_jobs_for_one_starter(backend):
    create(backend, scheduled=True)
    assert backend.jobs_promote_due(START + 1) == 0  # the jobs have no time of their own
    seen = backend.batch_inspect("b-1")
    assert (seen.exists, seen.status, seen.starter_exists, seen.starter_time, seen.held_jobs) == (
        True, BatchStatus.SCHEDULED, True, START, 3,
    )  # fmt: skip
    assert backend.batches_start_due(START - 1) == 0
    assert backend.batches_start_due(START) == 1
    assert backend.batch_counts("b-1") == {JobStatus.QUEUED: 3}
    started = backend.batches_get(["b-1"])[0]
    assert (started.status, started.started_at, started.scheduled_start) == (BatchStatus.RUNNING, START, START)
    seen = backend.batch_inspect("b-1")
    assert (seen.starter_exists, seen.held_jobs) == (False, 0)
    assert [r.id for r in claim(backend)] == ["b-1-0", "b-1-1", "b-1-2"]


def test_a_scheduled_start_is_due_like_a_scheduled_job_until_it_starts(backend):
    create(backend, scheduled=True)  # its held jobs have no time of their own
    assert backend.schedule_next_due() == START
    put(backend, JobStatus.SCHEDULED, id="job", scheduled_for=START + 1)
    assert backend.schedule_next_due() == START
    backend.batch_reschedule("b-1", START + 2, NOW)
    assert backend.schedule_next_due() == START + 1, "the job is first now"
    assert backend.batches_start_due(START + 2) == 1
    assert backend.schedule_next_due() == START + 1


def test_a_canceled_scheduled_batch_is_no_longer_due(backend):
    create(backend, scheduled=True)
    backend.batch_cancel("b-1", NOW)
    assert backend.schedule_next_due() is None


def test_start_now_and_only_once(backend):
    create(backend, scheduled=True)
    assert backend.batch_start("b-1", NOW + 5).status is BatchStatus.RUNNING
    with pytest.raises(InvalidBatchOperation):
        backend.batch_start("b-1", NOW + 6)
    with pytest.raises(NoSuchBatchError):
        backend.batch_start("nope", NOW)
    assert backend.batches_start_due(START) == 0


def test_reschedule_before_the_start_only(backend):
    create(backend, scheduled=True)
    assert backend.batch_reschedule("b-1", START + 60, NOW).scheduled_start == START + 60
    assert backend.batches_start_due(START) == 0
    assert backend.batch_inspect("b-1").starter_time == START + 60
    backend.batch_start("b-1", NOW)
    with pytest.raises(InvalidBatchOperation):
        backend.batch_reschedule("b-1", START, NOW)


def test_cancel_a_scheduled_batch(backend):
    create(backend, scheduled=True)
    batch, canceled = backend.batch_cancel("b-1", NOW + 1)
    assert (batch.status, canceled) == (BatchStatus.CANCELED, 3)
    assert batch.scheduled_start == START, "the time it was to start stays in its detail"
    assert backend.batch_counts("b-1") == {JobStatus.CANCELED: 3}
    assert get(backend, "b-1-done").status is JobStatus.CANCELED
    assert backend.batch_inspect("b-1").starter_exists is False
    assert backend.batches_start_due(START) == 0
    with pytest.raises(InvalidBatchOperation):
        backend.batch_cancel("b-1", NOW + 2)


def test_starting_a_canceled_batch_says_it_is_canceled_not_started(backend):
    create(backend, scheduled=True)
    backend.batch_cancel("b-1", NOW + 1)
    with pytest.raises(InvalidBatchOperation, match="Cannot start batch b-1: it is already canceled") as refused:
        backend.batch_start("b-1", NOW + 2)
    assert refused.value.status == "canceled"
    create(backend, batch_id="b-2")
    with pytest.raises(InvalidBatchOperation, match="Cannot start batch b-2: it is already running"):
        backend.batch_start("b-2", NOW + 2)


def test_cancel_a_running_batch_stops_its_running_jobs_and_keeps_ended_ones(backend):
    create(backend)
    first, second = claim(backend, limit=2)
    backend.jobs_settle([Settlement(first.id, first.lease_token or "", JobStatus.FINISHED, keep_until=NOW + 9)], NOW)
    _, canceled = backend.batch_cancel("b-1", NOW + 1)
    assert canceled == 2
    running = get(backend, second.id)
    assert (running.status, running.stop_requested) == (JobStatus.CANCELED, True)
    assert get(backend, first.id).status is JobStatus.FINISHED


def test_a_batch_completes_once_its_jobs_have_ended(backend):
    create(backend)
    assert backend.batches_complete(NOW) == []
    end_all(backend)
    assert backend.batches_complete(NOW + 1) == ["b-1"]
    assert backend.batches_complete(NOW + 2) == []
    batch = backend.batches_get(["b-1"])[0]
    assert (batch.status, batch.completed_at) == (BatchStatus.COMPLETED, NOW + 1)
    assert get(backend, "b-1-done").status is JobStatus.QUEUED
    assert get(backend, "b-1-failed").status is JobStatus.CANCELED
    assert [r.id for r in claim(backend)] == ["b-1-done"]


def test_a_failure_queues_both_callbacks(backend):
    create(backend)
    end_all(backend, JobStatus.FAILED, limit=1)
    end_all(backend)
    assert backend.batches_complete(NOW) == ["b-1"]
    assert {get(backend, "b-1-done").status, get(backend, "b-1-failed").status} == {JobStatus.QUEUED}


def test_a_batch_without_callbacks_completes_too(backend):
    create(backend, callbacks=False)
    end_all(backend)
    assert backend.batches_complete(NOW) == ["b-1"]


def test_listing_newest_first_by_user_and_cursor(backend):
    for batch_id, user in [("b-1", "alice"), ("b-2", "bob"), ("b-3", "alice")]:
        create(backend, batch_id=batch_id, size=1, callbacks=False, user_id=user)
    assert [b.id for b in backend.batches_list(None, None, 10)] == ["b-3", "b-2", "b-1"]
    assert [b.id for b in backend.batches_list("alice", None, 10)] == ["b-3", "b-1"]
    assert [b.id for b in backend.batches_list(None, "b-3", 1)] == ["b-2"]


def test_creation_is_all_or_nothing(backend):
    put(backend, id="taken")
    before = snapshot(backend)
    jobs = [make_record(id="fresh", batch_id="b-1"), make_record(id="taken", batch_id="b-1")]
    with pytest.raises(JobIdInUseError):
        create(backend, size=2, jobs=jobs)
    assert snapshot(backend) == before
    assert backend.batches_get(["b-1"]) == [None]


def test_an_ended_batch_goes_with_its_last_job(backend):
    create(backend, size=2, callbacks=False, user_id="alice")
    end_all(backend)  # kept until NOW + 99
    assert backend.batches_complete(NOW) == ["b-1"]
    assert backend.jobs_purge(NOW + 100, 1) == 1
    assert backend.batches_get(["b-1"])[0].status is BatchStatus.COMPLETED  # one job left
    assert backend.jobs_purge(NOW + 100, 1) == 1
    assert backend.batches_get(["b-1"]) == [None]
    assert backend.batches_list(None, None, 10) == backend.batches_list("alice", None, 10) == []


def test_a_running_batch_outlives_its_jobs_until_it_completes(backend):
    create(backend, size=1, callbacks=False)
    create(backend, batch_id="b-2", size=1, callbacks=False)
    end_all(backend)
    assert backend.jobs_purge(NOW + 100, 10) == 2
    assert [b.status for b in backend.batches_get(["b-1", "b-2"])] == [BatchStatus.RUNNING] * 2
    completed, canceled = backend.batch_cancel("b-2", NOW + 100)  # nothing left to cancel: it completes
    assert (completed.status, canceled) == (BatchStatus.COMPLETED, 0)
    assert backend.batches_complete(NOW + 100) == ["b-1"]
    assert backend.batches_get(["b-1", "b-2"]) == [None, None]  # completed with no job left: gone at once


def test_cancelling_a_batch_whose_jobs_have_all_ended_completes_it(backend):
    create(backend)
    end_all(backend)  # and no maintenance pass has completed the batch yet
    returned, canceled = backend.batch_cancel("b-1", NOW + 1)
    assert (returned.status, returned.completed_at, canceled) == (BatchStatus.COMPLETED, NOW + 1, 0)
    assert backend.batches_get(["b-1"]) == [returned]
    with pytest.raises(InvalidBatchOperation, match="Cannot cancel batch b-1: it is already completed"):
        backend.batch_cancel("b-1", NOW + 2)
    assert get(backend, "b-1-done").status is JobStatus.QUEUED  # its on_complete runs, as the pass would have done
    assert get(backend, "b-1-failed").status is JobStatus.CANCELED
    assert backend.batches_complete(NOW + 2) == []


def test_a_deleted_job_takes_its_ended_batch_along(backend):
    create(backend, size=1, callbacks=False)
    backend.batch_cancel("b-1", NOW)
    assert backend.job_delete("b-1-0")
    assert backend.batches_get(["b-1"]) == [None]


def test_a_batchs_jobs_last_given_first_in_pages_with_their_places_kept(backend):
    given = ["m", "z", "a", "q", "c"]  # not in id order: the order given counts
    create(backend, size=5, jobs=[make_record(id=job_id, batch_id="b-1") for job_id in given])
    listed = backend.batch_job_ids("b-1", None, 10)
    assert [job_id for job_id, _ in listed] == given[::-1]
    pages, before = [], None
    while page := backend.batch_job_ids("b-1", before, 2):
        pages.append(page)
        before = page[-1][1]
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [pair for page in pages for pair in page] == listed
    claimed = claim(backend, limit=5)
    retried, ended = claimed[0], claimed[1]
    backend.jobs_settle(
        [
            Settlement(retried.id, retried.lease_token or "", JobStatus.QUEUED, count_retry=True),
            Settlement(ended.id, ended.lease_token or "", JobStatus.FAILED, keep_until=NOW + 99),
        ],
        NOW,
    )
    assert backend.jobs_requeue([ended.id], NOW) == [ended.id]
    assert backend.batch_job_ids("b-1", None, 10) == listed  # retried and requeued jobs keep their place
    assert backend.job_delete("q")
    assert [job_id for job_id, _ in backend.batch_job_ids("b-1", None, 10)] == ["c", "a", "z", "m"]
    assert backend.batch_job_ids("nope", None, 10) == []


@pytest.mark.parametrize("scheduled", [False, True])
def test_a_batchs_jobs_keep_the_order_given_whatever_fields_each_has(backend, scheduled):
    # jobs with different fields set (a user, a description): SQLite inserted rows grouped
    # by which fields they had, so a batch listed, and a scheduled batch started, out of order
    status = JobStatus.SCHEDULED if scheduled else JobStatus.QUEUED
    shapes = [{"user_id": "alice"}, {}, {"user_id": "alice"}, {"description": "d"}, {}]
    given = [f"j{i}" for i in range(len(shapes))]
    jobs = [make_record(id=job_id, batch_id="b-1", status=status, **shape) for job_id, shape in zip(given, shapes)]
    create(backend, size=len(jobs), scheduled=scheduled, callbacks=False, jobs=jobs)
    assert [job_id for job_id, _ in backend.batch_job_ids("b-1", None, 10)] == given[::-1]
    if scheduled:
        backend.batch_start("b-1", NOW)
    assert backend.job_ids("default", [JobStatus.QUEUED]) == given


def _wait_on(backend, job_id, parent):
    put(backend, id=job_id, queue="after", depends_on=(parent,), allow_dependency_failures=True)
    assert get(backend, job_id).status is JobStatus.DEFERRED


def test_a_callback_canceled_when_its_batch_succeeds_releases_what_waits_on_it(backend):
    # a job that runs after the batch's on_failure whatever its outcome: canceled is an
    # outcome, as for any job canceled (it stayed deferred for ever)
    create(backend)
    _wait_on(backend, "after-failure", "b-1-failed")
    _wait_on(backend, "after-complete", "b-1-done")
    end_all(backend)
    assert backend.batches_complete(NOW) == ["b-1"]
    assert get(backend, "b-1-failed").status is JobStatus.CANCELED
    assert get(backend, "after-failure").status is JobStatus.QUEUED
    assert get(backend, "after-complete").status is JobStatus.DEFERRED  # on_complete is queued: it runs first
    assert backend.invariants_check(NOW, repair=False) == []


@pytest.mark.parametrize("scheduled", [False, True])
def test_callbacks_canceled_with_their_batch_release_what_waits_on_them(backend, scheduled):
    create(backend, scheduled=scheduled)
    _wait_on(backend, "after-failure", "b-1-failed")
    _wait_on(backend, "after-complete", "b-1-done")
    assert backend.batch_cancel("b-1", NOW)[1] == 3  # the batch's jobs, callbacks not counted
    assert {get(backend, job_id).status for job_id in ("after-failure", "after-complete")} == {JobStatus.QUEUED}
    assert backend.invariants_check(NOW, repair=False) == []


def test_a_cancel_that_completes_the_batch_releases_what_waits_on_its_canceled_callback(backend):
    create(backend)
    _wait_on(backend, "after-failure", "b-1-failed")
    end_all(backend)  # every job ended, the batch not yet completed: cancelling completes it
    assert backend.batch_cancel("b-1", NOW)[0].status is BatchStatus.COMPLETED
    assert get(backend, "after-failure").status is JobStatus.QUEUED
