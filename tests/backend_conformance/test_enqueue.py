"""jobs_enqueue: records stored as given, id reuse, unknown dependencies, atomic bulk, deferral."""

from __future__ import annotations

import dataclasses

import pytest

from backend_conformance.helpers import (
    ALL_STATUSES,
    LIVE_STATUSES,
    NOW,
    TERMINAL_STATUSES,
    get,
    put,
    snapshot,
    status,
)
from conveyor.exceptions import JobIdInUseError, NoSuchJobError
from conveyor.status import JobStatus
from conveyor.testing import make_record


def test_every_field_is_stored_as_given(backend):
    parent = put(backend, JobStatus.FINISHED)
    record = make_record(
        id="job-1",
        queue="emails",
        func_name="app.tasks.send",
        args=[1, "two"],
        kwargs={"three": 3},
        serializer="pickle",
        priority=-7,
        user_id="alice",
        timeout=12.5,
        ttl=60.0,
        result_ttl=-1.0,
        failure_ttl=None,
        max_retries=3,
        retry_intervals=(0.0, 10.0, 60.0),
        retry_jitter=0.5,
        retry_count=1,
        retry_on=("ConnectionError", "requests.exceptions.Timeout"),
        depends_on=(parent.id,),
        allow_dependency_failures=True,
        description="send a mail",
        meta=b'{"k": "v"}',
        progress=0.25,
        metrics={"items_processed": 3},
        created_at=NOW - 100,
        enqueued_at=NOW,
        scheduled_for=NOW - 1,
        expires_at=NOW + 60,
        exc_info="Traceback: previous attempt",
        status_reason="retry",
        worker_name="worker-9",
        batch_id="batch-1",
    )
    expected = dataclasses.replace(record)
    backend.jobs_enqueue([record], NOW)
    assert get(backend, "job-1") == expected


def test_started_job_keeps_its_lease(backend):
    job = put(backend, JobStatus.STARTED, lease_token="tok", lease_expires_at=NOW + 99, worker_name="inline")
    stored = get(backend, job.id)
    assert (stored.status, stored.lease_token, stored.lease_expires_at, stored.worker_name) == (
        JobStatus.STARTED,
        "tok",
        NOW + 99,
        "inline",
    )


@pytest.mark.parametrize("job_status", ALL_STATUSES)
def test_a_job_is_stored_in_the_status_it_carries(backend, job_status):
    job = put(backend, job_status)
    assert status(backend, job.id) is job_status
    assert backend.jobs_count("default", [job_status]) == 1


@pytest.mark.parametrize("live_status", LIVE_STATUSES)
def test_reusing_the_id_of_a_live_job_is_rejected(backend, live_status):
    put(backend, live_status, id="taken", func_name="app.original")
    before = snapshot(backend)
    with pytest.raises(JobIdInUseError) as raised:
        backend.jobs_enqueue([make_record(id="taken", func_name="app.intruder")], NOW)
    assert raised.value.job_id == "taken"
    assert snapshot(backend) == before


@pytest.mark.parametrize("terminal_status", TERMINAL_STATUSES)
def test_reusing_the_id_of_a_terminal_job_replaces_it(backend, terminal_status):
    put(backend, terminal_status, id="reused", func_name="app.old", result=b"old")
    backend.jobs_enqueue([make_record(id="reused", func_name="app.new", now=NOW + 10)], NOW + 10)
    stored = get(backend, "reused")
    assert (stored.status, stored.func_name, stored.result, stored.keep_until) == (
        JobStatus.QUEUED,
        "app.new",
        None,
        None,
    )
    assert list(snapshot(backend)) == ["reused"]


def test_unknown_dependency_is_rejected_and_nothing_is_stored(backend):
    before = snapshot(backend)
    batch = [make_record(id="fine"), make_record(id="orphan", depends_on=("missing",))]
    with pytest.raises(NoSuchJobError) as raised:
        backend.jobs_enqueue(batch, NOW)
    assert raised.value.job_id == "missing"
    assert snapshot(backend) == before


def test_bulk_enqueue_is_all_or_nothing(backend):
    put(backend, JobStatus.STARTED, id="busy")
    before = snapshot(backend)
    batch = [make_record(id="a"), make_record(id="b"), make_record(id="busy")]
    with pytest.raises(JobIdInUseError):
        backend.jobs_enqueue(batch, NOW)
    assert snapshot(backend) == before


def test_a_bulk_with_one_id_twice_is_rejected(backend):
    with pytest.raises(JobIdInUseError):
        backend.jobs_enqueue([make_record(id="twin"), make_record(id="twin")], NOW)
    assert snapshot(backend) == {}


def test_bulk_enqueue_stores_every_job_in_order(backend):
    batch = [make_record(id=f"job-{n}") for n in (3, 1, 2)]
    stored = backend.jobs_enqueue(batch, NOW)
    assert [r.id for r in stored] == ["job-3", "job-1", "job-2"]
    assert backend.job_ids("default", [JobStatus.QUEUED]) == ["job-3", "job-1", "job-2"]


def test_jobs_with_new_ids_are_stored_and_indexed_as_any(backend):
    """``new_ids`` (the caller made the ids) spares only the lookup of each id."""
    backend.jobs_enqueue([make_record(id="plain-1"), make_record(id="plain-2", priority=5)], NOW)
    backend.jobs_enqueue([make_record(id="new-1"), make_record(id="new-2", priority=5)], NOW, new_ids=True)
    backend.jobs_enqueue([make_record(id="new-3", ttl=60, expires_at=NOW + 60)], NOW, new_ids=True)
    assert backend.job_ids("default", [JobStatus.QUEUED]) == ["plain-2", "new-2", "plain-1", "new-1", "new-3"]
    assert dataclasses.replace(get(backend, "new-1"), id="plain-1") == get(backend, "plain-1")
    assert backend.queue_position("new-3") == 4
    assert backend.jobs_expire(NOW + 61) == 1 and status(backend, "new-3") is JobStatus.CANCELED


def test_enqueueing_nothing_stores_nothing(backend):
    assert backend.jobs_enqueue([], NOW) == []
    assert snapshot(backend) == {}


@pytest.mark.parametrize("given", [JobStatus.QUEUED, JobStatus.SCHEDULED])
@pytest.mark.parametrize("parent_status", [JobStatus.QUEUED, JobStatus.STARTED, JobStatus.FAILED, JobStatus.DEFERRED])
def test_a_job_with_unmet_dependencies_is_deferred(backend, given, parent_status):
    parent = put(backend, parent_status)
    (returned,) = backend.jobs_enqueue(
        [make_record(status=given, scheduled_for=NOW + 60, depends_on=(parent.id,))], NOW
    )
    assert returned.status is JobStatus.DEFERRED
    assert status(backend, returned.id) is JobStatus.DEFERRED


@pytest.mark.parametrize("given", [JobStatus.QUEUED, JobStatus.SCHEDULED])
def test_a_job_whose_dependencies_finished_keeps_its_status(backend, given):
    parents = [put(backend, JobStatus.FINISHED).id for _ in range(2)]
    (returned,) = backend.jobs_enqueue([make_record(status=given, scheduled_for=NOW + 60, depends_on=parents)], NOW)
    assert returned.status is given
    assert status(backend, returned.id) is given


def test_one_unmet_dependency_among_several_defers(backend):
    parents = [put(backend, JobStatus.FINISHED).id, put(backend, JobStatus.QUEUED).id]
    child = put(backend, depends_on=tuple(parents))
    assert status(backend, child.id) is JobStatus.DEFERRED


@pytest.mark.parametrize("parent_status", [JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED])
def test_a_parent_that_ended_badly_is_met_only_when_failures_are_allowed(backend, parent_status):
    parent = put(backend, parent_status)
    strict = put(backend, depends_on=(parent.id,))
    lenient = put(backend, depends_on=(parent.id,), allow_dependency_failures=True)
    assert status(backend, strict.id) is JobStatus.DEFERRED
    assert status(backend, lenient.id) is JobStatus.QUEUED


def test_a_dependency_may_be_an_earlier_job_of_the_same_bulk(backend):
    parent = make_record(id="parent")
    child = make_record(id="child", depends_on=("parent",))
    backend.jobs_enqueue([parent, child], NOW)
    assert (status(backend, "parent"), status(backend, "child")) == (JobStatus.QUEUED, JobStatus.DEFERRED)
