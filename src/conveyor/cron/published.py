"""Periodic jobs as schedulers publish them in the store (Backend.cron_publish), and what
readers make of them: when each runs next, and whether a scheduler still runs it.

Written once above the backend contract: the REST API, the dashboard and ``conveyor
info`` read the same records the same way, and compute the next tick with the code the
scheduler itself uses (schedule.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from conveyor.exceptions import InvalidJobError
from conveyor.types import CronEntryRecord

from .entry import CronJob
from .schedule import Schedule, schedule_of

PUBLISH_INTERVAL = 60.0
"""Seconds between two publications of a running scheduler's entries."""
STALE_AFTER = 300.0
"""Seconds without a publication after which an entry is shown stale: no scheduler runs
it any more (stopped, or a config that dropped it), or the one running it cannot reach
the store. Five publications missed, as a worker is reaped after five minutes' silence."""


@dataclass(frozen=True, slots=True)
class Publisher:
    """The scheduler that publishes entries: its name, host and process."""

    name: str
    hostname: str
    pid: int


def records_of(entries: Sequence[CronJob], publisher: Publisher, now: float) -> list[CronEntryRecord]:
    """What ``publisher`` publishes of its entries at ``now``."""
    return [
        CronEntryRecord(
            name=entry.name, schedule_kind=entry.schedule.kind, schedule=entry.schedule.text,
            timezone=entry.schedule.zone_name, queue=entry.queue_name, job_type=entry.func_name,
            scheduler=publisher.name, hostname=publisher.hostname, pid=publisher.pid, last_seen=now,
        )
        for entry in entries
    ]  # fmt: skip


def schedule_of_record(record: CronEntryRecord) -> Schedule | None:
    """The schedule a record describes, None for one this process cannot rebuild (a time
    zone its system does not know, a record written by a later conveyor)."""
    try:
        if record.schedule_kind == "interval":
            return schedule_of(record.schedule, None, None)
        if record.schedule_kind == "cron":
            return schedule_of(None, record.schedule, record.timezone)
    except InvalidJobError:
        pass
    return None


def next_tick(record: CronEntryRecord, now: float) -> float | None:
    """When the entry's next run is due after ``now``, as its scheduler computes it; None
    when its schedule cannot be read here."""
    schedule = schedule_of_record(record)
    return None if schedule is None else schedule.next_after(now)


def is_stale(record: CronEntryRecord, now: float) -> bool:
    """Whether no scheduler has published the entry for STALE_AFTER seconds."""
    return now - record.last_seen > STALE_AFTER
