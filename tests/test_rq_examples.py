"""Every example of RQ's jobs page (shared/seeds/002_*), with ``conveyor`` for ``rq``.

Where the page builds ``Redis()``, these use ``conveyor.connect(url)``; everything
else is as written there.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

import conveyor
from conveyor import Queue, Worker
from conveyor.backends.base import Backend
from conveyor.connection import default_connection
from somewhere import add, count_words_at_url, div_by_zero, foo_job, say_hello


@pytest.fixture
def redis(url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    """The page's connection, also the default for calls made without one."""
    monkeypatch.setenv("CONVEYOR_URL", url)
    default_connection.cache_clear()
    yield default_connection()
    default_connection().close()
    default_connection.cache_clear()


def test_job_creation(redis: Backend) -> None:
    q = Queue(connection=redis)  # no args implies the default queue
    job = q.enqueue(count_words_at_url, "http://nvie.com")
    print("Job id: %s" % job.id)  # noqa: UP031
    job = q.enqueue(count_words_at_url, "http://nvie.com", job_id="my_job_id")
    assert job.id == "my_job_id"

    from conveyor.job import Job

    job = Job.create(count_words_at_url, "http://nvie.com")
    print("Job id: %s" % job.id)  # noqa: UP031
    q.enqueue_job(job)
    # create a job with a predetermined id
    job = Job.create(count_words_at_url, "http://nvie.com", id="my_other_job_id")
    q.enqueue_job(job)

    job = Job.create(
        count_words_at_url,
        ttl=30,  # This ttl will be used by conveyor
        args=("http://nvie.com",),
        kwargs={
            "description": "Function description",  # This is passed on to count_words_at_url
            "ttl": 15,  # This is passed on to count_words_at_url function
        },
    )
    assert job.ttl == 30 and job.kwargs == {"description": "Function description", "ttl": 15}
    Worker([q]).work(burst=True)
    assert Job.fetch("my_other_job_id", connection=redis).result == 3


def test_retrieving_jobs(redis: Backend) -> None:
    from conveyor.job import Job

    Queue(connection=redis).enqueue(count_words_at_url, "http://nvie.com", job_id="my_job_id")
    job = Job.fetch("my_job_id", connection=redis)
    print("Status: %s" % job.get_status())  # noqa: UP031
    assert job.get_status(refresh=True) == "queued"
    assert job.get_meta(refresh=True) == {}
    assert (job.origin, job.func_name, job.args, job.kwargs) == ("default", "somewhere.count_words_at_url",
                                                                 ("http://nvie.com",), {})  # fmt: skip
    assert job.result is None and job.enqueued_at is not None
    assert job.started_at is None and job.ended_at is None and job.exc_info is None
    assert job.last_heartbeat is None and job.worker_name is None
    job.refresh()

    Queue(connection=redis).enqueue(foo_job, job_id="foo_id")
    Queue(connection=redis).enqueue(foo_job, job_id="bar_id")
    jobs = Job.fetch_many(["foo_id", "bar_id"], connection=redis)
    for job in jobs:
        print("Job %s: %s" % (job.id, job.func_name))  # type: ignore[union-attr]  # noqa: UP031
    assert [j.id for j in jobs if j] == ["foo_id", "bar_id"]


def test_stopping_a_currently_executing_job(redis: Backend) -> None:
    from conveyor.command import send_stop_job_command
    from conveyor.exceptions import InvalidJobOperation

    job_id = Queue(connection=redis).enqueue(foo_job).id
    # This will raise an exception if job is invalid or not currently executing
    with pytest.raises(InvalidJobOperation):
        send_stop_job_command(redis, job_id)


def test_canceling_a_job(redis: Backend) -> None:
    from conveyor.job import Job
    from conveyor.registry import CanceledJobRegistry

    Queue(connection=redis).enqueue(foo_job, job_id="my_job_id")
    job = Job.fetch("my_job_id", connection=redis)
    job.cancel()
    assert job.get_status() == "canceled"  # Job status is CANCELED
    registry = CanceledJobRegistry(job.origin, connection=job.connection)
    print(job in registry)  # Job is in CanceledJobRegistry
    assert job in registry
    job.delete()
    assert not Job.exists("my_job_id", connection=redis)

    from conveyor import cancel_job

    parent = Queue(connection=redis).enqueue(foo_job, job_id="2eafc1e6-48c2-464b-a0ff-88fd199d039c")
    child = Queue(connection=redis).enqueue(foo_job, depends_on=parent)
    cancel_job("2eafc1e6-48c2-464b-a0ff-88fd199d039c", enqueue_dependents=True)
    assert child.get_status() == "queued"


def test_custom_serializer(redis: Backend) -> None:
    from conveyor.job import Job
    from conveyor.serializers import JSONSerializer

    connection = redis
    job = Job(id="my-job", connection=connection, serializer=JSONSerializer)
    queue = Queue(connection=connection, serializer=JSONSerializer)
    assert job.id == "my-job" and queue.serializer_name == "json"


def test_current_job_and_meta(redis: Backend) -> None:
    from conveyor import get_current_job

    assert get_current_job() is None  # outside a job
    queue = Queue(connection=redis)
    job = queue.enqueue(add, 1, 2)
    Worker([queue]).work(burst=True)
    assert job.get_meta() == {"handled_by": socket.gethostname()}
    assert job.result == 3


def test_time_to_live(redis: Backend) -> None:
    from conveyor.job import Job

    job = Job.create(
        func=say_hello,
        result_ttl=600,  # how long (in seconds) to keep the job (if successful) and its results
        ttl=43,  # maximum queued time (in seconds) of the job before it's discarded.
    )
    assert (job.result_ttl, job.ttl) == (600, 43)
    q = Queue(connection=redis)
    job = q.enqueue(
        count_words_at_url,
        "http://nvie.com",
        result_ttl=600,  # how long to keep the job (if successful) and its results
        ttl=43,  # maximum queued time
    )
    assert (job.result_ttl, job.ttl) == (600, 43)


def test_job_position_in_queue(redis: Backend) -> None:
    redis_conn = redis
    q = Queue(connection=redis_conn)
    job = q.enqueue(say_hello)
    job2 = q.enqueue(say_hello)
    assert job2.get_position() == 1
    assert q.get_job_position(job) == 0


def test_failed_jobs(redis: Backend) -> None:
    connection = redis
    queue = Queue(connection=connection)
    queue.enqueue(div_by_zero, 1)
    registry = queue.failed_job_registry
    worker = Worker([queue])
    worker.work(burst=True)
    assert len(registry) == 1  # Failed jobs are kept in FailedJobRegistry
    job = queue.enqueue(foo_job, failure_ttl=300)  # 5 minutes in seconds
    assert job.failure_ttl == 300


def test_requeuing_failed_jobs(redis: Backend) -> None:
    connection = redis
    queue = Queue(connection=connection)
    queue.enqueue(div_by_zero, 1)
    Worker([queue]).work(burst=True)
    registry = queue.failed_job_registry
    assert len(registry) == 1
    # This is how to get jobs from FailedJobRegistry
    for job_id in registry.get_job_ids():
        registry.requeue(job_id)  # Puts job back in its original queue
    assert len(registry) == 0  # Registry will be empty when job is requeued
    assert queue.count == 1


def test_default_connection_comes_from_the_environment(redis: Backend) -> None:
    assert conveyor.connect().url == redis.url
