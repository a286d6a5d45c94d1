"""Nothing a job, a batch, a worker or a periodic job leaves in the store outlives its retention.

Jobs of every kind run through a worker (as users run them), a worker dies holding a
job it was told to stop, then the clock passes every TTL (a year: callbacks keep their
failures that long) and maintenance runs: what is left must be the store's own state,
never one record, key or row per job, batch, worker or minute.
"""

from __future__ import annotations

import re
from datetime import timedelta

from backend_conformance.helpers import worker_record
from conveyor import Batch, JobStatus, Queue, Retry, Worker, maintenance
from conveyor.backends.base import Backend
from conveyor.clock import FrozenClock
from conveyor.cron import CronScheduler
from conveyor.cron.entry import cron_job

START = 2_000_000_000.0
KEPT = {"result_ttl": 5, "failure_ttl": 5}
YEAR_AND_DAYS = 400 * 86400.0
"""Past every retention: callbacks' default failure_ttl (a year), throughput (25 hours)."""

REDIS_STORE_KEYS = re.compile(r"seq|queues|events|events:total|maintenance|server|leases|(wake|turns|users):[^:]*")
"""Keys a Redis namespace keeps for good: counters and markers, the lease index (its
pin), and per queue a few wake-up tokens, fair share's turns and users (one entry per
user, not per job)."""
SQLITE_PER_JOB_TABLES = ("jobs", "job_dependencies", "batches", "workers", "throughput", "cron_entries", "cron_ticks")


def test_jobs_batches_workers_periodic_jobs_and_counters_all_go_once_past_their_retention(backend: Backend) -> None:
    clock = FrozenClock(START)
    queue = Queue(connection=backend, clock=clock)
    queue.enqueue("jobfuncs.add", 1, 2, user_id="alice", unique_key="once", **KEPT)
    queue.enqueue("jobfuncs.fail", retry=Retry(max=1), **KEPT)
    queue.enqueue("jobfuncs.noop", **KEPT).cancel()
    parent = queue.enqueue("jobfuncs.noop", **KEPT)
    queue.enqueue("jobfuncs.noop", depends_on=parent, **KEPT)
    queue.enqueue_in(timedelta(seconds=10), "jobfuncs.noop", **KEPT)
    Queue("unserved", connection=backend, clock=clock).enqueue("jobfuncs.noop", ttl=1, **KEPT)
    specs = [Queue.prepare_data("jobfuncs.noop", **KEPT) for _ in range(3)]
    callback = "jobfuncs.extraction"  # takes the batch id
    Batch.create(
        specs, queue=queue, on_complete=callback, on_failure=callback, user_id="bob", connection=backend, clock=clock
    )
    doomed = Queue("doomed", connection=backend, clock=clock).enqueue("jobfuncs.noop", **KEPT)
    backend.workers_register(worker_record("dead", last_heartbeat=START))  # killed -9, holding a job
    backend.jobs_claim(["doomed"], "dead", 1, "token", START + 30, START)
    backend.job_request_stop(doomed.id, START)
    CronScheduler(backend, entries=[cron_job("jobfuncs.noop", interval=60, **KEPT)], clock=clock).run_once()

    Worker([queue], connection=backend, clock=clock).work(burst=True)
    clock.advance(60)  # the scheduled job is due, the ttl passed, the dead worker's lease lapsed
    maintenance.run_schedule(backend, clock.now())
    Worker([queue], connection=backend, clock=clock).work(burst=True)
    assert backend.counts()["doomed"] == {JobStatus.STOPPED: 1}  # every job ended
    assert backend.throughput(0).ended > 0
    clock.advance(YEAR_AND_DAYS)
    maintenance.run_schedule(backend, clock.now())
    maintenance.run_cleanup(backend, clock.now())

    assert backend.job_ids(None, list(JobStatus)) == []
    assert backend.batches_list(None, None, 10) == []
    assert backend.workers_list() == []
    assert backend.cron_entries() == []
    assert backend.throughput(0).ended == 0
    assert _leftovers(backend) == []


def _leftovers(backend: Backend) -> list[str]:
    """What the store still holds per job, batch, worker or minute."""
    redis = getattr(backend, "_redis", None)
    if redis is not None:
        base = backend.keys.base  # type: ignore[attr-defined]
        names = [key.decode().removeprefix(base) for key in redis.scan_iter(match=f"{base}*")]
        return sorted(name for name in names if not REDIS_STORE_KEYS.fullmatch(name))

    def count(table: str) -> int:
        return int(backend._pool.read(lambda conn: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]))  # type: ignore[attr-defined]

    return [f"{table}: {rows} rows" for table in SQLITE_PER_JOB_TABLES if (rows := count(table))]
