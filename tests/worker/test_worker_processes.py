"""Workers as real processes: killed, signalled, stopped, and several at once."""

from __future__ import annotations

import collections
import inspect
import signal
from pathlib import Path

import pytest

import jobfuncs
from conveyor import Job, JobStatus, Queue, Retry, Worker, cancel_job, send_shutdown_command, send_stop_job_command
from conveyor.backends.base import Backend
from conveyor.status import TERMINAL
from waiting import wait_until

from .processes import start_worker, stop_process, terminate_once_started, worker_log


@pytest.fixture
def queue(backend: Backend) -> Queue:
    return Queue(connection=backend)


def ledger_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def statuses(backend: Backend, jobs: list[Job]) -> collections.Counter[JobStatus]:
    return collections.Counter(r.status for r in backend.jobs_get([j.id for j in jobs]) if r)


def test_sigkilled_worker_jobs_are_recovered_by_another(url: str, queue: Queue, tmp_path: Path) -> None:
    ledger, release = tmp_path / "ledger", tmp_path / "release"
    jobs = [
        queue.enqueue(jobfuncs.record_run, str(ledger), f"job{i}", str(release), retry=Retry(max=2)) for i in range(12)
    ]
    first = start_worker(url, concurrency=4, lease_ttl=1.5)
    try:  # its first four jobs run until released: the kill finds them running
        wait_until(lambda: len(ledger_lines(ledger)) >= 4, message="the first worker to start jobs")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        in_flight = {r.id for r in queue.connection.jobs_get([j.id for j in jobs]) if r and r.status == "started"}
        assert in_flight, "the kill should leave jobs in the middle of running"
        release.touch()
        second = start_worker(url, concurrency=4, lease_ttl=1.5)
        try:
            wait_until(lambda: statuses(queue.connection, jobs)[JobStatus.FINISHED] == 12, timeout=30,
                       message="every job to finish")  # fmt: skip
        finally:
            stop_process(second)
    finally:
        stop_process(first)
    runs = collections.Counter(line.split()[0] for line in ledger_lines(ledger))
    assert set(runs) == {f"job{i}" for i in range(12)}
    assert all(count <= 2 for count in runs.values())
    rerun_ids = {j.id for j in jobs if runs[f"job{jobs.index(j)}"] == 2}
    assert rerun_ids <= in_flight  # only jobs running at the kill ran twice
    recovered = [r for r in queue.connection.jobs_get(list(in_flight)) if r]
    assert all(r.retry_count == 1 for r in recovered)


@pytest.mark.parametrize("stop", ["SIGTERM", "shutdown command"])
def test_a_stop_lets_the_running_job_finish_and_takes_no_more(
    url: str, queue: Queue, tmp_path: Path, stop: str
) -> None:
    marker, release = tmp_path / "started", tmp_path / "release"
    running = queue.enqueue(jobfuncs.hold_until_released, str(marker), str(release))  # until the stop is heard
    waiting = queue.enqueue(jobfuncs.noop)
    worker = start_worker(url, name="told-to-stop", lease_ttl=1.5)  # a heartbeat every 0.5 s
    try:
        wait_until(marker.exists, message="the job to start")
        if stop == "SIGTERM":
            worker.send_signal(signal.SIGTERM)
            heard = "stop signal"
        else:
            send_shutdown_command(queue.connection, "told-to-stop")
            heard = "was asked to shut down"
        wait_until(lambda: heard in worker_log(worker), message="the stop to be heard")
        if stop == "SIGTERM":  # what to do if waiting is not what was meant
            assert "a second stop signal (Ctrl-C again) interrupts them and gives them back" in worker_log(worker)
        release.touch()
        assert worker.wait(timeout=20) == 0
    finally:
        release.touch()
        stop_process(worker)
    assert running.get_status() is JobStatus.FINISHED
    assert waiting.get_status() is JobStatus.QUEUED
    assert queue.connection.workers_list() == []


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGINT", "shutdown command"])
def test_an_idle_worker_stops_at_once_not_when_its_wait_ends(url: str, queue: Queue, stop: str) -> None:
    """Its wait for jobs (30 s asked; Redis waits in 5 s slices) ends with the stop: it
    watches the worker's halt."""
    worker = start_worker(url, name="idle", poll_interval=30, lease_ttl=3)  # a heartbeat every second
    try:
        first = queue.enqueue(jobfuncs.noop)
        wait_until(lambda: first.get_status() is JobStatus.FINISHED, message="the worker to run a first job")
        if stop == "shutdown command":
            send_shutdown_command(queue.connection, "idle")
        else:
            worker.send_signal(getattr(signal, stop))
        assert worker.wait(timeout=15) == 0, "it stopped well before its wait (24 to 30 s) would have ended"
    finally:
        stop_process(worker)
    assert queue.connection.workers_list() == []


@pytest.mark.parametrize("pool", ["threads", "processes"])
def test_second_sigterm_gives_the_running_job_back_to_the_queue(
    url: str, queue: Queue, tmp_path: Path, pool: str
) -> None:
    marker = tmp_path / "started"
    job = queue.enqueue(jobfuncs.touch_then_sleep, str(marker), 60)
    worker = start_worker(url, pool=pool)
    try:
        wait_until(marker.exists, message="the job to start")
        worker.send_signal(signal.SIGTERM)
        wait_until(lambda: "stop signal" in worker_log(worker), message="the first signal to be handled")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0
    finally:
        stop_process(worker)
    job.refresh()
    assert job.status is JobStatus.QUEUED
    assert job.retry_count == 0  # released, not counted as a retry


def test_stop_command_stops_a_running_job_without_retry(url: str, queue: Queue, tmp_path: Path) -> None:
    marker = tmp_path / "started"
    job = queue.enqueue(jobfuncs.touch_then_sleep, str(marker), 60, retry=Retry(max=3))
    after = queue.enqueue(jobfuncs.add, 1, 2)
    worker = start_worker(url)
    try:
        wait_until(marker.exists, message="the job to start")
        send_stop_job_command(queue.connection, job.id)
        wait_until(lambda: job.get_status() is JobStatus.STOPPED, message="the job to stop")
        wait_until(lambda: after.get_status() is JobStatus.FINISHED, message="the next job to run")
    finally:
        stop_process(worker)
    assert job in queue.failed_job_registry
    assert job.retry_count == 0


def test_cancel_of_a_running_job_stops_it(url: str, queue: Queue, tmp_path: Path) -> None:
    marker = tmp_path / "started"
    job = queue.enqueue(jobfuncs.touch_then_sleep, str(marker), 60)
    after = queue.enqueue(jobfuncs.add, 1, 2)
    worker = start_worker(url)
    try:
        wait_until(marker.exists, message="the job to start")
        cancel_job(job.id, connection=queue.connection)
        wait_until(lambda: after.get_status() is JobStatus.FINISHED, message="the worker to move on")
    finally:
        stop_process(worker)
    assert job.get_status() is JobStatus.CANCELED
    assert job in queue.canceled_job_registry
    assert queue.connection.stop_requests(worker_name=job.worker_name or "") == []


def test_job_ignoring_its_timeout_ends_the_worker_process(url: str, queue: Queue) -> None:
    job = queue.enqueue(jobfuncs.ignore_interrupts, 60, timeout=0.3)
    worker = start_worker(url, interrupt_grace=0.5)
    try:
        assert worker.wait(timeout=20) == 3
    finally:
        stop_process(worker)
    job.refresh()
    assert job.status is JobStatus.FAILED
    assert job.status_reason == "timeout"
    assert queue.connection.workers_list() == []


@pytest.mark.parametrize("retries", [0, 1])
def test_a_stuck_job_lets_the_other_jobs_finish_before_the_worker_exits(
    url: str, queue: Queue, tmp_path: Path, retries: int
) -> None:
    marker, release = tmp_path / "steady-started", tmp_path / "release"
    steady = queue.enqueue(jobfuncs.hold_until_released, str(marker), str(release))
    stuck = queue.enqueue(jobfuncs.ignore_interrupts, 60, timeout=0.3, retry=Retry(max=retries) if retries else None)
    worker = start_worker(url, concurrency=2, interrupt_grace=0.5)
    try:
        wait_until(
            lambda: "is left to its thread" in worker_log(worker), timeout=20, message="the stuck job to be left"
        )
        assert marker.exists() and worker.poll() is None  # the steady job runs on, in the same process
        assert stuck.get_status() is JobStatus.STARTED  # still held: no other worker may run it meanwhile
        release.touch()
        assert worker.wait(timeout=20) == 3  # then the worker exits for a fresh process
    finally:
        stop_process(worker)
    steady.refresh()
    assert (steady.status, steady.retry_count, steady.result) == (JobStatus.FINISHED, 0, str(marker))
    stuck.refresh()
    if retries:  # its timeout counts as a retry: queued again, for a fresh process
        assert (stuck.status, stuck.retry_count) == (JobStatus.QUEUED, 1)
    else:
        assert (stuck.status, stuck.status_reason) == (JobStatus.FAILED, "timeout")
    assert queue.connection.workers_list() == []


def test_job_that_kills_its_process_is_retried_then_failed(url: str, queue: Queue) -> None:
    job = queue.enqueue(jobfuncs.crash_process, retry=Retry(max=1))
    ok = queue.enqueue(jobfuncs.add, 1, 2)
    for _ in range(2):
        worker = start_worker(url, lease_ttl=1, poll_interval=0.1)
        try:
            worker.wait(timeout=20)
        finally:
            stop_process(worker)
    survivor = start_worker(url, lease_ttl=1, poll_interval=0.1)
    try:
        wait_until(lambda: job.get_status() in TERMINAL and ok.get_status() in TERMINAL, timeout=20,
                   message="the poison job to fail")  # fmt: skip
    finally:
        stop_process(survivor)
    job.refresh()
    assert job.status is JobStatus.FAILED
    assert job.status_reason == "abandoned"
    assert job.retry_count == 1
    assert ok.get_status() is JobStatus.FINISHED


SUPERVISOR_KILL = 30.0
"""Seconds Kubernetes (terminationGracePeriodSeconds), ECS and Heroku wait after SIGTERM
before they SIGKILL a process."""


def test_the_default_shutdown_timeout_ends_before_a_30s_supervisor_kill() -> None:
    """Kubernetes, ECS and Heroku kill 30 s after SIGTERM: with the default (which the CLI's
    --shutdown-timeout takes too) the worker gives its running jobs back and exits first,
    as the test below shows for a shorter timeout, instead of leaving them to lease recovery
    as a retry (without one: failed, abandoned)."""
    default = inspect.signature(Worker).parameters["shutdown_timeout"].default
    assert default + 3 <= SUPERVISOR_KILL, "room for the give-back and the exit"


@pytest.mark.parametrize(
    ("job", "pool", "shutdown_timeout"),
    [
        (jobfuncs.touch_then_sleep, "threads", 0.5),
        (jobfuncs.async_touch_then_sleep, "threads", 0.5),
        (jobfuncs.touch_then_sleep, "processes", 0.5),
    ],
)
def test_first_sigterm_gives_running_jobs_back_after_the_shutdown_timeout(
    url: str, queue: Queue, tmp_path: Path, job: object, pool: str, shutdown_timeout: float
) -> None:
    marker = tmp_path / "started"
    running = queue.enqueue(job, str(marker), 60)  # type: ignore[arg-type]
    options = {"shutdown_timeout": shutdown_timeout}
    assert terminate_once_started(url, marker, deadline=SUPERVISOR_KILL, pool=pool, **options) == 0
    running.refresh()
    assert running.status is JobStatus.QUEUED
    assert running.status_reason == "released" and running.retry_count == 0
