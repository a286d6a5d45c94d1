"""The cron scheduler: enqueues each registered job when it is due, then sleeps until the
next one is.

Several schedulers may run over one store (for redundancy, or one per deploy by
mistake): each tick is enqueued by whichever gets there first, and the others are told
it was taken (Backend.cron_enqueue), so a tick is enqueued once, never twice or not at
all while one of them runs. A tick missed while no scheduler ran is not run late,
except the most recent one, once, when a scheduler starts (as anacron and systemd's
persistent timers do): a deploy that restarts the only scheduler across a tick loses
no run, and one that was down for a day runs a daily job once, not a burst of them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

from conveyor.backends.base import Backend
from conveyor.clock import SYSTEM_CLOCK, Clock, to_datetime
from conveyor.connection import resolve_connection
from conveyor.exceptions import BackendUnavailableError, ConveyorError, InvalidJobError
from conveyor.halt import Halt
from conveyor.job import Job
from conveyor.options import DEFAULT_QUEUE
from conveyor.queue import stamp_enqueued
from conveyor.store_wait import once_the_store_answers

from .config import load_config, refuse_twice
from .entry import CronJob, cron_job
from .published import PUBLISH_INTERVAL, Publisher, records_of
from .schedule import CronSchedule

log = logging.getLogger("conveyor.cron")

LONGEST_SLEEP = 60.0
"""The longest the scheduler sleeps at once: a wall clock set forward is noticed within it."""
REFUSED_RETRY = 5.0
"""Seconds before a tick whose enqueue the store refused (full, read-only for now) is tried again."""


@dataclass
class _Due:
    """The tick an entry waits for, whether it is a missed one being caught up, and when a
    tick the store refused is tried again."""

    tick: float
    catch_up: bool
    retry_at: float | None = None

    @property
    def at(self) -> float:
        return self.tick if self.retry_at is None else max(self.tick, self.retry_at)


class CronScheduler:
    """Enqueues its entries on ``connection`` when they are due, as RQ's CronScheduler:
    ``CronScheduler(connection=conn)``, then ``register(...)`` (cron.register's arguments)
    or ``load_config_from_file(CONFIG)``, then ``start()``. While it runs it publishes its
    entries in the store every PUBLISH_INTERVAL, under ``name`` (default: host.pid.random),
    for operators to see (``GET /api/v1/cron``, the dashboard, ``conveyor info``)."""

    def __init__(
        self,
        connection: Backend | None = None,
        *,
        entries: Sequence[CronJob] = (),
        clock: Clock = SYSTEM_CLOCK,
        name: str | None = None,
    ) -> None:
        self.connection = resolve_connection(connection)
        self.entries = list(entries)
        self.clock = clock
        hostname = socket.gethostname()
        self.publisher = Publisher(name or f"{hostname}.{os.getpid()}.{secrets.token_hex(2)}", hostname, os.getpid())
        self._due: dict[str, _Due] = {}
        self._published_at: float | None = None

    def register(self, func: Callable[..., Any] | str, queue_name: str = DEFAULT_QUEUE, **options: Any) -> CronJob:
        """Add an entry, as ``conveyor.cron.register`` does in a config."""
        entry = cron_job(func, queue_name, **options)
        refuse_twice(entry, self.entries)
        self.entries.append(entry)
        return entry

    def load_config_from_file(self, config: str) -> None:
        """Add the entries a cron config registers (a .py file or a module name)."""
        for entry in load_config(config):
            refuse_twice(entry, self.entries)
            self.entries.append(entry)

    def start(self) -> None:
        """Run until SIGTERM or SIGINT (this must be the main thread)."""
        halt = Halt()
        with stopped_by_signals(halt):
            self.run(halt)

    def enqueue_due(self) -> list[Job]:
        """Enqueue every entry whose tick has come and that no other scheduler enqueued;
        return the jobs enqueued. A tick whose enqueue the store refuses (a full Redis, a
        store read-only for now) is tried again every REFUSED_RETRY seconds until a later
        tick of the entry comes, which then stands for both (one run, as after an outage);
        BackendUnavailableError leaves the ticks to be tried again."""
        now = self.clock.now()
        enqueued = []
        for entry in self.entries:
            due = self._due.get(entry.name)
            if due is None or due.catch_up:  # (a catch-up an outage put off is the latest tick by now)
                latest = self._first(entry, now)
                due = latest if due is None or latest.tick != due.tick else due
            elif due.retry_at is not None and entry.schedule.latest_at(now) > due.tick:
                due = _Due(entry.schedule.latest_at(now), catch_up=False)  # a later tick came while refused
            self._due[entry.name] = due
            if due.at > now:
                continue
            try:
                job = self._enqueue(entry, due, now)
            except BackendUnavailableError:
                raise
            except ConveyorError as exc:
                if due.retry_at is None:  # (said once per tick: a full store refuses every try)
                    log.error("cron job %s: the store refused the job of the tick at %s (%s); it is tried again every "
                              "%g s until the next tick", entry.name, _when(due.tick), exc, REFUSED_RETRY)  # fmt: skip
                self._due[entry.name] = _Due(due.tick, due.catch_up, retry_at=now + REFUSED_RETRY)
                continue
            if job is not None:
                enqueued.append(job)
            self._due[entry.name] = _Due(entry.schedule.next_after(now), catch_up=False)
        return enqueued

    def next_due(self) -> float:
        """When the earliest waiting tick comes, or a refused one is tried again (after
        enqueue_due has seen every entry)."""
        return min(due.at for due in self._due.values())

    def publish(self) -> None:
        """Record the entries in the store, as this scheduler's, now (Backend.cron_publish)."""
        now = self.clock.now()
        self.connection.cron_publish(records_of(self.entries, self.publisher, now))
        self._published_at = now

    def run(self, halt: Halt) -> None:
        """Publish the entries, then enqueue due jobs until ``halt`` is set, sleeping
        between ticks and publishing again every PUBLISH_INTERVAL; an unreachable store is
        waited for (logged), as workers wait for it. InvalidJobError if no entry is
        registered: there would be nothing to wait for."""
        if not self.entries:
            raise InvalidJobError(
                "the cron scheduler has no job to enqueue: register one first (scheduler.register(...) or "
                "scheduler.load_config_from_file(CONFIG))"
            )
        pause = halt.wait
        while not halt.is_set():
            once_the_store_answers(lambda: halt.is_set() or self.run_once(), log.warning, pause)
            if not halt.is_set():
                wake_at = min(self.next_due(), self._next_publish())
                pause(min(LONGEST_SLEEP, max(0.0, wake_at - self.clock.now())))

    def run_once(self) -> list[Job]:
        """One pass of ``run``: publish the entries if PUBLISH_INTERVAL has passed since
        they last were, then enqueue the due ones (enqueue_due). A store that refuses the
        publication (full, read-only) is logged and tried again at the next interval: what
        operators see must never keep a job from being enqueued."""
        if self.clock.now() >= self._next_publish():
            try:
                self.publish()
            except BackendUnavailableError:
                raise
            except ConveyorError as exc:
                log.warning("could not publish the periodic jobs (they show as stale after five minutes): %s", exc)
                self._published_at = self.clock.now()
        return self.enqueue_due()

    def _next_publish(self) -> float:
        return float("-inf") if self._published_at is None else self._published_at + PUBLISH_INTERVAL

    def _first(self, entry: CronJob, now: float) -> _Due:
        """The first tick a starting scheduler tries: the latest one, now or past. A cron
        entry runs it only as a catch-up (it enqueued an earlier tick before); an interval
        entry runs at once, as RQ's does at start, unless its tick was enqueued already."""
        return _Due(entry.schedule.latest_at(now), catch_up=isinstance(entry.schedule, CronSchedule))

    def _enqueue(self, entry: CronJob, due: _Due, now: float) -> Job | None:
        job = entry.job(self.clock, self.connection)
        stamp_enqueued(job, now)
        stored = self.connection.cron_enqueue(entry.name, due.tick, job.record, now, due.catch_up)
        if stored is None:
            log.debug("cron job %s: the tick at %s was enqueued already (by another scheduler, or not due for a "
                      "new entry)", entry.name, _when(due.tick))  # fmt: skip
            return None
        if stored.id != job.id:
            log.info("cron job %s: tick at %s skipped: job %s (unique_key %r) has not ended yet", entry.name,
                     _when(due.tick), stored.id, stored.unique_key)  # fmt: skip
            return None
        job._stored_as(stored)
        late = " (missed while no scheduler ran)" if due.catch_up else ""
        log.info("cron job %s: enqueued job %s on %r for the tick at %s%s", entry.name, job.id, entry.queue_name,
                 _when(due.tick), late)  # fmt: skip
        return job


@contextlib.contextmanager
def stopped_by_signals(halt: Halt) -> Iterator[None]:
    """SIGTERM and SIGINT set ``halt`` (a signal-safe pipe write) for the duration."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        halt.set()

    for sig in previous:
        signal.signal(sig, on_signal)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _when(tick: float) -> str:
    moment = to_datetime(tick)
    assert moment is not None
    return moment.isoformat(timespec="seconds")
