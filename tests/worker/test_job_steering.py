"""A job steering its own next run: RetryJob (retry after a delay of its choosing),
SnoozeJob (run again later, not a failure) and FailJob (fail now, retries or not)."""

from __future__ import annotations

import copy
import logging
import pickle
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import jobfuncs
from conveyor import FailJob, JobStatus, Queue, Retry, RetryJob, SnoozeJob, Worker
from conveyor.backends.base import Backend
from conveyor.clock import FrozenClock
from conveyor.exceptions import InvalidJobError

PLACES: dict[str, tuple[dict[str, Any], Callable[..., Any]]] = {
    "inline": ({}, jobfuncs.snooze_once),
    "threads": ({"concurrency": 2}, jobfuncs.snooze_once),
    "processes": ({"pool": "processes"}, jobfuncs.snooze_once),
    "async": ({}, jobfuncs.async_snooze_once),
}


def noted(tmp_path: Path) -> dict[str, Any]:
    """Callbacks that note their calls in a ledger, and its place in meta."""
    return {
        "on_success": jobfuncs.note_success,
        "on_failure": jobfuncs.note_failure,
        "meta": {"ledger": str(tmp_path / "ledger")},
    }


def ledger(tmp_path: Path) -> list[str]:
    path = tmp_path / "ledger"
    return [line.rsplit(" ", 1)[0] for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("place", PLACES)
def test_a_snoozed_job_waits_without_failing_counting_a_retry_or_calling_back(
    backend: Backend, tmp_path: Path, place: str
) -> None:
    options, func = PLACES[place]
    queue = Queue(connection=backend)
    job = queue.enqueue(func, 600, retry=Retry(max=1), **noted(tmp_path))
    before = time.time()
    worker = Worker([queue], connection=backend, **options)
    worker.work(burst=True)
    job.refresh()
    assert job.status is JobStatus.SCHEDULED and job.status_reason == "snoozed"
    assert job.retry_count == 0 and job.exc_info is None
    assert before + 600 <= (job.record.scheduled_for or 0) <= time.time() + 600
    assert job in queue.scheduled_job_registry
    assert job.latest_result() is None  # no run has ended
    assert ledger(tmp_path) == []
    assert (worker.successful_job_count, worker.failed_job_count) == (0, 0)


def test_a_job_snoozed_for_no_time_goes_to_the_back_of_its_queue_and_runs_again(
    backend: Backend, tmp_path: Path
) -> None:
    queue = Queue(connection=backend)
    snoozer = queue.enqueue(jobfuncs.snooze_once, 0, **noted(tmp_path))
    other = queue.enqueue(jobfuncs.add, 1, 2)
    worker = Worker([queue], connection=backend)
    worker.work(burst=True)
    snoozer.refresh()
    assert snoozer.status is JobStatus.FINISHED and snoozer.result == "done"
    assert snoozer.retry_count == 0
    assert (snoozer.enqueued_at or 0) > (other.enqueued_at or 0)  # it entered its queue again
    assert ledger(tmp_path) == [f"success {snoozer.id} 'done' {type(backend).__name__}"]
    assert (worker.successful_job_count, worker.failed_job_count) == (2, 0)


def test_a_snooze_is_logged_as_such(backend: Backend, caplog: pytest.LogCaptureFixture) -> None:
    queue = Queue(connection=backend)
    job = queue.enqueue(jobfuncs.snooze_once, 600)
    with caplog.at_level(logging.INFO, logger="conveyor.worker"):
        Worker([queue], connection=backend).work(burst=True)
    (line,) = [r for r in caplog.records if job.id in r.getMessage()]
    assert line.levelno == logging.INFO and "snoozed until" in line.getMessage()


def test_retry_job_counts_a_retry_and_waits_the_delay_it_names(backend: Backend) -> None:
    clock = FrozenClock(2_000_000_000.0)
    queue = Queue(connection=backend, clock=clock)
    named = queue.enqueue(jobfuncs.retry_in, 30, retry=Retry(max=2, interval=[1000]))
    policy = queue.enqueue(jobfuncs.retry_in, None, retry=Retry(max=2, interval=[1000]))
    Worker([queue], connection=backend, clock=clock).work(burst=True)
    for job, delay in ((named, 30), (policy, 1000)):
        job.refresh()
        assert job.status is JobStatus.SCHEDULED and job.retry_count == 1
        assert job.record.scheduled_for == pytest.approx(clock.now() + delay)
        assert "ValueError: rate limited" in (job.exc_info or "")  # the cause is kept
    assert "RetryJob: retry in 30 s" in (named.exc_info or "")


def test_retry_job_fails_a_job_without_a_retry_left(backend: Backend) -> None:
    queue = Queue(connection=backend)
    job = queue.enqueue(jobfuncs.retry_in, 30)
    Worker([queue], connection=backend).work(burst=True)
    job.refresh()
    assert job.status is JobStatus.FAILED and job.retry_count == 0
    assert "RetryJob" in (job.exc_info or "")


def test_fail_job_fails_at_once_whatever_retries_remain(backend: Backend, tmp_path: Path) -> None:
    queue = Queue(connection=backend)
    job = queue.enqueue(jobfuncs.fail_for_good, retry=Retry(max=3), **noted(tmp_path))
    Worker([queue], connection=backend).work(burst=True)
    job.refresh()
    assert job.status is JobStatus.FAILED and job.retry_count == 0
    assert job in queue.failed_job_registry
    assert ledger(tmp_path) == [f"failure {job.id} FailJob bad input True"]


def test_delays_are_durations() -> None:
    assert SnoozeJob(timedelta(minutes=5)).delay == 300
    assert SnoozeJob("2m").delay == 120
    assert RetryJob().delay is None and RetryJob(1.5).delay == 1.5
    assert str(FailJob("bad input")) == "bad input"
    for wrong in (-1, "soon", float("inf"), None, True):
        with pytest.raises(InvalidJobError, match="SnoozeJob delay"):
            SnoozeJob(wrong)  # type: ignore[arg-type]
    with pytest.raises(InvalidJobError, match="RetryJob delay"):
        RetryJob(-5)


def test_an_on_success_callback_that_snoozes_snoozes_the_job_without_calling_failure_callbacks(
    backend: Backend, tmp_path: Path
) -> None:
    # a callback's error is the job's: a SnoozeJob from on_success snoozes the job, which
    # has not failed (nor ended), so neither on_failure nor the exception handlers hear of it
    queue = Queue(connection=backend)
    job = queue.enqueue(
        jobfuncs.add,
        1,
        2,
        on_success=jobfuncs.snoozing_callback,
        on_failure=jobfuncs.note_failure,
        meta={"ledger": str(tmp_path / "ledger")},
    )
    worker = Worker([queue], connection=backend, exception_handlers=[jobfuncs.handler_a])
    worker.work(burst=True)
    job.refresh()
    assert job.status is JobStatus.SCHEDULED and job.status_reason == "snoozed"
    assert job.retry_count == 0 and job.exc_info is None
    assert ledger(tmp_path) == []


def test_the_steering_exceptions_survive_pickling_and_copying() -> None:
    # a job that runs part of its work in a process pool of its own gets them back from it
    for error in (RetryJob(30, "busy"), RetryJob(), SnoozeJob("2m"), FailJob("bad input")):
        for again in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
            assert type(again) is type(error) and str(again) == str(error)
            assert getattr(again, "delay", None) == getattr(error, "delay", None)
