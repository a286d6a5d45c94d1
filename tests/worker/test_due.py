"""A scheduled job, a retry with a delay and a scheduled batch start when they come due,
not up to a poll interval later.

The worker polls every 30 s and nothing else promotes: each job must start within a
few seconds of its due time, so a promotion left to the poll fails the test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import conveyor
import jobfuncs
from backend_conformance import corruption
from conveyor import Batch, Job, JobStatus, Queue, Retry, Worker, doctor
from conveyor.backends.base import Backend
from conveyor.exceptions import BackendError
from conveyor.worker.housekeeper import Housekeeper
from waiting import wait_until

from .processes import freeze, start_worker, stop_process

POLL = 30.0
"""The worker's poll interval: a job promoted only by the poll waits this out."""
PROMPT = 10.0
"""Seconds after its due time within which a job must start: well under POLL (the first
poll pass after the due time comes 24 to 30 s after the last), with room for a machine
loaded well past its cores (5 s was overrun at a load average of 17 on 2 cores)."""


@pytest.fixture
def worker(url: str) -> Iterator[subprocess.Popen[bytes]]:
    """One worker of 'default' that polls every POLL seconds (killed after)."""
    process = start_worker(url, ("default",), poll_interval=POLL, lease_ttl=10 * POLL)
    yield process
    stop_process(process)


def started(marker: Path, what: str, due_in: float) -> None:
    wait_until(marker.exists, timeout=due_in + PROMPT, message=f"{what} to start at its due time")


def ran(runs: Path) -> list[str]:
    """The tags of the runs recorded, in order."""
    return [line.split()[0] for line in runs.read_text().splitlines()] if runs.exists() else []


def test_scheduled_jobs_start_at_their_due_times_not_at_the_poll(backend: Backend, url: str, tmp_path: Path) -> None:
    queue, runs = Queue(connection=backend), tmp_path / "runs"
    soon = queue.enqueue_in(timedelta(seconds=1.5), jobfuncs.record_run, str(runs), "soon")
    later = queue.enqueue_in(timedelta(seconds=3), jobfuncs.record_run, str(runs), "later")
    process = start_worker(url, ("default",), poll_interval=POLL, lease_ttl=10 * POLL)
    try:
        wait_until(lambda: ran(runs) == ["soon"], timeout=1.5 + PROMPT, message="the job due first to run")
        # the pass that promoted it read when the next is due
        wait_until(lambda: ran(runs) == ["soon", "later"], timeout=3 + PROMPT, message="the job due next to run")
    finally:
        stop_process(process)
    for job, due_in in ((soon, 1.5), (later, 3)):
        job.refresh()
        assert job.enqueued_at is not None
        assert job.enqueued_at >= job.created_at + timedelta(seconds=due_in), "queued at its due time, not before"


def test_a_retry_with_a_delay_starts_when_due(backend: Backend, worker: object, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    job = Queue(connection=backend).enqueue(jobfuncs.record_then_fail, str(runs), "job", retry=Retry(max=1, interval=1))
    wait_until(runs.exists, timeout=PROMPT, message="the first run")
    wait_until(lambda: ran(runs) == ["job", "job"], timeout=1 + PROMPT, message="the retry to start")
    assert Job.fetch(job.id, connection=backend).retries_left == 0


def test_a_batch_starts_at_its_scheduled_start(backend: Backend, url: str, tmp_path: Path) -> None:
    marker = tmp_path / "job"
    spec = Queue.prepare_data(jobfuncs.hold_until_released, (str(marker), "-"))
    Batch.create([spec], scheduled_start=datetime.now(UTC) + timedelta(seconds=1.5), connection=backend)
    process = start_worker(url, ("default",), poll_interval=POLL, lease_ttl=10 * POLL)
    try:
        started(marker, "the batch's job", 1.5)
    finally:
        stop_process(process)


def test_a_failed_read_of_the_next_due_time_keeps_the_due_pass_planned(tmp_path: Path) -> None:
    """The schedule pass replaces the planned due pass with what the store says next: a read
    that fails says nothing, and the pass planned before must still run at its time. (The
    index the read alone uses is dropped, so that only it fails: as a connection lost
    between the promotion and the read would.)"""
    path = tmp_path / "conveyor.db"
    backend = conveyor.connect(f"sqlite:///{path}")
    try:
        job = Queue(connection=backend).enqueue_in(timedelta(seconds=0.5), jobfuncs.add, 1, 2)
        housekeeper = Housekeeper(Worker(["default"], connection=backend))
        housekeeper.run_schedule()  # reads when the job is due: plans a due pass then
        with sqlite3.connect(path) as damage:
            damage.execute("DROP INDEX batches_starters")
        with pytest.raises(BackendError, match="batches_starters"):
            housekeeper.run_schedule()

        def due_pass_promoted() -> bool:
            with contextlib.suppress(BackendError):  # its own read fails too, after the promotion
                housekeeper.run_due()
            return job.get_status() is JobStatus.QUEUED

        wait_until(due_pass_promoted, timeout=PROMPT, message="the due pass planned before the failed read")
    finally:
        backend.close()


def test_a_dependent_given_a_time_starts_at_it_when_its_parent_ends_first(
    backend: Backend, worker: object, tmp_path: Path
) -> None:
    """Deferred until its parent ends, it is in no due index when the worker last read
    one: the worker that ran the parent reads again after it ends."""
    queue, runs = Queue(connection=backend), tmp_path / "runs"
    parent = queue.enqueue(jobfuncs.record_run, str(runs), "parent")
    child = queue.enqueue_in(timedelta(seconds=2), jobfuncs.record_run, str(runs), "child", depends_on=parent)
    wait_until(lambda: ran(runs) == ["parent"], timeout=PROMPT, message="the parent to run")
    wait_until(lambda: ran(runs) == ["parent", "child"], timeout=2 + PROMPT, message="the child at its time")
    assert child.get_status(refresh=True) is JobStatus.FINISHED


def test_a_job_scheduled_elsewhere_after_the_worker_looked_starts_at_its_time(
    backend: Backend, worker: object, tmp_path: Path
) -> None:
    """The worker read when the next job is due at its start (nothing was) and will not
    look again for POLL seconds: the store's announcement of the new job's time, sent by
    the client's enqueue, brings its due pass forward."""
    runs = tmp_path / "runs"
    past_first_schedule_pass(backend, runs)
    Queue(connection=backend).enqueue_in(timedelta(seconds=1), jobfuncs.record_run, str(runs), "job")
    wait_until(lambda: ran(runs) == ["probe", "job"], timeout=1 + PROMPT, message="the job at its time")


def test_the_soonest_of_a_burst_scheduled_while_the_worker_could_not_listen_starts_at_its_time(
    backend: Backend, worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    """While the worker is held up (stopped here; a job holding the GIL does as much),
    a burst of scheduling writes announces more than its socket holds (ten, on Linux):
    the soonest, announced last, must not be lost with what the socket dropped."""
    queue, runs = Queue(connection=backend), tmp_path / "runs"
    past_first_schedule_pass(backend, runs)
    freeze(worker)  # (between writes: frozen holding SQLite's write lock, it would stall the burst)
    try:
        for _ in range(4 * 10):
            queue.enqueue_in(timedelta(hours=1), jobfuncs.noop)
        queue.enqueue_in(timedelta(seconds=2), jobfuncs.record_run, str(runs), "job")
    finally:
        os.kill(worker.pid, signal.SIGCONT)
    wait_until(lambda: ran(runs) == ["probe", "job"], timeout=2 + PROMPT, message="the job at its time")


def test_a_batch_start_the_doctor_repairs_starts_at_once(backend: Backend, worker: object, tmp_path: Path) -> None:
    """The repair gives a scheduled batch that lost its starter a start due now: the
    worker, whose next due pass is an hour away, hears it."""
    marker = tmp_path / "job"
    spec = Queue.prepare_data(jobfuncs.hold_until_released, (str(marker), "-"))
    batch = Batch.create([spec], scheduled_start=datetime.now(UTC) + timedelta(hours=1), connection=backend)
    corruption.drop_batch_starter(backend, batch.id)
    past_first_schedule_pass(backend, tmp_path / "runs")
    assert [f.kind for f in doctor.examine(backend, time.time(), repair=True)] == ["batch_starter_missing"]
    started(marker, "the batch's job", 0)


def past_first_schedule_pass(backend: Backend, runs: Path) -> None:
    """Wait until the worker's housekeeper has read the next due time as it starts, so
    that its next read is POLL away: a probe job scheduled after the worker's first
    passes (which precede the housekeeper) runs only once the housekeeper promotes it,
    at its first pass or after it."""
    wait_until(backend.maintenance_last, timeout=PROMPT, message="the worker's first passes")
    Queue(connection=backend).enqueue_in(timedelta(seconds=0.5), jobfuncs.record_run, str(runs), "probe")
    wait_until(lambda: ran(runs) == ["probe"], timeout=0.5 + PROMPT, message="the probe job")
