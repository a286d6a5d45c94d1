"""SQLite's log of rates' starts (rate_starts) does not linger: a claim trims only the
logs of its own rates (and a user's only when it meets the user), so the maintenance
pass drops the starts older than a day, the longest period, whatever their rate."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import conveyor
from conveyor import maintenance
from conveyor.backends import held
from conveyor.rates import LONGEST_PERIOD
from conveyor.status import JobStatus
from conveyor.testing import make_job
from conveyor.types import JobRecord, Limits
from stalls import FrozenWriter
from waiting import wait_until

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


def test_a_claim_held_up_by_the_write_lock_counts_its_starts_when_it_got_the_lock(tmp_path: Path) -> None:
    """A claim that waited for the write lock (another writer held it: a stall) counts its
    start when it got the lock, not at the ``now`` from before: else a claim that went
    first, at its own time, leaves the late one's start out of its window, and the two
    start more than the rate within a period (the chaos harness found 4 starts of a
    3/1s user rate within 0.17 s after a SQLite stall)."""
    path = tmp_path / "conveyor.db"
    backend = conveyor.connect(f"sqlite:///{path}")
    writer: FrozenWriter | None = None
    try:
        for _ in range(2):
            make_job(backend, status=JobStatus.QUEUED, user_id="alice", now=NOW)
        limits = Limits(per_user_rate="1/s")
        writer = FrozenWriter(path)
        wait_until(writer.holding, timeout=10, message="the writer to hold the lock")
        entering = threading.Event()
        claimed: list[JobRecord] = []

        def claim() -> None:
            entering.set()
            claimed.extend(backend.jobs_claim(["default"], "w-1", 1, "token-1", NOW + 30, NOW, limits))

        claiming = threading.Thread(target=claim)
        claiming.start()
        entering.wait(timeout=10)
        time.sleep(1.5)  # the stall the claim waits out (not a synchronisation)
        writer.thaw()
        writer = None
        claiming.join(timeout=30)
        assert len(claimed) == 1
        [(_, at)] = logged(path)
        assert at >= NOW + 1.0, "its start counts when it got the lock, not at the now from before the wait"
        # a claim a period after that now, but not after the start: alice's window is full
        later = NOW + 1.2
        assert backend.jobs_claim(["default"], "w-2", 1, "token-2", later + 30, later, limits) == []
    finally:
        if writer is not None:
            writer.thaw()
        backend.close()
