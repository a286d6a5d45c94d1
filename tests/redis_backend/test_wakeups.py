"""The wake-up list idle workers block on: one token per queued job, at most 16 waiting."""

from __future__ import annotations

from backend_conformance.helpers import NOW, claim, put
from conveyor.backends.redis.backend import RedisBackend


def test_each_queued_job_leaves_a_token_and_no_more_than_sixteen_wait(backend: RedisBackend) -> None:
    for expected in range(1, 17):
        put(backend)
        assert backend._redis.llen(backend.keys.wake) == expected
    for _ in range(50):
        put(backend)
    assert backend._redis.llen(backend.keys.wake) == 16


def test_a_waiting_claim_takes_a_token_and_the_job_in_one_round(backend: RedisBackend) -> None:
    job = put(backend)
    (claimed,) = backend.jobs_claim(["default"], "w-1", 10, "token-1", NOW + 30, NOW, None, 5)
    assert claimed.id == job.id
    assert backend._redis.llen(backend.keys.wake) == 0
    assert claim(backend) == []
