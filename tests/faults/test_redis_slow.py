"""A Redis that answers late (DEBUG SLEEP): a call the worker gave up on may still run."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis

import conveyor
import jobfuncs
from conveyor import JobStatus, Queue
from conveyor.backends.redis.backend import RedisBackend
from redis_server import RedisServer
from waiting import wait_until
from worker.processes import start_worker, stop_process, worker_log


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    redis_server = RedisServer(tmp_path, options=("--enable-debug-command", "yes")).start()
    yield redis_server
    redis_server.stop()


def test_a_claim_redis_ran_after_the_worker_gave_up_on_it_is_run_not_abandoned(server: RedisServer) -> None:
    backend = conveyor.connect(server.url)
    assert isinstance(backend, RedisBackend)
    job = Queue(connection=backend).enqueue_in(timedelta(hours=1), jobfuncs.add, 1, 2)
    # socket timeout 0.3 s: an idle worker's wake-up wait and claim go out every 0.1 s
    worker = start_worker(f"{server.url}?socket_timeout=0.3", lease_ttl=60, poll_interval=30)
    admin = redis.Redis(port=server.port)
    try:
        wait_until(backend.workers_list, message="the worker to start")
        # Redis sleeps past the worker's socket timeout (it gives up on its claim), then
        # makes the job due and only then reads the claim the worker sent meanwhile
        pipe = admin.pipeline(transaction=False)
        pipe.execute_command("DEBUG", "SLEEP", "0.55")
        pipe.execute_command(*backend._scripts._command("promote", (repr(time.time() + 7200), 1000)))
        pipe.execute()
        # (without the worker looking for it, it stays started, leased to it, for the whole lease)
        wait_until(lambda: job.get_status() is JobStatus.FINISHED, timeout=15, message="the job to run")
    finally:
        stop_process(worker)
        admin.close()
    assert (job.result, job.retry_count) == (3, 0)


def test_an_outcome_redis_recorded_after_the_worker_gave_up_on_it_is_not_called_refused(
    server: RedisServer, tmp_path: Path
) -> None:
    marker, release = tmp_path / "started", tmp_path / "release"
    backend = conveyor.connect(server.url)
    job = Queue(connection=backend).enqueue(jobfuncs.hold_until_released, str(marker), str(release))
    worker = start_worker(f"{server.url}?socket_timeout=0.3", lease_ttl=60, poll_interval=30)
    try:
        wait_until(marker.exists, message="the job to start")
        with socket.create_connection(("127.0.0.1", server.port)) as admin:
            admin.sendall(b"DEBUG SLEEP 1\r\n")  # Redis sleeps from the moment it reads this
            release.touch()  # the outcome goes out meanwhile: the worker gives up on it, Redis records it
            assert admin.recv(5) == b"+OK\r\n"
        wait_until(lambda: "already recorded" in worker_log(worker), message="the retried outcome")
        log = worker_log(worker)
    finally:
        stop_process(worker)
    assert "could not record 1 job outcomes" in log
    assert "refused (lease lost" not in log
    assert (job.get_status(), job.result) == (JobStatus.FINISHED, str(marker))
