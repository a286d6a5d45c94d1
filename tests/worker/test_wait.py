"""job.wait(timeout): the outcome of the job's end, waited for through its retries
(Celery's AsyncResult.get), where latest_result returns at the end of any run."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import jobfuncs
from conveyor import Job, Queue, Result, Retry, Worker
from conveyor.backends.base import Backend
from conveyor.status import JobStatus
from waiting import wait_until


def test_wait_goes_past_a_run_to_be_retried_to_the_jobs_end(backend: Backend, tmp_path: Path) -> None:
    release = tmp_path / "release"
    queue = Queue(connection=backend)
    job = queue.enqueue(jobfuncs.fail_first_run, str(release), retry=Retry(max=1))
    outcome: list[Result | None] = []
    waiter = threading.Thread(target=lambda: outcome.append(job.wait(timeout=60)))
    waiter.start()
    worker = threading.Thread(target=Worker([queue], connection=backend).work, kwargs={"burst": True})
    worker.start()
    try:
        # the retry runs, held: the first run has ended (to be retried), the job has not
        wait_until(lambda: job.get_status() is JobStatus.STARTED and job.retry_count == 1, message="the retry")
        retried = job.latest_result()
        assert retried is not None and retried.type is Result.Type.RETRIED
        assert waiter.is_alive() and not outcome
    finally:
        release.touch()
        worker.join(30)
        waiter.join(30)
    (ended,) = outcome
    assert ended is not None and (ended.type, ended.return_value) == (Result.Type.SUCCESSFUL, "ok")


def test_wait_gives_the_failure_once_no_retry_is_left(backend: Backend) -> None:
    queue = Queue(connection=backend)
    job = queue.enqueue(jobfuncs.fail, "x", retry=Retry(max=2))
    Worker([queue], connection=backend).work(burst=True)
    ended = job.wait(timeout=10)
    assert ended is not None and ended.type is Result.Type.FAILED and "ValueError: x" in str(ended.exc_string)
    assert job.retry_count == 2


def test_wait_is_none_when_the_time_is_up_and_at_once_for_a_canceled_job(backend: Backend) -> None:
    queue = Queue(connection=backend)
    job = queue.enqueue(jobfuncs.add, 1, 2)
    began = time.monotonic()
    assert job.wait(timeout=0.3) is None
    assert time.monotonic() - began >= 0.3
    job.cancel()
    began = time.monotonic()
    assert job.wait(timeout=30) is None
    assert time.monotonic() - began < 15  # ended: no run is left to wait for


def test_an_async_job_waits_for_another_on_its_own_worker_from_a_thread(backend: Backend) -> None:
    queue = Queue(connection=backend)
    job = queue.enqueue(jobfuncs.async_wait_for_another, 20)
    Worker([queue], connection=backend, concurrency=2).work(burst=True)
    ended = job.wait(timeout=10)
    assert ended is not None and ended.return_value == 3, job.exc_info


def test_wait_ends_when_the_job_is_deleted_and_at_once_with_a_timeout_of_0(backend: Backend) -> None:
    queue = Queue(connection=backend)
    job = queue.enqueue(jobfuncs.add, 1, 2)
    outcome: list[Result | None] = []
    waiter = threading.Thread(target=lambda: outcome.append(job.wait(timeout=60)))
    began = time.monotonic()
    waiter.start()
    Job.fetch(job.id, connection=backend).delete()
    waiter.join(30)
    assert outcome == [None] and time.monotonic() - began < 15  # woken by the deletion, not the timeout
    done = queue.enqueue(jobfuncs.add, 1, 2)
    assert done.wait(timeout=0) is None
    Worker([queue], connection=backend).work(burst=True)
    ended = done.wait(timeout=0)
    assert ended is not None and ended.return_value == 3
