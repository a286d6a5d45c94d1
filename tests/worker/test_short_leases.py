"""Short leases (a second or two): a worker's housekeeping keeps to them, so it keeps its
own jobs, and a dead worker's jobs come back about a lease after it died, whatever else
the worker has to do."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import conveyor
import jobfuncs
from conveyor import JobStatus, Queue, Retry, Worker
from conveyor.backends.base import Backend
from conveyor.testing import make_record
from conveyor.types import Recovery
from conveyor.worker.housekeeper import TICK, Housekeeper
from stalls import assert_kept_by_its_live_worker
from waiting import wait_until

from .processes import start_worker, stop_processes, worker_log

LEASE_TTL = 1.0
"""The shortest lease a worker takes."""

BACKLOG = 80_000
"""Jobs past their result_ttl: several seconds of deletion."""


def expired_jobs(backend: Backend, count: int) -> None:
    """Write ``count`` finished jobs whose result_ttl ran out long ago."""
    for _ in range(0, count, 5_000):
        expired = [make_record(status="finished", ended_at=5.0, keep_until=10.0) for _ in range(5_000)]
        backend.jobs_enqueue(expired, 20.0)


def finished_left(backend: Backend) -> int:
    return backend.counts().get("default", {}).get(JobStatus.FINISHED, 0)


def test_a_worker_with_a_short_lease_keeps_its_job_while_it_deletes_a_backlog(
    backend: Backend, url: str, tmp_path: Path
) -> None:
    """Deleting a backlog of expired jobs took the housekeeper half a second at a time,
    retention and maintenance each, in one pass: the renewals waited behind them, 1.1 s
    apart with a 1 s lease, and another worker's recovery pass took the job of a worker
    alive and running it (which then ran twice)."""
    expired_jobs(backend, BACKLOG)
    ledger, release = tmp_path / "ledger", tmp_path / "release"
    job = Queue(connection=backend).enqueue(jobfuncs.record_run, str(ledger), "slow", str(release))
    alive = start_worker(url, name="alive", lease_ttl=LEASE_TTL)
    taken: list[Recovery] = []
    try:
        wait_until(ledger.exists, message="the job to start")

        def deleted_or_taken() -> bool:
            taken.extend(backend.leases_recover(time.time()))  # any other worker's recovery pass, at every look
            return bool(taken) or finished_left(backend) == 0

        wait_until(deleted_or_taken, timeout=120, message="the backlog deleted")
        release.touch()
        wait_until(lambda: job.get_status(refresh=True) is not JobStatus.STARTED, message="the job to end")
        logs = worker_log(alive)
    finally:
        release.touch()
        stop_processes(alive)
    assert not taken, "the live worker's lease never lapsed"
    assert_kept_by_its_live_worker(job, ledger, logs)


def test_a_dead_workers_job_is_recovered_by_a_worker_deleting_a_backlog(
    backend: Backend, url: str, tmp_path: Path
) -> None:
    """The recoverer's renewals waited behind half-second slices of deletion, so each
    came over half a lease after the last and passed for a stalled store: recovery was
    held back a lease period each time, until the backlog was gone."""
    backend.maintenance_claim("test", time.time(), time.time() + 3600)  # the backlog waits for the victim's death
    expired_jobs(backend, BACKLOG)
    ledger, release = tmp_path / "ledger", tmp_path / "release"
    job = Queue("victim", connection=backend).enqueue(
        jobfuncs.record_run, str(ledger), "victim", str(release), retry=Retry(max=1)
    )
    recoverer = start_worker(url, name="recoverer", lease_ttl=LEASE_TTL)
    victim = None
    try:
        victim = start_worker(url, ("victim",), name="victim", lease_ttl=LEASE_TTL)
        wait_until(ledger.exists, message="the victim to start its job")
        wait_until(lambda: len(backend.workers_list()) == 2, message="both workers registered")
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        backend.maintenance_claim("test", time.time(), time.time())  # let go: the recoverer takes the backlog
        wait_until(lambda: job.get_status(refresh=True) is not JobStatus.STARTED, timeout=60, message="recovery")
        left = finished_left(backend)
    finally:
        release.touch()
        stop_processes(recoverer, victim)
    assert (job.get_status(), job.retry_count) == (JobStatus.QUEUED, 1), "recovered, to run again"
    assert left > 0, "recovered while the recoverer was still deleting the backlog"


def test_renewals_are_planned_a_third_of_a_lease_apart_at_most_and_wake_the_housekeeper(tmp_path: Path) -> None:
    """Planned up to 0.4 of a lease apart, and run at the housekeeper's first 0.1 s tick
    after that, renewals came over half a lease apart with a 1 s lease: a stalled store,
    to the RecoveryGate, which then held recovery back a lease period."""
    backend = conveyor.connect(f"sqlite:///{tmp_path / 'conveyor.db'}")
    try:
        housekeeper = Housekeeper(Worker(["default"], connection=backend, lease_ttl=LEASE_TTL))
        period = LEASE_TTL / 3
        for _ in range(100):
            housekeeper._next["heartbeat"] = 0.0  # due
            housekeeper._run_if_due("heartbeat", period, housekeeper.heartbeat)
            assert housekeeper._next["heartbeat"] - time.monotonic() <= period
        housekeeper._next["heartbeat"] = time.monotonic() + TICK / 4
        assert housekeeper._pause() <= TICK / 4, "the wait ends when the renewal is due, not at the next tick"
    finally:
        backend.close()
