"""Redis specifics of events, throughput and inspection that the conformance suite
cannot see: stream entries holding many events, trimming, dropping old minutes, and
inspection reading the indexes rather than the job hash."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from backend_conformance.helpers import NOW, claim, put, settle
from conveyor.backends.redis import scripts as redis_scripts
from conveyor.backends.redis.backend import RedisBackend
from conveyor.status import JobStatus
from conveyor.types import JobEvent, WorkerRecord
from redis_server import RedisServer
from waiting import wait_until

from .conftest import connect


def test_a_claim_of_many_jobs_is_read_in_pieces_without_gaps(backend: RedisBackend) -> None:
    jobs = [put(backend) for _ in range(25)]
    cursor, _ = backend.events_read(None, 0, 0)
    claim(backend, limit=25)  # one stream entry holding 25 events
    seen: list[JobEvent] = []
    for size in (10, 10, 5):
        cursor, events = backend.events_read(cursor, 10, 0)
        assert len(events) == size
        seen += events
    assert backend.events_read(cursor, 10, 0) == (cursor, [])
    assert seen == [JobEvent(job.id, JobStatus.STARTED) for job in jobs]


def test_the_stream_keeps_the_latest_events(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_scripts, "EVENTS_KEPT", 10)  # read when the scripts are loaded
    backend = connect(redis_server)
    jobs = [put(backend) for _ in range(500)]
    assert backend._redis.xlen(backend.keys.events) < 500  # trimmed in whole stream nodes
    cursor, events = backend.events_read("0", 1000, 0)  # a reader far behind skips the oldest
    assert len(events) >= 10
    assert events[-10:] == [JobEvent(job.id, JobStatus.QUEUED) for job in jobs[-10:]]
    assert cursor == backend.events_read(None, 0, 0)[0]
    backend.close()


def test_a_reader_ahead_of_a_restarted_stream_starts_it_again(backend: RedisBackend) -> None:
    put(backend)
    cursor, _ = backend.events_read(None, 0, 0)
    backend._redis.delete(backend.keys.events)  # what a Redis that lost its data looks like
    assert backend.events_read(cursor, 10, 0) == ("0", [])
    job = put(backend)
    assert backend.events_read("0", 10, 0)[1] == [JobEvent(job.id, JobStatus.QUEUED)]


def test_events_go_on_numbering_from_the_stream_when_their_counter_is_lost(backend: RedisBackend) -> None:
    first = put(backend)
    cursor, _ = backend.events_read(None, 0, 0)
    backend._redis.delete(backend.keys.events_total)  # as after an upgrade from before the counter
    second = put(backend)
    assert backend.events_read("0", 10, 0)[1] == [JobEvent(job.id, JobStatus.QUEUED) for job in (first, second)]
    assert backend.events_read(cursor, 10, 0) == (str(int(cursor) + 1), [JobEvent(second.id, JobStatus.QUEUED)])
    assert int(backend._redis.get(backend.keys.events_total)) == int(cursor) + 1


def test_purge_drops_minutes_older_than_a_day(backend: RedisBackend) -> None:
    put(backend)
    (claimed,) = claim(backend)
    settle(backend, claimed, JobStatus.FINISHED, keep_until=NOW + 10**6)
    backend.jobs_purge(NOW + 3600, 100)
    assert backend.throughput(0).finished == 1
    backend.jobs_purge(NOW + 2 * 86400, 100)
    assert backend.throughput(0).finished == 0
    assert backend._redis.exists(backend.keys.throughput) == 0


def test_inspection_shows_a_job_missing_from_its_queue(backend: RedisBackend) -> None:
    job = put(backend)
    member: Any = backend._redis.hget(backend.keys.job(job.id), "qmember")
    backend._redis.zrem(backend.keys.queued("default"), member)
    seen = backend.job_inspect(job.id)
    assert (seen.status, seen.in_queue, seen.queue_position) == (JobStatus.QUEUED, False, None)
    assert seen.locations == (backend.keys.job(job.id), backend.keys.queued_by_user("default", None))


def test_inspection_finds_index_entries_of_a_lost_job_hash(backend: RedisBackend) -> None:
    put(backend)
    (claimed,) = claim(backend, worker="w-1")
    backend._redis.delete(backend.keys.job(claimed.id))
    seen = backend.job_inspect(claimed.id)
    assert (seen.exists, seen.lease_owner, seen.lease_expires_at) == (False, None, claimed.lease_expires_at)
    assert set(seen.locations) == {backend.keys.status("default", JobStatus.STARTED), backend.keys.leases}


def test_a_waiting_claim_reloads_scripts_a_restarted_redis_lost(backend: RedisBackend) -> None:
    job = put(backend)
    backend._redis.function_flush()
    (claimed,) = backend.jobs_claim(["default"], "w-1", 10, "token-1", NOW + 30, NOW, None, 5)
    assert claimed.id == job.id
    assert backend.jobs_claim(["default"], "w-1", 10, "token-1", NOW + 30, NOW, None, 0.05) == []


def test_a_worker_registered_by_a_later_version_with_more_fields_is_still_listed(backend: RedisBackend) -> None:
    backend.workers_register(WorkerRecord("w-new", "host", 1, ("default",), 1, last_heartbeat=1.0))
    stored = json.loads(backend._redis.hget(backend.keys.workers, "w-new"))  # as a later version may write it
    backend._redis.hset(backend.keys.workers, "w-new", json.dumps({**stored, "gpu": "a100"}))
    assert [worker.name for worker in backend.workers_list()] == ["w-new"]


def test_a_blocking_read_whose_connection_is_killed_reads_again(backend: RedisBackend) -> None:
    cursor, _ = backend.events_read(None, 0, 0)
    admin = backend._redis

    def kill_the_read() -> None:
        def reading() -> list[Any]:
            return [client for client in admin.client_list() if client["cmd"] == "xread"]

        wait_until(reading, message="the blocking read")
        for client in reading():
            admin.client_kill_filter(_id=client["id"])
        put(backend)  # an event for the read sent again

    killer = threading.Thread(target=kill_the_read)
    killer.start()
    try:
        _, events = backend.events_read(cursor, 10, 10.0)  # a CLIENT KILL (or a proxy) drops it
    finally:
        killer.join()
    assert [event.status for event in events] == [JobStatus.QUEUED]
