"""``conveyor worker``: run a Worker in this process, logging to stderr."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from conveyor.logs import log_to_stderr
from conveyor.options import DEFAULT_QUEUE
from conveyor.store_wait import once_the_store_answers
from conveyor.urls import masked_url
from conveyor.worker import Worker

from . import supervisor
from .errors import InputError, UserError
from .options import (
    App,
    FiniteFloatRange,
    common_options,
    concurrency_option,
    lease_ttl_option,
    limits_from,
    limits_options,
    log_level_option,
    paths_option,
    pool_option,
    put_first_on_the_import_path,
    seconds,
    worker_seconds_options,
    worker_ttl_option,
)

log = logging.getLogger("conveyor.cli")


@click.command()
@click.argument("queues", nargs=-1)
@concurrency_option(default=1, help="Jobs run at once by this process.")
@click.option("-b", "--burst", is_flag=True, help="Exit once the queues are empty.")
@click.option("-n", "--name", help="Worker name (default: host.pid.random).")
@pool_option
@lease_ttl_option
@worker_ttl_option
@worker_seconds_options
@click.option("--max-jobs", type=click.IntRange(min=1), help="Exit after running this many jobs.")
@click.option(
    "--exception-handler",
    "exception_handlers",
    multiple=True,
    metavar="MODULE.FUNCTION",
    help="Call this after every failed run (RQ's exception handlers), in the order given. Repeatable.",
)
@click.option("--max-idle-time", type=seconds(), metavar="SECONDS", help="Exit after this long without a job.")
@click.option(
    "--max-memory",
    type=FiniteFloatRange(min=1),
    metavar="MB",
    help="Exit once the process's peak memory passes MB (running jobs finish first).",
)
@click.option(
    "--max-jobs-per-child",
    type=click.IntRange(min=1),
    metavar="N",
    help="With --pool processes: replace a job process after it has run N jobs.",
)
@click.option(
    "--max-memory-per-child",
    type=FiniteFloatRange(min=1),
    metavar="MB",
    help="With --pool processes: replace a job process once its peak memory passes MB.",
)
@click.option(
    "--supervise",
    is_flag=True,
    envvar="CONVEYOR_SUPERVISE",
    show_envvar=True,
    help="Run the worker in a child process, started afresh when it recycles itself "
    "(--max-jobs/--max-memory) or abandons a job that ignored its interrupt.",
)
@limits_options
@log_level_option
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level (as --log-level DEBUG).")
@click.option("-q", "--quiet", is_flag=True, help="Log warnings and errors only (as --log-level WARNING).")
@paths_option
@click.option(
    "--with-scheduler",
    "-s",
    is_flag=True,
    help="Accepted as in rq: every conveyor worker moves scheduled jobs when they are due.",
)
@common_options(json_flag=False)
def worker(
    app: App,
    queues: tuple[str, ...],
    concurrency: int,
    burst: bool,
    name: str | None,
    pool: str,
    lease_ttl: float,
    worker_ttl: float,
    max_jobs: int | None,
    max_idle_time: float | None,
    exception_handlers: tuple[str, ...],
    max_memory: float | None,
    max_jobs_per_child: int | None,
    max_memory_per_child: float | None,
    supervise: bool,
    log_level: str,
    verbose: bool,
    quiet: bool,
    paths: tuple[str, ...],
    with_scheduler: bool,
    shutdown_timeout: float,
    interrupt_grace: float,
    poll_interval: float,
    maintenance_interval: float,
    **limits: Any,
) -> None:
    """Run jobs from QUEUES (default: 'default'), in the order given, until stopped.

    SIGTERM or Ctrl-C finishes running jobs and exits; a second one stops at once
    (its jobs are given back to their queues).
    """
    if verbose and quiet:
        raise InputError("--verbose and --quiet contradict each other: give one")
    log_level = "DEBUG" if verbose else "WARNING" if quiet else log_level
    put_first_on_the_import_path(paths)
    if supervise:
        with log_to_stderr(log_level):
            arguments = sys.argv[sys.argv.index("worker") + 1 :]
            config = click.get_current_context().find_root().params.get("config")
            sys.exit(supervisor.supervise([a for a in arguments if a != "--supervise"], config))
    app.import_job_modules()
    names = list(dict.fromkeys(queues)) or [DEFAULT_QUEUE]
    for queue_name in names:
        if "://" in queue_name:
            raise InputError(f"{queue_name!r} is a backend URL, not a queue name: give it with -u/--url")

    def work_once() -> Worker:
        runner = Worker(
            names,
            name=name,
            connection=app.backend,
            concurrency=concurrency,
            pool=pool,
            max_jobs_per_child=max_jobs_per_child,
            max_memory_per_child=max_memory_per_child,
            lease_ttl=lease_ttl,
            worker_ttl=worker_ttl,
            limits=limits_from(**limits),
            max_memory=max_memory,
            shutdown_timeout=shutdown_timeout,
            interrupt_grace=interrupt_grace,
            poll_interval=poll_interval,
            maintenance_interval=maintenance_interval,
            exception_handlers=exception_handlers,
        )
        mode = (" (burst)" if burst else "") + (", sync jobs in child processes" if pool == "processes" else "")
        log.info("worker %s on %s: queues %s, concurrency %d%s", runner.name, masked_url(app.url), ", ".join(names),
                 concurrency, mode)  # fmt: skip
        runner.work(burst=burst, max_jobs=max_jobs, max_idle_time=max_idle_time)
        return runner

    with log_to_stderr(log_level):
        runner = work_once() if burst else once_the_store_answers(work_once, log.warning)
    if runner.failure:
        raise UserError(f"the worker stopped: {runner.failure}")
    if runner.recycled and os.environ.get(supervisor.SUPERVISED_ENV):
        sys.exit(supervisor.EXIT_RECYCLE)
