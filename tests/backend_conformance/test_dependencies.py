"""Deferred jobs: released when their parents end as they require, never before."""

from __future__ import annotations

import pytest

from backend_conformance.helpers import LEASE_TTL, NOW, claim, claim_ids, put, settle, status
from conveyor.status import JobStatus

LATER = NOW + 5


def running_parent(backend, job_id: str = "parent", **fields):
    put(backend, id=job_id, queue=f"q-{job_id}", **fields)
    (record,) = claim(backend, (f"q-{job_id}",), token=f"token-{job_id}")
    return record


def test_finishing_the_parent_queues_the_child(backend):
    parent = running_parent(backend)
    put(backend, id="child", depends_on=("parent",))
    assert settle(backend, parent, JobStatus.FINISHED, now=LATER)
    assert status(backend, "child") is JobStatus.QUEUED
    assert claim_ids(backend, now=LATER) == ["child"]


def test_a_released_child_that_is_scheduled_for_later_waits_for_its_time(backend):
    parent = running_parent(backend)
    put(backend, JobStatus.SCHEDULED, id="child", depends_on=("parent",), scheduled_for=NOW + 60)
    assert settle(backend, parent, JobStatus.FINISHED, now=LATER)
    assert status(backend, "child") is JobStatus.SCHEDULED
    assert backend.jobs_promote_due(NOW + 60) == 1
    assert status(backend, "child") is JobStatus.QUEUED


def test_a_parent_deleted_with_its_result_still_releases_the_child(backend):
    parent = running_parent(backend)
    put(backend, id="child", depends_on=("parent",))
    assert settle(backend, parent, JobStatus.FINISHED, delete=True)
    assert status(backend, "child") is JobStatus.QUEUED


@pytest.mark.parametrize("outcome", [JobStatus.FAILED, JobStatus.STOPPED])
def test_a_parent_that_fails_leaves_the_child_deferred(backend, outcome):
    parent = running_parent(backend)
    put(backend, id="child", depends_on=("parent",))
    assert settle(backend, parent, outcome, now=LATER)
    assert status(backend, "child") is JobStatus.DEFERRED


@pytest.mark.parametrize("outcome", [JobStatus.FAILED, JobStatus.STOPPED])
def test_a_parent_that_fails_releases_a_child_that_allows_failures(backend, outcome):
    parent = running_parent(backend)
    put(backend, id="child", depends_on=("parent",), allow_dependency_failures=True)
    assert settle(backend, parent, outcome, now=LATER)
    assert status(backend, "child") is JobStatus.QUEUED


def test_a_parent_retried_does_not_release_the_child(backend):
    parent = running_parent(backend, max_retries=1)
    put(backend, id="child", depends_on=("parent",), allow_dependency_failures=True)
    assert settle(backend, parent, JobStatus.QUEUED, count_retry=True)
    assert status(backend, "child") is JobStatus.DEFERRED


def test_an_abandoned_parent_releases_only_a_child_that_allows_failures(backend):
    running_parent(backend)
    put(backend, id="strict", depends_on=("parent",))
    put(backend, id="lenient", depends_on=("parent",), allow_dependency_failures=True)
    backend.leases_recover(NOW + LEASE_TTL + 1)
    assert status(backend, "parent") is JobStatus.FAILED
    assert (status(backend, "strict"), status(backend, "lenient")) == (JobStatus.DEFERRED, JobStatus.QUEUED)


def test_a_child_waits_for_all_of_its_parents(backend):
    first = running_parent(backend, "first")
    second = running_parent(backend, "second")
    put(backend, id="child", depends_on=("first", "second"))
    assert settle(backend, first, JobStatus.FINISHED)
    assert status(backend, "child") is JobStatus.DEFERRED
    assert settle(backend, second, JobStatus.FINISHED)
    assert status(backend, "child") is JobStatus.QUEUED


def test_with_several_parents_one_failure_keeps_a_strict_child_deferred(backend):
    first = running_parent(backend, "first")
    second = running_parent(backend, "second")
    put(backend, id="strict", depends_on=("first", "second"))
    put(backend, id="lenient", depends_on=("first", "second"), allow_dependency_failures=True)
    assert settle(backend, first, JobStatus.FAILED)
    assert settle(backend, second, JobStatus.FINISHED)
    assert (status(backend, "strict"), status(backend, "lenient")) == (JobStatus.DEFERRED, JobStatus.QUEUED)


def test_ending_one_parent_releases_every_child_it_completes(backend):
    parent = running_parent(backend)
    for n in range(3):
        put(backend, id=f"child-{n}", depends_on=("parent",))
    assert settle(backend, parent, JobStatus.FINISHED)
    assert claim_ids(backend) == ["child-0", "child-1", "child-2"]


def test_canceling_the_parent_leaves_a_strict_child_deferred(backend):
    put(backend, id="parent")
    put(backend, id="child", depends_on=("parent",))
    backend.job_cancel("parent", NOW, None, False)
    assert status(backend, "child") is JobStatus.DEFERRED


@pytest.mark.parametrize("parent_status", [JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED])
def test_canceling_with_enqueue_dependents_releases_the_child(backend, parent_status):
    put(backend, parent_status, id="parent")
    put(backend, id="child", depends_on=("parent",))
    backend.job_cancel("parent", NOW, None, True)
    assert status(backend, "child") is JobStatus.QUEUED


def test_enqueue_dependents_still_waits_for_the_other_parents(backend):
    put(backend, id="parent")
    put(backend, id="other")
    put(backend, id="child", depends_on=("parent", "other"))
    backend.job_cancel("parent", NOW, None, True)
    assert status(backend, "child") is JobStatus.DEFERRED


def test_canceling_the_parent_releases_a_child_that_allows_failures(backend):
    put(backend, id="parent")
    put(backend, id="child", depends_on=("parent",), allow_dependency_failures=True)
    backend.job_cancel("parent", NOW, None, False)
    assert status(backend, "child") is JobStatus.QUEUED


def test_an_expired_parent_releases_a_child_that_allows_failures(backend):
    put(backend, id="parent", expires_at=NOW + 1)
    put(backend, id="strict", depends_on=("parent",))
    put(backend, id="lenient", depends_on=("parent",), allow_dependency_failures=True)
    assert backend.jobs_expire(NOW + 1) == 1
    assert (status(backend, "strict"), status(backend, "lenient")) == (JobStatus.DEFERRED, JobStatus.QUEUED)


def test_requeueing_a_canceled_child_whose_parent_is_unfinished_defers_it(backend):
    put(backend, id="parent")
    put(backend, id="child", depends_on=("parent",))
    assert status(backend, "child") is JobStatus.DEFERRED
    backend.job_cancel("child", NOW, None, enqueue_dependents=False)
    assert backend.jobs_requeue(["child"], LATER) == ["child"]
    assert status(backend, "child") is JobStatus.DEFERRED
    assert claim_ids(backend, now=LATER) == ["parent"]


# -- the unmet set: a child waits on the parents not yet ended as it needs -------------------


def test_a_parent_deleted_before_it_ended_keeps_the_child_deferred(backend):
    put(backend, id="gone")
    sibling = running_parent(backend, "sibling")
    put(backend, id="child", depends_on=("gone", "sibling"))
    assert backend.job_delete("gone") is True
    assert settle(backend, sibling, JobStatus.FINISHED, now=LATER)
    assert status(backend, "child") is JobStatus.DEFERRED


def test_a_failed_parent_whose_record_expired_keeps_the_child_deferred(backend):
    failing = running_parent(backend, "failing")
    sibling = running_parent(backend, "sibling")
    put(backend, id="child", depends_on=("failing", "sibling"))
    assert settle(backend, failing, JobStatus.FAILED, keep_until=NOW + 1)
    assert backend.jobs_purge(NOW + 2, 100) == 1
    assert settle(backend, sibling, JobStatus.FINISHED, now=LATER)
    assert status(backend, "child") is JobStatus.DEFERRED


def test_a_failed_parent_restarted_then_finished_releases_a_strict_child(backend):
    # the other parent, canceled with enqueue_dependents, is no longer waited on
    parent = running_parent(backend)
    put(backend, id="other")
    put(backend, id="child", depends_on=("parent", "other"))
    backend.job_cancel("other", NOW, None, True)
    assert settle(backend, parent, JobStatus.FAILED)
    assert backend.jobs_requeue(["parent"], NOW + 1) == ["parent"]
    (again,) = claim(backend, ("q-parent",), token="token-again", now=NOW + 2)
    assert status(backend, "child") is JobStatus.DEFERRED
    assert settle(backend, again, JobStatus.FINISHED, now=LATER)
    assert status(backend, "child") is JobStatus.QUEUED


def test_a_parent_canceled_with_enqueue_dependents_no_longer_holds_the_child(backend):
    # RQ releases only the children whose other parents are met at the cancel; here the
    # canceled parent is taken off the child's set, so the last other parent releases it.
    # A finished parent whose result has expired since still counts as met.
    done = running_parent(backend, "done")
    put(backend, id="parent")
    other = running_parent(backend, "other")
    put(backend, id="child", depends_on=("done", "parent", "other"))
    assert settle(backend, done, JobStatus.FINISHED, keep_until=NOW + 1)
    assert backend.jobs_purge(NOW + 2, 100) == 1
    backend.job_cancel("parent", NOW + 2, None, True)
    assert status(backend, "child") is JobStatus.DEFERRED
    assert settle(backend, other, JobStatus.FINISHED, now=LATER)
    assert status(backend, "child") is JobStatus.QUEUED


def test_a_canceled_child_requeued_is_deferred_only_while_it_waits_on_a_parent(backend):
    put(backend, id="gone")
    done = running_parent(backend, "done")
    put(backend, id="orphaned", depends_on=("gone",))
    put(backend, id="ready", depends_on=("done",))
    for child in ("orphaned", "ready"):
        backend.job_cancel(child, NOW, None, False)
    assert backend.job_delete("gone") is True  # before it ran: it will never release anything
    assert settle(backend, done, JobStatus.FINISHED, keep_until=NOW + 1)
    assert backend.jobs_purge(NOW + 2, 100) == 1
    assert backend.jobs_requeue(["orphaned", "ready"], LATER) == ["orphaned", "ready"]
    assert (status(backend, "orphaned"), status(backend, "ready")) == (JobStatus.DEFERRED, JobStatus.QUEUED)


def test_a_parent_that_failed_before_the_enqueue_is_waited_on_only_by_a_strict_child(backend):
    put(backend, JobStatus.FAILED, id="failed", keep_until=NOW + 1)
    sibling = running_parent(backend, "sibling")
    put(backend, id="strict", depends_on=("failed", "sibling"))
    put(backend, id="lenient", depends_on=("failed", "sibling"), allow_dependency_failures=True)
    assert backend.jobs_purge(NOW + 2, 100) == 1  # its record expires: it stays unmet for the strict one
    assert settle(backend, sibling, JobStatus.FINISHED, now=LATER)
    assert (status(backend, "strict"), status(backend, "lenient")) == (JobStatus.DEFERRED, JobStatus.QUEUED)


def test_a_job_lists_the_stored_jobs_that_depend_on_it_whatever_became_of_them(backend):
    parent = running_parent(backend)
    put(backend, id="other")
    put(backend, id="child-b", depends_on=("parent", "other"))
    put(backend, id="child-a", depends_on=("parent",))
    put(backend, id="grandchild", depends_on=("child-a",))
    assert backend.job_dependents("parent") == ["child-a", "child-b"], "direct dependents only, sorted"
    assert settle(backend, parent, JobStatus.FINISHED, now=LATER)
    assert backend.job_dependents("parent") == ["child-a", "child-b"], "still theirs once released"
    assert backend.job_delete("child-b")
    assert backend.job_dependents("parent") == ["child-a"]
    assert backend.job_dependents("grandchild") == [] and backend.job_dependents("unknown") == []
