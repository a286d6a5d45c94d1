"""The Python API: enqueueing, options, bad input, and the job and queue methods."""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import conveyor
import jobfuncs
from conveyor import Job, JobStatus, Queue, Retry, Worker
from conveyor.backends.base import Backend
from conveyor.batch import Batch
from conveyor.exceptions import (
    ConfigurationError,
    InvalidJobError,
    InvalidJobOperation,
    JobIdInUseError,
    NoSuchBatchError,
    NoSuchJobError,
    SerializationError,
)
from conveyor.rates import Rate, parse_rate
from conveyor.types import Limits


@pytest.fixture
def queue(backend: Backend) -> Queue:
    return Queue(connection=backend)


def test_enqueue_stores_every_option(queue: Queue) -> None:
    parent = queue.enqueue(jobfuncs.noop)
    job = queue.enqueue(
        jobfuncs.add, 1, y=2, job_id="my_job_id", timeout="1h", result_ttl=600, ttl=43, failure_ttl=300,
        depends_on=parent, description="adds", meta={"k": 1}, priority=5,
        retry=Retry(max=3, interval=[0, 10, 60]), user_id="alice",
    )  # fmt: skip
    fetched = Job.fetch("my_job_id", connection=queue.connection)
    assert fetched.func_name == "jobfuncs.add"
    assert fetched.args == (1,) and fetched.kwargs == {"y": 2}
    assert fetched.timeout == 3600 and fetched.result_ttl == 600 and fetched.ttl == 43
    assert fetched.failure_ttl == 300 and fetched.priority == 5 and fetched.user_id == "alice"
    assert fetched.description == "adds" and fetched.meta == {"k": 1}
    assert fetched.max_retries == 3 and fetched.retry_intervals == [0, 10, 60]
    assert fetched.dependency_ids == [parent.id]
    assert fetched.status is JobStatus.DEFERRED
    assert fetched.origin == "default" and job.id == "my_job_id"
    assert fetched.created_at.tzinfo is UTC and fetched.enqueued_at is not None


def test_default_options(queue: Queue) -> None:
    job = queue.enqueue(jobfuncs.noop)
    assert job.timeout == 180 and job.result_ttl == 500 and job.ttl is None
    assert job.failure_ttl == 365 * 24 * 3600 and job.priority == 0 and job.max_retries == 0
    assert job.description == "jobfuncs.noop()"


def test_none_ttls_mean_the_defaults_and_minus_one_forever_as_in_rq(queue: Queue) -> None:
    job = queue.enqueue(jobfuncs.noop, result_ttl=None, failure_ttl=None, ttl=None)
    assert (job.result_ttl, job.failure_ttl, job.ttl) == (500, 365 * 24 * 3600, None)
    forever = queue.enqueue(jobfuncs.noop, result_ttl=-1, failure_ttl=-1, ttl=-1)
    assert (forever.result_ttl, forever.failure_ttl, forever.ttl) == (-1, -1, None), "read back as given (RQ)"


def test_job_options_never_collide_with_function_kwargs(queue: Queue) -> None:
    job = Job.create(jobfuncs.add, args=(1,), kwargs={"ttl": 15, "description": "d"}, ttl=30,
                     connection=queue.connection)  # fmt: skip
    assert job.ttl == 30
    assert job.kwargs == {"ttl": 15, "description": "d"}
    enqueued = queue.enqueue(jobfuncs.add, args=(1,), kwargs={"timeout": 5}, timeout=9)
    assert enqueued.timeout == 9 and enqueued.kwargs == {"timeout": 5}


@pytest.mark.parametrize("func", [lambda: None, jobfuncs.__dict__.get("missing", print).__call__])
def test_enqueue_rejects_what_a_worker_cannot_import(queue: Queue, func: object) -> None:
    with pytest.raises(InvalidJobError):
        queue.enqueue(func)  # type: ignore[arg-type]


def test_enqueue_rejects_nested_functions_and_non_callables(queue: Queue) -> None:
    def nested() -> None:
        pass

    with pytest.raises(InvalidJobError, match="module-level"):
        queue.enqueue(nested)
    with pytest.raises(InvalidJobError, match="callable"):
        queue.enqueue(42)  # type: ignore[arg-type]


def test_a_function_defined_again_is_enqueued_as_it_now_is(
    queue: Queue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After importlib.reload (or a notebook cell run again) the module holds a new function."""
    import importlib

    (tmp_path / "reloaded_tasks.py").write_text("def work():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("reloaded_tasks")
    queue.enqueue(module.work)
    (tmp_path / "reloaded_tasks.py").write_text("def work():\n    return 2  # changed\n")
    importlib.reload(module)
    assert queue.enqueue(module.work).func_name == "reloaded_tasks.work"


def test_what_json_cannot_encode_says_what_to_do_instead(queue: Queue) -> None:
    advice = (
        "(JSON takes str, int, float, bool, None, lists, dicts with str keys, and datetime, date, time, UUID "
        "and Decimal values: convert the value, a set to a list, say; or opt in to serializer='pickle' for "
        "trusted payloads)"
    )
    with pytest.raises(SerializationError, match=re.escape(f"Object of type set is not JSON serializable {advice}")):
        queue.enqueue(jobfuncs.add, 1, {1, 2})
    with pytest.raises(SerializationError, match=re.escape(advice)):
        queue.enqueue(jobfuncs.add, 1, 2, meta={"at": object()})
    job = queue.enqueue(jobfuncs.unserializable_result)
    Worker([queue]).work(burst=True)
    job.refresh()
    assert (job.exc_info or "").endswith(f"Object of type set is not JSON serializable {advice}")
    pickled = Queue("pickled", connection=queue.connection, serializer="pickle")
    with pytest.raises(SerializationError) as refused:
        pickled.enqueue(jobfuncs.add, 1, threading.Lock())
    assert "JSON takes" not in str(refused.value)


def test_unencodable_argument_is_named(queue: Queue) -> None:
    with pytest.raises(SerializationError, match="keyword argument 'y'"):
        queue.enqueue(jobfuncs.add, 1, y={1, 2})
    with pytest.raises(SerializationError, match="positional argument 1"):
        queue.enqueue(jobfuncs.add, 1, object())
    assert queue.count == 0


def test_pickle_serializer_is_an_explicit_opt_in(backend: Backend) -> None:
    queue = Queue(connection=backend, serializer="pickle")
    job = queue.enqueue(jobfuncs.add, {1}, {2})  # sets: not JSON, fine for pickle
    assert Job.fetch(job.id, connection=backend).args == ({1}, {2})
    with pytest.raises(SerializationError, match="Unknown serializer"):
        Queue(connection=backend, serializer="yaml")


def test_job_id_in_use_by_a_live_job_is_rejected(queue: Queue) -> None:
    queue.enqueue(jobfuncs.noop, job_id="dup")
    with pytest.raises(JobIdInUseError, match="dup"):
        queue.enqueue(jobfuncs.noop, job_id="dup")
    assert queue.count == 1


def test_every_way_to_enqueue_refuses_a_given_id_held_by_a_live_job(queue: Queue) -> None:
    """A generated id is not looked up (no job can hold it): one the caller gives still is."""
    held = queue.enqueue(jobfuncs.noop, job_id="held")
    generated_then_given = [Queue.prepare_data(jobfuncs.noop), Queue.prepare_data(jobfuncs.noop, job_id="held")]
    attempts = [
        lambda: queue.enqueue(jobfuncs.noop, job_id="held"),
        lambda: queue.enqueue_call(jobfuncs.noop, job_id="held"),
        lambda: queue.enqueue_in(timedelta(minutes=5), jobfuncs.noop, job_id="held"),
        lambda: queue.enqueue_at(datetime.now() + timedelta(minutes=5), jobfuncs.noop, job_id="held"),
        lambda: queue.enqueue_many(generated_then_given),
        lambda: queue.enqueue_job(Job.create(jobfuncs.noop, id="held")),
        lambda: queue.enqueue_job(held),
    ]
    for attempt in attempts:
        with pytest.raises(JobIdInUseError, match="held"):
            attempt()
    assert queue.job_ids == ["held"]


def test_enqueue_job_refuses_a_created_job_stored_already(queue: Queue) -> None:
    job = Job.create(jobfuncs.noop, connection=queue.connection)
    queue.enqueue_job(job)
    with pytest.raises(JobIdInUseError, match=job.id):
        queue.enqueue_job(job)
    assert queue.job_ids == [job.id]


def test_job_id_of_a_terminal_job_can_be_reused(queue: Queue) -> None:
    first = queue.enqueue(jobfuncs.add, 1, 1, job_id="again")
    Worker([queue], connection=queue.connection).work(burst=True)
    assert first.get_status() is JobStatus.FINISHED
    second = queue.enqueue(jobfuncs.add, 2, 2, job_id="again")
    assert second.get_status() is JobStatus.QUEUED and second.args == (2, 2)


@pytest.mark.parametrize("timeout", ["1x", "abc", "", "-5", -3, True, [1], 0, "0s"])
def test_malformed_timeouts_are_rejected(queue: Queue, timeout: object) -> None:
    with pytest.raises(InvalidJobError, match="timeout"):
        queue.enqueue(jobfuncs.noop, timeout=timeout)


@pytest.mark.parametrize(("given", "seconds"), [(2, 2), ("2", 2), ("3m", 180), ("1h", 3600), ("5s", 5), (-1, -1)])
def test_timeout_forms(queue: Queue, given: object, seconds: float) -> None:
    assert queue.enqueue(jobfuncs.noop, timeout=given).timeout == seconds


def test_unknown_ids_raise_no_such_job(queue: Queue) -> None:
    with pytest.raises(NoSuchJobError, match="Job nope not found"):
        Job.fetch("nope", connection=queue.connection)
    with pytest.raises(NoSuchJobError):
        conveyor.cancel_job("nope", connection=queue.connection)
    with pytest.raises(NoSuchJobError):
        queue.enqueue(jobfuncs.noop, depends_on="nope")
    assert Job.fetch_many(["nope"], connection=queue.connection) == [None]
    assert isinstance(NoSuchJobError("x"), KeyError)


def test_enqueue_many_is_one_atomic_step(queue: Queue) -> None:
    queue.enqueue(jobfuncs.noop, job_id="taken")
    batch = [Queue.prepare_data(jobfuncs.add, args=(i, i)) for i in range(10)]
    batch.append(Queue.prepare_data(jobfuncs.noop, job_id="taken"))
    with pytest.raises(JobIdInUseError):
        queue.enqueue_many(batch)
    assert queue.count == 1
    jobs = queue.enqueue_many(batch[:10])
    assert [j.args for j in jobs] == [(i, i) for i in range(10)]
    assert queue.count == 11


def test_positions_follow_priority_then_fifo(queue: Queue) -> None:
    a = queue.enqueue(jobfuncs.noop)
    b = queue.enqueue(jobfuncs.noop)
    c = queue.enqueue(jobfuncs.noop, priority=1)
    assert [c.get_position(), a.get_position(), b.get_position()] == [0, 1, 2]
    assert queue.get_job_position(b.id) == 2
    c.cancel()
    assert c.get_position() is None and b.get_position() == 1


def test_cancel_requeue_delete(queue: Queue) -> None:
    job = queue.enqueue(jobfuncs.add, 1, 2)
    job.cancel()
    assert job.get_status() is JobStatus.CANCELED and job in queue.canceled_job_registry
    with pytest.raises(InvalidJobOperation):
        job.cancel()
    job.requeue()
    assert job.get_status() is JobStatus.QUEUED and job not in queue.canceled_job_registry
    with pytest.raises(InvalidJobOperation):
        job.requeue()
    job.delete()
    assert not Job.exists(job.id, connection=queue.connection)


def test_stop_command_of_a_job_that_is_not_running(queue: Queue) -> None:
    job = queue.enqueue(jobfuncs.noop)
    with pytest.raises(InvalidJobOperation, match="not running"):
        conveyor.send_stop_job_command(queue.connection, job.id)


def test_is_async_false_runs_jobs_inline(backend: Backend) -> None:
    queue = Queue(connection=backend, is_async=False)
    job = queue.enqueue(jobfuncs.add, 2, 2)
    assert job.status is JobStatus.FINISHED and job.result == 4
    failing = queue.enqueue(jobfuncs.fail)
    assert failing.status is JobStatus.FAILED and "boom" in (failing.exc_info or "")
    assert queue.enqueue(jobfuncs.async_add, 1, 1).result == 2
    assert queue.enqueue(jobfuncs.use_current_job, 3).result["value"] == 3


def test_enqueue_at_and_in(queue: Queue) -> None:
    at = queue.enqueue_at(datetime(2099, 1, 1, tzinfo=UTC), jobfuncs.noop)
    later = queue.enqueue_in(timedelta(minutes=5), jobfuncs.noop)
    past = queue.enqueue_at(datetime(2000, 1, 1, tzinfo=UTC), jobfuncs.noop)
    assert at.status is JobStatus.SCHEDULED and at.scheduled_for == datetime(2099, 1, 1, tzinfo=UTC)
    assert later.status is JobStatus.SCHEDULED
    assert past.status is JobStatus.QUEUED
    assert set(queue.scheduled_job_registry.get_job_ids()) == {at.id, later.id}


def test_job_types_are_enqueued_and_run_by_name(queue: Queue) -> None:
    assert conveyor.functions.registered_job_types()["tests.extraction"] is jobfuncs.extraction
    job = queue.enqueue("tests.extraction", "doc")
    assert job.func_name == "tests.extraction"
    Worker([queue], connection=queue.connection).work(burst=True)
    assert job.get_status() is JobStatus.FINISHED and job.result == {"extracted": "doc"}


def test_a_job_type_has_one_name_however_it_is_enqueued(queue: Queue) -> None:
    by_function = queue.enqueue(jobfuncs.extraction, "a")
    by_name = queue.enqueue("tests.extraction", "b")
    by_path = queue.enqueue("jobfuncs.extraction", "c")
    assert by_function.func_name == by_name.func_name == by_path.func_name == "tests.extraction"
    now = time.time()
    limits = Limits(per_job_type={"tests.extraction": 1})  # so one limit holds them all
    claimed = queue.connection.jobs_claim([queue.name], "w", 3, "token", now + 60, now, limits)
    assert [job.id for job in claimed] == [by_function.id]


def test_job_types_must_be_importable_and_unique() -> None:
    def nested() -> None:
        pass

    with pytest.raises(InvalidJobError, match="module-level"):
        conveyor.job_type("test.nested")(nested)
    with pytest.raises(InvalidJobError, match="already registered"):
        conveyor.job_type("tests.extraction")(jobfuncs.add)


def test_unsupported_rq_options_are_refused_not_passed_on(queue: Queue) -> None:
    with pytest.raises(InvalidJobError, match="repeat is not supported"):
        queue.enqueue(jobfuncs.noop, repeat=3)


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        conveyor.connect(f"sqlite:///{tmp_path / 'nope' / 'x.db'}")


def test_read_only_directory_is_a_clear_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:  # root writes through permission bits; /proc refuses even root
        with pytest.raises(ConfigurationError, match="cannot open"):
            conveyor.connect("sqlite:////proc/conveyor-test.db")
        return
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(ConfigurationError, match="not writable"):
            conveyor.connect(f"sqlite:///{tmp_path / 'x.db'}")
    finally:
        tmp_path.chmod(0o700)


@pytest.mark.parametrize("url", ["mysql://x", "sqlite://relative.db", "sqlite:///x.db?journal=1", "", 5])
def test_bad_urls_are_clear_errors(url: Any) -> None:
    with pytest.raises(ConfigurationError):
        conveyor.connect(url)


@pytest.mark.parametrize(
    ("connection", "says"),
    [("sqlite:///x.db", "conveyor.connect('sqlite:///x.db')"), (object(), "conveyor.connect(url)")],
)
def test_a_connection_that_is_no_backend_is_a_clear_error(connection: object, says: str) -> None:
    for make in (
        lambda: Queue(connection=connection),  # type: ignore[arg-type]
        lambda: Worker(["default"], connection=connection),  # type: ignore[arg-type]
        lambda: Job.fetch("x", connection=connection),  # type: ignore[arg-type]
    ):
        with pytest.raises(ConfigurationError, match=re.escape(says)):
            make()


def test_wrong_kinds_of_argument_are_clear_errors_and_store_nothing(queue: Queue) -> None:
    calls: list[tuple[Any, str]] = [
        (lambda: queue.enqueue_at("2030-01-01", jobfuncs.noop), "enqueue_at takes a datetime, got str"),
        (lambda: queue.enqueue(jobfuncs.noop, depends_on=5), "depends_on must name jobs"),
        (lambda: queue.enqueue_many(["x"]), r"enqueue_many takes Queue.prepare_data\(...\) items, got str"),
        (lambda: queue.enqueue(jobfuncs.noop, ttl=0), "ttl must be more than 0"),
        (lambda: queue.enqueue(jobfuncs.noop, timeout=-5), "timeout must be more than 0 seconds or -1"),
        (lambda: Queue(connection=queue.connection, default_timeout=0), "default_timeout must be more than 0"),
        (lambda: Retry(max=2, interval=None), "Retry interval must be seconds or a list of seconds, got None"),  # type: ignore[arg-type]
        (lambda: Retry(max=2, interval="5"), "Retry interval must be seconds or a list"),  # type: ignore[arg-type]
        (lambda: Retry(max=2, jitter="x"), "Retry jitter must be a number between 0 and 1"),  # type: ignore[arg-type]
        (lambda: Retry(max=True), "Retry max must be an integer from 1 to 2147483647, got True"),
        (lambda: Job.fetch(["a"], connection=queue.connection), "a job id is a string, got list"),  # type: ignore[arg-type]
        (lambda: Job.fetch_many("ab", connection=queue.connection), "takes a list of job ids"),
        (lambda: Queue("\x01", connection=queue.connection), "control characters"),
        (lambda: Queue("q" * 201, connection=queue.connection), "at most 200 characters, got 201"),
    ]
    for call, says in calls:
        with pytest.raises(InvalidJobError, match=says):
            call()
    assert queue.connection.counts() == {}


NOT_UTF8 = b"job-\xff".decode("utf-8", "surrogateescape")
"""What Python makes of a command line's byte that is not UTF-8: a lone surrogate."""


def test_text_no_store_can_hold_is_a_clear_error_and_names_no_job(queue: Queue) -> None:
    """A lone surrogate in an id or a name was a UnicodeEncodeError from deep in a
    backend (on Redis even for a read); now writes refuse it by name and reads find nothing."""
    writes: list[tuple[Any, str]] = [
        (lambda: queue.enqueue(jobfuncs.noop, job_id=NOT_UTF8), "invalid job id .*not text"),
        (lambda: Queue(NOT_UTF8, connection=queue.connection), "queue name .* must be text"),
        (lambda: queue.enqueue(jobfuncs.noop, user_id=NOT_UTF8), "user_id .* must be text"),
        (lambda: queue.enqueue(jobfuncs.noop, description=NOT_UTF8), "description must be a string of text"),
        (lambda: queue.enqueue(jobfuncs.noop, unique_key=NOT_UTF8), "unique_key must be"),
        (lambda: queue.enqueue(f"jobfuncs.{NOT_UTF8}"), "is not a valid name"),
    ]
    for call, says in writes:
        with pytest.raises(InvalidJobError, match=says):
            call()
    with pytest.raises(NoSuchJobError):
        queue.enqueue(jobfuncs.noop, depends_on=NOT_UTF8)
    assert queue.connection.counts() == {}, "nothing stored"
    stored = queue.enqueue(jobfuncs.noop)
    with pytest.raises(NoSuchJobError):
        Job.fetch(NOT_UTF8, connection=queue.connection)
    assert Job.fetch_many([NOT_UTF8, stored.id], connection=queue.connection) == [None, stored]
    assert not Job.exists(NOT_UTF8, connection=queue.connection)
    assert queue.fetch_job(NOT_UTF8) is None
    with pytest.raises(NoSuchBatchError):
        Batch.fetch(NOT_UTF8, connection=queue.connection)


def test_retry_counts_and_listing_positions_out_of_range_are_clear_errors(queue: Queue) -> None:
    """A Retry(max=10**30) was stored by Redis and an OverflowError on SQLite; a negative
    or NaN offset listed differently on each backend, or failed in it."""
    queue.enqueue(jobfuncs.noop)
    calls: list[tuple[Any, str]] = [
        (lambda: Retry(max=2**31), "Retry max must be an integer from 1 to 2147483647"),
        (lambda: queue.get_job_ids(offset=-1), "offset must be an integer >= 0, got -1"),
        (lambda: queue.get_jobs(offset=float("nan")), "offset must be an integer >= 0, got nan"),
        (lambda: queue.get_job_ids(length=1.5), r"length must be an integer \(-1: all\), got 1.5"),  # type: ignore[arg-type]
        (lambda: queue.failed_job_registry.get_job_ids(start=-2), "start must be an integer >= 0"),
    ]
    for call, says in calls:
        with pytest.raises(InvalidJobError, match=says):
            call()
    assert len(queue.get_job_ids(length=10**30)) == 1, "a length past any store's size is all of it"
    assert queue.get_job_ids(offset=10**30) == []
    assert queue.get_job_ids(length=-5) == queue.get_job_ids(), "negative lengths are all, as RQ's"


def test_a_job_reusing_an_ended_jobs_id_cannot_depend_on_itself(queue: Queue) -> None:
    ended = queue.enqueue(jobfuncs.noop, job_id="again")
    Worker([queue]).work(burst=True)
    with pytest.raises(InvalidJobError, match="job again cannot depend on itself"):
        queue.enqueue(jobfuncs.noop, job_id="again", depends_on=ended)
    assert ended.get_status(refresh=True) is JobStatus.FINISHED, "the ended job is left as it was"


def test_arguments_without_a_repr_are_still_named_when_they_cannot_be_encoded(queue: Queue) -> None:
    nested: list[Any] = []
    for _ in range(100_000):
        nested = [nested]
    with pytest.raises(SerializationError, match="positional argument 0 .*int without a repr"):
        queue.enqueue(jobfuncs.echo, 10**5000)
    with pytest.raises(SerializationError, match="keyword argument 'x' .*list without a repr.*recursion"):
        queue.enqueue(jobfuncs.echo, x=nested)


def test_a_locked_database_is_waited_for_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    queue = Queue(connection=conveyor.connect(f"sqlite:///{path}"))
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(0.5, lambda: blocker.execute("COMMIT"))
    release.start()
    job = queue.enqueue(jobfuncs.noop)  # waits for the lock, then succeeds
    release.join()
    assert job.get_status() is JobStatus.QUEUED


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are not the tables you are looking for\n" * 100)
    with pytest.raises(ConfigurationError, match="not a usable SQLite database"):
        conveyor.connect(f"sqlite:///{path}")


@pytest.mark.parametrize("priority", [2**31, -(2**31), 1.5, "1", True])
def test_priorities_outside_32_bits_or_not_integers_are_rejected(queue: Queue, priority: object) -> None:
    with pytest.raises(InvalidJobError, match="priority"):
        queue.enqueue(jobfuncs.noop, priority=priority)


@pytest.mark.parametrize("user_id", ["", " alice", 42, "x" * 201, "a\nb"])
def test_user_ids_must_be_names(queue: Queue, user_id: object) -> None:
    with pytest.raises(InvalidJobError, match="user_id"):
        queue.enqueue(jobfuncs.noop, user_id=user_id)


def test_a_unique_key_makes_enqueue_idempotent_while_the_job_is_live(queue: Queue) -> None:
    first = queue.enqueue(jobfuncs.add, 1, 2, unique_key="invoice-7")
    again = queue.enqueue(jobfuncs.add, 5, 5, unique_key="invoice-7")
    assert again.id == first.id
    assert again.args == (1, 2)  # the live job, as it was submitted first
    assert queue.count == 1
    (bulk,) = queue.enqueue_many([Queue.prepare_data(jobfuncs.add, args=(0, 0), unique_key="invoice-7")])
    assert bulk.id == first.id
    first.cancel()
    assert queue.enqueue(jobfuncs.add, 1, 2, unique_key="invoice-7").id != first.id


@pytest.mark.parametrize("key", ["", 7, "k" * 501])
def test_unique_keys_must_be_strings(queue: Queue, key: object) -> None:
    with pytest.raises(InvalidJobError, match="unique_key"):
        queue.enqueue(jobfuncs.noop, unique_key=key)


def test_repeated_enqueues_of_one_call_shape_are_separate_jobs(queue: Queue) -> None:
    first = queue.enqueue(jobfuncs.add, 1, y=2, priority=3, description="adds")
    second = queue.enqueue(jobfuncs.add, 5, y=6, priority=3, description="adds")
    stored = [Job.fetch(job.id, connection=queue.connection) for job in (first, second)]
    assert len({first.id, second.id}) == 2
    assert [(job.args, job.kwargs, job.priority, job.description) for job in stored] == [
        ((1,), {"y": 2}, 3, "adds"), ((5,), {"y": 6}, 3, "adds"),
    ]  # fmt: skip
    assert stored[1].created_at >= stored[0].created_at


def test_a_store_given_as_the_queues_name_is_refused_saying_where_it_goes(queue: Queue) -> None:
    # "queue name must be a non-empty string, got <...SQLiteBackend object at 0x...>"
    with pytest.raises(InvalidJobError, match=r"first argument is the queue's name: .*Queue\(connection=conn\)"):
        Queue(queue.connection)  # type: ignore[arg-type]


def test_a_changed_queue_setting_applies_to_the_next_enqueue(queue: Queue) -> None:
    before = queue.enqueue(jobfuncs.noop)
    queue.default_timeout = 7
    after = queue.enqueue(jobfuncs.noop)
    assert (before.timeout, after.timeout) == (180, 7)
    assert Job.fetch(after.id, connection=queue.connection).timeout == 7


@pytest.mark.parametrize("datas", [5, "ab", {"func": "jobfuncs.noop"}])
def test_enqueue_many_of_what_is_not_a_list_is_refused_saying_so(queue: Queue, datas: object) -> None:
    # a TypeError ('int' object is not iterable) before, or the letters of a string
    with pytest.raises(InvalidJobError, match=r"enqueue_many takes a list of jobs \(Queue.prepare_data"):
        queue.enqueue_many(datas)  # type: ignore[arg-type]
    assert queue.count == 0


def test_bad_arguments_are_refused_every_time_not_only_the_first(queue: Queue) -> None:
    queue.enqueue(jobfuncs.add, 1, 2)
    with pytest.raises(SerializationError):
        queue.enqueue(jobfuncs.add, object(), 2)
    with pytest.raises(SerializationError):
        queue.enqueue_many([Queue.prepare_data(jobfuncs.add, (1, 2)), Queue.prepare_data(jobfuncs.add, (object(), 2))])
    assert queue.count == 1


@pytest.mark.parametrize("setting", ["lease_ttl", "poll_interval", "shutdown_timeout", "interrupt_grace"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), 0.0])
def test_a_worker_refuses_timings_that_are_not_positive_finite_seconds(
    queue: Queue, setting: str, value: float
) -> None:
    with pytest.raises(ConfigurationError, match=f"{setting} must be a positive number of seconds"):
        Worker([queue], **{setting: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("lease_ttl", [0.5, 0.999])
def test_a_worker_refuses_a_lease_shorter_than_a_second(queue: Queue, lease_ttl: float) -> None:
    """Renewals a third of it apart leave too little room for a busy machine: with 0.2 s
    leases every renewal passed for a stalled store, and a dead worker's jobs were never
    recovered."""
    with pytest.raises(ConfigurationError, match=f"lease_ttl must be at least 1 s, got {lease_ttl}"):
        Worker([queue], lease_ttl=lease_ttl)
    assert Worker([queue], lease_ttl=1).lease_ttl == 1


@pytest.mark.parametrize(
    ("given", "rate"),
    [
        ("10/s", Rate(10, 1.0)), ("100/m", Rate(100, 60.0)), ("5/h", Rate(5, 3600.0)), ("1000/d", Rate(1000, 86400.0)),
        ("5/30s", Rate(5, 30.0)), ("100/10m", Rate(100, 600.0)), ("2/1.5h", Rate(2, 5400.0)),
        (" 3 / M ", Rate(3, 60.0)),
        ("4/2.5", Rate(4, 2.5)), ((7, 0.5), Rate(7, 0.5)), (Rate(1, 9.0), Rate(1, 9.0)),
    ],
)  # fmt: skip
def test_rates_are_written_n_per_period(given: object, rate: Rate) -> None:
    limits = Limits(per_queue_rate={"emails": given}, per_job_type_rate={"jobs.f": given})
    assert limits.per_queue_rate == {"emails": rate} and limits.per_job_type_rate == {"jobs.f": rate}
    assert limits and limits.rates and not limits.caps
    per_user = Limits(per_user_rate=given)  # type: ignore[arg-type]  # (a few forms are refused: see below)
    assert per_user.user_rate == rate and per_user and per_user.rates and not per_user.caps
    assert parse_rate(str(rate)) == rate, "as a worker's flags give it back"


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"global_max": 0}, "global_max must be a whole number of jobs, 1 or more, got 0"),
        ({"per_user_max": -1}, "per_user_max must be a whole number of jobs, 1 or more, got -1"),
        ({"per_user_max": 1.5}, "per_user_max must be a whole number of jobs, 1 or more, got 1.5"),
        ({"per_queue": {"default": 0}}, r"per_queue\['default'\] must be a whole number of jobs"),
        ({"per_job_type": {"f": "2"}}, r"per_job_type\['f'\] must be a whole number of jobs"),
        ({"per_queue": ["default"]}, "per_queue must map names to counts"),
        ({"per_queue_rate": {"emails": "0/m"}}, r"per_queue_rate\['emails'\]: the count must be a whole number"),
        ({"per_queue_rate": {"emails": "100"}}, r"'100' is not a rate: write N/PERIOD"),
        ({"per_queue_rate": {"emails": "1.5/m"}}, r"'1.5/m' is not a rate"),
        ({"per_job_type_rate": {"f": "1/0s"}}, r"per_job_type_rate\['f'\]'s period must be more than 0 seconds"),
        ({"per_job_type_rate": {"f": "1/25h"}}, "the period must be at most a day"),
        ({"per_job_type_rate": {"f": (True, 1)}}, "the count must be a whole number of jobs, 1 or more, got True"),
        ({"per_job_type_rate": {"f": 10}}, r"must be 'N/PERIOD' \(as '10/s'\) or a \(count, seconds\) pair"),
        ({"per_job_type_rate": {"": "1/s"}}, "per_job_type_rate must map names to counts"),
        ({"per_user_rate": "0/s"}, "Limits per_user_rate: the count must be a whole number of jobs, 1 or more"),
        ({"per_user_rate": "10"}, "Limits per_user_rate '10' is not a rate: write N/PERIOD"),
        ({"per_user_rate": {"alice": "1/s"}}, r"per_user_rate must be 'N/PERIOD' \(as '10/s'\) or a \(count"),
    ],
)
def test_limits_no_job_could_run_under_are_refused(limits: dict[str, Any], message: str) -> None:
    # a worker given one claimed nothing and left every job queued, saying nothing
    with pytest.raises(ConfigurationError, match=message):
        Limits(**limits)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"limits": {"global_max": 5}}, "limits takes a conveyor.types.Limits, got dict"),
        ({"concurrency": "4"}, "concurrency must be a whole number, at least 1, got '4'"),
        ({"lease_ttl": "30"}, "lease_ttl must be a positive number of seconds, got '30'"),
    ],
)
def test_a_worker_refuses_settings_of_the_wrong_type_saying_which(
    queue: Queue, settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Worker([queue], **settings)


def test_a_worker_refuses_queues_that_are_not_queues(queue: Queue) -> None:
    with pytest.raises(ConfigurationError, match="queues takes a Queue, a queue name or a list of them, got 5"):
        Worker(5, connection=queue.connection)  # type: ignore[arg-type]


@pytest.mark.parametrize("max_jobs", [0, -1])
def test_work_refuses_max_jobs_below_one_and_runs_nothing(queue: Queue, max_jobs: int) -> None:
    job = queue.enqueue(jobfuncs.noop)
    with pytest.raises(ConfigurationError, match=f"max_jobs must be a whole number, at least 1, got {max_jobs}"):
        Worker([queue]).work(burst=True, max_jobs=max_jobs)
    assert job.get_status(refresh=True) is JobStatus.QUEUED


@pytest.mark.parametrize(
    "enqueue",
    [
        lambda q: q.enqueue_in(timedelta(days=3_000_000), jobfuncs.noop),
        lambda q: q.enqueue_at(datetime(9999, 12, 31, tzinfo=UTC), jobfuncs.noop),
        lambda q: q.enqueue(jobfuncs.noop, result_ttl="40000d"),
        lambda q: q.enqueue(jobfuncs.noop, retry=Retry(max=2, interval=[float("inf")])),
        lambda q: q.enqueue(jobfuncs.noop, retry=Retry(max=2, interval=float("nan"))),
    ],
)
def test_times_past_a_hundred_years_are_refused_and_nothing_is_stored(queue: Queue, enqueue: Any) -> None:
    with pytest.raises(InvalidJobError, match="100 years"):
        enqueue(queue)
    assert queue.connection.counts() == {}


def test_delete_with_dependents_as_in_rq(queue: Queue) -> None:
    parent = queue.enqueue(jobfuncs.noop)
    child = queue.enqueue(jobfuncs.noop, depends_on=parent)
    grandchild = queue.enqueue(jobfuncs.noop, depends_on=child)
    kept = queue.enqueue(jobfuncs.noop, depends_on=parent)
    kept_parent = queue.enqueue(jobfuncs.noop)
    child.delete(delete_dependents=True)
    assert [Job.exists(job.id, connection=queue.connection) for job in (parent, child, grandchild, kept)] == [
        True, False, False, True,
    ]  # fmt: skip
    assert kept_parent.get_status() is JobStatus.QUEUED


def test_a_worker_that_cannot_import_a_jobs_module_says_where_it_runs_and_what_to_do(
    queue: Queue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the beginner's worker started in another directory than tasks.py's
    monkeypatch.chdir(tmp_path)
    job = queue.enqueue("walk_tasks_elsewhere.count_words", "text")
    Worker([queue]).work(burst=True)
    assert job.get_status() is JobStatus.FAILED
    assert (
        f"this process (working directory {tmp_path}) cannot import 'walk_tasks_elsewhere'; start it where that "
        "module is importable (your project's directory), or add the module's directory to PYTHONPATH"
    ) in (job.exc_info or "")


def test_a_worker_warns_of_a_queue_name_that_looks_mistyped(backend: Backend, caplog: pytest.LogCaptureFixture) -> None:
    Queue("emails", connection=backend).enqueue(jobfuncs.noop)
    Worker(["high", "email", "default"], connection=backend).work(burst=True)
    warnings = [record.getMessage() for record in caplog.records if record.getMessage().startswith("queue ")]
    assert warnings == [
        "queue 'email' holds no jobs waiting, but queue 'emails' does: is the queue name mistyped? "
        "(a worker runs only the jobs of the queues it is given)"
    ]
    caplog.clear()
    Worker(["emails", "high"], connection=backend).work(burst=True)  # served, or no close name: no warning
    assert not [record for record in caplog.records if record.getMessage().startswith("queue ")]
    Worker(["email"], connection=backend).work(burst=True)  # 'emails' keeps only a result now: no typo
    assert not [record for record in caplog.records if record.getMessage().startswith("queue ")]


def test_a_worker_says_which_of_its_queues_are_paused_and_a_burst_leaves_their_jobs(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    emails = Queue("emails", connection=backend)
    emails.pause()
    held = emails.enqueue(jobfuncs.noop)
    Worker(["emails", "default"], connection=backend).work(burst=True)
    warnings = [record.getMessage() for record in caplog.records if record.getMessage().startswith("queue ")]
    assert len(warnings) == 1
    assert re.fullmatch(
        r"queue 'emails' is paused \(since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\): this worker starts none of its "
        r"jobs until `conveyor resume emails` \(or Queue\('emails'\).resume\(\)\)",
        warnings[0],
    )
    assert held.get_status(refresh=True) is JobStatus.QUEUED, "a burst ends with the paused queue's jobs left queued"
    emails.resume()
    Worker(["emails"], connection=backend).work(burst=True)
    assert held.get_status(refresh=True) is JobStatus.FINISHED


def test_a_module_named_as_a_function_is_said_to_be_a_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a package that does not import its submodule: "module walkpkg has no attribute jobs" misled
    (tmp_path / "walkpkg").mkdir()
    (tmp_path / "walkpkg" / "__init__.py").write_text("")
    (tmp_path / "walkpkg" / "jobs.py").write_text("def send():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(InvalidJobError, match="^walkpkg.jobs is a module, not a function: name one of its functions$"):
        conveyor.functions.resolve_function("walkpkg.jobs")
    with pytest.raises(InvalidJobError, match="^module walkpkg has no attribute nothing$"):
        conveyor.functions.resolve_function("walkpkg.nothing")


def test_a_job_module_not_found_from_a_deleted_working_directory_is_still_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = tmp_path / "release-1"  # a deploy replaced the directory the worker started in
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    with pytest.raises(InvalidJobError, match="working directory deleted since the process started"):
        conveyor.functions.resolve_function("walk_tasks_gone.count_words")
