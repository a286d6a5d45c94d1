"""Commands that act on jobs: enqueue, cancel, stop, requeue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import click
from rich.progress import Progress

from conveyor.arguments import check_call
from conveyor.command import cancel_job, requeue_jobs, send_stop_job_command
from conveyor.exceptions import STATUS_MARK, InvalidJobOperation, NoSuchJobError
from conveyor.functions import resolve_function
from conveyor.job import stored_records
from conveyor.options import DEFAULT_QUEUE
from conveyor.queue import Queue
from conveyor.registry import FailedJobRegistry
from conveyor.retry import Retry

from .errors import InputError, Interrupted
from .options import App, common_options, duration, iso_datetime, json_array, json_object
from .output import job_json, plural

REQUEUE_CHUNK = 500
"""Jobs requeued per backend call, so a large registry shows progress and no call is huge."""


@click.command()
@click.argument("func_or_type", metavar="FUNC_OR_TYPE")
@click.option("--args", "args", metavar="JSON", callback=json_array, help="Positional arguments as a JSON array.")
@click.option("--kwargs", "kwargs", metavar="JSON", callback=json_object, help="Keyword arguments as a JSON object.")
@click.option("-q", "--queue", default=DEFAULT_QUEUE, show_default=True, help="Queue to put the job in.")
@click.option("--priority", type=int, help="Higher runs first (default 0).")
@click.option("--at-front", is_flag=True, help="Run before the jobs of its priority already queued (as rq's).")
@click.option("--timeout", metavar="DURATION", help="Maximum run time: seconds or '30s', '5m', '1h'; -1 for none.")
@click.option("--job-id", help="Your own id for the job instead of a UUID.")
@click.option("--description", help="Free text shown with the job.")
@click.option("--retry", "retries", type=click.IntRange(min=1), help="Retry a failed job up to N times.")
@click.option(
    "--retry-on",
    multiple=True,
    metavar="EXCEPTION",
    help="With --retry: retry only on this exception, as 'ConnectionError' or 'module.Class' (repeatable).",
)
@click.option("--depends-on", multiple=True, metavar="ID", help="Run only after this job finished (repeatable).")
@click.option(
    "--at", "at", metavar="ISO", callback=iso_datetime, help="Run at this time (ISO 8601; UTC unless it has a zone)."
)
@click.option(
    "--in", "delay", metavar="DURATION", callback=duration, help="Run after this delay: seconds or '30s', '5m', '1h'."
)
@common_options()
def enqueue(
    app: App,
    func_or_type: str,
    args: list[Any],
    kwargs: dict[str, Any],
    queue: str,
    priority: int | None,
    at_front: bool,
    timeout: str | None,
    job_id: str | None,
    description: str | None,
    retries: int | None,
    retry_on: tuple[str, ...],
    depends_on: tuple[str, ...],
    at: datetime | None,
    delay: float | None,
) -> None:
    """Enqueue a call of FUNC_OR_TYPE (an import path or a registered job type); prints the job id.

    The function is resolved here first, so a typo fails now instead of in a worker.
    """
    if at is not None and delay is not None:
        raise InputError("--at and --in cannot be used together")
    app.import_job_modules()
    check_call(resolve_function(func_or_type), func_or_type, args, kwargs)
    given = {"priority": priority, "timeout": timeout, "job_id": job_id, "description": description}
    options: dict[str, Any] = {"args": args, "kwargs": kwargs}
    options.update((name, value) for name, value in given.items() if value is not None)
    if retry_on and retries is None:
        raise InputError("--retry-on needs --retry N")
    if retries is not None:
        options["retry"] = Retry(max=retries, on=list(retry_on) or None)
    if depends_on:
        options["depends_on"] = list(depends_on)
    if at_front:
        options["at_front"] = True
    q = Queue(queue, connection=app.backend)
    if at is not None:
        job = q.enqueue_at(at, func_or_type, **options)
    elif delay is not None:
        job = q.enqueue_in(timedelta(seconds=delay), func_or_type, **options)
    else:
        job = q.enqueue(func_or_type, **options)
    app.out.emit(job_json(job), job.id)


@click.command()
@click.argument("job_id")
@click.option("--enqueue-dependents", is_flag=True, help="Queue the jobs waiting on this one, as if it finished.")
@common_options()
def cancel(app: App, job_id: str, enqueue_dependents: bool) -> None:
    """Cancel a job that has not ended; a running job is stopped as well."""
    (before,) = stored_records(app.backend, [job_id])
    job = cancel_job(job_id, connection=app.backend, enqueue_dependents=enqueue_dependents)
    was = before.status.value if before is not None else "unknown"
    app.audit("job.cancel", job.id, f"was {was}" + (", dependents enqueued" if enqueue_dependents else ""))
    message = f"Canceled job {job.id}, which was {was}"
    if was == "started":
        message += " (its worker is told to stop it)"
    app.out.emit({"job_id": job.id, "status": job.status.value, "previous_status": was}, message)


@click.command()
@click.argument("job_id")
@common_options()
def stop(app: App, job_id: str) -> None:
    """Stop a running job: it ends as stopped, in the failed registry, and is not retried."""
    send_stop_job_command(app.backend, job_id)
    app.audit("job.stop", job_id)
    app.out.emit({"job_id": job_id, "stop_requested": True}, f"Stop requested for job {job_id}")


@click.command()
@click.argument("job_ids", nargs=-1, metavar="[IDS]...")
@click.option("-q", "--queue", default=DEFAULT_QUEUE, show_default=True, help="Queue whose failed jobs to requeue.")
@click.option("-a", "--all", "requeue_all", is_flag=True, help="Requeue every failed and stopped job of the queue.")
@common_options()
def requeue(app: App, job_ids: tuple[str, ...], queue: str, requeue_all: bool) -> None:
    """Put failed or stopped jobs of a queue back in it (its failed registry), as rq does.

    Named jobs are checked first and nothing is requeued if one is unknown or not in
    the failed registry, so a typo never requeues half a list.
    """
    if requeue_all == bool(job_ids):
        raise InputError("give job ids or --all (not both)")
    registry = Queue(queue, connection=app.backend).failed_job_registry
    ids = registry.get_job_ids() if requeue_all else list(dict.fromkeys(job_ids))
    if not requeue_all:
        _check_in_registry(app, ids, registry)
    moved = _requeue_in_chunks(app, queue, ids)
    message = f"Requeued {plural(len(moved), 'job')} from the failed registry of queue {queue!r}"
    app.out.emit({"queue": queue, "requeued": len(moved), "job_ids": moved}, message)


def _check_in_registry(app: App, job_ids: Sequence[str], registry: FailedJobRegistry) -> None:
    for job_id, record in zip(job_ids, stored_records(app.backend, job_ids), strict=True):
        if record is None:
            raise NoSuchJobError(job_id)
        status = record.status.value
        if record.queue != registry.name:
            raise InvalidJobOperation(
                job_id, status, f"Job {job_id} belongs to queue {record.queue!r}, not {registry.name!r}"
            )
        if record.status not in registry.statuses:
            raise InvalidJobOperation(
                job_id, status, f"Cannot requeue job {job_id}: it is {STATUS_MARK}, not failed or stopped"
            )


def _requeue_in_chunks(app: App, queue: str, job_ids: Sequence[str]) -> list[str]:
    """Requeue in chunks (each one atomic step); Ctrl-C stops between them and says how
    far it got, so the operator knows the rest are still failed (click alone said 'Aborted!').
    What was requeued is audited, all of it or as far as it got."""
    moved: list[str] = []
    console = app.out.console
    try:
        with Progress(console=console, transient=True, disable=app.out.as_json or not console.is_terminal) as progress:
            task = progress.add_task("Requeueing", total=len(job_ids))
            for start in range(0, len(job_ids), REQUEUE_CHUNK):
                chunk = job_ids[start : start + REQUEUE_CHUNK]
                moved += requeue_jobs(chunk, connection=app.backend)
                progress.advance(task, len(chunk))
    except KeyboardInterrupt:
        _audit_requeued(app, queue, moved, interrupted=True)
        raise Interrupted(
            f"interrupted: {plural(len(moved), 'job')} of {len(job_ids)} requeued (and perhaps the chunk of "
            f"{REQUEUE_CHUNK} under way); the others are still in the failed registry: run the command again"
        ) from None
    _audit_requeued(app, queue, moved)
    return moved


def _audit_requeued(app: App, queue: str, moved: Sequence[str], interrupted: bool = False) -> None:
    if moved:
        ids = ", ".join(moved[:10]) + (f" and {len(moved) - 10} more" if len(moved) > 10 else "")
        app.audit(
            "job.requeue", queue, f"{plural(len(moved), 'job')}: {ids}" + (" (interrupted)" if interrupted else "")
        )
