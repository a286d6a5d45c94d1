"""Commands about queues and the store as a whole: info, pause, resume, empty, cleanup, doctor, audit."""

from __future__ import annotations

import dataclasses
import shlex
import time
from collections import Counter
from datetime import UTC, datetime

import click
from rich.console import Group, RenderableType
from rich.table import Table

from conveyor import clock_skew
from conveyor.clock import SYSTEM_CLOCK
from conveyor.doctor import checkup
from conveyor.health import store_health, worker_is_healthy
from conveyor.maintenance import run_cleanup, run_schedule
from conveyor.options import validate_queue_name
from conveyor.status import JobStatus
from conveyor.urls import masked_url

from .options import App, common_options, lease_ttl_option, worker_ttl_option
from .output import ago, cron_json, cron_table, iso, plain_table, plural, queues_table, worker_json, workers_table

BUSY = (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED, JobStatus.STARTED)
"""Statuses of jobs that need a worker, now or later (for the health of the store)."""


@click.command()
@click.option("-q", "--queue", "queues", multiple=True, help="Show only this queue and its workers (repeatable).")
@common_options(read_only=True)
def info(app: App, queues: tuple[str, ...]) -> None:
    """Show queues with their job counts per status, the registered workers, and the
    periodic jobs schedulers run."""
    wanted = [validate_queue_name(q) for q in dict.fromkeys(queues)]  # before the store is opened
    now = time.time()
    counts = app.backend.counts()
    paused = app.backend.queues_paused()
    workers = app.backend.workers_list()
    periodic = app.backend.cron_entries()
    if wanted:
        counts = {name: counts.get(name, {}) for name in wanted}
        workers = [w for w in workers if set(w.queues) & set(wanted)]
        periodic = [entry for entry in periodic if entry.queue in wanted]
    else:  # a paused queue without jobs too: it is there to resume
        counts = {name: counts.get(name, {}) for name in sorted(counts.keys() | paused.keys())}
    busy = sum(n for per_status in counts.values() for status, n in per_status.items() if status in BUSY)
    served = {queue for worker in workers if worker_is_healthy(worker, now) for queue in worker.queues}
    unserved = [
        name
        for name, per_status in counts.items()
        if per_status.get(JobStatus.QUEUED) and name not in served and name not in paused
    ]
    data = {
        "queues": [
            {
                "name": name,
                "counts": {status.value: per_status.get(status, 0) for status in JobStatus},
                "total": sum(per_status.values()),
                "paused": name in paused,
                "paused_at": iso(paused.get(name)),
            }
            for name, per_status in counts.items()
        ],
        "workers": [worker_json(w, now) for w in workers],
        "worker_health_status": store_health(workers, now, busy),
        "unserved_queues": unserved,
        "last_cleanup": iso(app.backend.maintenance_last()),
        "cron": [cron_json(entry, now) for entry in periodic],
    }
    last_cleanup = app.backend.maintenance_last()
    cleaned = "never" if last_cleanup is None else ago(last_cleanup, now)
    footer = f"Worker health: {data['worker_health_status']}. Last cleanup: {cleaned}"
    if unserved:
        footer += (
            f"\nJobs are queued in {', '.join(map(repr, unserved))} and no worker serves "
            f"{'it' if len(unserved) == 1 else 'them'}: start one with `{_worker_command(app, unserved)}`"
        )
    held = [name for name in counts if name in paused]
    if held:
        since = ", ".join(f"{name!r} ({ago(paused[name], now)})" for name in held)
        footer += (
            f"\nPaused, no worker starts their jobs: {since}; "
            f"`{shlex.join(['conveyor', 'resume', *held])}` resumes {'it' if len(held) == 1 else 'them'}"
        )
    shown: list[RenderableType] = [queues_table(counts, paused), "", workers_table(workers, now), ""]
    if periodic:
        shown += [cron_table(periodic, now), ""]
    app.out.emit(data, Group(*shown, footer))


def _worker_command(app: App, queues: list[str]) -> str:
    """The command that serves ``queues`` from the store ``info`` read: with its ``-u`` when
    that was given on the command line (from ``CONVEYOR_URL``, the worker reads it too);
    a password in it shows masked, for the user to fill in."""
    argv = ["conveyor", "worker", *queues]
    source = click.get_current_context().get_parameter_source("url")
    if source is click.core.ParameterSource.COMMANDLINE:
        argv += ["-u", masked_url(app.url)]
    return shlex.join(argv)


@click.command()
@click.argument("queues", nargs=-1, required=True)
@common_options()
def pause(app: App, queues: tuple[str, ...]) -> None:
    """Pause queues: no worker starts their jobs until `conveyor resume` (jobs still
    enqueue into them; running jobs go on). Store-wide, and it lasts across restarts."""
    names = [validate_queue_name(name) for name in dict.fromkeys(queues)]
    app.backend.queues_pause(names, time.time())
    for name in names:
        app.audit("queue.pause", name)
    paused = app.backend.queues_paused()
    data = {"paused": {name: iso(paused.get(name)) for name in names}}
    lines = [f"Paused queue {name!r} ({ago(paused[name], time.time())})" for name in names if name in paused]
    lines.append(f"No worker starts their jobs until `{shlex.join(['conveyor', 'resume', *names])}`")
    app.out.emit(data, "\n".join(lines))


@click.command()
@click.argument("queues", nargs=-1, required=True)
@common_options()
def resume(app: App, queues: tuple[str, ...]) -> None:
    """Resume paused queues: their idle workers wake and start their jobs at once."""
    names = [validate_queue_name(name) for name in dict.fromkeys(queues)]
    was_paused = app.backend.queues_resume(names)
    for name in was_paused:
        app.audit("queue.resume", name)
    data = {"resumed": was_paused}
    lines = [f"Resumed queue {name!r}" if name in was_paused else f"Queue {name!r} was not paused" for name in names]
    app.out.emit(data, "\n".join(lines))


@click.command()
@click.argument("queues", nargs=-1, required=True)
@common_options()
def empty(app: App, queues: tuple[str, ...]) -> None:
    """Delete every queued job of the given queues (running and ended jobs stay)."""
    deleted = {name: app.backend.queue_empty(validate_queue_name(name)) for name in dict.fromkeys(queues)}
    for name, count in deleted.items():
        app.audit("queue.empty", name, f"{plural(count, 'job')} deleted")
    lines = [f"Emptied queue {name!r}: {plural(count, 'job')} deleted" for name, count in deleted.items()]
    app.out.emit({"deleted": deleted, "total": sum(deleted.values())}, "\n".join(lines))


@click.command()
@worker_ttl_option
@common_options()
def cleanup(app: App, worker_ttl: float) -> None:
    """Run the maintenance a worker runs: promote due jobs, recover expired leases, expire
    and purge old jobs, reap silent workers and periodic jobs no scheduler runs. Useful when
    no worker is running."""
    now = time.time()
    schedule = run_schedule(app.backend, now)
    removed = run_cleanup(app.backend, now, worker_ttl)
    recovered = [
        {"job_id": r.job_id, "status": r.status.value, "worker_name": r.worker_name} for r in schedule.recovered
    ]
    data = {
        "promoted": schedule.promoted,
        "recovered": recovered,
        "expired": schedule.expired,
        "purged": removed.purged,
        "reaped_workers": removed.reaped_workers,
        "removed_cron_entries": removed.reaped_cron_entries,
    }
    done = (
        f"{schedule.promoted} promoted, {len(recovered)} recovered, {schedule.expired} expired, {removed.purged} "
        f"purged, {len(removed.reaped_workers)} workers reaped"
    )
    app.audit("store.cleanup", detail=done)
    by_status = Counter(r.status.value for r in schedule.recovered)
    outcome = ", ".join(f"{count} {status}" for status, count in sorted(by_status.items()))
    reaped = ", ".join(removed.reaped_workers)
    lines = [
        f"Promoted scheduled jobs that were due: {schedule.promoted}",
        f"Recovered jobs whose lease expired: {len(recovered)}" + (f" ({outcome})" if outcome else ""),
        f"Expired queued jobs past their ttl: {schedule.expired}",
        f"Purged ended jobs past their result or failure ttl: {removed.purged}",
        f"Reaped silent workers: {len(removed.reaped_workers)}" + (f" ({reaped})" if reaped else ""),
        f"Removed periodic jobs no scheduler published for a week: {len(removed.reaped_cron_entries)}"
        + (f" ({', '.join(removed.reaped_cron_entries)})" if removed.reaped_cron_entries else ""),
    ]
    app.out.emit(data, "\n".join(lines))


@click.command()
@click.option("--repair", is_flag=True, help="Fix what can be fixed safely (each fix one atomic step).")
@lease_ttl_option
@common_options(read_only=True)
def doctor(app: App, repair: bool, lease_ttl: float) -> None:
    """Check the store's invariants and report what is broken; with --repair, fix it.
    On Redis, also measure this machine's clock against Redis's: a clock off past a sixth
    of the workers' --lease-ttl is a finding (synchronise it; see the README).

    Exits 0 when the store is sound (or every finding was repaired), 1 when findings
    remain, so a cron job or a monitor can alert on it.
    """
    app.read_only = not repair  # only a repair writes
    findings, measured = checkup(app.backend, time.time(), repair, SYSTEM_CLOCK, lease_ttl)
    repaired = [finding for finding in findings if finding.repaired]
    if repaired:
        kinds = Counter(finding.kind for finding in repaired)
        app.audit("store.repair", detail=", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())))
    data = {
        "findings": [dataclasses.asdict(f) for f in findings],
        "repaired": repair,
        "clock": None if measured is None else dataclasses.asdict(measured),
    }
    clock = [] if measured is None else [f"Clock: {clock_skew.describe(measured)}"]
    if not findings:
        app.out.emit(data, "\n".join([*clock, "The store is sound: no broken invariant found"]))
        return
    table = Table(title=f"{plural(len(findings), 'finding')}", title_justify="left")
    table.add_column("kind", no_wrap=True)
    table.add_column("subject", no_wrap=True)  # whole ids, to copy
    table.add_column("detail", overflow="fold")
    table.add_column("repaired", no_wrap=True)
    for finding in findings:
        table.add_row(finding.kind, finding.subject, finding.detail, "yes" if finding.repaired else "no")
    left = [finding for finding in findings if not finding.repaired]
    hint = (
        "\nRun with --repair to fix them."
        if not repair
        else "\nSome cannot be repaired: see each detail."
        if left
        else ""
    )
    app.out.emit(data, Group(*clock, table, *([hint] if hint else [])))
    if left:
        raise click.exceptions.Exit(1)


@click.command()
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--before", metavar="ID", help="Only actions recorded before this one (its id, to page).")
@common_options(read_only=True)
def audit(app: App, limit: int, before: str | None) -> None:
    """Show the audit log, newest first: the operator actions taken on the store (jobs
    canceled, stopped, requeued, restarted or deleted; batches started, rescheduled or
    canceled; queues paused, resumed or emptied; workers shut down; cleanups and repairs),
    by whom, through the REST API or this command line. The store keeps the latest 10,000."""
    entries = app.backend.audit_read(before, limit)
    data = {"entries": [{**dataclasses.asdict(entry), "at": iso(entry.at)} for entry in entries]}
    table = plain_table(f"Audit log ({plural(len(entries), 'action')}, newest first)")
    for column in ("id", "at", "actor", "via", "action", "target", "detail"):
        table.add_column(column, overflow="fold", no_wrap=column in ("id", "at"))
    for entry in entries:
        at = datetime.fromtimestamp(entry.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        actor = entry.actor if entry.role is None else f"{entry.actor} ({entry.role})"
        table.add_row(entry.id, at, actor, entry.via, entry.action, entry.target, entry.detail)
    app.out.emit(data, table if entries else "No actions recorded")
