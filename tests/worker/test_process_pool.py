"""Workers with ``pool="processes"``: sync jobs in child processes that can be killed."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import jobfuncs
from conveyor import JobStatus, Queue, Retry, Worker, send_stop_job_command
from conveyor.backends.base import Backend
from conveyor.worker import job_processes
from waiting import wait_until

from .processes import TESTS_DIR, start_worker, stop_process, worker_log


@pytest.fixture
def queue(backend: Backend) -> Queue:
    return Queue(connection=backend)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def run_burst(url: str, **options: object) -> tuple[int, str]:
    """Run a burst worker with child processes to its end: its exit status and log."""
    worker = start_worker(url, burst=True, pool="processes", **options)
    try:
        status = worker.wait(timeout=60)
        return status, worker_log(worker)
    finally:
        stop_process(worker)


def test_sync_jobs_run_in_one_reused_child_with_the_current_job(url: str, queue: Queue) -> None:
    pids = [queue.enqueue(os.getpid) for _ in range(3)]
    current = queue.enqueue(jobfuncs.use_current_job, 7)
    async_job = queue.enqueue(jobfuncs.async_add, 1, 2)  # async jobs stay on the worker's loop
    worker = start_worker(url, burst=True, pool="processes")
    try:
        assert worker.wait(timeout=60) == 0
    finally:
        stop_process(worker)
    results = set()
    for job in pids:
        job.refresh()
        assert job.status is JobStatus.FINISHED
        results.add(job.result)
    assert len(results) == 1 and worker.pid not in results  # one child, for every job
    current.refresh()
    assert current.result == {"id": current.id, "value": 7}
    assert current.meta["handled_by"] == "test"  # saved by the child, through its own connection
    async_job.refresh()
    assert (async_job.status, async_job.result) == (JobStatus.FINISHED, 3)


def test_a_job_ignoring_its_timeout_is_killed_and_the_worker_goes_on(url: str, queue: Queue) -> None:
    stuck = queue.enqueue(jobfuncs.ignore_interrupts, 60, timeout=0.3, retry=Retry(max=1))
    after = queue.enqueue(jobfuncs.add, 1, 2)
    status, log = run_burst(url, interrupt_grace=0.3)
    assert status == 0  # not 3: the worker did not have to end itself
    assert "its process is killed" in log
    stuck.refresh()  # its timeout counted as a retry, and the retry timed out again
    assert (stuck.status, stuck.status_reason, stuck.retry_count) == (JobStatus.FAILED, "timeout", 1)
    assert "JobTimeoutException" in (stuck.exc_info or "")
    after.refresh()
    assert (after.status, after.result) == (JobStatus.FINISHED, 3)


def test_a_timeout_is_raised_inside_the_childs_job(url: str, queue: Queue) -> None:
    job = queue.enqueue(jobfuncs.sleep, 60, timeout=0.3)
    status, log = run_burst(url)
    assert status == 0 and "its process is killed" not in log  # the job ended by itself
    job.refresh()
    assert (job.status, job.status_reason) == (JobStatus.FAILED, "timeout")


def test_a_job_that_crashes_its_process_fails_alone_after_its_retries(url: str, queue: Queue) -> None:
    crash = queue.enqueue(jobfuncs.crash_process, retry=Retry(max=1))
    after = queue.enqueue(jobfuncs.add, 2, 3)
    status, _ = run_burst(url)
    assert status == 0
    crash.refresh()
    assert (crash.status, crash.status_reason, crash.retry_count) == (JobStatus.FAILED, "error", 1)
    assert crash.exc_info == "The job's process exited with status 9 while it ran the job"
    after.refresh()
    assert (after.status, after.result) == (JobStatus.FINISHED, 5)


def test_a_stop_command_stops_the_childs_job(url: str, queue: Queue, tmp_path: Path) -> None:
    marker = tmp_path / "started"
    job = queue.enqueue(jobfuncs.touch_then_sleep, str(marker), 60)
    worker = start_worker(url, pool="processes")
    try:
        wait_until(marker.exists, message="the job to start")
        send_stop_job_command(queue.connection, job.id)
        wait_until(lambda: job.get_status() is JobStatus.STOPPED, message="the job to stop")
        assert worker.poll() is None
    finally:
        stop_process(worker)


def test_the_child_ignores_sigterm_and_dies_with_its_worker(url: str, queue: Queue, tmp_path: Path) -> None:
    marker, release = tmp_path / "started", tmp_path / "release"
    job = queue.enqueue(jobfuncs.hold_until_released, str(marker), str(release))
    worker = start_worker(url, pool="processes")
    try:
        child = int(wait_until(lambda: marker.exists() and marker.read_text(), message="the job to start"))
        assert child != worker.pid
        os.kill(child, signal.SIGTERM)  # as a service manager signals every process of the group
        release.touch()
        wait_until(lambda: job.get_status() is JobStatus.FINISHED, message="the job to finish")
        marker.unlink()
        again = queue.enqueue(jobfuncs.hold_until_released, str(marker), str(tmp_path / "never"))
        assert int(wait_until(lambda: marker.exists() and marker.read_text(), message="the next job")) == child
        worker.kill()  # a lost worker: its child must not run on unsupervised
        wait_until(lambda: not alive(child), message="the child to die with its worker")
        assert again.get_status() is JobStatus.STARTED  # recovered when its lease expires
    finally:
        stop_process(worker)


def test_a_jobs_subprocess_does_not_inherit_the_childs_deafness_to_sigterm(url: str, queue: Queue) -> None:
    job = queue.enqueue(jobfuncs.terminate_a_subprocess)
    status, _ = run_burst(url)
    assert status == 0
    job.refresh()
    assert (job.status, job.result) == (JobStatus.FINISHED, -signal.SIGTERM)


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie nobody reaped is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_killed_child_takes_its_subprocesses_along_and_none_holds_the_worker(
    url: str, queue: Queue, tmp_path: Path
) -> None:
    inside, escaped, ready = tmp_path / "inside", tmp_path / "escaped", tmp_path / "ready"
    # A shell under the job (os.system waits in C, so the stop cannot land), and a
    # daemon that left the job's process group, as `setsid` does.
    command = f"setsid sleep 60 & echo $! > {escaped}; echo $$ > {inside}; touch {ready}; exec sleep 60"
    job = queue.enqueue(jobfuncs.shell, command)
    worker = start_worker(url, pool="processes", interrupt_grace=0.2)
    try:
        wait_until(ready.exists, message="the shell to start")
        send_stop_job_command(queue.connection, job.id)
        # The worker once waited for the daemon, which held the child's end of the pipe.
        wait_until(lambda: job.get_status() is JobStatus.STOPPED, message="the job to stop")
        wait_until(lambda: not running(int(inside.read_text())), message="the shell to die with the child")
        assert worker.poll() is None
    finally:
        stop_process(worker)
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(escaped.read_text()), signal.SIGKILL)


def test_registered_job_types_reach_the_child(url: str, queue: Queue) -> None:
    job = queue.enqueue("tests.extraction", "a letter")
    env = {**os.environ, "CONVEYOR_URL": url, "PYTHONPATH": str(TESTS_DIR)}
    done = subprocess.run(
        [sys.executable, "-m", "conveyor", "worker", "--burst", "--pool", "processes", "--import", "jobfuncs"],
        check=False, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "sync jobs in child processes" in done.stderr
    job.refresh()
    assert (job.status, job.result) == (JobStatus.FINISHED, {"extracted": "a letter"})


def test_what_the_child_cannot_import_fails_only_the_jobs_that_need_it(url: str, queue: Queue, tmp_path: Path) -> None:
    marker = tmp_path / "imported"  # the worker imports worker.imports_once; its child cannot
    needs_it = queue.enqueue("tests.once")
    other = queue.enqueue(os.getpid)
    env = {**os.environ, "CONVEYOR_URL": url, "PYTHONPATH": str(TESTS_DIR), "CONVEYOR_TEST_IMPORT_ONCE": str(marker)}
    done = subprocess.run(
        [sys.executable, "-m", "conveyor", "worker", "--burst", "--pool", "processes", "--import",
         "worker.imports_once"],
        check=False, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "cannot import worker.imports_once: RuntimeError: imported again" in done.stderr  # --import reaches it
    needs_it.refresh()
    assert needs_it.status is JobStatus.FAILED
    assert "cannot find job function 'tests.once'" in (needs_it.exc_info or "")
    other.refresh()
    assert other.status is JobStatus.FINISHED


def test_while_no_child_can_start_jobs_go_back_and_the_worker_stops(
    backend: Backend, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = queue.enqueue(os.getpid)
    monkeypatch.setattr(job_processes, "RESTART_DELAYS", (0.01, 0.01))
    monkeypatch.setattr(backend, "url", "redis://127.0.0.1:1/0")  # what the children open: nothing listens
    worker = Worker([queue], connection=backend, pool="processes")
    worker.work(burst=True)
    assert worker.failure == "no job process could start 5 times in a row (the errors above say why)"
    job.refresh()
    assert (job.status, job.retry_count, job.status_reason) == (JobStatus.QUEUED, 0, "released")


def test_a_childs_start_is_not_its_jobs_time(url: str, queue: Queue) -> None:
    job = queue.enqueue(os.getpid, timeout=0.05)  # a fresh child takes longer than that to start
    status, _ = run_burst(url)
    assert status == 0
    job.refresh()
    assert job.status is JobStatus.FINISHED


@pytest.mark.parametrize(
    ("limits", "runs"),
    [
        ({"max_jobs_per_child": 2}, [2, 2, 1]),  # jobs per child, in order
        ({"max_memory_per_child": 1}, [1, 1, 1, 1, 1]),  # every child is past 1 MB after its first job
    ],
)
def test_a_child_is_replaced_after_its_jobs_or_memory(
    url: str, queue: Queue, limits: dict[str, float], runs: list[int]
) -> None:
    jobs = [queue.enqueue(os.getpid) for _ in range(5)]
    status, log = run_burst(url, **limits)
    assert status == 0
    pids = []
    for job in jobs:
        job.refresh()
        pids.append(job.result)
    assert [len(list(group)) for _, group in itertools.groupby(pids)] == runs
    assert len(set(pids)) == len(runs)  # a replaced child never comes back
    assert "recycled after" in log


def test_a_worker_refuses_an_unknown_pool(backend: Backend) -> None:
    from conveyor.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="pool must be one of threads, processes, got 'forks'"):
        Worker(["default"], connection=backend, pool="forks")
    with pytest.raises(ConfigurationError, match="need pool='processes'"):
        Worker(["default"], connection=backend, max_jobs_per_child=10)
    with pytest.raises(ConfigurationError, match="must be positive"):
        Worker(["default"], connection=backend, pool="processes", max_memory_per_child=0)
