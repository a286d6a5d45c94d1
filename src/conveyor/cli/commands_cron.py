"""``conveyor cron CONFIG``: run a cron scheduler, enqueueing the periodic jobs of CONFIG
when they are due (RQ's ``rq cron``), until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging

import click

from conveyor.cron import CronScheduler, load_config
from conveyor.cron.scheduler import stopped_by_signals
from conveyor.halt import Halt
from conveyor.logs import log_to_stderr
from conveyor.store_wait import once_the_store_answers
from conveyor.urls import masked_url

from .options import App, common_options, log_level_option, paths_option, put_first_on_the_import_path

log = logging.getLogger("conveyor.cron")


@click.command()
@click.argument("config")
@log_level_option
@paths_option
@common_options(json_flag=False)
def cron(app: App, config: str, log_level: str, paths: tuple[str, ...]) -> None:
    """Enqueue the periodic jobs that CONFIG registers (a .py file or a module name, whose
    conveyor.cron.register(...) calls list them) when they are due, until stopped.

    Run two for redundancy: each tick is enqueued once, by whichever gets there first.
    SIGTERM or Ctrl-C stops it at once.
    """
    put_first_on_the_import_path(paths)
    app.import_job_modules()
    with log_to_stderr(log_level):
        entries = load_config(config)
        log.info("cron scheduler on %s: %d job(s) from %s", masked_url(app.url), len(entries), config)
        for entry in entries:
            log.info("  %s", entry.describe())
        halt = Halt()
        with stopped_by_signals(halt):
            backend = once_the_store_answers(lambda: None if halt.is_set() else app.backend, log.warning,
                                             halt.wait)  # fmt: skip
            if backend is not None:
                CronScheduler(backend, entries=entries).run(halt)
        log.info("cron scheduler stopped")
