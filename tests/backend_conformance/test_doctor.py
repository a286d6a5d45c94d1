"""invariants_check: each kind of broken invariant is found, and repaired on request."""

from __future__ import annotations

from backend_conformance import corruption
from backend_conformance.helpers import NOW, get, put
from conveyor.batch import CALLBACK_REASON
from conveyor.status import BatchStatus, JobStatus
from conveyor.testing import make_record
from conveyor.types import BatchRecord, Settlement


def kinds(findings) -> set[tuple[str, str]]:
    return {(f.kind, f.subject) for f in findings}


def check_then_repair(backend, expected: set[tuple[str, str]]) -> None:
    """Found without repair (nothing changes), repaired, then found no more."""
    inner = getattr(backend, "inner", backend)
    found = inner.invariants_check(NOW, False)
    assert kinds(found) == expected and not any(f.repaired for f in found)
    assert kinds(inner.invariants_check(NOW, False)) == expected, "a check without repair changed something"
    repaired = backend.invariants_check(NOW, True)
    assert kinds(repaired) == expected and all(f.repaired for f in repaired)
    assert backend.invariants_check(NOW, False) == []


def test_a_sound_store_has_no_findings(backend):
    parent = put(backend)
    for status in JobStatus:
        put(backend, status, depends_on=(parent.id,) if status is JobStatus.DEFERRED else ())
    assert backend.invariants_check(NOW, True) == []


def test_a_running_job_without_a_lease(backend):
    job = put(backend, JobStatus.STARTED, lease_expires_at=None, lease_token=None)
    check_then_repair(backend, {("lease_missing", job.id)})
    assert [r.job_id for r in backend.leases_recover(NOW + 1)] == [job.id]  # recovery takes it now


def test_a_deferred_job_nobody_will_release(backend):
    parent = put(backend, JobStatus.FINISHED)
    waiting = put(backend, JobStatus.DEFERRED, depends_on=(parent.id,))
    orphan = put(backend, JobStatus.DEFERRED)
    callback = put(backend, JobStatus.DEFERRED, status_reason=CALLBACK_REASON)  # waits on its batch: fine
    check_then_repair(backend, {("stuck_deferred", waiting.id), ("stuck_deferred", orphan.id)})
    assert get(backend, waiting.id).status is JobStatus.QUEUED
    assert get(backend, callback.id).status is JobStatus.DEFERRED


def test_a_deferred_job_whose_dependency_is_gone_is_left_alone(backend):
    # gone unfinished (deleted failed: RQ's rule keeps the child waiting) or finished
    # (its result expired after a missed release): the store cannot tell, so no repair
    # may run a job whose dependency failed
    parent = put(backend, JobStatus.FAILED)
    child = put(backend, JobStatus.DEFERRED, depends_on=(parent.id,))
    backend.job_delete(parent.id, with_dependents=False)
    assert backend.invariants_check(NOW, True) == []
    assert get(backend, child.id).status is JobStatus.DEFERRED


def test_a_deferred_job_whose_unmet_set_was_emptied_behind_conveyors_back(backend):
    put(backend, id="parent")
    child = put(backend, id="child", depends_on=("parent",))
    corruption.forget_unmet_parents(backend, child.id)
    check_then_repair(backend, {("stuck_deferred", child.id)})
    assert get(backend, child.id).status is JobStatus.QUEUED
    backend.job_cancel(child.id, NOW, None, False)  # queued, it waits on nothing, even requeued
    assert backend.jobs_requeue([child.id], NOW) == [child.id]
    assert get(backend, child.id).status is JobStatus.QUEUED


def test_a_child_left_waiting_on_a_parent_deleted_unfinished_is_not_stuck(backend):
    # the unmet set keeps the deleted parent: the child waits for good, as RQ's rule
    # wants of a parent that never finished; the doctor does not run it
    put(backend, id="gone")
    sibling = put(backend, JobStatus.STARTED, id="sibling", lease_token="token")
    child = put(backend, id="child", depends_on=("gone", "sibling"))
    assert backend.job_delete("gone") is True
    assert backend.jobs_settle([Settlement("sibling", "token", JobStatus.FINISHED)], NOW) == [True]
    assert get(backend, sibling.id).status is JobStatus.FINISHED
    assert backend.invariants_check(NOW, True) == []
    assert get(backend, child.id).status is JobStatus.DEFERRED


def test_a_held_job_without_a_batch(backend):
    job = put(backend, JobStatus.SCHEDULED, scheduled_for=None)
    check_then_repair(backend, {("unreachable_scheduled", job.id)})
    assert get(backend, job.id).status is JobStatus.QUEUED


def test_a_scheduled_batch_without_its_starter(backend):
    batch = BatchRecord("b-1", 1, NOW, BatchStatus.SCHEDULED, scheduled_start=NOW + 60)
    backend.batch_create(batch, [make_record(batch_id="b-1", status=JobStatus.SCHEDULED)], [], NOW)
    corruption.drop_batch_starter(backend, "b-1")
    check_then_repair(backend, {("batch_starter_missing", "b-1")})
    assert backend.batches_start_due(NOW) == 1  # due at once


def test_a_link_to_a_job_that_is_gone(backend):
    parent = put(backend)
    child = put(backend, depends_on=(parent.id,))
    corruption.delete_record_only(backend, child.id)
    found = getattr(backend, "inner", backend).invariants_check(NOW, False)
    assert ("orphan_link", child.id) in kinds(found)  # (SQLite's counters also miss the row)
    assert {f.kind for f in found} <= {"orphan_link", "counts"}
    assert all(f.repaired for f in backend.invariants_check(NOW, True))
    assert backend.invariants_check(NOW, False) == []
