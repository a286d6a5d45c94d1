"""A Redis that answers late (DEBUG SLEEP): a call the worker gave up on may still run."""

from __future__ import annotations

import socket
import subprocess
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


def impatient_worker(server: RedisServer) -> subprocess.Popen[bytes]:
    """A worker whose socket timeout (0.5 s) is a fraction of what Redis sleeps in these
    tests: a busy machine may stall a call for a fraction of a second, not for seconds."""
    return start_worker(f"{server.url}?socket_timeout=0.5", lease_ttl=60, poll_interval=30)


def test_a_claim_redis_ran_after_the_worker_gave_up_on_it_is_run_not_abandoned(server: RedisServer) -> None:
    backend = conveyor.connect(server.url)
    assert isinstance(backend, RedisBackend)
    queue = Queue(connection=backend)
    job = queue.enqueue_in(timedelta(hours=1), jobfuncs.add, 1, 2)
    worker = impatient_worker(server)
    admin = redis.Redis(port=server.port)
    try:
        # once it has run a job it is past its first maintenance pass (a timeout there ends
        # a worker that starts: it exits 1 for its supervisor to retry) and idle: its wake-up
        # wait and claim go out every 0.17 s
        first = queue.enqueue(jobfuncs.add, 0, 0)
        wait_until(lambda: first.get_status() is JobStatus.FINISHED, message="the worker to run a first job")
        # Redis sleeps three times the worker's socket timeout (it gives up on its claim), then
        # makes the job due and only then reads the claim the worker sent meanwhile
        admin.ping()  # accepted by Redis, so it reads the sleep before what the worker sends after
        pipe = admin.pipeline(transaction=False)
        pipe.execute_command("DEBUG", "SLEEP", "1.5")
        pipe.execute_command(*backend._scripts._command("promote", (repr(time.time() + 7200), 1000)))
        pipe.execute()
        # (without the worker looking for it, it stays started, leased to it, for the whole lease)
        wait_until(lambda: job.get_status() is JobStatus.FINISHED, timeout=15, message="the job to run")
        log = worker_log(worker)
    finally:
        stop_process(worker)
        admin.close()
    assert f"a claim the store did not answer took 1 jobs all the same: running them ({job.id})" in log
    assert (job.result, job.retry_count) == (3, 0)


def test_an_outcome_redis_recorded_after_the_worker_gave_up_on_it_is_not_called_refused(
    server: RedisServer, tmp_path: Path
) -> None:
    marker, release = tmp_path / "started", tmp_path / "release"
    backend = conveyor.connect(server.url)
    job = Queue(connection=backend).enqueue(jobfuncs.hold_until_released, str(marker), str(release))
    worker = impatient_worker(server)
    try:
        wait_until(marker.exists, message="the job to start")
        with socket.create_connection(("127.0.0.1", server.port)) as admin:
            # a connection Redis has accepted already: one it has yet to accept may be read
            # after the outcome (a busy Redis accepts and reads other clients in one pass)
            admin.sendall(b"PING\r\n")
            assert admin.recv(7) == b"+PONG\r\n"
            admin.sendall(b"DEBUG SLEEP 1.5\r\n")  # Redis reads this before what is sent after
            release.touch()  # the outcome goes out meanwhile: the worker gives up on it, Redis records it
            assert admin.recv(5) == b"+OK\r\n"
        wait_until(lambda: "already recorded" in worker_log(worker), message="the retried outcome")
        log = worker_log(worker)
    finally:
        stop_process(worker)
    assert "could not record 1 job outcomes" in log
    assert "refused (lease lost" not in log
    assert (job.get_status(), job.result) == (JobStatus.FINISHED, str(marker))
