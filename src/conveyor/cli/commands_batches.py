"""``conveyor batch``: create, show, list, start, reschedule and cancel batches."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
from rich.table import Table

from conveyor.arguments import check_call
from conveyor.batch import MAX_BATCH_JOBS, Batch
from conveyor.exceptions import NoSuchBatchError
from conveyor.functions import resolve_function
from conveyor.options import DEFAULT_QUEUE
from conveyor.queue import EnqueueData, Queue
from conveyor.status import JobStatus

from .errors import InputError
from .options import App, common_options, iso_datetime, json_array
from .output import iso, plain_table, plural, status_text


@click.group()
def batch() -> None:
    """Batches: many jobs that start together, now or at a scheduled time."""


@batch.command()
@click.argument("func_or_type", metavar="FUNC_OR_TYPE")
@click.option(
    "--each",
    "each",
    metavar="JSON",
    callback=json_array,
    required=True,
    help="One job per item: a JSON array of argument arrays or keyword objects, e.g. '[[1], [2]]'.",
)
@click.option("-q", "--queue", default=DEFAULT_QUEUE, show_default=True, help="Queue of the batch's jobs.")
@click.option("--name", help="A name to show with the batch.")
@click.option("--start", metavar="ISO", callback=iso_datetime, help="Hold the jobs until this time (ISO 8601).")
@click.option("--on-complete", metavar="FUNC_OR_TYPE", help="Run once every job has ended (gets the batch id).")
@click.option("--on-failure", metavar="FUNC_OR_TYPE", help="Run once every job has ended, if one failed.")
@click.option(
    "--max-jobs",
    type=click.IntRange(min=1),
    default=MAX_BATCH_JOBS,
    show_default=True,
    help="Most jobs the batch may hold: a longer --each creates nothing.",
)
@common_options()
def create(
    app: App,
    func_or_type: str,
    each: list[Any],
    queue: str,
    name: str | None,
    start: datetime | None,
    on_complete: str | None,
    on_failure: str | None,
    max_jobs: int,
) -> None:
    """Create a batch of calls of FUNC_OR_TYPE, one per item of --each; prints the batch id."""
    app.import_job_modules()
    for flag, function in (("--on-complete", on_complete), ("--on-failure", on_failure)):
        if function is not None:  # called with the batch id alone, once every job ended: check it now
            check_call(resolve_function(function), f"{flag} {function} (called with the batch id)", ["batch-id"], {})
    func = resolve_function(func_or_type)
    specs = [_spec(func_or_type, item) for item in each]
    for index, spec in enumerate(specs):
        check_call(func, f"{func_or_type} (item {index} of --each)", list(spec.args), dict(spec.kwargs))
    created = Batch.create(specs, queue=Queue(queue, connection=app.backend), name=name, scheduled_start=start,
                           on_complete=on_complete, on_failure=on_failure, max_jobs=max_jobs)  # fmt: skip
    app.out.emit(batch_json(created), created.id)


def _spec(function: str, item: Any) -> EnqueueData:
    if isinstance(item, list):
        return Queue.prepare_data(function, args=item)
    if isinstance(item, dict):
        return Queue.prepare_data(function, kwargs=item)
    raise InputError(f"each item of --each must be an array of arguments or an object of keywords, got {item!r}")


@batch.command()
@click.argument("batch_id")
@common_options(read_only=True)
def show(app: App, batch_id: str) -> None:
    """A batch's status, times, and its jobs' counts per status."""
    found = Batch.fetch(batch_id, connection=app.backend)
    app.out.emit(batch_json(found), _detail(found))


@batch.command(name="list")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--before", metavar="BATCH_ID", help="Only batches created before this one (to page).")
@common_options(read_only=True)
def list_batches(app: App, limit: int, before: str | None) -> None:
    """Batches, newest first."""
    if before is not None and app.backend.batches_get([before]) == [None]:
        raise NoSuchBatchError(before)  # as for batch show: exit status 1
    found = Batch.list(app.backend, before=before, limit=limit)
    table = plain_table("Batches")
    table.add_column("id", no_wrap=True)  # whole ids, to copy into show, start or --before
    for column in ("name", "status", "jobs", "progress", "start"):
        table.add_column(column)
    for item in found:
        start = iso(item.record.started_at or item.record.scheduled_start) or "-"
        table.add_row(item.id, item.name or "-", item.status.value, str(item.total), f"{item.progress:.0%}", start)
    app.out.emit({"batches": [batch_json(item) for item in found]}, table if found else "no batches")


@batch.command()
@click.argument("batch_id")
@common_options()
def start(app: App, batch_id: str) -> None:
    """Start a scheduled batch now."""
    found = Batch.fetch(batch_id, connection=app.backend)
    found.start()
    app.audit("batch.start", batch_id)
    app.out.emit(batch_json(found), f"Started batch {batch_id}: its {plural(found.total, 'job')} are queued")


@batch.command()
@click.argument("batch_id")
@click.option("--at", "at", metavar="ISO", callback=iso_datetime, required=True, help="The new start (ISO 8601).")
@common_options()
def reschedule(app: App, batch_id: str, at: datetime) -> None:
    """Move the start of a batch that has not started."""
    found = Batch.fetch(batch_id, connection=app.backend)
    found.reschedule(at)
    app.audit("batch.reschedule", batch_id, f"starts at {iso(found.record.scheduled_start)}")
    app.out.emit(batch_json(found), f"Batch {batch_id} now starts at {iso(found.record.scheduled_start)}")


@batch.command()
@click.argument("batch_id")
@common_options()
def cancel(app: App, batch_id: str) -> None:
    """Cancel every job of the batch not yet ended (running ones are stopped), and its start."""
    found = Batch.fetch(batch_id, connection=app.backend)
    canceled = found.cancel()
    app.audit("batch.cancel", batch_id, f"{plural(canceled, 'job')} canceled")
    data = {**batch_json(found), "cancelled_jobs": canceled}
    app.out.emit(data, f"Canceled batch {batch_id}: {plural(canceled, 'job')} canceled")


def batch_json(item: Batch) -> dict[str, Any]:
    record = item.record
    return {
        "batch_id": item.id,
        "name": item.name,
        "status": item.status.value,
        "total": item.total,
        "counts": {status.value: n for status, n in item.counts.items()},
        "progress": item.progress,
        "created_at": iso(record.created_at),
        "scheduled_start_time": iso(record.scheduled_start),
        "started_at": iso(record.started_at),
        "completed_at": iso(record.completed_at),
        "user_id": item.user_id,
    }


def _detail(item: Batch) -> Table:
    record = item.record
    table = Table(title=f"Batch {item.id}", title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for label, value in [
        ("name", item.name or "-"),
        ("status", item.status.value),
        ("jobs", str(item.total)),
        ("progress", f"{item.progress:.0%}"),
        ("created", iso(record.created_at) or "-"),
        ("starts", iso(record.scheduled_start) or "-"),
        ("started", iso(record.started_at) or "-"),
        ("completed", iso(record.completed_at) or "-"),
    ]:
        table.add_row(label, value)
    for status in JobStatus:
        if item.counts.get(status):
            table.add_row(status_text(status), str(item.counts[status]))
    return table
