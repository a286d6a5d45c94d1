"""jobs_claim with ``wait``: an idle worker's claim that first waits for a job to come."""

from __future__ import annotations

import time

from backend_conformance.helpers import LEASE_TTL, NOW, get, put
from conveyor.status import JobStatus


def claim_waiting(backend, wait: float) -> list[str]:
    records = backend.jobs_claim(["default"], "w-1", 10, "token-1", NOW + LEASE_TTL, NOW, None, wait)
    return [record.id for record in records]


def test_a_job_enqueued_before_the_wait_is_claimed_at_once(backend):
    job = put(backend)
    begun = time.monotonic()
    assert claim_waiting(backend, 30) == [job.id]
    assert time.monotonic() - begun < 20  # woken by the enqueue, not by the 30 s timeout
    claimed = get(backend, job.id)
    assert (claimed.status, claimed.worker_name, claimed.lease_token) == (JobStatus.STARTED, "w-1", "token-1")


def test_nothing_to_claim_after_the_wait(backend):
    assert claim_waiting(backend, 0.05) == []


def test_a_job_enqueued_during_the_wait_did_not_start_before_it_was_queued(backend):
    # the claim's now is from before the wait; the job came later
    job = put(backend, enqueued_at=NOW + 0.5, created_at=NOW + 0.5)
    assert claim_waiting(backend, 0.05) == [job.id]
    assert get(backend, job.id).started_at == NOW + 0.5


def test_a_job_queued_before_the_claim_started_at_the_claim(backend):
    job = put(backend, enqueued_at=NOW - 5)
    assert claim_waiting(backend, 0.05) == [job.id]
    assert get(backend, job.id).started_at == NOW
