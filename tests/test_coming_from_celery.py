"""The README's "Coming from Celery": each conveyor counterpart it gives for Celery code
does what its table and its "What bites" list say. (What other tests cover already:
priority order and queues served in order, tests/worker/test_worker_inprocess.py; hard
kills with pool="processes" and per-child limits, tests/worker/test_process_pool.py; a
dead worker's job failed as abandoned without retries, tests/worker/test_worker_processes.py;
cancel and stop, tests/backend_conformance/; cron, tests/cron/.)"""

from __future__ import annotations

import decimal
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conveyor import Batch, Job, Queue, Result, Retry, Worker, get_current_job
from conveyor.backends.base import Backend
from conveyor.cli import cli
from conveyor.decorators import job
from conveyor.exceptions import InvalidJobError, NoSuchJobError, SerializationError
from conveyor.status import TERMINAL
from conveyor.timeouts import JobTimeoutException

README = Path(__file__).resolve().parent.parent / "README.md"
READY = ("finished", "failed", "stopped", "canceled")  # the README's Celery `.ready()`


# Job functions: module-level, so that the worker imports them by this module's name.
def add(x: int, y: int) -> int:
    return x + y


def fail_noting_retries(ledger: str) -> None:
    """Note the run's job id and retry count (Celery's self.request.id, .retries), then fail
    with an error Celery's autoretry_for=(IOError,) would not retry."""
    current = get_current_job()
    assert current is not None
    with open(ledger, "a") as file:
        file.write(f"{current.id} {current.retry_count}\n")
    raise TypeError("a bug, not an outage")


def fail(ledger: str) -> None:
    raise ValueError("bad input")


def note_failure(job: Job, connection: Backend, exc_type: type, exc_value: BaseException, tb: Any) -> None:
    Path(job.args[0]).write_text(f"{exc_type.__name__}: {exc_value}")


def soft_limited(seconds: float) -> str:
    """Celery's soft_time_limit: clean up when the limit comes, and return. (Short sleeps:
    in a worker's thread pool the timeout lands between bytecodes, not inside a C call.)"""
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            time.sleep(0.01)
    except JobTimeoutException:
        return "cleaned up"
    return "slept"


def times_parents_result(n: int) -> int:
    """The second link of a chain: conveyor passes no result on, so read the parent's."""
    current = get_current_job()
    assert current is not None and current.dependency is not None
    return int(current.dependency.result) * n


def total_of_batch(batch_id: str) -> int:
    """A chord's body: called with the batch's id, it reads the results itself."""
    current = get_current_job()
    assert current is not None
    return sum(member.result for member in Batch.fetch(batch_id, connection=current.connection).get_jobs())


def run_burst(queue: Queue, **options: Any) -> None:
    Worker([queue], connection=queue.connection, **options).work(burst=True)


@pytest.fixture
def queue(backend: Backend) -> Queue:
    return Queue(connection=backend)


def test_a_task_is_a_decorated_function_whose_delay_passes_keywords_to_it(queue: Queue, tmp_path: Path) -> None:
    task = job("default", connection=queue.connection)(add)
    res = task.delay(2, 2)
    named = task.delay(2, 3, job_id="add-2-3")
    with pytest.raises(InvalidJobError, match=r"add\(\) takes no priority: delay\(\) passes its keywords"):
        task.delay(2, 2, priority=9)  # not apply_async: priority would go to add(), which cannot take it
    chosen = queue.enqueue(task, 2, 2, priority=9)  # per-call options: enqueue the function
    assert isinstance(res, Job) and named.id == "add-2-3"
    assert (chosen.priority, chosen.kwargs) == (9, {})
    assert queue.count == 3  # the refused call stored nothing
    run_burst(queue)
    assert (res.result, named.result, chosen.result) == (4, 5, 4)

    noted = tmp_path / "noted"
    failing = job("default", connection=queue.connection, on_failure=note_failure)(fail)  # Task.on_failure
    failing.delay(str(noted))
    run_burst(queue)
    assert noted.read_text() == "ValueError: bad input"


def test_apply_async_options_are_enqueue_options(backend: Backend) -> None:
    before = datetime.now(UTC)
    res = Queue("high", connection=backend).enqueue_in(
        timedelta(seconds=10), add, 2, 2, ttl=60, priority=9, job_id="add-2-2"
    )
    fetched = Job.fetch("add-2-2", connection=backend)  # AsyncResult("add-2-2")
    assert (fetched.origin, fetched.ttl, fetched.priority, fetched.args) == ("high", 60, 9, (2, 2))
    assert fetched.get_status() == "scheduled" and fetched.scheduled_for is not None
    assert timedelta(seconds=9) < fetched.scheduled_for - before < timedelta(seconds=11)
    assert res.id == fetched.id

    naive = Queue(connection=backend).enqueue_at(datetime(2030, 1, 1, 9), add, 1, 1)  # eta=
    assert naive.scheduled_for == datetime(2030, 1, 1, 9, tzinfo=UTC), "a naive eta is UTC"
    with pytest.raises(InvalidJobError, match="ttl must be a number of seconds"):
        Queue(connection=backend).enqueue(add, 1, 1, ttl=datetime(2030, 1, 1, tzinfo=UTC))  # expires=<datetime>
    with pytest.raises(NoSuchJobError):  # Celery's AsyncResult of an unknown id reads PENDING
        Job.fetch("never-made", connection=backend)


def test_wait_and_latest_result_wait_like_get_but_return_what_get_would_raise(queue: Queue, tmp_path: Path) -> None:
    assert set(READY) == {status.value for status in TERMINAL}
    assert "job.get_status() in " + str(READY).replace("'", '"') in celery_section()

    waiting = queue.enqueue(add, 1, 1)
    started = time.monotonic()
    assert waiting.latest_result(timeout=0.3) is None, "no TimeoutError: None once the time is up"
    assert time.monotonic() - started >= 0.3
    assert waiting.get_status() not in READY

    finished = queue.enqueue(add, 2, 2)
    failed = queue.enqueue(fail, "x")
    retried = queue.enqueue(fail, "x", retry=Retry(max=1, interval=3600))
    run_burst(queue)
    success = finished.latest_result(timeout=10)
    assert success is not None and (success.type, success.return_value) == (Result.Type.SUCCESSFUL, 4)
    assert finished.is_finished and finished.get_status() in READY
    failure = failed.latest_result(timeout=10)
    assert failure is not None and failure.type is Result.Type.FAILED
    assert "ValueError: bad input" in str(failure.exc_string)
    assert failed.get_status() in READY and not failed.is_finished
    to_retry = retried.latest_result(timeout=10)  # returns at once: the run ended, to be retried
    assert to_retry is not None and to_retry.type is Result.Type.RETRIED
    assert retried.get_status() == "scheduled" and retried.get_status() not in READY
    assert retried.wait(timeout=0.2) is None, "wait() waits for the job's end, past a run to be retried"
    final = failed.wait(timeout=10)
    assert final is not None and final.type is Result.Type.FAILED


def test_every_exception_retries_with_the_intervals_given(queue: Queue, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    res = queue.enqueue(fail_noting_retries, str(ledger), retry=Retry(max=2, interval=[0, 0]))
    backoff = Retry(max=5, interval=[1, 2, 4, 8, 16], jitter=0.5)
    assert (backoff.max, backoff.intervals, backoff.jitter) == (5, [1, 2, 4, 8, 16], 0.5)
    run_burst(queue)
    assert ledger.read_text().splitlines() == [f"{res.id} 0", f"{res.id} 1", f"{res.id} 2"]
    assert res.get_status() == "failed" and res.retry_count == 2


def test_on_is_autoretry_for(queue: Queue, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    res = queue.enqueue(fail_noting_retries, str(ledger), retry=Retry(max=5, interval=[0], on=IOError))
    run_burst(queue)
    assert ledger.read_text().splitlines() == [f"{res.id} 0"]  # a TypeError: not retried
    assert res.get_status() == "failed" and res.retry_count == 0


@pytest.mark.parametrize("concurrency", [1, 2])
def test_a_timeout_is_a_soft_time_limit_the_job_may_catch(queue: Queue, concurrency: int) -> None:
    res = queue.enqueue(soft_limited, 30, timeout=0.5)
    run_burst(queue, concurrency=concurrency)
    assert res.get_status() == "finished" and res.result == "cleaned up"


def test_a_chain_is_a_dependency_whose_job_reads_the_parents_result(queue: Queue) -> None:
    first = queue.enqueue(add, 2, 3)
    second = queue.enqueue(times_parents_result, 10, depends_on=first)
    run_burst(queue)
    assert second.get_status() == "finished" and second.result == 50


def test_a_chord_is_a_batch_whose_on_complete_reads_the_results(backend: Backend) -> None:
    batch = Batch.create(
        [Queue.prepare_data(add, args=(i, i)) for i in range(4)], on_complete=total_of_batch, connection=backend
    )
    run_burst(Queue(connection=backend))
    assert batch.on_complete_job_id is not None
    assert Job.fetch(batch.on_complete_job_id, connection=backend).result == 0 + 2 + 4 + 6


def test_the_defaults_that_differ_from_celerys(queue: Queue) -> None:
    res = queue.enqueue(add, 1, 1)
    assert (res.timeout, res.result_ttl, res.max_retries) == (180, 500, 0)
    assert Worker([queue], connection=queue.connection).concurrency == 1
    ignored = queue.enqueue(add, 1, 1, result_ttl=0)  # ignore_result=True
    run_burst(queue)
    with pytest.raises(NoSuchJobError):
        Job.fetch(ignored.id, connection=queue.connection)


@pytest.mark.parametrize("value", [datetime(2030, 1, 1, tzinfo=UTC), decimal.Decimal("1.5"), uuid.uuid4()])
def test_json_carries_what_celerys_json_carries(queue: Queue, value: object) -> None:
    assert Job.fetch(queue.enqueue(add, value, 1).id, connection=queue.connection).args == (value, 1)


def test_json_refuses_a_set_at_enqueue(queue: Queue) -> None:
    with pytest.raises(SerializationError):
        queue.enqueue(add, {1, 2}, 1)
    assert Queue("trusted", connection=queue.connection, serializer="pickle").enqueue(add, {1, 2}, 1).args[0] == {1, 2}


def celery_section() -> str:
    text = README.read_text()
    return text[text.index("### Coming from Celery") : text.index("### Connecting")]


def test_every_command_and_option_of_the_celery_table_exists() -> None:
    """Each `conveyor CMD ...` of the table's conveyor column is a command taking the
    options named there; an option named alone belongs to the command named last."""
    runner = CliRunner()
    checked, command = [], ""
    for row in celery_section().splitlines():
        if not row.startswith("| ") or row.startswith("| Celery"):
            continue
        for span in re.findall(r"`([^`]+)`", row.split(" | ")[1]):
            if span.startswith("conveyor "):
                command = span.split()[1]
                assert command in cli.commands, span
            options = re.findall(r"(?<![\w-])--[a-z][a-z-]*", span)
            if options:
                help_text = runner.invoke(cli, [command, "--help"]).output
                for option in options:
                    assert option in help_text, f"conveyor {command} has no {option}"
                    checked.append(option)
    assert {"--concurrency", "--pool", "--import", "--max-jobs-per-child", "--all"} <= set(checked)
