"""RQ code beyond the jobs page, as its docs write it: job handles that see the worker's
result, registries of a queue, SimpleWorker, ``@job``, the results API, and keywords
that are both a job option and a parameter of the function."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

import conveyor
import jobfuncs
from conveyor import Dependency, Job, JobStatus, Queue, Result, Retry, SimpleWorker, Worker, get_current_job
from conveyor.backends.base import Backend
from conveyor.connection import default_connection
from conveyor.decorators import job
from conveyor.exceptions import InvalidJobError, InvalidJobOperation, NoSuchJobError
from conveyor.registry import FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from conveyor.types import WorkerRecord


@pytest.fixture
def queue(backend: Backend) -> Queue:
    return Queue(connection=backend)


def run_elsewhere(url: str) -> None:
    """Run the queue's jobs through a connection of its own, as a worker process would:
    nothing the test holds is updated by it."""
    connection = conveyor.connect(url)
    try:
        Worker([Queue(connection=connection)]).work(burst=True)
    finally:
        connection.close()


def test_the_enqueued_handle_sees_the_status_and_result_a_worker_stored(queue: Queue, url: str) -> None:
    handle = queue.enqueue(jobfuncs.add, 2, 3)
    assert (handle.result, handle.is_finished, handle.is_queued) == (None, False, True)
    run_elsewhere(url)
    assert handle.is_finished, "is_finished reads the status again (RQ's `while not job.is_finished`)"
    assert (handle.result, handle.return_value()) == (5, 5)
    handle.delete()
    assert handle.result == 5, "a result this object holds stays (RQ's cached value)"


def test_a_gone_job_has_no_result(queue: Queue) -> None:
    handle = queue.enqueue(jobfuncs.add, 2, 3)
    queue.connection.job_delete(handle.id)
    assert handle.result is None


@pytest.fixture
def other_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A default connection to another store, to catch code that falls back to it."""
    monkeypatch.setenv("CONVEYOR_URL", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    default_connection.cache_clear()
    yield
    default_connection().close()
    default_connection.cache_clear()


def test_a_registry_made_from_a_queue_reads_that_queues_store(queue: Queue, url: str, other_default: None) -> None:
    failed = queue.enqueue(jobfuncs.fail)
    finished = queue.enqueue(jobfuncs.noop)
    run_elsewhere(url)
    assert FailedJobRegistry(queue=queue).get_job_ids() == [failed.id]
    assert finished.id in FinishedJobRegistry(queue=queue)
    assert len(FailedJobRegistry(queue=Queue("other", connection=queue.connection))) == 0


def test_simple_worker_runs_jobs_in_its_own_process(queue: Queue) -> None:
    handle = queue.enqueue(jobfuncs.use_current_job, 4)
    assert SimpleWorker([queue]).work(burst=True)
    assert handle.result == {"id": handle.id, "value": 4}


def test_the_job_decorator_enqueues_with_its_options(backend: Backend) -> None:
    decorated = job("low", connection=backend, timeout=5, result_ttl=60, priority=3)(jobfuncs.add)
    assert decorated is jobfuncs.add, "the function itself, so workers import it by its own name"
    handle = jobfuncs.add.delay(3, 4, job_id="sum")  # type: ignore[attr-defined]
    assert (handle.id, handle.origin, handle.args, handle.timeout, handle.result_ttl, handle.priority) == (
        "sum", "low", (3, 4), 5, 60, 3,
    )  # fmt: skip
    child = jobfuncs.add.delay(1, y=2, depends_on=handle)  # type: ignore[attr-defined]
    assert (child.kwargs, child.dependency_ids) == ({"y": 2}, ["sum"])
    Worker([Queue("low", connection=backend)]).work(burst=True)
    assert (handle.result, child.result) == (7, 3)


def test_the_job_decorators_delay_passes_an_options_name_only_to_a_function_that_takes_it(backend: Backend) -> None:
    for func in (jobfuncs.fetch, jobfuncs.keywords, jobfuncs.add):
        job("default", connection=backend)(func)
    assert jobfuncs.fetch.delay("u", timeout=3).kwargs == {"timeout": 3}  # type: ignore[attr-defined]
    assert jobfuncs.keywords.delay(priority=9).kwargs == {"priority": 9}  # type: ignore[attr-defined]
    with pytest.raises(InvalidJobError, match=r"add\(\) takes no priority, ttl: .* q.enqueue\(add, ..., priority="):
        jobfuncs.add.delay(1, 2, priority=9, ttl=5)  # type: ignore[attr-defined]
    assert Queue(connection=backend).count == 2


class _UnhashableCallable:
    """A callable object that cannot be a dict key (it defines __eq__ without __hash__)."""

    def __call__(self, x: int) -> int:
        return x

    def __eq__(self, other: object) -> bool:
        return other is self

    __hash__ = None  # type: ignore[assignment]


def test_the_job_decorators_delay_refuses_options_for_an_unhashable_callable_with_a_conveyor_error(
    backend: Backend,
) -> None:
    decorated = job("default", connection=backend)(_UnhashableCallable())
    with pytest.raises(InvalidJobError, match="takes no priority"):
        decorated.delay(1, priority=9)  # type: ignore[attr-defined]
    assert Queue(connection=backend).count == 0


def test_latest_result_says_how_the_last_run_ended(queue: Queue, url: str) -> None:
    succeeded = queue.enqueue(jobfuncs.add, 1, 1)
    failed = queue.enqueue(jobfuncs.fail, "nope")
    retried = queue.enqueue(jobfuncs.fail, "again", retry=Retry(max=1, interval=3600))
    assert succeeded.latest_result() is None and succeeded.results() == []
    run_elsewhere(url)
    result = succeeded.latest_result()
    assert result is not None
    assert (result.type, result.return_value, result.exc_string) == (Result.Type.SUCCESSFUL, 2, None)
    assert result.created_at == succeeded.ended_at and succeeded.results() == [result]
    failure = failed.latest_result()
    assert failure is not None and failure.type is Result.Type.FAILED
    assert "nope" in (failure.exc_string or "")
    retry = retried.latest_result()
    assert retry is not None and retry.type is Result.Type.RETRIED and "again" in (retry.exc_string or "")


def test_latest_result_waits_for_the_run_to_end(queue: Queue, url: str) -> None:
    handle = queue.enqueue(jobfuncs.add, 20, 22)
    worker = threading.Thread(target=run_elsewhere, args=(url,))
    worker.start()
    try:
        result = handle.latest_result(timeout=60)
    finally:
        worker.join()
    assert result is not None and result.return_value == 42


@pytest.mark.parametrize("end", ["cancel", "delete"])
def test_a_wait_for_a_result_ends_when_the_job_is_canceled_or_gone(queue: Queue, end: str) -> None:
    handle = queue.enqueue(jobfuncs.add, 1, 2)
    waiting = Job.fetch(handle.id, connection=queue.connection)
    waited: list[Result | None] = []
    waiter = threading.Thread(target=lambda: waited.append(waiting.latest_result(timeout=120)))
    waiter.start()
    handle.cancel() if end == "cancel" else handle.delete()
    waiter.join(timeout=60)
    assert not waiter.is_alive(), "the wait went on for a run that can no longer end"
    assert waited == [None]
    assert handle.latest_result(timeout=120) is None  # and a wait that starts after it returns at once too


def takes_options_too(url: str, timeout: float = 5, user_id: int = 0) -> str:
    return f"{url} {timeout} {user_id}"


def test_a_keyword_that_is_an_option_and_a_parameter_is_refused_not_taken(queue: Queue) -> None:
    with pytest.raises(InvalidJobError, match=r"takes timeout.*kwargs=") as raised:
        queue.enqueue(takes_options_too, "u", timeout=10)
    assert "takes_options_too" in str(raised.value)
    with pytest.raises(InvalidJobError, match="takes user_id"):
        queue.enqueue(takes_options_too, "u", user_id=42)
    explicit = queue.enqueue(takes_options_too, args=("u",), kwargs={"timeout": 10, "user_id": 42}, job_timeout=30)
    assert (explicit.kwargs, explicit.timeout) == ({"timeout": 10, "user_id": 42}, 30)
    assert queue.enqueue(takes_options_too, "u", job_timeout=30).timeout == 30, "no parameter named job_timeout"
    assert queue.count == 2, "nothing stored for the refused calls"


def test_a_user_id_that_is_no_name_says_where_a_functions_own_goes(queue: Queue) -> None:
    with pytest.raises(InvalidJobError, match=r"user_id is a job option.*kwargs="):
        queue.enqueue("tasks.send_welcome_email", user_id=42)


def test_rqs_dependency_object_sets_both_options(queue: Queue, url: str) -> None:
    parent = queue.enqueue(jobfuncs.fail)
    child = queue.enqueue(jobfuncs.add, 1, 2, depends_on=Dependency(jobs=[parent], allow_failure=True))
    assert (child.dependency_ids, child.allow_dependency_failures, child.is_deferred) == ([parent.id], True, True)
    run_elsewhere(url)
    assert child.result == 3, "ran although its parent failed"


def test_rqs_dependency_enqueue_at_front_releases_the_job_to_the_front(queue: Queue, url: str) -> None:
    parent = queue.enqueue(jobfuncs.noop)
    behind = queue.enqueue(jobfuncs.noop, depends_on=Dependency(jobs=[parent]))
    ahead = queue.enqueue(jobfuncs.noop, depends_on=Dependency(jobs=[parent], enqueue_at_front=True))
    waiting = queue.enqueue(jobfuncs.noop)
    assert (ahead.is_deferred, ahead.enqueue_at_front, behind.enqueue_at_front) == (True, True, False)
    Worker([queue]).work(burst=True, max_jobs=1)
    assert queue.job_ids == [ahead.id, waiting.id, behind.id]
    with pytest.raises(InvalidJobError, match="enqueue_at_front must be True or False"):
        Dependency(jobs=[parent], enqueue_at_front="yes")  # type: ignore[arg-type]


def test_a_jobs_function_call_string_and_scheduled_time(queue: Queue) -> None:
    handle = queue.enqueue_in(timedelta(hours=1), jobfuncs.add, 1, y=2)
    assert handle.func is jobfuncs.add
    assert handle.get_call_string() == "jobfuncs.add(1, y=2)"
    registry = ScheduledJobRegistry(queue=queue)
    assert registry.get_scheduled_time(handle) == handle.scheduled_for
    queued = queue.enqueue(jobfuncs.noop)
    where = r"not found in ScheduledJobRegistry\('default'\): it is a queued job$"
    with pytest.raises(NoSuchJobError, match=f"^Job {queued.id} {where}"):  # it exists: "not found" alone misled
        registry.get_scheduled_time(queued)
    elsewhere = Queue("other", connection=queue.connection).enqueue_in(timedelta(hours=1), jobfuncs.noop)
    with pytest.raises(NoSuchJobError, match="it is a scheduled job of queue 'other'$"):
        registry.get_scheduled_time(elsewhere)
    assert get_current_job(connection=queue.connection) is None, "RQ's connection argument is taken"


def test_worker_all_and_count_describe_the_registered_workers(backend: Backend) -> None:
    now = time.time()
    backend.workers_register(WorkerRecord("w-old", "host-a", 11, ("default",), 2, "busy", ("j-1",), now - 5, now))
    backend.workers_register(WorkerRecord("w-new", "host-b", 12, ("low",), 1, "idle", (), now, now))
    workers = Worker.all(connection=backend)
    assert [w.name for w in workers] == ["w-old", "w-new"]
    old = workers[0]
    assert (old.hostname, old.pid, old.get_state(), old.queue_names(), old.get_current_job_id()) == (
        "host-a", 11, "busy", ["default"], "j-1",
    )  # fmt: skip
    assert old.healthy and old.get_current_job() is None, "j-1 is not stored"
    assert Worker.count(connection=backend) == 2
    assert [w.name for w in Worker.all(connection=backend, queue=Queue("low", connection=backend))] == ["w-new"]


def test_registry_helpers_as_rq_names_them(queue: Queue, url: str) -> None:
    failed = queue.enqueue(jobfuncs.fail, failure_ttl=3600)
    kept = queue.enqueue(jobfuncs.fail, failure_ttl=-1)
    run_elsewhere(url)
    registry = FailedJobRegistry(queue=queue)
    assert registry.get_queue().name == queue.name
    failed.refresh()
    expires = registry.get_expiration_time(failed)
    assert expires is not None and failed.ended_at is not None
    assert abs((expires - failed.ended_at).total_seconds() - 3600) < 1
    assert registry.get_expiration_time(kept) is None, "kept forever"
    with pytest.raises(InvalidJobOperation, match="delete_job=True"):
        registry.remove(failed)
    registry.remove(failed, delete_job=True)
    assert registry.get_job_ids() == [kept.id] and not Job.exists(failed.id, connection=queue.connection)
    with pytest.raises(NoSuchJobError):
        registry.get_expiration_time(failed)


def test_queue_delete_deletes_its_queued_jobs(queue: Queue) -> None:
    queue.enqueue(jobfuncs.noop)
    with pytest.raises(InvalidJobError, match="delete_jobs=True"):
        queue.delete(delete_jobs=False)
    assert queue.count == 1
    queue.delete(delete_jobs=True)
    assert queue.count == 0


def test_reading_the_status_or_result_keeps_meta_not_yet_saved(queue: Queue, url: str) -> None:
    handle = queue.enqueue(jobfuncs.add, 1, 2)
    run_elsewhere(url)
    handle.meta["note"] = "mine"
    assert handle.is_finished and handle.result == 3 and handle.latest_result() is not None
    assert handle.meta == {"note": "mine"}, "RQ's status and result reads leave meta alone"
    handle.refresh()
    assert handle.meta == {}, "refresh() reads everything again, as RQ's"


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), -1, "5"])
def test_latest_result_refuses_a_wait_that_is_no_finite_time(queue: Queue, timeout: object) -> None:
    handle = queue.enqueue(jobfuncs.noop)
    with pytest.raises(InvalidJobError, match="finite number of seconds"):
        handle.latest_result(timeout=timeout)  # type: ignore[arg-type]


def test_dependency_objects_in_a_list_and_from_a_generator(queue: Queue) -> None:
    a, b = queue.enqueue(jobfuncs.noop), queue.enqueue(jobfuncs.noop)
    once = Dependency(jobs=(job for job in [a]))
    first, second = queue.enqueue(jobfuncs.noop, depends_on=once), queue.enqueue(jobfuncs.noop, depends_on=once)
    assert first.dependency_ids == second.dependency_ids == [a.id], "the generator is read once, kept"
    both = queue.enqueue(jobfuncs.noop, depends_on=[Dependency(jobs=[a]), Dependency(jobs=b, allow_failure=True)])
    assert (both.dependency_ids, both.allow_dependency_failures) == ([a.id, b.id], True)
    with pytest.raises(InvalidJobError, match="at least one job"):
        Dependency(jobs=iter([]))


def test_registry_cleanup_recovers_lapsed_leases_and_drops_expired_results(queue: Queue, url: str) -> None:
    done = queue.enqueue(jobfuncs.noop, result_ttl=1)
    run_elsewhere(url)
    lapsed = queue.enqueue(jobfuncs.noop)
    now = time.time()
    (claimed,) = queue.connection.jobs_claim([queue.name], "gone-worker", 1, "token", now - 1, now - 30)
    assert claimed.id == lapsed.id
    registry = StartedJobRegistry(queue=queue)
    assert registry.get_job_ids() == [lapsed.id] and Job.exists(done.id, connection=queue.connection)
    registry.cleanup(time.time() + 5)
    assert registry.get_job_ids() == []
    assert lapsed.get_status() is not JobStatus.STARTED, "recovered from the dead worker"
    assert not Job.exists(done.id, connection=queue.connection), "its result's ttl ran out"
