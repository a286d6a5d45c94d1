"""The socket timeout: a Redis that stops answering is an error, not a hang; blocking
reads and large enqueues still fit inside it."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import conveyor
import jobfuncs
from backend_conformance.helpers import NOW
from conveyor import Batch, JobStatus, Queue
from conveyor.backends.redis.backend import SOCKET_TIMEOUT, RedisBackend
from conveyor.exceptions import BackendUnavailableError
from redis_server import RedisServer


def connect(server: RedisServer, socket_timeout: float) -> RedisBackend:
    connection = conveyor.connect(f"{server.url}?socket_timeout={socket_timeout}&prefix=t-{uuid.uuid4().hex[:8]}")
    assert isinstance(connection, RedisBackend)
    return connection


@pytest.fixture
def short(redis_server: RedisServer) -> Iterator[RedisBackend]:
    """A backend whose socket timeout is a fifth of a second."""
    connection = connect(redis_server, 0.2)
    yield connection
    connection.close()


def test_the_default_socket_timeout_reports_a_silent_redis_within_seconds(redis_server: RedisServer) -> None:
    connection = conveyor.connect(redis_server.url)
    assert isinstance(connection, RedisBackend)
    try:
        assert connection._redis.connection_pool.connection_kwargs["socket_timeout"] == SOCKET_TIMEOUT <= 15
    finally:
        connection.close()


def test_blocking_reads_wait_in_slices_inside_a_short_socket_timeout(short: RedisBackend) -> None:
    short.wait_for_jobs(5)  # each returns after a slice: none may outlast the socket timeout
    assert short.jobs_claim(["default"], "w-1", 1, "token", NOW + 30, NOW, None, 5) == []
    cursor = short.events_read(None, 10, 0)[0]
    assert short.events_read(cursor, 10, 1) == (cursor, [])


@pytest.fixture
def tight(redis_server: RedisServer) -> Iterator[tuple[RedisBackend, Queue]]:
    """A backend whose socket timeout (0.1 s) is shorter than Redis takes to store or move
    20,000 jobs, and a queue on a backend with the default timeout in the same namespace,
    to check the outcome (plain reads get no extra time: a loaded machine may stall one)."""
    short = connect(redis_server, 0.1)
    checker = conveyor.connect(f"{redis_server.url}?prefix={short.keys.prefix}")
    yield short, Queue(connection=checker)
    Queue(connection=checker).empty()
    short.close()
    checker.close()


def test_an_enqueue_of_many_jobs_gets_time_beyond_the_socket_timeout(tight: tuple[RedisBackend, Queue]) -> None:
    short, check = tight
    jobs = Queue(connection=short).enqueue_many([Queue.prepare_data(jobfuncs.noop) for _ in range(20_000)])
    assert len(jobs) == len(check) == 20_000


def test_scripts_over_a_big_batch_get_time_beyond_the_socket_timeout(tight: tuple[RedisBackend, Queue]) -> None:
    short, check = tight  # holding, starting and canceling 20,000 jobs take Redis longer than its timeout
    queue = Queue(connection=short)
    jobs = [Queue.prepare_data(jobfuncs.noop) for _ in range(20_000)]
    later = datetime.now(UTC) + timedelta(hours=1)
    started = Batch.create(jobs, queue=queue, scheduled_start=later, max_jobs=20_000, connection=short)
    started.start()
    assert check.count == 20_000
    canceled = Batch.create(jobs, queue=queue, scheduled_start=later, max_jobs=20_000, connection=short)
    assert canceled.cancel() == 20_000
    due = Batch.create(jobs, queue=queue, scheduled_start=later, max_jobs=20_000, connection=short)
    assert short.batches_start_due(time.time() + 7200) == 1
    assert Batch.fetch(due.id, connection=check.connection).counts[JobStatus.QUEUED] == 20_000


def test_a_redis_that_stops_answering_is_a_clear_error_and_the_backend_recovers(tmp_path: Path) -> None:
    server = RedisServer(tmp_path).start()
    connection = connect(server, 0.5)
    try:
        queue = Queue(connection=connection)
        assert server.process is not None
        server.process.send_signal(signal.SIGSTOP)  # alive, listening, silent
        try:
            with pytest.raises(BackendUnavailableError, match="no answer .* may still take effect"):
                queue.enqueue(jobfuncs.noop, job_id="sent-unanswered")
            with pytest.raises(BackendUnavailableError):
                len(queue)
        finally:
            server.process.send_signal(signal.SIGCONT)
        job = queue.enqueue(jobfuncs.noop)
        assert queue.job_ids[-1] == job.id  # the unanswered one may be there too (Redis read it or not)
    finally:
        connection.close()
        server.stop()
