"""Outcomes too big for the store: the job fails alone, saying so, and others are recorded."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import conveyor
import jobfuncs
from conftest import BACKENDS
from conveyor import Queue, Retry, Worker
from conveyor.backends.base import Backend
from conveyor.status import JobStatus
from redis_server import RedisServer


@pytest.fixture(params=BACKENDS)
def small_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Backend, int]]:
    """A store that refuses values past a limit, and a size past it."""
    if request.param == "sqlite":
        backend = conveyor.connect(f"sqlite:///{tmp_path / 'conveyor.db'}")
        # this thread's connection: the one a worker's claim loop run here records outcomes with
        backend._pool.connection().setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 200_000)  # type: ignore[attr-defined]
        yield backend, 300_000
        backend.close()
        return
    server = RedisServer(tmp_path, options=("--proto-max-bulk-len", "1mb")).start()
    try:
        backend = conveyor.connect(server.url)
        yield backend, 1_200_000
        backend.close()
    finally:
        server.stop()


def test_an_outcome_too_big_for_the_store_fails_its_job_and_holds_back_no_other(
    small_store: tuple[Backend, int],
) -> None:
    backend, size = small_store
    queue = Queue(connection=backend)
    big = queue.enqueue(jobfuncs.large_result, size)
    loud = queue.enqueue(jobfuncs.fail_at_length, size, retry=Retry(max=1))
    small = queue.enqueue(jobfuncs.add, 1, 2)
    worker = Worker([queue], connection=backend, poll_interval=0.1)
    deadline = threading.Timer(30, worker.request_stop)  # a burst waited for ever to record them
    deadline.start()
    try:
        worker.work(burst=True)
    finally:
        deadline.cancel()
    assert small.get_status() is JobStatus.FINISHED and small.result == 3
    assert big.get_status() is JobStatus.FAILED, "failed, not retried: another run would return as much"
    assert big.exc_info is not None and f"result ({size + 2} bytes) could not be stored" in big.exc_info
    assert loud.get_status() is JobStatus.FAILED and loud.retry_count == 1
    assert loud.exc_info is not None and "characters cut: the store refused them" in loud.exc_info
    assert loud.exc_info.startswith("Traceback") and len(loud.exc_info) < 10_000
