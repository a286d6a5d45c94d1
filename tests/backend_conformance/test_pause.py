"""Paused queues: store-wide, every worker's claims pass them over until they are
resumed; jobs still queue into them, and resuming wakes the idle workers."""

from __future__ import annotations

from backend_conformance.helpers import NOW, claim_ids, get, put
from backend_conformance.test_wakeups import drain, ends_promptly
from conveyor.backends.base import Backend
from conveyor.status import JobStatus
from conveyor.types import Limits


def test_a_paused_queue_is_passed_over_by_every_claim_and_resumed_serves_again(
    backend: Backend, other: Backend
) -> None:
    emails = put(backend, queue="emails")
    reports = put(backend, queue="reports")
    backend.queues_pause(["emails"], NOW)
    assert other.queues_paused() == {"emails": NOW}, "the pause is in the store: another process sees it"
    assert claim_ids(other, ("emails", "reports")) == [reports.id]
    assert claim_ids(other, ("emails",)) == []
    assert get(backend, emails.id).status is JobStatus.QUEUED
    later = put(backend, queue="emails")
    assert get(backend, later.id).status is JobStatus.QUEUED, "an enqueue into a paused queue is kept"
    backend.queues_resume(["emails"])
    assert other.queues_paused() == {}
    assert claim_ids(other, ("emails",)) == [emails.id, later.id]


def test_pausing_again_keeps_the_first_time_and_resuming_a_running_queue_changes_nothing(
    backend: Backend,
) -> None:
    backend.queues_pause(["a", "b"], NOW)
    backend.queues_pause(["a"], NOW + 60)
    backend.queues_resume(["b", "never-paused"])
    assert backend.queues_paused() == {"a": NOW}
    backend.queues_resume(["a"])
    assert backend.queues_paused() == {}


def test_a_claim_with_limits_also_passes_a_paused_queue_over(backend: Backend) -> None:
    held = put(backend, queue="emails", user_id="alice")
    free = put(backend, queue="reports", user_id="alice")
    backend.queues_pause(["emails"], NOW)
    limits = Limits(per_user_max=5, per_queue_rate={"emails": "10/s"})
    claimed = backend.jobs_claim(["emails", "reports"], "w", 10, "t", NOW + 30, NOW, limits)
    assert [job.id for job in claimed] == [free.id]
    assert get(backend, held.id).status is JobStatus.QUEUED


def test_resuming_wakes_a_worker_waiting_on_the_paused_queue(backend: Backend, other: Backend) -> None:
    backend.queues_pause(["emails"], NOW)
    put(other, queue="emails")
    drain(backend, ["emails"])  # (what the enqueue woke, on a backend that wakes paused queues)
    assert claim_ids(backend, ("emails",)) == []
    with ends_promptly(backend, ["emails"]):
        other.queues_resume(["emails"])
    assert len(claim_ids(backend, ("emails",))) == 1
