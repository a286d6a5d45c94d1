"""RQ code moved over by changing its imports: what it reads back (types and values), the
positions it passes arguments in, and the import paths it uses, as RQ 2-3 gives them."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import conveyor.job
import jobfuncs
from conveyor import Callback, Job, JobStatus, Queue, Result, Retry, SimpleWorker, Worker, maintenance
from conveyor.backends.base import Backend
from conveyor.decorators import job
from conveyor.exceptions import (
    ConfigurationError,
    InvalidJobError,
    InvalidJobOperation,
    NoSuchJobError,
    SerializationError,
)
from conveyor.types import WorkerRecord
from waiting import wait_until


@pytest.fixture
def queue(backend: Backend) -> Queue:
    return Queue(connection=backend)


def test_queue_and_job_create_take_rqs_positional_arguments(backend: Backend) -> None:
    timed = Queue("low", backend, 77)
    assert (timed.default_timeout, timed.enqueue(jobfuncs.noop).timeout) == (77, 77), "RQ: name, connection, timeout"
    assert Queue("inline", backend, None, False).is_async is False
    created = Job.create(jobfuncs.add, [1, 2], None, backend)
    assert created.connection is backend, "RQ: func, args, kwargs, connection"


@pytest.mark.parametrize("third", [False, True])
def test_is_async_given_third_as_before_is_refused_at_once_saying_where_it_went(backend: Backend, third: bool) -> None:
    """conveyor took is_async third until it took RQ's order: such code must not get a
    queue that fails each enqueue on a "timeout" it never gave (or runs async for False)."""
    with pytest.raises(InvalidJobError, match=r"default_timeout .*is_async comes fourth"):
        Queue("inline", backend, third)


def test_a_queues_default_timeout_is_checked_when_it_is_made(backend: Backend) -> None:
    with pytest.raises(InvalidJobError, match="default_timeout 'soon' is not a duration"):
        Queue("low", backend, "soon")
    assert Queue("low", backend, -1).enqueue(jobfuncs.noop).timeout == -1


def test_args_read_back_as_a_tuple_as_rqs(queue: Queue, url: str) -> None:
    job = queue.enqueue(jobfuncs.add, 1, 2)
    assert job.args == (1, 2)
    assert Job.fetch(job.id, connection=queue.connection).args == (1, 2)
    assert queue.enqueue_call(jobfuncs.add, args=[3], kwargs={"y": 4}).args == (3,)
    (many,) = queue.enqueue_many([Queue.prepare_data(jobfuncs.add, args=(5, 6))])
    assert many.args == (5, 6)
    assert Job.create(jobfuncs.add, args=[7, 8]).args == (7, 8)
    Worker([queue]).work(burst=True)
    assert job.result == 3 and many.result == 11


def test_durations_read_back_as_given(queue: Queue) -> None:
    job = queue.enqueue(jobfuncs.noop, job_timeout=30, result_ttl=60, ttl=90, failure_ttl=120)
    stored = Job.fetch(job.id, connection=queue.connection)
    values = (stored.timeout, stored.result_ttl, stored.ttl, stored.failure_ttl)
    assert values == (30, 60, 90, 120) and all(type(v) is int for v in values), f"ints as RQ's: {values}"
    assert f"{queue.enqueue(jobfuncs.noop).timeout}s" == "180s"
    assert queue.enqueue(jobfuncs.noop, job_timeout="1h").timeout == 3600
    assert queue.enqueue(jobfuncs.noop, job_timeout=2.5).timeout == 2.5
    forever = Job.fetch(
        queue.enqueue(jobfuncs.noop, job_timeout=-1, result_ttl=-1, failure_ttl=-1).id, connection=queue.connection
    )
    assert (forever.timeout, forever.result_ttl, forever.failure_ttl, forever.ttl) == (-1, -1, -1, None)


def test_rqs_import_paths_work_with_conveyor_for_rq(queue: Queue) -> None:
    from conveyor.exceptions import JobTimeoutException as RaisedOnTimeout
    from conveyor.job import cancel_job, requeue_job
    from conveyor.timeouts import JobTimeoutException

    assert JobTimeoutException is RaisedOnTimeout
    job = queue.enqueue(jobfuncs.noop)
    cancel_job(job.id, connection=queue.connection)
    assert job.is_canceled
    requeue_job(job.id, connection=queue.connection)
    assert job.is_queued
    assert not hasattr(conveyor.job, "cancel"), "other names are still unknown"


def test_registries_count_and_list_newest_first_as_rqs(queue: Queue) -> None:
    ids = [queue.enqueue_in(timedelta(hours=1 + i), jobfuncs.noop).id for i in range(4)]
    registry = queue.scheduled_job_registry
    assert registry.get_job_count() == registry.count == 4
    assert registry.get_job_ids(cleanup=False) == ids
    assert registry.get_job_ids(desc=True) == ids[::-1]
    assert registry.get_job_ids(1, 2, desc=True) == [ids[2], ids[1]]
    assert registry.get_job_ids(0, 0, desc=True) == [ids[3]]
    assert registry.get_job_ids(3, -1, desc=True) == [ids[0]]
    assert registry.get_job_ids(4, desc=True) == [] and registry.get_job_ids(2, 1, desc=True) == []
    assert registry.get_job_ids(2, 10, desc=True) == [ids[1], ids[0]]


def test_a_workers_queue_names_is_a_method_as_rqs(backend: Backend) -> None:
    worker = Worker([Queue("high", connection=backend), "low"], connection=backend)
    assert worker.queue_names() == ["high", "low"]


def test_save_stores_meta_as_rqs_save(queue: Queue) -> None:
    job = queue.enqueue(jobfuncs.noop)
    job.meta["progress"] = "half"
    job.save()
    assert Job.fetch(job.id, connection=queue.connection).meta == {"progress": "half"}
    with pytest.raises(NoSuchJobError):
        Job.create(jobfuncs.noop, connection=queue.connection).save()


def test_a_jobs_dependency_is_the_first_job_it_waits_on(queue: Queue) -> None:
    first, second = queue.enqueue(jobfuncs.noop), queue.enqueue(jobfuncs.noop)
    child = queue.enqueue(jobfuncs.noop, depends_on=[first, second])
    dependency = child.dependency
    assert dependency is not None and dependency.id == first.id
    assert [job.id for job in child.fetch_dependencies()] == [first.id, second.id]
    first.delete()
    assert child.dependency is None and [job.id for job in child.fetch_dependencies()] == [second.id]
    assert first.dependency is None and first.fetch_dependencies() == []


def test_the_job_decorator_takes_rqs_positions_and_rq_3s_enqueue(backend: Backend) -> None:
    decorated = job("low", backend, 12, 34)(jobfuncs.add)
    handle = decorated.enqueue(1, 2)  # type: ignore[attr-defined]
    assert (handle.origin, handle.args, handle.timeout, handle.result_ttl) == ("low", (1, 2), 12, 34)
    assert decorated.delay(3, y=4).kwargs == {"y": 4}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "enqueue",
    [
        lambda q: Job.create(jobfuncs.add, kwargs=[("y", 1)], connection=q.connection),
        lambda q: q.enqueue_call(jobfuncs.add, args=(1,), kwargs=[("y", 1)]),
        lambda q: q.enqueue(jobfuncs.add, args=(1,), kwargs="y=1"),
        lambda q: q.enqueue_many([Queue.prepare_data(jobfuncs.add, kwargs=[("y", 1)])]),
        lambda q: q.enqueue_job("an id"),
    ],
)
def test_call_arguments_that_are_no_call_are_refused_saying_so(queue: Queue, enqueue: Any) -> None:
    with pytest.raises(InvalidJobError, match="kwargs must be a mapping|enqueue_job takes a Job"):
        enqueue(queue)
    assert queue.count == 0


def test_args_that_are_no_list_are_one_argument_however_the_job_is_made(queue: Queue) -> None:
    made = [
        Job.create(jobfuncs.add, "ab", connection=queue.connection),
        queue.enqueue(jobfuncs.add, args="ab"),
        queue.enqueue_call(jobfuncs.add, args="ab"),
        *queue.enqueue_many([Queue.prepare_data(jobfuncs.add, args="ab")]),
    ]
    assert [job.args for job in made] == [("ab",)] * 4, "never its letters"


@pytest.mark.parametrize("option", ["repeat", "rate_limit", "webhooks", "unique"])
def test_rq_3s_job_options_never_reach_the_function(queue: Queue, option: str) -> None:
    with pytest.raises(InvalidJobError, match=rf"{option} is not supported: .*kwargs="):
        queue.enqueue(jobfuncs.noop, **{option: True})
    assert queue.count == 0, "refused at enqueue, not failed in the worker"
    kept_from_it = queue.enqueue(jobfuncs.noop, **{option: None})
    Worker([queue]).work(burst=True)
    assert kept_from_it.is_finished, "RQ's default value is dropped, as RQ drops it"


def test_a_worker_takes_the_serializer_rq_code_gives_it(backend: Backend) -> None:
    from conveyor.serializers import JSONSerializer, PickleSerializer

    pickled = Queue(connection=backend, serializer=PickleSerializer).enqueue(jobfuncs.add, 1, 2)
    plain = Queue(connection=backend, serializer=JSONSerializer).enqueue(jobfuncs.add, 3, 4)
    assert Worker("default", connection=backend, serializer=JSONSerializer).work(burst=True)
    assert (pickled.result, plain.result) == (3, 7), "each job is read with the serializer it names"
    with pytest.raises(SerializationError, match="Unknown serializer 'yaml'"):
        Worker("default", connection=backend, serializer="yaml")


def test_a_registered_worker_lists_its_queues_as_rqs(backend: Backend) -> None:
    now = time.time()
    backend.workers_register(WorkerRecord("w-1", "host-a", 11, ("high", "low"), 1, "idle", (), now, now))
    (registered,) = Worker.all(connection=backend)
    assert [queue.name for queue in registered.queues] == ["high", "low"]
    assert all(queue.connection is backend for queue in registered.queues)


def test_a_classmethod_of_a_module_level_class_is_a_job_function(queue: Queue) -> None:
    handle = queue.enqueue(jobfuncs.Arithmetic.triple, 2)
    assert handle.func_name == "jobfuncs.Arithmetic.triple"
    Worker([queue]).work(burst=True)
    assert handle.result == 6


def test_commands_take_rqs_serializer_argument(queue: Queue) -> None:
    from conveyor.command import send_stop_job_command
    from conveyor.job import cancel_job, requeue_job
    from conveyor.serializers import JSONSerializer

    handle = queue.enqueue(jobfuncs.noop)
    with pytest.raises(InvalidJobOperation, match="not running"):
        send_stop_job_command(queue.connection, handle.id, serializer=JSONSerializer)
    cancel_job(handle.id, queue.connection, JSONSerializer)
    assert requeue_job(handle.id, queue.connection, JSONSerializer).is_queued


def test_a_job_lists_the_jobs_that_depend_on_it_as_rqs_dependent_ids(queue: Queue) -> None:
    parent = queue.enqueue(jobfuncs.noop)
    children = sorted([queue.enqueue(jobfuncs.noop, depends_on=parent).id for _ in range(2)])
    queue.enqueue(jobfuncs.noop, depends_on=children[0])
    assert parent.dependent_ids == children, "the direct dependents, sorted"
    assert Job.fetch(children[1], connection=queue.connection).dependent_ids == []
    Worker([queue]).work(burst=True)
    assert Job.fetch(parent.id, connection=queue.connection).dependent_ids == children, "unlike RQ's, kept once run"


def test_perform_runs_the_function_here_as_the_current_job_and_stores_nothing(queue: Queue) -> None:
    job = queue.enqueue(jobfuncs.add, 4, y=5)
    assert job.perform() == 9
    assert (job.get_status(), job.result) == (JobStatus.QUEUED, None), "as RQ's: the job is still to run"
    assert queue.enqueue(jobfuncs.async_add, 1, 2).perform() == 3
    current = queue.enqueue(jobfuncs.use_current_job, 7)
    assert current.perform() == {"id": current.id, "value": 7}
    assert current.get_meta() == {"handled_by": "test"}, "the job's own writes are stored, as they would be in a worker"
    with pytest.raises(ValueError, match="no luck"):
        queue.enqueue(jobfuncs.fail, "no luck").perform()


def test_remove_takes_a_queued_job_out_of_its_queue_and_cancels_it(queue: Queue) -> None:
    first, second = queue.enqueue(jobfuncs.noop), queue.enqueue(jobfuncs.noop)
    assert queue.remove(first) == 1 and queue.remove(second.id) == 1, "RQ's count of jobs taken out"
    assert queue.count == 0 and queue.job_ids == []
    assert first.get_status() is JobStatus.CANCELED, "unlike RQ's, the job says it will not run"
    assert queue.canceled_job_registry.get_job_ids() == [first.id, second.id]
    assert queue.remove(first) == 0 and queue.remove("unknown") == 0
    elsewhere = Queue("elsewhere", connection=queue.connection).enqueue(jobfuncs.noop)
    deferred = queue.enqueue(jobfuncs.noop, depends_on=elsewhere)
    assert queue.remove(elsewhere) == 0 and queue.remove(deferred) == 0, "only this queue's waiting jobs"
    assert elsewhere.is_queued and deferred.is_deferred
    first.requeue()
    Worker([queue]).work(burst=True)
    assert first.is_finished and queue.remove(first) == 0
    with pytest.raises(InvalidJobError, match="pipeline is not supported"):
        queue.remove(second, pipeline=object())


def test_callback_and_retry_read_back_what_they_were_given_as_rqs(queue: Queue) -> None:
    assert [Callback(jobfuncs.note_success, timeout=t).timeout for t in (10, 10.0, "2m", 2.5)] == [10, 10, 120, 2.5]
    assert type(Callback(jobfuncs.note_success).timeout) is int and Callback(jobfuncs.note_success).timeout == 60
    with pytest.raises(InvalidJobError, match="Callback takes a function or an import path, got 1"):
        Callback(1)  # type: ignore[arg-type]
    retry = Retry(max=3, interval=[1.5, 2])
    assert retry.intervals == [1.5, 2] and type(retry.intervals[1]) is int and Retry(max=1, interval=3).intervals == [3]
    with pytest.raises(InvalidJobError, match="Retry intervals"):
        Retry(max=1, interval=[True])
    job = queue.enqueue(jobfuncs.noop, retry=retry, on_success=Callback(jobfuncs.note_success, timeout=10))
    stored = Job.fetch(job.id, connection=queue.connection)
    assert stored.retry_intervals == [1.5, 2] and type(stored.retry_intervals[1]) is int
    assert (stored.success_callback_timeout, stored.failure_callback_timeout, stored.stopped_callback_timeout) == (
        10,
        60,
        60,
    )


def test_rqs_result_class_reads_a_jobs_outcome(queue: Queue) -> None:
    job = queue.enqueue(jobfuncs.add, 1, 2)
    assert (Result.fetch_latest(job), Result.all(job), Result.count(job)) == (None, [], 0)
    Worker([queue]).work(burst=True)
    latest = Result.fetch_latest(job, serializer=None, timeout=1)
    assert latest is not None and latest.return_value == 3 and latest.type is Result.Type.SUCCESSFUL
    assert Result.all(job) == [latest] and Result.count(job) == 1


def test_rqs_at_front_puts_a_job_before_those_of_its_priority_however_it_is_enqueued(queue: Queue) -> None:
    first = queue.enqueue(jobfuncs.noop)
    urgent = queue.enqueue(jobfuncs.noop, at_front=True)
    called = queue.enqueue_call(jobfuncs.noop, at_front=True)
    high = queue.enqueue(jobfuncs.noop, priority=1)
    assert queue.job_ids == [high.id, called.id, urgent.id, first.id], "the latest at the front first, as RQ's LPUSH"
    assert (called.get_position(), queue.get_job_position(urgent), first.get_position()) == (1, 2, 3)
    assert (urgent.enqueue_at_front, first.enqueue_at_front) == (True, False)
    front, back = queue.enqueue_many([Queue.prepare_data(jobfuncs.noop, at_front=True),
                                      Queue.prepare_data(jobfuncs.noop)])  # fmt: skip
    created = queue.enqueue_job(Job.create(jobfuncs.noop, connection=queue.connection), pipeline=None, at_front=True)
    decorated = job(queue, connection=queue.connection)(jobfuncs.add).delay(1, 2, at_front=True)
    assert queue.job_ids == [high.id, decorated.id, created.id, front.id, called.id, urgent.id, first.id, back.id]
    assert decorated.args == (1, 2), "at_front is the job's option, not the function's"
    with pytest.raises(InvalidJobError, match="at_front must be True or False"):
        queue.enqueue(jobfuncs.noop, at_front="yes")
    with pytest.raises(InvalidJobError, match="pipeline is not supported"):
        queue.enqueue_job(Job.create(jobfuncs.noop, connection=queue.connection), pipeline=object())


def test_requeue_takes_rqs_at_front_and_keeps_the_jobs_own_by_default(queue: Queue) -> None:
    failing, other = queue.enqueue(jobfuncs.fail), queue.enqueue(jobfuncs.fail)
    Worker([queue]).work(burst=True)
    waiting = queue.enqueue(jobfuncs.noop)
    assert failing.requeue(at_front=True).get_position() == 0
    assert queue.failed_job_registry.requeue(other, at_front=True).get_position() == 0
    assert (failing.get_position(), waiting.get_position()) == (1, 2)
    Worker([queue]).work(burst=True)
    assert failing.requeue().get_position() == 0, "enqueued to the front by its last requeue: it stays so"
    assert queue.failed_job_registry.requeue(other, at_front=False).get_position() == 1
    assert (failing.enqueue_at_front, other.enqueue_at_front) == (True, False)
    Worker([queue]).work(burst=True)
    with pytest.raises(InvalidJobError, match="at_front must be True or False"):
        failing.requeue(at_front=1)  # type: ignore[arg-type]
    assert failing.is_failed


def test_a_job_scheduled_at_front_goes_to_the_front_when_due(queue: Queue) -> None:
    later = queue.enqueue_in(timedelta(seconds=30), jobfuncs.noop, at_front=True)
    waiting = queue.enqueue(jobfuncs.noop)
    assert later.is_scheduled and later.enqueue_at_front
    maintenance.run_schedule(queue.connection, time.time() + 60)
    assert (later.get_position(), waiting.get_position()) == (0, 1)


def test_enqueue_many_takes_rqs_pipeline_and_group_id_and_refuses_them_set(queue: Queue) -> None:
    datas = [Queue.prepare_data(jobfuncs.add, args=(1, 2))]
    with pytest.raises(InvalidJobError, match="pipeline is not supported: .*enqueue_many stores many jobs in one step"):
        queue.enqueue_many(datas, pipeline=object())
    with pytest.raises(InvalidJobError, match=r"group_id is not supported: .*batches \(Batch.create\)"):
        queue.enqueue_many(datas, group_id="g")
    assert queue.count == 0
    assert [job.args for job in queue.enqueue_many(datas, pipeline=None, group_id=None)] == [(1, 2)]


def test_get_ttl_and_get_result_ttl_read_the_jobs_own_as_rqs(queue: Queue) -> None:
    timed = queue.enqueue(jobfuncs.noop, ttl=90, result_ttl=60)
    assert (timed.get_ttl(), timed.get_ttl(5), timed.get_result_ttl(500)) == (90, 90, 60)
    plain = queue.enqueue(jobfuncs.noop)
    assert (plain.get_ttl(), plain.get_ttl(5), plain.get_result_ttl()) == (None, 5, 500), "conveyor's default is kept"


def test_to_dict_is_the_job_as_json_takes_it(queue: Queue) -> None:
    job = queue.enqueue(jobfuncs.add, 1, y=2, meta={"k": [1]}, description="adds", priority=3, user_id="ann")
    Worker([queue]).work(burst=True)
    data = Job.fetch(job.id, connection=queue.connection).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert {k: data[k] for k in ("id", "origin", "func_name", "args", "kwargs", "status", "meta", "result")} == {
        "id": job.id, "origin": "default", "func_name": "jobfuncs.add", "args": [1], "kwargs": {"y": 2},
        "status": "finished", "meta": {"k": [1]}, "result": 3,
    }  # fmt: skip
    assert (data["description"], data["priority"], data["user_id"], data["timeout"], data["ttl"]) == (
        "adds", 3, "ann", 180, None,
    )  # fmt: skip
    assert data["ended_at"].endswith("Z") and data["scheduled_for"] is None and data["exc_info"] is None
    assert (data["max_retries"], data["retry_on"]) == (0, [])
    retried = queue.enqueue(jobfuncs.noop, retry=Retry(max=2, interval=[1, 2.5], on=(ConnectionError, "mylib.Busy")))
    assert {k: retried.to_dict()[k] for k in ("max_retries", "retry_intervals", "retry_on")} == {
        "max_retries": 2, "retry_intervals": [1, 2.5], "retry_on": ["ConnectionError", "mylib.Busy"],
    }  # fmt: skip
    assert "meta" not in job.to_dict(include_meta=False)
    assert not {"result", "exc_info"} & job.to_dict(include_result=False).keys(), "as RQ's include_result"
    assert job.to_dict()["result"] is None, "what this object holds: no read from the store"


def test_to_dict_shows_what_json_cannot_carry_as_its_repr(backend: Backend) -> None:
    queue = Queue(connection=backend, serializer="pickle")
    job = queue.enqueue(jobfuncs.echo, {3})
    Worker([queue]).work(burst=True)
    data = Job.fetch(job.id, connection=backend).to_dict()
    assert (data["args"], data["result"], data["serializer"]) == (["{3}"], "{3}", "pickle")
    assert json.loads(json.dumps(data)) == data


def test_to_dict_shows_a_datetime_in_its_stored_form(queue: Queue) -> None:
    at = datetime(2030, 1, 1, 9, tzinfo=UTC)
    data = queue.enqueue(jobfuncs.echo, at).to_dict()
    assert data["args"] == [{"__type__": "datetime", "__value__": "2030-01-01T09:00:00+00:00"}]


def test_a_running_worker_reads_its_own_state_as_rqs(queue: Queue, tmp_path: Path) -> None:
    worker = Worker([queue])
    assert (worker.hostname, worker.pid) == (socket.gethostname(), os.getpid())
    assert (worker.get_state(), worker.birth_date, worker.last_heartbeat, worker.get_current_job()) == (
        "starting", None, None, None,
    )  # fmt: skip
    marker, release = tmp_path / "started", tmp_path / "release"
    queue.enqueue(jobfuncs.add, 1, 2)
    queue.enqueue(jobfuncs.fail)
    job = queue.enqueue(jobfuncs.hold_until_released, str(marker), str(release))
    thread = threading.Thread(target=worker.work, kwargs={"burst": True})
    thread.start()
    try:
        wait_until(lambda: worker.get_current_job_id() == job.id, message="the worker on the held job")
        assert worker.get_state() == "busy" and worker.current_job_ids == [job.id]
        current = worker.get_current_job()
        assert current is not None and current.id == job.id and current.get_status(refresh=False) is JobStatus.STARTED
        assert worker.birth_date is not None and worker.last_heartbeat is not None
        assert worker.birth_date <= worker.last_heartbeat
        assert (worker.successful_job_count, worker.failed_job_count) == (1, 1)
        (seen,) = wait_until(lambda: [w for w in Worker.all(queue.connection) if w.get_current_job_id() == job.id])
        assert (seen.successful_job_count, seen.failed_job_count) == (1, 1), "reported with its heartbeats"
        assert seen.total_working_time >= 0 and (seen.hostname, seen.pid) == (worker.hostname, worker.pid)
    finally:
        release.touch()
        thread.join(timeout=30)
    worker.refresh()  # RQ code reads its counters back this way: here they are live already
    assert worker.get_state() == "stopped" and worker.get_current_job_id() is None
    assert (worker.successful_job_count, worker.failed_job_count, worker.connection) == (2, 1, queue.connection)


@pytest.mark.parametrize("pool", ["threads", "processes"])
def test_a_worker_counts_its_jobs_as_rqs(queue: Queue, pool: str) -> None:
    for _ in range(2):
        queue.enqueue(jobfuncs.add, 1, 2)
    queue.enqueue(jobfuncs.fail)
    queue.enqueue(jobfuncs.fail, retry=Retry(max=1))  # a run to be retried counts as failed, as in RQ
    worker = SimpleWorker([queue], pool=pool)
    worker.work(burst=True, max_jobs=4)
    assert (worker.successful_job_count, worker.failed_job_count, worker.jobs_done) == (2, 2, 4)
    assert isinstance(worker.total_working_time, float) and worker.total_working_time >= 0


def test_a_worker_counts_jobs_a_stop_ended_among_its_failures_and_apart(queue: Queue, tmp_path: Path) -> None:
    from conveyor.command import send_stop_job_command

    stopped_marker, last_marker, release = tmp_path / "stopped", tmp_path / "last", tmp_path / "release"
    held = queue.enqueue(jobfuncs.hold_until_released, str(stopped_marker), str(tmp_path / "never"))
    queue.enqueue(jobfuncs.fail)
    queue.enqueue(jobfuncs.hold_until_released, str(last_marker), str(release))  # keeps it working meanwhile
    worker = Worker([queue])
    thread = threading.Thread(target=worker.work, kwargs={"burst": True})
    thread.start()
    try:
        wait_until(stopped_marker.exists, message="the first job to start")
        send_stop_job_command(queue.connection, held.id)
        wait_until(last_marker.exists, message="the last job to start")
        counts = (worker.successful_job_count, worker.failed_job_count, worker.stopped_job_count)
        assert counts == (0, 2, 1)  # failed_job_count is RQ's: the stopped job is among the failures
        (seen,) = wait_until(
            lambda: [w for w in Worker.all(queue.connection) if w.name == worker.name and w.failed_job_count == 2]
        )
        assert (seen.successful_job_count, seen.failed_job_count, seen.stopped_job_count) == (0, 2, 1)
    finally:
        release.touch()
        thread.join(timeout=30)
    assert held.get_status(refresh=True) is JobStatus.STOPPED
    assert (worker.successful_job_count, worker.failed_job_count, worker.stopped_job_count) == (1, 2, 1)


def test_rqs_worker_and_queue_options_are_taken_at_their_defaults_and_refused_set(queue: Queue) -> None:
    defaults = Worker(
        [queue], default_result_ttl=500, job_monitoring_interval=30, disable_default_exception_handler=False,
        job_class=Job, queue_class="conveyor.queue.Queue",
    )  # fmt: skip
    assert (defaults.job_class, defaults.queue_class, Queue(job_class="conveyor.Job").job_class) == (Job, Queue, Job)
    refused = {
        "default_result_ttl": (60, "pass result_ttl= to enqueue"),
        "job_monitoring_interval": (5, "pass lease_ttl="),
        "disable_default_exception_handler": (True, "always in its queue's FailedJobRegistry"),
        "job_class": (type("MyJob", (Job,), {}), "conveyor makes conveyor.Job objects only"),
        "queue_class": ("rq.Queue", "conveyor makes conveyor.Queue objects only"),
    }
    for option, (value, advice) in refused.items():
        with pytest.raises(ConfigurationError, match=rf"{option}.* is not supported: .*{re.escape(advice)}"):
            Worker([queue], **{option: value})
    with pytest.raises(InvalidJobError, match="job_class 'rq.job.Job' is not supported"):
        Queue(connection=queue.connection, job_class="rq.job.Job")


def test_bad_input_raises_a_value_error_as_rqs(queue: Queue) -> None:
    """RQ raises ValueError for bad job options: InvalidJobError is one, so RQ code's
    ``except ValueError`` still catches what conveyor refuses."""
    for bad in ({"ttl": 0}, {"job_timeout": 0}, {"job_id": ""}, {"retry": 3}, {"priority": "high"}):
        with pytest.raises(ValueError):
            queue.enqueue(jobfuncs.noop, **bad)
    with pytest.raises(ValueError):
        Retry(max=0)
    assert issubclass(SerializationError, ValueError)
    assert queue.count == 0


@pytest.mark.parametrize(
    ("statement", "advice"),
    [
        ("from conveyor import Repeat", "enqueue_in"),
        ("from conveyor import Group", "Batch.create"),
        ("from conveyor import RateLimit", "limits="),
        ("from conveyor import Webhook", "on_success"),
        ("from conveyor.worker import RoundRobinWorker", "order given"),
        ("from conveyor.command import send_kill_horse_command", "send_stop_job_command"),
    ],
)
def test_an_rq_name_conveyor_lacks_says_so_where_it_is_imported(statement: str, advice: str) -> None:
    with pytest.raises(ImportError, match=f"RQ's and not supported by conveyor: .*{re.escape(advice)}"):
        exec(statement, {})


def test_an_rq_attribute_conveyor_lacks_says_so_and_hasattr_stays_false(queue: Queue) -> None:
    job = queue.enqueue(jobfuncs.add, 1, 2)
    worker = Worker([queue])
    reads = [
        (lambda: job.key, "Job.key", "job.id"),
        (lambda: job.set_status, "Job.set_status", "cancel, requeue"),
        (lambda: queue.key, "Queue.key", "queue.name"),
        (lambda: Queue.from_queue_key, "Queue.from_queue_key", "Queue(name"),
        (lambda: worker.key, "Worker.key", "worker.name"),
        (lambda: Worker.find_by_key, "Worker.find_by_key", "Worker.all("),
    ]
    for read, where, advice in reads:
        with pytest.raises(AttributeError, match=f"{re.escape(where)} is RQ's and not supported.*{re.escape(advice)}"):
            read()
    assert not hasattr(job, "key") and not hasattr(conveyor.job, "Repeat")
    with pytest.raises(ImportError, match="cannot import name 'Nothing'"):
        exec("from conveyor import Nothing", {})
