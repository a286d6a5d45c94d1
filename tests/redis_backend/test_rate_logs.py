"""Rates' logs of starts on Redis (``starts:<rate>``) expire a period, and a margin for
the clocks, after their last start: the log of a queue, job type or user that no claim
reads any more goes by itself (per-user rates keep a log per user)."""

from __future__ import annotations

import pytest

from backend_conformance.helpers import LEASE_TTL, NOW, put
from conveyor.backends import held
from conveyor.backends.redis.backend import RedisBackend
from conveyor.rates import START_LOG_MARGIN
from conveyor.types import Limits

LIMITS = Limits(per_queue_rate={"emails": "5/m"}, per_job_type_rate={"jobs.render": "5/30s"}, per_user_rate="5/10s")
PERIODS = {held.QUEUE_RATE + "emails": 60.0, held.JOB_TYPE_RATE + "jobs.render": 30.0, held.USER_RATE + "alice": 10.0}


def start_log(backend: RedisBackend, rate: str) -> str:
    return backend.keys.base + "starts:" + rate


def claim(backend: RedisBackend, now: float) -> int:
    return len(backend.jobs_claim(["emails"], "w-1", 1, "token-1", now + LEASE_TTL, now, LIMITS))


@pytest.mark.parametrize("rate", sorted(PERIODS))
def test_each_start_log_expires_a_period_and_a_margin_after_its_last_start(backend: RedisBackend, rate: str) -> None:
    for _ in range(2):
        put(backend, queue="emails", func_name="jobs.render", user_id="alice")
    assert claim(backend, NOW) == 1
    key, period = start_log(backend, rate), PERIODS[rate]
    assert backend._redis.zcard(key) == 1
    assert period * 1000 < backend._redis.pttl(key) <= (period + START_LOG_MARGIN) * 1000
    backend._redis.pexpire(key, 500)
    assert claim(backend, NOW + 1) == 1
    assert backend._redis.pttl(key) > period * 1000, "each start sets the expiry again"
