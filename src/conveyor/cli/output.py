"""Rendering results: rich tables for people, JSON (``--json``) for scripts.

Markup is off on the console: job ids, queue names and error text come from users
and must print as written, never be read as rich markup.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import click
from rich import box
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from conveyor.cron.published import is_stale, next_tick
from conveyor.health import worker_is_healthy
from conveyor.job import Job
from conveyor.status import JobStatus
from conveyor.types import CronEntryRecord, WorkerRecord

STATUS_STYLES: dict[JobStatus, str] = {
    JobStatus.QUEUED: "cyan",
    JobStatus.DEFERRED: "dim cyan",
    JobStatus.SCHEDULED: "blue",
    JobStatus.STARTED: "yellow",
    JobStatus.FINISHED: "green",
    JobStatus.FAILED: "red",
    JobStatus.STOPPED: "magenta",
    JobStatus.CANCELED: "dim",
}
"""One colour per status, the same in every table."""


def iso(timestamp: float | None) -> str | None:
    """An epoch timestamp as ISO 8601 UTC with ``Z``, the form the REST API uses too."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ago(timestamp: float | None, now: float) -> str:
    """How long ago, in the largest whole unit: easier to scan than a timestamp."""
    if timestamp is None:
        return "-"
    return f"{_largest_unit(now - timestamp)} ago"


def until(timestamp: float | None, now: float) -> str:
    """How long from now, as ``ago`` says how long since: 'in 4m'."""
    if timestamp is None:
        return "-"
    return f"in {_largest_unit(timestamp - now)}"


def _largest_unit(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


class Output:
    """Where a command writes its result, as text or as JSON."""

    def __init__(self, as_json: bool = False) -> None:
        self.as_json = as_json
        self.console = Console(markup=False, highlight=False, emoji=False)

    def emit(self, data: Any, human: RenderableType | None = None) -> None:
        """Print ``data`` as JSON with ``--json``, else ``human`` (or nothing)."""
        if self.as_json:
            click.echo(json.dumps(data, indent=2))
        elif human is not None:
            self.console.print(human)


def plain_table(title: str | None) -> Table:
    """Tables without vertical rules or edges, so eight status columns fit in 80 columns."""
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=0, show_edge=False)


def status_text(status: JobStatus) -> Text:
    return Text(status.value, style=STATUS_STYLES[status])


ALWAYS_SHOWN = (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.FINISHED, JobStatus.FAILED)
"""Status columns the queues table always has; the others appear only when some queue has such jobs,
so the table fits a terminal (``--json`` always gives every status)."""


def queues_table(counts: Mapping[str, Mapping[JobStatus, int]], paused: Collection[str] = ()) -> Table:
    """One row per queue, a column per status in use, and totals when there are several
    queues; a paused queue's name says so."""
    shown = [s for s in JobStatus if s in ALWAYS_SHOWN or any(c.get(s, 0) for c in counts.values())]
    table = plain_table("Queues")
    table.add_column("queue", overflow="fold")  # a long name folds rather than squeeze the counts out
    for status in shown:
        table.add_column(status.value, justify="right", style=STATUS_STYLES[status], header_style="bold", no_wrap=True)
    table.add_column("total", justify="right", style="bold", no_wrap=True)
    for name, per_status in counts.items():
        label = Text.assemble(name, (" (paused)", "bold yellow")) if name in paused else name
        table.add_row(label, *_count_cells(per_status, shown))
    if len(counts) > 1:
        totals = {status: sum(c.get(status, 0) for c in counts.values()) for status in JobStatus}
        table.add_section()
        table.add_row(Text("all", style="bold"), *_count_cells(totals, shown))
    if not counts:
        table.add_row(Text("no jobs", style="dim"), *([""] * (len(shown) + 1)))
    return table


def _count_cells(per_status: Mapping[JobStatus, int], shown: Sequence[JobStatus]) -> list[str]:
    cells = [str(per_status.get(status, 0)) for status in shown]
    return [*cells, str(sum(per_status.values()))]


def workers_table(workers: Sequence[WorkerRecord], now: float | None = None) -> Table:
    """Who is working on what, and whether it is still alive (its last heartbeat).

    Of the jobs done, "failed" counts the ones that failed by themselves, and "stopped"
    (a column only when some worker has such) those a stop or a cancel ended, as the
    dashboard shows them; ``--json`` keeps RQ's count (``jobs_failed``, both) too.
    """
    now = time.time() if now is None else now
    stopped = any(worker.jobs_stopped for worker in workers)
    table = plain_table("Workers")
    table.add_column("name", overflow="fold")  # a long name folds rather than squeeze the rest out
    table.add_column("state", no_wrap=True)
    table.add_column("queues", overflow="fold")
    table.add_column("current jobs", no_wrap=True)  # whole ids, to copy into cancel/stop
    table.add_column("done", justify="right", no_wrap=True)
    table.add_column("failed", justify="right", no_wrap=True)
    if stopped:
        table.add_column("stopped", justify="right", no_wrap=True)
    table.add_column("heartbeat", no_wrap=True)
    for worker in workers:
        table.add_row(
            worker.name,
            _worker_state(worker),
            "\n".join(worker.queues),
            "\n".join(worker.current_job_ids) or "-",
            str(worker.jobs_done),
            str(worker.jobs_failed - worker.jobs_stopped),
            *([str(worker.jobs_stopped)] if stopped else []),
            Text(ago(worker.last_heartbeat, now), style="" if worker_is_healthy(worker, now) else "bold red"),
        )
    if not workers:
        table.add_row(Text("no workers", style="dim"), *([""] * (len(table.columns) - 1)))
    return table


def _worker_state(worker: WorkerRecord) -> Text:
    if worker.shutdown_requested:
        return Text(f"{worker.state}, shutting down", style="magenta")
    return Text(worker.state, style="yellow" if worker.state == "busy" else "")


def cron_table(entries: Sequence[CronEntryRecord], now: float) -> Table:
    """A row per periodic job: what it enqueues where, when it runs next and ran last,
    and when a scheduler last published it (stale once none has for five minutes; which
    one, ``--json`` says)."""
    table = plain_table("Periodic jobs")
    for column in ("name", "function", "queue", "schedule"):
        table.add_column(column, overflow="fold")
    for column in ("next", "last", "published"):
        table.add_column(column, no_wrap=True)
    for entry in entries:
        if entry.schedule_kind == "interval":
            unit = " s" if entry.schedule.isdigit() else ""  # as registered: 600 (seconds) or '10m'
            schedule = f"every {entry.schedule}{unit}"
        else:
            schedule = f"{entry.schedule} ({entry.timezone})"
        published = Text(ago(entry.last_seen, now))
        if is_stale(entry, now):
            published.append(" stale", style="bold red")
        last = "not yet" if entry.last_tick is None else ago(entry.last_tick, now)
        table.add_row(entry.name, entry.job_type, entry.queue, schedule, until(next_tick(entry, now), now), last,
                      published)  # fmt: skip
    return table


def cron_json(entry: CronEntryRecord, now: float) -> dict[str, Any]:
    """A periodic job as ``--json`` gives it: the REST API's fields (GET /api/v1/cron)."""
    return {
        "name": entry.name, "schedule": entry.schedule, "schedule_kind": entry.schedule_kind,
        "timezone": entry.timezone, "queue": entry.queue, "job_type": entry.job_type,
        "last_tick": iso(entry.last_tick), "next_tick": iso(next_tick(entry, now)), "scheduler": entry.scheduler,
        "host": entry.hostname, "pid": entry.pid, "last_seen": iso(entry.last_seen), "stale": is_stale(entry, now),
    }  # fmt: skip


def worker_json(worker: WorkerRecord, now: float) -> dict[str, Any]:
    return {
        "name": worker.name,
        "hostname": worker.hostname,
        "pid": worker.pid,
        "queues": list(worker.queues),
        "concurrency": worker.concurrency,
        "pool": worker.pool,
        "state": worker.state,
        "current_job_ids": list(worker.current_job_ids),
        "jobs_done": worker.jobs_done,
        "jobs_failed": worker.jobs_failed,
        "jobs_stopped": worker.jobs_stopped,
        "working_time": worker.working_time,
        "started_at": iso(worker.started_at),
        "last_heartbeat": iso(worker.last_heartbeat),
        "healthy": worker_is_healthy(worker, now),
        "shutdown_requested": worker.shutdown_requested,
        "version": worker.version,
    }


def job_json(job: Job) -> dict[str, Any]:
    """The fields a script needs right after acting on a job."""
    record = job.record
    return {
        "job_id": job.id,
        "status": job.status.value,
        "queue": job.origin,
        "func_name": job.func_name,
        "priority": record.priority,
        "enqueued_at": iso(record.enqueued_at),
        "scheduled_for": iso(record.scheduled_for),
    }


def jobs_table(jobs: Iterable[Job], title: str | None = None) -> Table:
    """A live view of some jobs: status, progress and outcome."""
    table = plain_table(title)
    for column in ("job", "function", "status", "progress", "result"):
        table.add_column(column)
    for job in jobs:  # ids are time-ordered: their random end tells them apart
        table.add_row(job.id[-8:], job.func_name.rsplit(".", 1)[-1], status_text(job.status),
                      _progress_bar(job.progress, job.status), _outcome(job))  # fmt: skip
    return table


def _progress_bar(progress: float | None, status: JobStatus) -> Text:
    if status is JobStatus.FINISHED:
        progress = 1.0
    value = progress or 0.0
    filled = round(value * 10)
    return Text("#" * filled + "." * (10 - filled) + f" {value:4.0%}", style=STATUS_STYLES[status])


def _outcome(job: Job) -> Text:
    if job.status is JobStatus.FINISHED:
        return Text(_short(repr(job.result)))
    if job.exc_info:
        return Text(_short(job.exc_info.strip().splitlines()[-1]), style="red")
    return Text("")


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
