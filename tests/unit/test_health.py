"""Worker health rules."""

from __future__ import annotations

import pytest

from conveyor.health import STALE_AFTER, store_health, worker_is_healthy
from conveyor.types import WorkerRecord

NOW = 1_000_000.0


def worker(seen_ago: float) -> WorkerRecord:
    return WorkerRecord("w", "host", 1, ("default",), 1, last_heartbeat=NOW - seen_ago)


def test_a_worker_is_healthy_until_its_heartbeat_is_stale() -> None:
    assert worker_is_healthy(worker(STALE_AFTER), NOW)
    assert not worker_is_healthy(worker(STALE_AFTER + 0.1), NOW)


@pytest.mark.parametrize(
    ("ages", "busy", "expected"),
    [
        ([1.0, 5.0], 10, "healthy"),
        ([1.0, STALE_AFTER + 1], 10, "degraded"),
        ([STALE_AFTER + 1], 10, "unhealthy"),
        ([], 3, "unhealthy"),
        ([], 0, "degraded"),
        ([1.0], 0, "healthy"),
    ],
)
def test_store_health(ages: list[float], busy: int, expected: str) -> None:
    assert store_health([worker(age) for age in ages], NOW, busy) == expected
