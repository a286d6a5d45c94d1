"""jobs_claim: order (queues, priority, FIFO), limit, expiry, lease fields, no double claim."""

from __future__ import annotations

import pytest

from backend_conformance.helpers import LEASE_TTL, NOW, claim, claim_ids, get, put, status
from conveyor.status import JobStatus


def test_claiming_starts_the_job_under_a_lease(backend):
    job = put(backend)
    (claimed,) = backend.jobs_claim(["default"], "worker-7", 1, "lease-abc", NOW + 45, NOW + 3)
    stored = get(backend, job.id)
    assert claimed.id == job.id
    for record in (claimed, stored):
        assert record.status is JobStatus.STARTED
        assert (record.worker_name, record.lease_token, record.lease_expires_at) == ("worker-7", "lease-abc", NOW + 45)
        assert record.started_at == NOW + 3


def test_higher_priority_first_then_first_in_first_out(backend):
    for job_id, priority in [("a", 0), ("b", 5), ("c", 0), ("d", 5), ("e", -1), ("f", 9)]:
        put(backend, id=job_id, priority=priority)
    one_by_one = [claim_ids(backend, limit=1, token=f"t{n}") for n in range(7)]
    assert one_by_one == [["f"], ["b"], ["d"], ["a"], ["c"], ["e"], []]


def test_a_batch_claim_comes_back_in_claim_order(backend):
    for job_id, priority in [("a", 0), ("b", 5), ("c", 0), ("d", 5)]:
        put(backend, id=job_id, priority=priority)
    assert claim_ids(backend, limit=4) == ["b", "d", "a", "c"]


def test_queues_are_served_in_the_order_given(backend):
    put(backend, id="low-1", queue="low", priority=100)
    put(backend, id="high-1", queue="high")
    put(backend, id="low-2", queue="low")
    put(backend, id="high-2", queue="high")
    put(backend, id="other", queue="other", priority=100)
    assert claim_ids(backend, ("high", "low"), limit=3) == ["high-1", "high-2", "low-1"]
    assert claim_ids(backend, ("low", "high"), limit=3, token="t2") == ["low-2"]
    assert status(backend, "other") is JobStatus.QUEUED


def test_the_limit_is_respected(backend):
    for n in range(5):
        put(backend, id=f"job-{n}")
    assert claim_ids(backend, limit=2) == ["job-0", "job-1"]
    assert backend.jobs_count("default", [JobStatus.QUEUED]) == 3
    assert claim_ids(backend, limit=0, token="t2") == []


def test_nothing_is_claimed_twice(backend):
    for n in range(3):
        put(backend, id=f"job-{n}")
    first = claim_ids(backend, limit=2, worker="w1", token="t1")
    second = claim_ids(backend, limit=5, worker="w2", token="t2")
    assert sorted(first + second) == ["job-0", "job-1", "job-2"]
    assert claim_ids(backend, worker="w3", token="t3") == []
    assert get(backend, "job-0").lease_token == "t1"


@pytest.mark.parametrize("job_status", [s for s in JobStatus if s is not JobStatus.QUEUED])
def test_only_queued_jobs_are_claimed(backend, job_status):
    put(backend, job_status)
    assert claim(backend) == []


def test_jobs_past_their_expiry_are_skipped(backend):
    put(backend, id="expired", expires_at=NOW - 1)
    put(backend, id="expires-now", expires_at=NOW)
    put(backend, id="fresh", expires_at=NOW + 1)
    assert claim_ids(backend) == ["fresh"]
    assert status(backend, "expired") is JobStatus.QUEUED  # left for jobs_expire


def test_a_job_claimed_after_its_lease_lapsed_elsewhere_gets_a_new_lease(backend):
    put(backend, id="job", max_retries=1)
    claim(backend, token="t1", now=NOW)
    backend.leases_recover(NOW + LEASE_TTL + 1)
    (again,) = claim(backend, worker="w2", token="t2", now=NOW + 40)
    stored = get(backend, "job")
    assert (stored.lease_token, stored.worker_name, stored.lease_expires_at) == ("t2", "w2", NOW + 40 + LEASE_TTL)
    assert again.lease_token == "t2"


@pytest.mark.parametrize("priority", [-(2**31 - 1), 2**31 - 1])
def test_the_extreme_priorities_keep_their_order(backend, priority):
    put(backend, id="normal")
    put(backend, id="extreme", priority=priority)
    expected = ["extreme", "normal"] if priority > 0 else ["normal", "extreme"]
    assert [r.id for r in claim(backend)] == expected


def test_claim_passes_many_expired_jobs_at_the_head(backend):
    for n in range(250):
        put(backend, id=f"old{n}", expires_at=NOW - 1)
    put(backend, id="fresh")
    assert [r.id for r in claim(backend, limit=1)] == ["fresh"]


def test_a_queue_named_twice_gives_each_job_once(backend):
    for n in range(3):
        put(backend, id=f"job-{n}")
    assert claim_ids(backend, ("default", "default"), limit=5) == ["job-0", "job-1", "job-2"]
    assert backend.jobs_count("default", [JobStatus.QUEUED]) == 0


def test_a_batch_claim_passes_expired_jobs_between_fresh_ones(backend):
    for n in range(6):
        put(backend, id=f"job-{n}", expires_at=NOW - 1 if n % 2 else NOW + 60)
    assert claim_ids(backend, limit=3) == ["job-0", "job-2", "job-4"]
    assert [status(backend, f"job-{n}") for n in (1, 3, 5)] == [JobStatus.QUEUED] * 3
    assert claim_ids(backend, token="t2") == []
