"""RQ's job callbacks (on_success, on_failure, on_stopped), run by real workers on each
backend: in the worker's thread, in its child process, and beside its event loop."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

import jobfuncs
from conveyor import Callback, JobStatus, Queue, Worker, send_stop_job_command
from conveyor.backends.base import Backend
from conveyor.exceptions import InvalidJobError
from waiting import wait_until

NOTES = {
    "on_success": jobfuncs.note_success,
    "on_failure": jobfuncs.note_failure,
    "on_stopped": jobfuncs.note_stopped,
}


@pytest.fixture
def queue(backend: Backend) -> Queue:
    return Queue(connection=backend)


def lines(ledger: Path) -> list[str]:
    """The ledger's lines without the pid at their end."""
    return [line.rsplit(" ", 1)[0] for line in ledger.read_text().splitlines()] if ledger.exists() else []


def run_burst(queue: Queue, **options: object) -> None:
    Worker([queue], connection=queue.connection, **options).work(burst=True)  # type: ignore[arg-type]


@pytest.mark.parametrize("pool", ["threads", "processes"])
def test_on_success_gets_the_job_its_backend_and_the_result(queue: Queue, tmp_path: Path, pool: str) -> None:
    ledger = tmp_path / "ledger"
    job = queue.enqueue(jobfuncs.add, 1, 2, meta={"ledger": str(ledger)}, **NOTES)
    run_burst(queue, pool=pool)
    assert job.get_status(refresh=True) is JobStatus.FINISHED
    assert lines(ledger) == [f"success {job.id} 3 {type(queue.connection).__name__}"]
    ran_in = int(ledger.read_text().split()[-1])
    assert (ran_in == os.getpid()) is (pool == "threads"), "where the job ran: the child process with processes"


def test_on_failure_gets_the_exception_and_the_job_fails_as_it_would(queue: Queue, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    job = queue.enqueue(jobfuncs.fail, "boom", meta={"ledger": str(ledger)}, **NOTES)
    timed_out = queue.enqueue(jobfuncs.sleep, 30, timeout=0.3, meta={"ledger": str(ledger)}, **NOTES)
    run_burst(queue, interrupt_grace=5)
    assert job.get_status(refresh=True) is JobStatus.FAILED and "ValueError: boom" in (job.exc_info or "")
    assert timed_out.get_status(refresh=True) is JobStatus.FAILED
    assert lines(ledger) == [
        f"failure {job.id} ValueError boom True",
        f"failure {timed_out.id} JobTimeoutException Job exceeded its timeout of 0.3s True",
    ]


def test_a_failing_on_success_fails_the_job_and_a_failing_on_failure_changes_nothing(queue: Queue) -> None:
    broken = queue.enqueue(jobfuncs.add, 1, 2, on_success=jobfuncs.broken_callback)
    failing = queue.enqueue(jobfuncs.fail, "boom", on_failure="jobfuncs.broken_callback")
    run_burst(queue)
    assert broken.get_status(refresh=True) is JobStatus.FAILED
    assert "RuntimeError: the callback broke" in (broken.exc_info or ""), "as in RQ: the job failed"
    assert failing.get_status(refresh=True) is JobStatus.FAILED
    assert "ValueError: boom" in (failing.exc_info or "") and "callback broke" not in (failing.exc_info or "")


def test_on_stopped_runs_when_a_stop_command_ends_the_job(queue: Queue, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    marker = tmp_path / "started"
    never = str(tmp_path / "never")  # the job runs until stopped, in short sleeps: the stop lands between them
    job = queue.enqueue(jobfuncs.hold_until_released, str(marker), never, meta={"ledger": str(ledger)}, **NOTES)
    worker = Worker([queue], connection=queue.connection, concurrency=2)  # the job in a pool thread
    thread = threading.Thread(target=worker.work, kwargs={"burst": True})
    thread.start()
    try:
        wait_until(marker.exists, message="the job to start")
        send_stop_job_command(queue.connection, job.id)
        wait_until(lambda: job.get_status(refresh=True) is JobStatus.STOPPED, message="the job to stop")
    finally:
        thread.join(60)
    assert lines(ledger) == [f"stopped {job.id}"]


def test_an_async_job_calls_its_callbacks_too(queue: Queue, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    job = queue.enqueue(jobfuncs.async_add, 2, 2, meta={"ledger": str(ledger)}, **NOTES)
    run_burst(queue)
    assert lines(ledger) == [f"success {job.id} 4 {type(queue.connection).__name__}"]


def test_callbacks_are_given_as_functions_paths_or_callback_objects(queue: Queue, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    by_path = queue.enqueue(jobfuncs.add, 1, 1, meta={"ledger": str(ledger)}, on_success="jobfuncs.note_success")
    by_object = queue.enqueue(
        jobfuncs.add, 2, 2, meta={"ledger": str(ledger)}, on_success=Callback(jobfuncs.note_success)
    )
    run_burst(queue)
    assert sorted(lines(ledger)) == sorted(
        [f"success {by_path.id} 2 {type(queue.connection).__name__}",
         f"success {by_object.id} 4 {type(queue.connection).__name__}"]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"on_success": lambda job, connection, result: None}, "not a module-level function"),
        ({"on_failure": jobfuncs.async_callback}, "plain function"),
        ({"on_stopped": 42}, "must be a function, an import path or a Callback"),
    ],
)
def test_a_callback_a_worker_could_not_call_is_refused_at_enqueue(
    queue: Queue, options: dict[str, object], says: str
) -> None:
    with pytest.raises(InvalidJobError, match=says.replace("(", r"\(").replace(")", r"\)")):
        queue.enqueue(jobfuncs.noop, **options)
    assert queue.connection.counts() == {}


def test_rqs_callback_timeout_is_refused_rather_than_ignored() -> None:
    with pytest.raises(InvalidJobError, match="runs within its job's timeout"):
        Callback(jobfuncs.note_success, timeout=5)


def test_on_success_that_raises_fails_the_job_and_calls_on_failure_as_in_rq(queue: Queue, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    job = queue.enqueue(
        jobfuncs.add, 1, 2, meta={"ledger": str(ledger)}, on_success=jobfuncs.broken_callback,
        on_failure=jobfuncs.note_failure,
    )  # fmt: skip
    run_burst(queue)
    assert job.get_status(refresh=True) is JobStatus.FAILED
    assert lines(ledger) == [f"failure {job.id} RuntimeError the callback broke True"]


def holding(tmp_path: Path) -> dict[str, str]:
    """meta for jobfuncs.hold_in_callback: its ledger and the file that releases it."""
    return {"ledger": str(tmp_path / "ledger"), "release": str(tmp_path / "release")}


def in_thread(worker: Worker) -> threading.Thread:
    thread = threading.Thread(target=worker.work, kwargs={"burst": True})
    thread.start()
    return thread


@pytest.mark.parametrize("func", [jobfuncs.add, jobfuncs.async_add])
def test_a_shutdown_that_lands_in_on_success_finishes_the_job_and_never_runs_it_again(
    queue: Queue, tmp_path: Path, func: object
) -> None:
    meta = holding(tmp_path)
    job = queue.enqueue(func, 1, 2, meta=meta, on_success=jobfuncs.hold_in_callback)
    worker = Worker([queue], connection=queue.connection, shutdown_timeout=0.2)
    thread = in_thread(worker)
    try:
        wait_until(lambda: "callback started" in lines(tmp_path / "ledger"), message="on_success to start")
        worker.request_stop()  # after 0.2 s the shutdown interrupt lands in the callback
        thread.join(60)
    finally:
        Path(meta["release"]).touch()
    assert (job.get_status(refresh=True), job.return_value()) == (JobStatus.FINISHED, 3)
    assert Worker([queue], connection=queue.connection).work(burst=True) is False, "nothing was given back"


def test_a_stop_that_lands_in_on_failure_leaves_the_job_failed_by_its_own_error(queue: Queue, tmp_path: Path) -> None:
    meta = holding(tmp_path)
    job = queue.enqueue(jobfuncs.fail, "boom", meta=meta, on_failure=jobfuncs.hold_in_callback)
    thread = in_thread(Worker([queue], connection=queue.connection))
    try:
        wait_until(lambda: "callback started" in lines(tmp_path / "ledger"), message="on_failure to start")
        send_stop_job_command(queue.connection, job.id)
        thread.join(60)
    finally:
        Path(meta["release"]).touch()
    assert job.get_status(refresh=True) is JobStatus.FAILED
    assert "ValueError: boom" in (job.exc_info or ""), "not stopped: the job had already failed"


def test_a_timeout_that_lands_in_on_success_fails_the_job_and_calls_on_failure(queue: Queue, tmp_path: Path) -> None:
    meta = holding(tmp_path)
    job = queue.enqueue(
        jobfuncs.add, 1, 2, timeout=0.3, meta=meta, on_success=jobfuncs.hold_in_callback,
        on_failure=jobfuncs.note_failure,
    )  # fmt: skip
    try:
        run_burst(queue, concurrency=2)
    finally:
        Path(meta["release"]).touch()
    assert job.get_status(refresh=True) is JobStatus.FAILED
    assert lines(tmp_path / "ledger")[-1].startswith(f"failure {job.id} JobTimeoutException")
