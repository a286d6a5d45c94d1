"""SQLite's log of rates' starts (rate_starts) does not linger: a claim trims only the
logs of its own rates (and a user's only when it meets the user), so the maintenance
pass drops the starts older than a day, the longest period, whatever their rate."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import conveyor
from conveyor import maintenance
from conveyor.backends import held
from conveyor.rates import LONGEST_PERIOD
from conveyor.status import JobStatus
from conveyor.testing import make_job
from conveyor.types import Limits

NOW = 1_000_000.0
LIMITS = Limits(per_user_rate="5/h", per_queue_rate={"default": "100/d"})


def logged(path: Path) -> list[tuple[str, float]]:
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute("SELECT rate, at FROM rate_starts"))


def test_the_maintenance_pass_drops_the_starts_older_than_a_day(tmp_path: Path) -> None:
    path = tmp_path / "conveyor.db"
    backend = conveyor.connect(f"sqlite:///{path}")
    try:
        for user in ("alice", "bob", "carol"):
            make_job(backend, status=JobStatus.QUEUED, user_id=user, now=NOW)
        claimed = backend.jobs_claim(["default"], "w-1", 2, "token-1", NOW + 30, NOW, LIMITS)  # alice and bob
        later = NOW + LONGEST_PERIOD - 1
        claimed += backend.jobs_claim(["default"], "w-1", 1, "token-1", later + 30, later, LIMITS)  # carol
        assert len(claimed) == 3
        assert len(logged(path)) == 6, "each start in its user's and its queue's log"

        maintenance.run_cleanup(backend, NOW + LONGEST_PERIOD)
        assert logged(path) == [(held.QUEUE_RATE + "default", later), (held.USER_RATE + "carol", later)], (
            "the starts of the day are kept"
        )
        maintenance.run_cleanup(backend, later + LONGEST_PERIOD + 1)
        assert logged(path) == []
    finally:
        backend.close()
