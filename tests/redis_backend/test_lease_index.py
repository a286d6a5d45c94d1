"""The lease index is kept a skiplist by a pin member that never lapses and that nothing
else sees (backends/redis/keys.py, LEASES_PIN)."""

from __future__ import annotations

from backend_conformance.helpers import LEASE_TTL, NOW, claim, put
from conveyor.backends.redis.backend import RedisBackend
from conveyor.status import JobStatus


def test_a_claim_keeps_the_lease_index_a_skiplist_whatever_its_size(backend: RedisBackend) -> None:
    for _ in range(3):
        put(backend)
    claimed = claim(backend, limit=3)
    assert backend._redis.object("encoding", backend.keys.leases) == b"skiplist"
    assert backend._redis.zcard(backend.keys.leases) == len(claimed) + 1  # the jobs and the pin


def test_the_pin_never_lapses_and_nothing_reports_it(backend: RedisBackend) -> None:
    job = put(backend)
    claim(backend, limit=1)
    recovered = backend.leases_recover(NOW + LEASE_TTL + 3600)
    assert [r.job_id for r in recovered] == [job.id], "only the job's lease lapsed"
    assert backend.invariants_check(NOW, repair=False) == [], "the doctor does not take the pin for an orphan"
    assert backend.jobs_get([job.id])[0].status is JobStatus.FAILED  # type: ignore[union-attr]  (no retries: abandoned)
