"""RQ's job callbacks (on_success, on_failure, on_stopped), run by real workers on each
backend, in every place a job runs: inline on the worker's main thread, in its thread
pool, in a child process, and (for an async job) on a thread beside its event loop."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import jobfuncs
from conveyor import Callback, JobStatus, Queue, Retry, Worker, send_stop_job_command
from conveyor.backends.base import Backend
from conveyor.exceptions import InvalidJobError
from waiting import wait_until

from .processes import start_worker, stop_process

NOTES = {
    "on_success": jobfuncs.note_success,
    "on_failure": jobfuncs.note_failure,
    "on_stopped": jobfuncs.note_stopped,
}

PLACES: dict[str, tuple[dict[str, Any], Callable[..., Any]]] = {
    "inline": ({}, jobfuncs.add),
    "threads": ({"concurrency": 2}, jobfuncs.add),
    "processes": ({"pool": "processes"}, jobfuncs.add),
    "async": ({}, jobfuncs.async_add),
}
"""Where a job and its callbacks run: the worker's options and the job's function.
(Inline needs the worker on the main thread: the tests run those in this one or in a
worker process.)"""


@pytest.fixture
def queue(backend: Backend) -> Queue:
    return Queue(connection=backend)


def lines(ledger: Path) -> list[str]:
    """The ledger's lines without the pid at their end."""
    return [line.rsplit(" ", 1)[0] for line in ledger.read_text().splitlines()] if ledger.exists() else []


def run_burst(queue: Queue, **options: Any) -> None:
    Worker([queue], connection=queue.connection, **options).work(burst=True)


def holding(tmp_path: Path) -> dict[str, str]:
    """meta for the callbacks: their ledger and the file that releases hold_in_callback."""
    return {"ledger": str(tmp_path / "ledger"), "release": str(tmp_path / "release")}


@pytest.mark.parametrize("place", PLACES)
def test_callbacks_get_what_rq_gives_them_where_the_job_ran(queue: Queue, tmp_path: Path, place: str) -> None:
    options, func = PLACES[place]
    ledger = tmp_path / "ledger"
    job = queue.enqueue(func, 1, 2, meta={"ledger": str(ledger)}, **NOTES)
    run_burst(queue, **options)
    assert (job.get_status(refresh=True), job.return_value()) == (JobStatus.FINISHED, 3)
    assert lines(ledger) == [f"success {job.id} 3 {type(queue.connection).__name__}"]
    ran_in = int(ledger.read_text().split()[-1])
    assert (ran_in == os.getpid()) is (place != "processes"), "with processes: in the job's child process"


@pytest.mark.parametrize("place", ["inline", "threads", "processes"])
def test_on_failure_gets_the_exception_after_each_run_that_failed(queue: Queue, tmp_path: Path, place: str) -> None:
    options, _ = PLACES[place]
    ledger = tmp_path / "ledger"
    meta = {"ledger": str(ledger)}
    job = queue.enqueue(jobfuncs.fail, "boom", meta=meta, retry=Retry(max=1), **NOTES)
    timed_out = queue.enqueue(jobfuncs.busy_loop, 30, timeout=0.3, meta=meta, **NOTES)  # interrupted in a thread too
    run_burst(queue, interrupt_grace=5, **options)
    assert job.get_status(refresh=True) is JobStatus.FAILED and "ValueError: boom" in (job.exc_info or "")
    assert timed_out.get_status(refresh=True) is JobStatus.FAILED
    assert sorted(lines(ledger)) == sorted(
        [f"failure {job.id} ValueError boom True"] * 2  # the run retried too, as in RQ
        + [f"failure {timed_out.id} JobTimeoutException Job exceeded its timeout of 0.3s True"]
    )


def test_a_failing_on_success_fails_the_job_and_a_failing_on_failure_changes_nothing(queue: Queue) -> None:
    broken = queue.enqueue(jobfuncs.add, 1, 2, on_success=jobfuncs.broken_callback)
    failing = queue.enqueue(jobfuncs.fail, "boom", on_failure="jobfuncs.broken_callback")
    run_burst(queue)
    assert broken.get_status(refresh=True) is JobStatus.FAILED
    assert "RuntimeError: the callback broke" in (broken.exc_info or ""), "as in RQ: the job failed"
    assert failing.get_status(refresh=True) is JobStatus.FAILED
    assert "ValueError: boom" in (failing.exc_info or "") and "callback broke" not in (failing.exc_info or "")


def test_on_success_that_raises_calls_on_failure_as_in_rq(queue: Queue, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    job = queue.enqueue(
        jobfuncs.add, 1, 2, meta={"ledger": str(ledger)}, on_success=jobfuncs.broken_callback,
        on_failure=jobfuncs.note_failure,
    )  # fmt: skip
    run_burst(queue)
    assert job.get_status(refresh=True) is JobStatus.FAILED
    assert lines(ledger) == [f"failure {job.id} RuntimeError the callback broke True"]


@pytest.mark.parametrize("place", PLACES)
def test_a_callback_has_its_own_time_limit_not_the_jobs(queue: Queue, tmp_path: Path, place: str) -> None:
    options, func = PLACES[place]
    meta = holding(tmp_path)
    slow = queue.enqueue(func, 1, 2, timeout=0.5, meta=meta, on_success=jobfuncs.slow_callback)
    cut = queue.enqueue(
        func, 2, 2, meta=meta, on_success=Callback(jobfuncs.hold_in_callback, timeout=0.3),
        on_failure=jobfuncs.note_failure,
    )  # fmt: skip
    try:
        run_burst(queue, **options)
    finally:
        Path(meta["release"]).touch()
    assert (slow.get_status(refresh=True), slow.return_value()) == (JobStatus.FINISHED, 3), "past the job's 0.5 s"
    assert cut.get_status(refresh=True) is JobStatus.FAILED, "on_success past its own limit fails the job, as in RQ"
    says = "The on_success callback exceeded its timeout of 0.3s"
    assert says in (cut.exc_info or "")
    assert f"failure {cut.id} JobTimeoutException {says} True" in lines(tmp_path / "ledger")


@pytest.mark.parametrize("place", PLACES)
def test_a_shutdown_that_lands_in_on_success_finishes_the_job_and_never_runs_it_again(
    url: str, queue: Queue, tmp_path: Path, place: str
) -> None:
    options, func = PLACES[place]
    meta = holding(tmp_path)
    job = queue.enqueue(func, 1, 2, meta=meta, on_success=jobfuncs.hold_in_callback)
    worker = start_worker(url, shutdown_timeout=0.2, **options)
    try:
        wait_until(lambda: "callback started" in lines(tmp_path / "ledger"), message="on_success to start")
        worker.send_signal(signal.SIGTERM)  # after 0.2 s the shutdown interrupt lands in the callback
        assert worker.wait(timeout=30) == 0
    finally:
        Path(meta["release"]).touch()
        stop_process(worker)
    assert (job.get_status(refresh=True), job.return_value()) == (JobStatus.FINISHED, 3)
    assert "callback ended" not in lines(tmp_path / "ledger"), "the callback was cut short"


@pytest.mark.parametrize(("place", "exit_status"), [("inline", 3), ("threads", 3), ("processes", 0), ("async", 3)])
def test_a_callback_that_ignores_the_shutdown_is_left_and_the_job_keeps_its_outcome(
    url: str, queue: Queue, tmp_path: Path, place: str, exit_status: int
) -> None:
    options, func = PLACES[place]
    job = queue.enqueue(func, 1, 2, meta=holding(tmp_path), on_success=jobfuncs.stubborn_callback)
    worker = start_worker(url, shutdown_timeout=0.2, interrupt_grace=0.3, **options)
    try:
        wait_until(lambda: "callback started" in lines(tmp_path / "ledger"), message="on_success to start")
        worker.send_signal(signal.SIGTERM)
        # its child is killed; in the worker's own process, the worker exits for a fresh one
        assert worker.wait(timeout=30) == exit_status
    finally:
        stop_process(worker)
    assert (job.get_status(refresh=True), job.return_value()) == (JobStatus.FINISHED, 3), "not given back"


def test_a_job_process_that_dies_in_a_callback_leaves_the_job_its_outcome(queue: Queue, tmp_path: Path) -> None:
    job = queue.enqueue(jobfuncs.add, 1, 2, on_success=jobfuncs.crash_in_callback)
    failing = queue.enqueue(jobfuncs.fail, "boom", on_failure=jobfuncs.crash_in_callback)
    run_burst(queue, pool="processes")
    assert (job.get_status(refresh=True), job.return_value()) == (JobStatus.FINISHED, 3)
    assert failing.get_status(refresh=True) is JobStatus.FAILED and "ValueError: boom" in (failing.exc_info or "")


@pytest.mark.parametrize("place", ["threads", "processes"])
def test_on_stopped_runs_when_a_stop_command_ends_the_job(queue: Queue, tmp_path: Path, place: str) -> None:
    options, _ = PLACES[place]
    ledger = tmp_path / "ledger"
    marker = tmp_path / "started"
    never = str(tmp_path / "never")  # the job runs until stopped, in short sleeps: the stop lands between them
    job = queue.enqueue(jobfuncs.hold_until_released, str(marker), never, meta={"ledger": str(ledger)}, **NOTES)
    worker = Worker([queue], connection=queue.connection, **options)  # not inline: off the main thread
    thread = threading.Thread(target=worker.work, kwargs={"burst": True})
    thread.start()
    try:
        wait_until(marker.exists, message="the job to start")
        send_stop_job_command(queue.connection, job.id)
        wait_until(lambda: job.get_status(refresh=True) is JobStatus.STOPPED, message="the job to stop")
    finally:
        thread.join(60)
    assert lines(ledger) == [f"stopped {job.id}"]


@pytest.mark.parametrize("place", ["threads", "processes"])
def test_a_stop_command_no_longer_reaches_a_job_whose_callback_runs(queue: Queue, tmp_path: Path, place: str) -> None:
    options, _ = PLACES[place]
    meta = holding(tmp_path)
    failed = queue.enqueue(jobfuncs.fail, "boom", meta=meta, on_failure=jobfuncs.hold_in_callback)
    marker = tmp_path / "started"
    witness = queue.enqueue(jobfuncs.hold_until_released, str(marker), str(tmp_path / "never"))
    worker = Worker([queue], connection=queue.connection, **{**options, "concurrency": 2})
    thread = threading.Thread(target=worker.work, kwargs={"burst": True})
    thread.start()
    try:
        wait_until(lambda: "callback started" in lines(tmp_path / "ledger") and marker.exists(), message="both")
        send_stop_job_command(queue.connection, failed.id)
        send_stop_job_command(queue.connection, witness.id)
        # the witness stopped: the worker has read both stop commands
        wait_until(lambda: witness.get_status(refresh=True) is JobStatus.STOPPED, message="the witness to stop")
        Path(meta["release"]).touch()
    finally:
        Path(meta["release"]).touch()
        thread.join(60)
    assert "callback ended" in lines(tmp_path / "ledger"), "the callback ran to its end"
    assert failed.get_status(refresh=True) is JobStatus.FAILED
    assert "ValueError: boom" in (failed.exc_info or ""), "not stopped: the job had already failed"


def test_callbacks_are_given_as_functions_paths_or_callback_objects(queue: Queue, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    by_path = queue.enqueue(jobfuncs.add, 1, 1, meta={"ledger": str(ledger)}, on_success="jobfuncs.note_success")
    by_object = queue.enqueue(
        jobfuncs.add, 2, 2, meta={"ledger": str(ledger)}, on_success=Callback(jobfuncs.note_success, timeout="1m")
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
    with pytest.raises(InvalidJobError, match=says):
        queue.enqueue(jobfuncs.noop, **options)
    assert queue.connection.counts() == {}


@pytest.mark.parametrize("timeout", [0, -5, "soon", float("nan"), float("inf")])
def test_a_callback_timeout_that_is_no_duration_is_refused(timeout: object) -> None:
    with pytest.raises(InvalidJobError, match="Callback timeout"):
        Callback(jobfuncs.note_success, timeout=timeout)  # type: ignore[arg-type]


@pytest.mark.parametrize("place", PLACES)
def test_a_callback_raising_a_base_exception_is_an_error_like_any_other(
    queue: Queue, tmp_path: Path, place: str
) -> None:
    options, func = PLACES[place]
    ledger = tmp_path / "ledger"
    exits = queue.enqueue(
        func, 1, 2, meta={"ledger": str(ledger)}, on_success=jobfuncs.exiting_callback, on_failure=jobfuncs.note_failure
    )
    failing = queue.enqueue(jobfuncs.fail, "boom", retry=Retry(max=1), on_failure=jobfuncs.exiting_callback)
    run_burst(queue, **options)  # and the worker is not ended by it
    assert exits.get_status(refresh=True) is JobStatus.FAILED and "SystemExit: 3" in (exits.exc_info or "")
    assert lines(ledger) == [f"failure {exits.id} SystemExit 3 True"]
    failing.refresh()
    assert (failing.status, failing.retry_count) == (JobStatus.FAILED, 1), "retried once, as without callbacks"
    assert "ValueError: boom" in (failing.exc_info or "")


def test_the_child_ignores_the_clock_of_a_callback_that_has_ended(
    queue: Queue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """on_success fails at once; the worker answers the child's request for on_failure late
    (a busy worker), past on_success's 0.1 s: no timeout of on_success may land in the
    child then (it would skip on_failure and leave a stale answer in the pipe for the
    next job)."""
    from conveyor.worker.running import Running

    answer = Running.enter_callback

    def late(running: Running, event: str, timeout: float, outcome: object) -> bool:
        if event == "on_failure":
            time.sleep(0.3)  # the slow answer this test is about, not a wait for something
        return answer(running, event, timeout, outcome)  # type: ignore[arg-type]

    monkeypatch.setattr(Running, "enter_callback", late)
    ledger = tmp_path / "ledger"
    first = queue.enqueue(
        jobfuncs.add, 1, 2, meta={"ledger": str(ledger)},
        on_success=Callback(jobfuncs.broken_callback, timeout=0.1), on_failure=jobfuncs.note_failure,
    )  # fmt: skip
    then = queue.enqueue(jobfuncs.add, 2, 2)
    run_burst(queue, pool="processes")
    assert first.get_status(refresh=True) is JobStatus.FAILED and "the callback broke" in (first.exc_info or "")
    assert lines(ledger) == [f"failure {first.id} RuntimeError the callback broke True"]
    assert (then.get_status(refresh=True), then.return_value()) == (JobStatus.FINISHED, 4), "the same child, in step"


def test_a_queue_that_runs_jobs_at_once_calls_their_callbacks(backend: Backend, tmp_path: Path) -> None:
    queue = Queue(connection=backend, is_async=False)
    ledger = tmp_path / "ledger"
    job = queue.enqueue(jobfuncs.add, 1, 2, meta={"ledger": str(ledger)}, **NOTES)
    broken = queue.enqueue(jobfuncs.add, 1, 2, on_success=jobfuncs.broken_callback)
    assert (job.get_status(refresh=True), job.return_value()) == (JobStatus.FINISHED, 3)
    assert lines(ledger) == [f"success {job.id} 3 {type(backend).__name__}"]
    assert broken.get_status(refresh=True) is JobStatus.FAILED, "as a worker would record it"


def test_a_job_shows_its_callbacks_as_rq_does(queue: Queue) -> None:
    job = queue.enqueue(jobfuncs.add, 1, 2, on_success="jobfuncs.note_success", on_failure=jobfuncs.note_failure)
    assert (job.success_callback, job.failure_callback, job.stopped_callback) == (
        jobfuncs.note_success, jobfuncs.note_failure, None,
    )  # fmt: skip


@pytest.mark.parametrize("place", PLACES)
def test_a_job_that_calls_sys_exit_fails_alone_and_the_worker_goes_on(queue: Queue, place: str) -> None:
    options, func = PLACES[place]
    exits = queue.enqueue(jobfuncs.exit_job, 5, retry=Retry(max=1))
    after = queue.enqueue(func, 1, 2)
    run_burst(queue, **options)
    exits.refresh()
    assert (exits.status, exits.retry_count) == (JobStatus.FAILED, 1) and "SystemExit: 5" in (exits.exc_info or "")
    assert (after.get_status(refresh=True), after.return_value()) == (JobStatus.FINISHED, 3)


def test_a_callback_raising_the_timeout_exception_itself_fails_the_job_everywhere(queue: Queue) -> None:
    jobs = [
        queue.enqueue(func, 1, 2, on_success=jobfuncs.raise_timeout_callback)
        for func in (jobfuncs.add, jobfuncs.async_add)
    ]
    run_burst(queue)  # inline, and beside the loop
    run_burst(queue, concurrency=2)
    for job in jobs:
        assert job.get_status(refresh=True) is JobStatus.FAILED
        assert "JobTimeoutException: raised by the callback" in (job.exc_info or "")


@pytest.mark.parametrize("place", PLACES)
def test_exception_handlers_run_after_on_failure_in_order_until_one_returns_false(
    queue: Queue, tmp_path: Path, place: str
) -> None:
    options, func = PLACES[place]
    ledger = tmp_path / "ledger"
    meta = {"ledger": str(ledger)}
    fail = jobfuncs.async_fail if place == "async" else jobfuncs.fail
    failing = queue.enqueue(fail, "boom", meta=meta, retry=Retry(max=1), on_failure=jobfuncs.note_failure)
    succeeding = queue.enqueue(func, 1, 2, meta=meta)
    handlers = [jobfuncs.broken_handler, jobfuncs.handler_a, "jobfuncs.handler_stopping_the_chain", jobfuncs.handler_b]
    run_burst(queue, exception_handlers=handlers, **options)
    assert failing.get_status(refresh=True) is JobStatus.FAILED and "ValueError: boom" in (failing.exc_info or "")
    assert succeeding.get_status(refresh=True) is JobStatus.FINISHED
    run = [f"failure {failing.id} ValueError boom True", f"handler-a {failing.id} ValueError boom True",
           f"handler-stop {failing.id}"]  # fmt: skip
    assert lines(ledger) == run * 2, "after each failed run (the retried one too); not after a success"


@pytest.mark.parametrize("place", ["inline", "threads", "processes"])
def test_a_job_whose_function_cannot_be_found_fails_with_its_callbacks_and_handlers(
    queue: Queue, tmp_path: Path, place: str
) -> None:
    options, _ = PLACES[place]
    ledger = tmp_path / "ledger"
    missing = queue.enqueue("jobfuncs.no_such_function", meta={"ledger": str(ledger)}, on_failure=jobfuncs.note_failure)
    run_burst(queue, exception_handlers=[jobfuncs.handler_b], **options)
    assert missing.get_status(refresh=True) is JobStatus.FAILED
    assert "InvalidJobError: cannot find job function 'jobfuncs.no_such_function'" in (missing.exc_info or "")
    (failure, handler) = lines(ledger)
    assert failure.startswith(f"failure {missing.id} InvalidJobError cannot find job function") and "True" in failure
    assert handler == f"handler-b {missing.id}", "as in RQ, where finding the function is part of the run"


def test_exception_handlers_must_be_importable(queue: Queue) -> None:
    from conveyor.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="exception_handlers"):
        Worker([queue], connection=queue.connection, exception_handlers=[lambda *args: None])


@pytest.mark.parametrize("place", ["inline", "threads", "processes"])
def test_a_handler_raising_keyboard_interrupt_in_a_worker_is_an_error_like_any_other(
    queue: Queue, tmp_path: Path, place: str
) -> None:
    options, _ = PLACES[place]
    ledger = tmp_path / "ledger"
    failing = queue.enqueue(jobfuncs.fail, "boom", meta={"ledger": str(ledger)})
    after = queue.enqueue(jobfuncs.add, 1, 2)
    run_burst(queue, exception_handlers=[jobfuncs.ctrl_c_handler, jobfuncs.handler_returning_zero,
                                         jobfuncs.handler_b], **options)  # fmt: skip
    assert failing.get_status(refresh=True) is JobStatus.FAILED and "ValueError: boom" in (failing.exc_info or "")
    assert lines(ledger) == [f"handler-zero {failing.id}"], "the next handler ran; 0 ended the chain, as in RQ"
    assert after.get_status(refresh=True) is JobStatus.FINISHED


@pytest.mark.parametrize("handlers", [None, jobfuncs.handler_a, "jobfuncs.handler_a"])
def test_exception_handlers_may_be_none_or_one_alone_as_in_rq(queue: Queue, handlers: object) -> None:
    worker = Worker([queue], connection=queue.connection, exception_handlers=handlers)  # type: ignore[arg-type]
    assert worker.exception_handlers == (() if handlers is None else ("jobfuncs.handler_a",))


def test_an_async_exception_handler_is_refused_when_the_worker_is_made(queue: Queue) -> None:
    from conveyor.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="plain function"):
        Worker([queue], connection=queue.connection, exception_handlers=[jobfuncs.async_handler])
