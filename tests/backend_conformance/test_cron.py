"""cron_enqueue: a periodic job's tick is enqueued once, however many schedulers fire it."""

from __future__ import annotations

import threading

import pytest

import conveyor
from backend_conformance.helpers import NOW, get, put, snapshot
from conveyor.exceptions import JobIdInUseError
from conveyor.status import JobStatus
from conveyor.testing import make_record

TICK = NOW - 30.0


def test_a_tick_is_enqueued_once(backend):
    first = backend.cron_enqueue("report", TICK, make_record(), NOW)
    assert first is not None
    assert get(backend, first.id).status is JobStatus.QUEUED
    before = snapshot(backend)
    assert backend.cron_enqueue("report", TICK, make_record(), NOW + 1) is None
    assert snapshot(backend) == before


def test_a_tick_earlier_than_the_last_one_is_not_enqueued(backend):
    assert backend.cron_enqueue("report", TICK, make_record(), NOW) is not None
    assert backend.cron_enqueue("report", TICK - 60, make_record(), NOW) is None
    later = backend.cron_enqueue("report", TICK + 60, make_record(), NOW + 60)
    assert later is not None
    assert len(snapshot(backend)) == 2


def test_entries_keep_their_own_ticks(backend):
    assert backend.cron_enqueue("report", TICK, make_record(), NOW) is not None
    assert backend.cron_enqueue("cleanup", TICK, make_record(), NOW) is not None


def test_a_catch_up_needs_an_earlier_tick_of_the_entry(backend):
    # a new entry does not run for a tick that passed before it existed, and records nothing
    assert backend.cron_enqueue("report", TICK, make_record(), NOW, catch_up=True) is None
    assert snapshot(backend) == {}
    assert backend.cron_enqueue("report", TICK, make_record(), NOW) is not None
    # a known entry that missed a tick runs it once
    caught_up = backend.cron_enqueue("report", TICK + 3600, make_record(), NOW + 4000, catch_up=True)
    assert caught_up is not None
    assert backend.cron_enqueue("report", TICK + 3600, make_record(), NOW + 4000, catch_up=True) is None


def test_a_live_job_holding_the_unique_key_stands_for_the_tick(backend):
    running = put(backend, JobStatus.STARTED, unique_key="cron:report", worker_name="w", lease_token="t",
                  lease_expires_at=NOW + 60, started_at=NOW - 1)  # fmt: skip
    returned = backend.cron_enqueue("report", TICK, make_record(unique_key="cron:report"), NOW)
    assert returned is not None and returned.id == running.id
    assert len(snapshot(backend)) == 1
    assert backend.cron_enqueue("report", TICK, make_record(), NOW) is None  # the tick counts as done


def test_a_refused_enqueue_records_no_tick(backend):
    live = put(backend, JobStatus.QUEUED)
    with pytest.raises(JobIdInUseError):
        backend.cron_enqueue("report", TICK, make_record(id=live.id), NOW)
    assert backend.cron_enqueue("report", TICK, make_record(), NOW) is not None


def test_schedulers_racing_on_one_tick_enqueue_it_once(backend, other, url):
    # (two connections of their own: the audit of ``backend`` reads the store around each write)
    mine = conveyor.connect(url)
    barrier = threading.Barrier(8)
    results: list[tuple[float, object]] = []

    def fire(connection: object) -> None:
        barrier.wait()
        for tick in (TICK, TICK + 60, TICK + 120):
            record = connection.cron_enqueue("report", tick, make_record(), NOW + 200)  # type: ignore[attr-defined]
            results.append((tick, record))

    threads = [threading.Thread(target=fire, args=(mine if i % 2 else other,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    mine.close()
    stored = [(tick, record) for tick, record in results if record is not None]
    assert len(results) == 24
    ticks = [tick for tick, _ in stored]
    # each tick at most once (a later one may win before an earlier one), and the last one surely
    assert len(ticks) == len(set(ticks)) and TICK + 120 in ticks
    assert {record.id for _, record in stored} == set(snapshot(backend))  # type: ignore[attr-defined]
