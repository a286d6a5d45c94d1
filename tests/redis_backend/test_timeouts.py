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
import redis

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
    """A backend whose socket timeout (1.5 s) is shorter than the waits asked of it: its
    slices (0.5 s) leave a loaded machine a second to answer each (Redis ends a blocking
    wait up to a tenth of a second late, at its next timer)."""
    connection = connect(redis_server, 1.5)
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
    short.wait_for_jobs(["default"], 5)  # each returns after a slice: none may outlast the socket timeout
    assert short.jobs_claim(["default"], "w-1", 1, "token", NOW + 30, NOW, None, 5) == []
    cursor = short.events_read(None, 10, 0)[0]
    assert short.events_read(cursor, 10, 1) == (cursor, [])


# Redis holds writes this long in the tests below (CLIENT PAUSE ... WRITE from another
# connection), three times the socket timeout of the backend under test (reads go on: only
# the call under test outlasts its socket timeout, on an idle machine and a busy one alike)
HELD = 1.5
JOBS = 10_000  # 5 s of extra time for a call over them: far more than HELD


@pytest.fixture
def tight(redis_server: RedisServer) -> Iterator[tuple[RedisBackend, Queue]]:
    """A backend whose socket timeout (0.5 s) is shorter than Redis holds writes, and a
    queue on a backend with the default timeout in the same namespace, to check the outcome."""
    short = connect(redis_server, HELD / 3)
    checker = conveyor.connect(f"{redis_server.url}?prefix={short.keys.prefix}")
    yield short, Queue(connection=checker)
    Queue(connection=checker).empty()
    short.close()
    checker.close()


def hold_writes(server: RedisServer) -> None:
    """Have Redis hold every client's writes (scripts included) for HELD seconds."""
    with redis.Redis(port=server.port) as admin:
        admin.execute_command("CLIENT", "PAUSE", int(HELD * 1000), "WRITE")


def test_an_enqueue_of_many_jobs_gets_time_beyond_the_socket_timeout(
    tight: tuple[RedisBackend, Queue], redis_server: RedisServer
) -> None:
    short, check = tight
    hold_writes(redis_server)
    jobs = Queue(connection=short).enqueue_many([Queue.prepare_data(jobfuncs.noop) for _ in range(JOBS)])
    assert len(jobs) == len(check) == JOBS


def test_a_plain_write_held_past_the_socket_timeout_is_reported(
    tight: tuple[RedisBackend, Queue], redis_server: RedisServer
) -> None:
    short, _ = tight  # what the extra time of the calls over many jobs is for
    hold_writes(redis_server)
    with pytest.raises(BackendUnavailableError, match="no answer"):
        Queue(connection=short).enqueue(jobfuncs.noop)


def test_scripts_over_a_big_batch_get_time_beyond_the_socket_timeout(
    tight: tuple[RedisBackend, Queue], redis_server: RedisServer
) -> None:
    short, check = tight  # holding, starting and canceling many jobs, held past the socket timeout
    queue = Queue(connection=short)
    jobs = [Queue.prepare_data(jobfuncs.noop) for _ in range(JOBS)]
    later = datetime.now(UTC) + timedelta(hours=1)
    started = Batch.create(jobs, queue=queue, scheduled_start=later, max_jobs=JOBS, connection=short)
    hold_writes(redis_server)
    started.start()
    assert check.count == JOBS
    canceled = Batch.create(jobs, queue=queue, scheduled_start=later, max_jobs=JOBS, connection=short)
    hold_writes(redis_server)
    assert canceled.cancel() == JOBS
    due = Batch.create(jobs, queue=queue, scheduled_start=later, max_jobs=JOBS, connection=short)
    hold_writes(redis_server)
    assert short.batches_start_due(time.time() + 7200) == 1
    assert Batch.fetch(due.id, connection=check.connection).counts[JobStatus.QUEUED] == JOBS


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
