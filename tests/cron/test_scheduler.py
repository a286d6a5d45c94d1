"""CronScheduler over a real store, time stepped by a FrozenClock: when each entry is
enqueued, once per tick across schedulers, and what a restart runs."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import conveyor
import jobfuncs
from conveyor.backends.base import Backend
from conveyor.clock import FrozenClock
from conveyor.cron import CronJob, CronScheduler
from conveyor.cron.entry import cron_job
from conveyor.exceptions import BackendUnavailableError, InvalidJobError
from conveyor.halt import Halt
from conveyor.status import JobStatus
from redis_server import RedisServer

START = datetime(2026, 3, 4, 10, 59, 30, tzinfo=UTC).timestamp()


def hourly(**options: object) -> CronJob:
    return cron_job(jobfuncs.add, args=(1, 2), cron="0 * * * *", name="hourly", **options)  # type: ignore[arg-type]


def every_minute() -> CronJob:
    return cron_job(jobfuncs.noop, interval=60, name="minutely")


@contextlib.contextmanager
def read_only_scheduler(url: str, clock: FrozenClock) -> Iterator[CronScheduler]:
    """A scheduler of the minutely entry on a store opened read-only: it refuses every write."""
    read_only = conveyor.connect(url, read_only=True)
    try:
        yield CronScheduler(read_only, entries=[every_minute()], clock=clock)
    finally:
        read_only.close()


def queued(backend: Backend) -> list[str]:
    return backend.job_ids("default", [JobStatus.QUEUED])


def test_each_entry_is_enqueued_at_its_ticks(backend: Backend) -> None:
    clock = FrozenClock(START)
    scheduler = CronScheduler(backend, entries=[hourly(), every_minute()], clock=clock)
    (first,) = scheduler.enqueue_due()  # an interval entry runs at start (as RQ's); a cron entry waits
    assert first.func_name == "jobfuncs.noop" and first.get_status() is JobStatus.QUEUED
    assert scheduler.next_due() == START + 30  # 11:00, both
    clock.set(START + 29.9)
    assert scheduler.enqueue_due() == []
    clock.set(START + 30)
    assert sorted(job.func_name for job in scheduler.enqueue_due()) == ["jobfuncs.add", "jobfuncs.noop"]
    assert scheduler.next_due() == START + 90  # 11:01, the interval
    clock.set(START + 90)
    assert [job.func_name for job in scheduler.enqueue_due()] == ["jobfuncs.noop"]
    assert len(queued(backend)) == 4


def test_two_schedulers_over_one_store_enqueue_each_tick_once(backend: Backend, url: str) -> None:
    clock = FrozenClock(START)
    other = conveyor.connect(url)
    schedulers = [CronScheduler(connection, entries=[hourly(), every_minute()], clock=clock)
                  for connection in (backend, other)]  # fmt: skip
    enqueued = []
    for step in range(0, 7200, 15):  # two hours in 15 s steps, both schedulers at every step
        clock.set(START + step)
        for scheduler in schedulers:
            enqueued += [(job.func_name, job.enqueued_at) for job in scheduler.enqueue_due()]
    other.close()
    # minutely: at start, then at each minute of 120; hourly: 11:00 and 12:00
    assert sum(name == "jobfuncs.noop" for name, _ in enqueued) == 1 + 120
    assert sum(name == "jobfuncs.add" for name, _ in enqueued) == 2
    assert len(queued(backend)) == len(enqueued)


def test_a_scheduler_that_woke_late_runs_the_tick_it_waited_for_once(backend: Backend) -> None:
    clock = FrozenClock(START)
    scheduler = CronScheduler(backend, entries=[every_minute()], clock=clock)
    scheduler.enqueue_due()
    clock.set(START + 600)  # asleep (a suspended laptop, a store outage) through ten ticks
    assert len(scheduler.enqueue_due()) == 1  # 11:00, late, not a burst of ten
    assert scheduler.next_due() == START + 630
    clock.set(START + 630)
    assert len(scheduler.enqueue_due()) == 1


def test_a_restart_runs_the_latest_missed_tick_once(backend: Backend) -> None:
    clock = FrozenClock(START)
    first = CronScheduler(backend, entries=[hourly(), every_minute()], clock=clock)
    first.enqueue_due()
    clock.set(START + 30)  # 11:00
    first.enqueue_due()
    assert len(queued(backend)) == 3
    clock.set(START + 30 + 3 * 3600 + 600)  # 14:10: down through 12:00, 13:00 and 14:00
    restarted = CronScheduler(backend, entries=[hourly(), every_minute()], clock=clock)
    caught_up = restarted.enqueue_due()
    assert sorted(job.func_name for job in caught_up) == ["jobfuncs.add", "jobfuncs.noop"]  # 14:00, 14:10
    assert len(queued(backend)) == 5
    again = CronScheduler(backend, entries=[hourly(), every_minute()], clock=clock)
    assert again.enqueue_due() == []  # the latest ticks are taken: nothing twice


def test_a_new_cron_entry_does_not_run_for_a_tick_before_it_existed(backend: Backend) -> None:
    clock = FrozenClock(START)  # 10:59:30: 10:00 has passed
    scheduler = CronScheduler(backend, entries=[hourly()], clock=clock)
    assert scheduler.enqueue_due() == []
    assert scheduler.next_due() == START + 30


def test_a_tick_the_store_refuses_is_tried_again_until_the_next_tick_stands_for_it(
    backend: Backend, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # a full Redis (or a store read-only for now) must not cost the run: no job silently dropped
    clock = FrozenClock(START)
    with read_only_scheduler(url, clock) as scheduler, caplog.at_level(logging.ERROR, logger="conveyor.cron"):
        assert scheduler.enqueue_due() == []
        assert scheduler.next_due() == START + 5  # tried again soon, not at the next tick
        clock.set(START + 5)
        assert scheduler.enqueue_due() == []  # refused again: said once per tick
        clock.set(START + 30)  # 11:00: the later tick stands for the refused one
        assert scheduler.enqueue_due() == []
    said = [r.getMessage() for r in caplog.records if "the store refused" in r.getMessage()]
    assert len(said) == 2 and "read-only" in said[0]
    assert "the tick at 2026-03-04T10:59:00+00:00" in said[0] and "2026-03-04T11:00:00+00:00" in said[1]
    scheduler.connection = backend  # the store takes writes again
    clock.set(START + 35)
    (job,) = scheduler.enqueue_due()  # one run for the two ticks, as after an outage
    assert queued(backend) == [job.id]
    assert scheduler.next_due() == START + 90


def test_a_unique_key_skips_a_tick_while_the_last_ticks_job_has_not_ended(backend: Backend) -> None:
    clock = FrozenClock(START)
    scheduler = CronScheduler(backend, entries=[cron_job(jobfuncs.noop, interval=60, unique_key="minutely")],
                              clock=clock)  # fmt: skip
    (first,) = scheduler.enqueue_due()
    clock.set(START + 30)
    assert scheduler.enqueue_due() == []  # the first is still queued: no second one
    assert queued(backend) == [first.id]
    first.cancel()
    clock.set(START + 90)
    assert len(scheduler.enqueue_due()) == 1


def test_rqs_programmatic_form_registers_on_the_scheduler(backend: Backend) -> None:
    scheduler = CronScheduler(connection=backend, clock=FrozenClock(START))
    scheduler.register(jobfuncs.add, "default", args=(1, 2), interval=60)
    with pytest.raises(InvalidJobError, match="registered twice"):
        scheduler.register(jobfuncs.add, "default", args=(3, 4), interval=60)
    (job,) = scheduler.enqueue_due()
    assert (job.func_name, job.args) == ("jobfuncs.add", (1, 2))


def test_a_running_scheduler_publishes_its_entries_at_start_and_every_minute(backend: Backend) -> None:
    clock = FrozenClock(START)
    paris = cron_job(jobfuncs.add, args=(1, 2), cron="0 9 * * mon-fri", timezone="Europe/Paris", name="report",
                     queue_name="reports")  # fmt: skip
    ten_minutes = cron_job("jobfuncs.noop", interval="10m", name="cleanup")
    scheduler = CronScheduler(backend, entries=[paris, ten_minutes], clock=clock, name="cron-1")
    assert backend.cron_entries() == []
    assert len(scheduler.run_once()) == 1  # the interval entry, at start
    (cleanup, report) = backend.cron_entries()
    assert (cleanup.name, cleanup.schedule_kind, cleanup.schedule, cleanup.timezone, cleanup.queue,
            cleanup.job_type) == ("cleanup", "interval", "10m", "UTC", "default", "jobfuncs.noop")  # fmt: skip
    assert (report.schedule_kind, report.schedule, report.timezone, report.queue, report.job_type) == (
        "cron", "0 9 * * mon-fri", "Europe/Paris", "reports", "jobfuncs.add",
    )  # fmt: skip
    assert (report.scheduler, report.pid, report.last_seen) == ("cron-1", os.getpid(), START)
    assert (cleanup.last_tick, report.last_tick) == (START - 570, None)  # 10:50, enqueued at start
    clock.set(START + 59)
    scheduler.run_once()
    assert {entry.last_seen for entry in backend.cron_entries()} == {START}  # not yet a minute
    clock.set(START + 60)
    scheduler.run_once()
    assert {entry.last_seen for entry in backend.cron_entries()} == {START + 60}


def test_a_scheduler_is_named_after_its_host_and_process(backend: Backend) -> None:
    scheduler = CronScheduler(backend, entries=[every_minute()])
    assert scheduler.publisher.name.startswith(f"{socket.gethostname()}.{os.getpid()}.")


def test_a_store_refusing_the_publication_is_logged_and_enqueueing_goes_on(
    backend: Backend, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with read_only_scheduler(url, FrozenClock(START)) as scheduler, caplog.at_level(logging.WARNING, "conveyor.cron"):
        scheduler.run_once()  # refused too: what matters is that it returns, the tick passed over and logged
    assert "could not publish the periodic jobs" in caplog.text and "read-only" in caplog.text
    assert scheduler.next_due() == START + 5  # its tick, refused too, is tried again


def test_a_scheduler_with_nothing_registered_says_so_when_started(backend: Backend) -> None:
    scheduler = CronScheduler(connection=backend, clock=FrozenClock(START))
    with pytest.raises(InvalidJobError, match="no job to enqueue: register one first"):
        scheduler.run(Halt())


def test_a_restart_while_the_store_is_down_catches_up_the_tick_missed_meanwhile(tmp_path: Path) -> None:
    """The tick missed is the latest when the store answers, not when the scheduler
    first tried: a daily job restarted at 10:59, its store back at 11:05, runs 11:00."""
    server = RedisServer(tmp_path, appendonly=True).start()
    backend = conveyor.connect(server.url)
    try:
        clock = FrozenClock(START - 24 * 3600)  # yesterday 10:59:30
        daily = [cron_job(jobfuncs.noop, cron="0 11 * * *", name="daily")]
        first = CronScheduler(backend, entries=daily, clock=clock)
        assert first.enqueue_due() == []
        clock.set(START - 24 * 3600 + 30)
        assert len(first.enqueue_due()) == 1  # yesterday 11:00
        clock.set(START)  # today 10:59:30: restarted, the store down
        restarted = CronScheduler(backend, entries=daily, clock=clock)
        server.stop()
        with pytest.raises(BackendUnavailableError):
            restarted.enqueue_due()
        server.start()
        clock.set(START + 330)  # 11:05: 11:00 passed while the store was down
        (late,) = restarted.enqueue_due()
        assert late.get_status() is JobStatus.QUEUED
        assert restarted.next_due() == START + 30 + 24 * 3600
    finally:
        backend.close()
        server.stop()
