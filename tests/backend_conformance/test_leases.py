"""Leases: renewed only under the right token; recovered only once they expired."""

from __future__ import annotations

import pytest

from backend_conformance.helpers import LEASE_TTL, NOW, claim, claim_ids, get, put, settle, status
from conveyor.status import JobStatus
from conveyor.types import Recovery

EXPIRY = NOW + LEASE_TTL
AFTER_EXPIRY = EXPIRY + 1


@pytest.fixture
def running(backend):
    """Jobs a and b claimed by worker-1 under token-1 (lease until EXPIRY)."""
    put(backend, id="a", max_retries=1, failure_ttl=100.0)
    put(backend, id="b", max_retries=1, failure_ttl=100.0)
    return claim(backend)


def test_extend_renews_the_leases_held(backend, running):
    renewed = backend.leases_extend("worker-1", [("a", "token-1"), ("b", "token-1")], NOW + 90, NOW + 20)
    assert sorted(renewed) == ["a", "b"]
    assert (get(backend, "a").lease_expires_at, get(backend, "b").lease_expires_at) == (NOW + 90, NOW + 90)
    assert backend.leases_recover(AFTER_EXPIRY) == []


def test_extend_skips_a_wrong_token(backend, running):
    renewed = backend.leases_extend("worker-1", [("a", "stale"), ("b", "token-1")], NOW + 90, NOW + 20)
    assert renewed == ["b"]
    assert get(backend, "a").lease_expires_at == EXPIRY


@pytest.mark.parametrize("job_status", [s for s in JobStatus if s is not JobStatus.STARTED])
def test_extend_skips_a_job_that_is_not_started(backend, job_status):
    job = put(backend, job_status, lease_token="token-1")
    assert backend.leases_extend("worker-1", [(job.id, "token-1")], NOW + 90, NOW) == []
    assert get(backend, job.id).lease_expires_at != NOW + 90


def test_extend_of_nothing_or_a_missing_job_renews_nothing(backend):
    assert backend.leases_extend("worker-1", [], NOW + 90, NOW) == []
    assert backend.leases_extend("worker-1", [("ghost", "token-1")], NOW + 90, NOW) == []


def test_no_recovery_before_the_lease_expires(backend, running):
    assert backend.leases_recover(NOW + 1) == []
    assert backend.leases_recover(EXPIRY) == []  # still held at the instant it ends
    assert (status(backend, "a"), status(backend, "b")) == (JobStatus.STARTED, JobStatus.STARTED)


def test_a_job_with_retries_left_is_queued_again_as_a_retry(backend, running):
    recovered = backend.leases_recover(AFTER_EXPIRY)
    assert sorted(recovered, key=lambda r: r.job_id) == [
        Recovery("a", JobStatus.QUEUED, "worker-1"),
        Recovery("b", JobStatus.QUEUED, "worker-1"),
    ]
    stored = get(backend, "a")
    assert (stored.status, stored.retry_count) == (JobStatus.QUEUED, 1)
    assert sorted(claim_ids(backend, token="token-2", now=AFTER_EXPIRY)) == ["a", "b"]


def test_a_job_without_retries_left_fails_as_abandoned(backend):
    put(backend, id="job", max_retries=2, retry_count=2, failure_ttl=100.0)
    claim(backend)
    assert backend.leases_recover(AFTER_EXPIRY) == [Recovery("job", JobStatus.FAILED, "worker-1")]
    stored = get(backend, "job")
    assert (stored.status, stored.status_reason, stored.retry_count) == (JobStatus.FAILED, "abandoned", 2)
    assert (stored.ended_at, stored.keep_until) == (AFTER_EXPIRY, AFTER_EXPIRY + 100)
    assert stored.exc_info  # says what happened


def test_a_job_asked_to_stop_ends_stopped(backend, running):
    backend.job_request_stop("a", NOW + 1)
    recovered = {r.job_id: r.status for r in backend.leases_recover(AFTER_EXPIRY)}
    assert recovered == {"a": JobStatus.STOPPED, "b": JobStatus.QUEUED}
    stored = get(backend, "a")
    assert (stored.status, stored.ended_at, stored.keep_until) == (JobStatus.STOPPED, AFTER_EXPIRY, AFTER_EXPIRY + 100)
    assert backend.stop_requests("worker-1") == []


def test_recovery_happens_once(backend, running):
    assert len(backend.leases_recover(AFTER_EXPIRY)) == 2
    assert backend.leases_recover(AFTER_EXPIRY + 1) == []
    assert get(backend, "a").retry_count == 1


def test_the_lost_lease_cannot_be_extended_or_settled(backend, running):
    (a, _) = running
    backend.leases_recover(AFTER_EXPIRY)
    (again,) = claim(backend, limit=1, worker="worker-2", token="token-2", now=AFTER_EXPIRY)
    assert backend.leases_extend("worker-1", [(a.id, "token-1")], AFTER_EXPIRY + 30, AFTER_EXPIRY) == []
    assert not settle(backend, a, JobStatus.FINISHED, now=AFTER_EXPIRY, result=b"late")
    stored = get(backend, a.id)
    assert (stored.status, stored.lease_token, stored.result) == (JobStatus.STARTED, "token-2", None)
    assert settle(backend, again, JobStatus.FINISHED, now=AFTER_EXPIRY)


def test_a_late_settle_before_recovery_is_accepted(backend, running):
    (a, _) = running
    assert settle(backend, a, JobStatus.FINISHED, now=AFTER_EXPIRY)
    assert [r.job_id for r in backend.leases_recover(AFTER_EXPIRY)] == ["b"]


def test_a_recovered_job_is_not_expired_by_its_old_ttl(backend):
    put(backend, id="job", ttl=10.0, expires_at=NOW + 10, max_retries=1)
    claim(backend)
    backend.leases_recover(AFTER_EXPIRY)
    assert backend.jobs_expire(AFTER_EXPIRY) == 0
    assert claim_ids(backend, token="token-2", now=AFTER_EXPIRY) == ["job"]


def test_recovery_keeps_every_digit_of_the_times(backend):
    moment = 1_712_345_678.123456
    put(backend, id="job", failure_ttl=3600.0)
    claim(backend, now=moment)
    backend.leases_recover(moment + 31.777777)
    assert get(backend, "job").keep_until == moment + 31.777777 + 3600.0


def test_a_recovered_job_names_the_worker_that_lost_it_until_one_starts_it_again(backend, running):
    backend.leases_recover(AFTER_EXPIRY)
    assert get(backend, "a").worker_name == "worker-1"
    claim(backend, worker="worker-2", token="token-2", now=AFTER_EXPIRY)
    assert get(backend, "a").worker_name == "worker-2"


def test_an_explicit_requeue_is_a_fresh_start_without_a_worker(backend, running):
    settle(backend, running[0], JobStatus.FAILED)
    assert backend.jobs_requeue(["a"], NOW + 1) == ["a"]
    assert get(backend, "a").worker_name is None
