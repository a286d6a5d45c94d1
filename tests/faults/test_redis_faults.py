"""Redis going away: clear errors at enqueue, workers that ride out a restart, eviction warnings."""

from __future__ import annotations

import contextlib
import logging
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis

import conveyor
import jobfuncs
from conveyor import Job, JobStatus, Queue, Worker, maintenance
from conveyor.clock import FrozenClock
from conveyor.exceptions import BackendError, BackendUnavailableError
from conveyor.types import HeartbeatReply, WorkerRecord
from redis_server import RedisServer
from stalls import assert_kept_by_its_live_worker, pause_redis_writes
from waiting import wait_until
from worker.processes import start_worker, stop_process, stop_processes, worker_log


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test's own, with every write on disk before it is acknowledged."""
    redis = RedisServer(tmp_path, appendonly=True).start()
    yield redis
    redis.stop()


def test_unreachable_redis_is_a_clear_connection_error(server: RedisServer) -> None:
    queue = Queue(connection=conveyor.connect(server.url))
    server.stop()
    with pytest.raises(BackendUnavailableError, match="cannot be reached") as raised:
        queue.enqueue(jobfuncs.noop)
    assert isinstance(raised.value, ConnectionError)
    with pytest.raises(BackendUnavailableError):
        conveyor.connect(server.url)


def test_workers_ride_out_a_redis_restart_and_lose_no_acknowledged_job(server: RedisServer) -> None:
    queue = Queue(connection=conveyor.connect(server.url))
    before = [queue.enqueue(jobfuncs.add, i, i) for i in range(20)]
    worker = start_worker(server.url, lease_ttl=2, poll_interval=0.1)
    try:
        wait_until(lambda: all(j.get_status() is JobStatus.FINISHED for j in before), message="the first jobs")
        server.stop()  # SIGKILL: no goodbye to the clients
        server.start()  # same port, same append-only file
        after = [queue.enqueue(jobfuncs.add, i, 1) for i in range(20)]
        wait_until(lambda: all(j.get_status() is JobStatus.FINISHED for j in after), timeout=60,
                   message="the jobs enqueued after the restart")  # fmt: skip
        assert worker.poll() is None, "the worker must keep running through the restart"
    finally:
        stop_process(worker)
    assert [j.result for j in before] == [2 * i for i in range(20)]
    assert [j.result for j in after] == [i + 1 for i in range(20)]


LEASE_TTL = 2.0
"""The lease of the worker whose job ends in the outage: long enough for its heartbeats
to keep it while Redis is up, on a loaded machine too."""


@contextlib.contextmanager
def job_ending_in_an_outage(server: RedisServer, tmp_path: Path) -> Iterator[tuple[Job, subprocess.Popen[bytes]]]:
    """A worker whose job ends, and its lease lapses, while Redis is down; Redis is back
    when this yields the job and the worker (killed after)."""
    ledger, release = tmp_path / "ledger", tmp_path / "release"
    job = Queue(connection=conveyor.connect(server.url)).enqueue(jobfuncs.record_run, str(ledger), "slow", str(release))
    worker = start_worker(server.url, name="alive", lease_ttl=LEASE_TTL, poll_interval=0.1)
    try:
        wait_until(ledger.exists, message="the job to start")
        server.stop()
        lapsed_by = time.time() + LEASE_TTL  # no renewal reaches Redis from here on
        release.touch()
        wait_until(lambda: "could not record 1 job outcomes" in worker_log(worker), message="the outcome held")
        wait_until(lambda: time.time() > lapsed_by, message="its lease to lapse in the outage")
        server.start()
        yield job, worker
    finally:
        release.touch()
        stop_process(worker)
    assert len(ledger.read_text().splitlines()) == 1, "it ran once"


def outcome_recorded(job: Job) -> None:
    wait_until(lambda: job.get_status() not in (JobStatus.STARTED, JobStatus.QUEUED), timeout=30,
               message="the outcome recorded")  # fmt: skip


def test_an_outage_longer_than_the_lease_costs_a_live_worker_none_of_its_jobs(
    server: RedisServer, tmp_path: Path
) -> None:
    with job_ending_in_an_outage(server, tmp_path) as (job, worker):
        outcome_recorded(job)
        assert worker.poll() is None, "the worker goes on"
        log = worker_log(worker)
    assert "recovered job" not in log, "a live worker's jobs are not taken for abandoned"
    assert log.count("could not record") == 1, "said once, not at every retry"
    assert "recorded 1 job outcomes held while the store failed" in log
    assert (job.get_status(), job.result, job.retry_count) == (JobStatus.FINISHED, "slow", 0)


def test_a_worker_started_after_a_redis_restart_leaves_live_workers_time_to_renew(
    server: RedisServer, tmp_path: Path
) -> None:
    with job_ending_in_an_outage(server, tmp_path) as (job, _):
        newcomer = start_worker(server.url, name="newcomer", lease_ttl=5, poll_interval=0.1)  # waits 5 s to recover
        try:  # it never saw Redis fail, and finds the lapsed lease of a worker still alive
            outcome_recorded(job)
            newcomer_log = worker_log(newcomer)
        finally:
            stop_process(newcomer)
    assert "recovered job" not in newcomer_log
    assert (job.get_status(), job.result, job.worker_name) == (JobStatus.FINISHED, "slow", "alive")


@pytest.mark.parametrize("recoverer_starts", ["before the pause", "in its last half-lease"])
def test_writes_paused_past_the_lease_cost_live_workers_none_of_their_jobs(
    server: RedisServer, tmp_path: Path, recoverer_starts: str
) -> None:
    """CLIENT PAUSE WRITE holds up every write, heartbeats too, while Redis answers reads:
    once it ends, live workers' leases have lapsed. A worker that recovered them then
    would run their jobs twice: each holds recovery back a lease period after its own
    renewals were held up, and one started in the pause's last half-lease (its
    registration waited less: no gap to see) for its first lease period."""
    ledger, release = tmp_path / "ledger", tmp_path / "release"
    backend = conveyor.connect(server.url)
    job = Queue(connection=backend).enqueue(jobfuncs.record_run, str(ledger), "slow", str(release))
    # its housekeeping writes only its heartbeats (no scheduling pass for 30 s): the pause catches one
    alive = start_worker(server.url, name="alive", lease_ttl=LEASE_TTL, poll_interval=30)
    recoverer = None
    try:
        wait_until(ledger.exists, message="the job to start")
        if recoverer_starts == "before the pause":
            recoverer = start_worker(server.url, name="recoverer", lease_ttl=LEASE_TTL, poll_interval=0.1)
            wait_until(lambda: len(backend.workers_list()) == 2, message="both workers registered")
        paused = time.monotonic()
        pause_redis_writes(server.url, 2.25 * LEASE_TTL)
        if recoverer is None:
            wait_until(lambda: time.monotonic() - paused > 2 * LEASE_TTL, timeout=30, message="two lease periods")
            recoverer = start_worker(server.url, name="recoverer", lease_ttl=LEASE_TTL, poll_interval=0.1)
        else:
            wait_until(lambda: "lease renewals were" in worker_log(recoverer), message="the recoverer to see it")
        wait_until(lambda: len(backend.workers_list()) == 2, message="both workers registered")
        # the job runs on past when the recoverer could have taken it
        wait_until(lambda: time.monotonic() - paused > 3.75 * LEASE_TTL, message="a lease period and a half more")
        release.touch()
        outcome_recorded(job)
        recoverer_log, alive_log = worker_log(recoverer), worker_log(alive)
    finally:
        release.touch()
        stop_processes(alive, recoverer)
    assert_kept_by_its_live_worker(job, ledger, recoverer_log + alive_log)


def test_a_worker_warns_when_redis_may_evict_jobs(server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    connection = conveyor.connect(server.url)
    connection._redis.config_set("maxmemory-policy", "allkeys-lru")  # type: ignore[attr-defined]
    with caplog.at_level(logging.WARNING, logger="conveyor.worker"):
        Worker(["default"], connection=connection).work(burst=True)
    assert any("noeviction" in record.getMessage() for record in caplog.records)


def test_a_policy_that_evicts_only_keys_with_a_ttl_is_no_threat(server: RedisServer) -> None:
    connection = conveyor.connect(server.url)
    connection._redis.config_set("maxmemory-policy", "volatile-lru")  # type: ignore[attr-defined]
    assert not any("maxmemory-policy" in warning for warning in connection.store_warnings())


def test_no_acknowledged_enqueue_is_lost_when_redis_is_killed_mid_stream(server: RedisServer) -> None:
    queue = Queue(connection=conveyor.connect(server.url))
    acknowledged: list[str] = []
    refused = 0
    stop = threading.Event()

    def enqueue_forever() -> None:
        nonlocal refused
        while not stop.is_set():
            try:
                acknowledged.append(queue.enqueue(jobfuncs.noop).id)
            except BackendUnavailableError:
                refused += 1  # a clear error: the caller knows this one was not taken

    feeder = threading.Thread(target=enqueue_forever)
    feeder.start()
    try:
        wait_until(lambda: len(acknowledged) >= 200, message="enqueues before the kill")
        server.stop()  # SIGKILL in the middle of the stream
        server.start()
        count_at_restart = len(acknowledged)
        wait_until(lambda: len(acknowledged) >= count_at_restart + 200, timeout=60, message="enqueues after it")
    finally:
        stop.set()
        feeder.join(60)
    worker = start_worker(server.url, burst=True)
    try:
        assert worker.wait(timeout=120) == 0
    finally:
        stop_process(worker)
    records = queue.connection.jobs_get(acknowledged)
    assert all(r is not None and r.status is JobStatus.FINISHED for r in records), "every acknowledged job ran"


def test_a_full_redis_refuses_writes_clearly_answers_reads_and_purges_its_way_back(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, options=("--maxmemory-policy", "noeviction")).start()
    try:
        backend = conveyor.connect(server.url)
        queue = Queue(connection=backend)
        done = [queue.enqueue(jobfuncs.echo, "x" * 4000, result_ttl=1) for _ in range(200)]
        Worker([queue]).work(burst=True)
        waiting = queue.enqueue(jobfuncs.noop)
        running = queue.enqueue(jobfuncs.noop)
        now = time.time()
        (claimed,) = backend.jobs_claim([queue.name], "w", 1, "token", now + 30, now)  # the older one
        backend.workers_register(WorkerRecord("w", "host", 1, (queue.name,), 1, last_heartbeat=now))
        redis = backend._redis  # type: ignore[attr-defined]
        used = int(redis.info("memory")["used_memory"])
        redis.config_set("maxmemory", used - 200_000)  # the 200 finished jobs hold about 800 kB

        with pytest.raises(BackendError, match="out of memory.*stored nothing"):
            queue.enqueue(jobfuncs.noop)
        assert queue.count == 1, "the refused job left nothing behind"
        newest = backend.job_ids_newest(None, [JobStatus.QUEUED, JobStatus.FINISHED], None, 5)
        assert [job_id for job_id, _ in newest][0] == running.id, "listings still answer"
        summaries = backend.jobs_summaries([running.id, waiting.id])
        assert [summary and summary.id for summary in summaries] == [running.id, waiting.id], "summaries too"
        assert {waiting.get_status(), running.get_status()} == {JobStatus.QUEUED, JobStatus.STARTED}
        # the running job keeps its lease and its worker its registration: nothing runs twice after
        assert backend.leases_extend("w", [(claimed.id, "token")], now + 60, now) == [claimed.id]
        assert backend.workers_heartbeat("w", now, "busy", [claimed.id], 0) is HeartbeatReply.RECORDED

        # Retention (the maintenance lock, then the purge) still runs and frees the memory.
        report = maintenance.run_retention(backend, time.time() + 5, owner="w", budget=10)
        assert report.purged == len(done)
        assert queue.enqueue(jobfuncs.noop).get_status() is JobStatus.QUEUED
    finally:
        server.stop()


def test_a_worker_started_on_a_full_redis_registers_and_purges_its_way_back(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, options=("--maxmemory-policy", "noeviction")).start()
    try:
        backend = conveyor.connect(server.url)
        queue = Queue(connection=backend)
        for _ in range(200):
            queue.enqueue(jobfuncs.echo, "x" * 4000, result_ttl=1)
        Worker([queue]).work(burst=True)
        waiting = queue.enqueue(jobfuncs.add, 1, 2)
        redis = backend._redis  # type: ignore[attr-defined]
        redis.config_set("maxmemory", int(redis.info("memory")["used_memory"]) - 200_000)
        with pytest.raises(BackendError, match="out of memory"):
            queue.enqueue(jobfuncs.noop)
        # a worker started now (a deploy, a restart) past the results' ttl
        Worker([queue], clock=FrozenClock(time.time() + 3600)).work(burst=True)
        assert (waiting.get_status(), waiting.result) == (JobStatus.FINISHED, 3)
    finally:
        server.stop()


def test_a_worker_logs_a_store_outage_once_per_service_and_backs_off(
    server: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    queue = Queue(connection=conveyor.connect(server.url))
    release = tmp_path / "release"
    queue.enqueue(jobfuncs.hold_until_released, str(tmp_path / "started"), str(release))
    worker = Worker([queue], connection=queue.connection, poll_interval=0.1)
    thread = threading.Thread(target=worker.work, kwargs={"burst": True})
    with caplog.at_level(logging.INFO, logger="conveyor.worker"):
        thread.start()
        try:
            wait_until((tmp_path / "started").exists, message="the job to start")
            server.stop()
            housekeeper = worker._housekeeper
            assert housekeeper is not None
            # 0.5 + 1 + 2 s of backoff: every tick (0.1 s) without it
            wait_until(lambda: housekeeper._failures.get("schedule", 0) >= 4, message="four failed schedule passes")
            failing = [r for r in caplog.records if "worker service schedule failed" in r.getMessage()]
            assert len(failing) == 1 and failing[0].exc_info is None, "one line per outage, no traceback"
            stop_reads = [r for r in caplog.records if "could not read stop commands" in r.getMessage()]
            assert len(stop_reads) == 1, "the job's stop commands cannot be read: said once"
            server.start()
            wait_until(lambda: "schedule" not in housekeeper._failures, timeout=60, message="the service to recover")
            assert any("worker service schedule works again" in r.getMessage() for r in caplog.records)
        finally:
            release.touch()
            thread.join(60)


def test_a_worker_claims_again_once_the_store_is_back_not_at_the_end_of_its_backoff(
    server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The claim loop backs off up to 30 s while the store is down; its housekeeping,
    which retries every poll interval or so, wakes it when a call gets through again."""
    queue = Queue(connection=conveyor.connect(server.url))
    worker = Worker([queue], connection=queue.connection, poll_interval=0.2)
    thread = threading.Thread(target=worker.work)
    with caplog.at_level(logging.INFO, logger="conveyor.worker"):
        thread.start()
        try:
            wait_until(lambda: worker.loop is not None, message="the worker to start")
            server.stop()
            wait_until(lambda: any("trying again in 8.0s" in r.getMessage() for r in caplog.records), timeout=60,
                       message="the claim loop to back off 8 s")  # fmt: skip
            server.start()
            job = queue.enqueue(jobfuncs.add, 1, 2)
            # well before the 8 s the claim loop had set itself to wait
            wait_until(lambda: job.get_status() is JobStatus.FINISHED, timeout=4.0, message="the job, promptly")
        finally:
            worker.request_stop()
            thread.join(30)
    assert not thread.is_alive()


def test_a_failing_service_backs_off_no_further_than_its_own_interval(server: RedisServer) -> None:
    from conveyor.worker.housekeeper import Housekeeper

    housekeeper = Housekeeper(Worker(["default"], connection=conveyor.connect(server.url)))
    down = BackendUnavailableError("the store went away")
    delays = [housekeeper._failed("heartbeat", down, interval=10.0) for _ in range(8)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0], "heartbeats come back before leases run out"
    assert [housekeeper._failed("maintenance", down, interval=600.0) for _ in range(8)][-1] == 30.0


def test_a_lost_due_subscription_is_made_again_and_misses_nothing(
    server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis drops the worker's subscription (a restart, a failover, a client killed for
    its output buffer): the job scheduled before it subscribes again, announced to no
    one, is heard all the same (the earliest due time is read once it is subscribed), and
    a subscription made again at once is no cause for a warning."""
    listener, client = conveyor.connect(server.url), conveyor.connect(server.url)
    admin = redis.Redis(port=server.port)
    try:
        assert listener.schedule_signals() is None
        channel = "{conveyor}:signal:due"
        wait_until(lambda: admin.pubsub_numsub(channel) == [(channel.encode(), 1)], message="the subscription")
        admin.client_kill_filter(_type="pubsub")
        Queue(connection=client).enqueue_in(timedelta(hours=1), jobfuncs.noop)
        assert wait_until(listener.schedule_signals, timeout=5, message="the due time") == client.schedule_next_due()
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    finally:
        admin.close()
        listener.close()
        client.close()
