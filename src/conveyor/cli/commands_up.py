"""``conveyor up``: the one command to see conveyor run, on the embedded default store.

It serves the REST API and the dashboard, starts a worker in a child process,
enqueues the demo jobs (conveyor.demo) and shows them move to finished in a live
table, then keeps both running until Ctrl-C. ``--burst-demo`` runs only the worker and
the demo, and exits when the jobs are done (a quick look, or CI).

The API server runs on a thread of this process; the worker has a process of its
own, as in production: its jobs (sync ones run in child processes, async ones on its
loop) never compete with the server's event loop, and Ctrl-C stops it the way it
stops any worker. The worker runs in its own session so that Ctrl-C reaches only this
process, which then sends the worker exactly one SIGTERM (a graceful stop); a second
Ctrl-C is forwarded as the worker's "stop now".
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import IO, Any, NamedTuple

import click
from rich.console import Console
from rich.live import Live
from rich.text import Text

from conveyor import demo
from conveyor.cron import CronScheduler, load_config
from conveyor.halt import Halt
from conveyor.job import Job
from conveyor.options import DEFAULT_QUEUE
from conveyor.queue import Queue
from conveyor.status import TERMINAL, JobStatus
from conveyor.types import Limits
from conveyor.urls import masked_url

from .config_file import config_path
from .errors import UserError
from .options import (
    App,
    common_options,
    concurrency_option,
    lease_ttl_option,
    limit_flags,
    limits_from,
    limits_options,
    pool_option,
    worker_ttl_option,
)
from .output import jobs_table
from .serving import address_options, bind, build_api, make_server, server_settings_options, url_of

DEMO_DEADLINE = 120.0
"""Seconds the live table waits for the demo jobs before handing over to the plain worker."""

STOP_GRACE = 30.0
"""Seconds the worker gets to finish after SIGTERM before it is told to stop at once: a
backstop, past its own shutdown_timeout (25 s unless $CONVEYOR_SHUTDOWN_TIMEOUT says
otherwise), after which it gives its running jobs back and exits by itself."""


@click.command()
@click.option("--burst-demo", is_flag=True, help="Run only the worker and the demo; exit once the jobs are done.")
@click.option(
    "--cron",
    "cron_config",
    metavar="CONFIG",
    help="Also enqueue the periodic jobs this cron config registers, as `conveyor cron CONFIG` does.",
)
@concurrency_option(default=4, help="Jobs the worker runs at once.")
@pool_option
@lease_ttl_option
@worker_ttl_option
@limits_options
@address_options
@server_settings_options
@common_options(json_flag=False)
def up(
    app: App, burst_demo: bool, cron_config: str | None, concurrency: int, pool: str, lease_ttl: float,
    worker_ttl: float, host: str, port: int, server_env: dict[str, str], **limit_values: Any,
) -> None:  # fmt: skip
    """Serve the API and dashboard, start a worker and run a demo, on ./conveyor.db unless -u."""
    console = app.out.console
    app.import_job_modules()  # fail here, in one line, rather than in the worker's log
    limits = limits_from(**limit_values)
    entries = [] if cron_config is None else load_config(cron_config)  # a bad config stops up here, in one line
    scheduler = _Scheduler(CronScheduler(app.backend, entries=entries)) if entries else None
    server = None if burst_demo else _Server(build_api(app, host, limits, server_env), bind(host, port))
    queues = [demo.DEMO_QUEUE, DEFAULT_QUEUE]
    jobs = demo.enqueue_demo(Queue(demo.DEMO_QUEUE, connection=app.backend))
    command = worker_command(app, queues, WorkerSettings(concurrency, pool, lease_ttl, worker_ttl, limits), burst_demo)
    where = f": a worker on {masked_url(app.url)}, queues {', '.join(queues)}"
    console.print(Text.assemble(("conveyor up", "bold"), where))
    with _stop_signals_interrupt():
        process = subprocess.Popen(
            command, stderr=subprocess.PIPE, text=True, start_new_session=True,
            env={**os.environ, **_config_for_worker(), "CONVEYOR_URL": app.url},
        )  # fmt: skip
        pump = threading.Thread(target=_pump, args=(process.stderr, console), daemon=True)
        pump.start()
        try:
            if server is not None:
                server.start()
                console.print(Text.assemble("Dashboard and API: ", (f"{server.url}/", "bold underline"),
                                            f"  (API docs: {server.url}/docs)"), soft_wrap=True)  # fmt: skip
            if scheduler is not None:
                scheduler.start()
                console.print(f"Periodic jobs from {cron_config}: {scheduler.describe()}", soft_wrap=True)
            _watch_demo(app, jobs, process, console)
            if not burst_demo and process.poll() is None:
                console.print(f"Worker running (pid {process.pid}). Press Ctrl-C to stop.", style="bold")
                process.wait()
                if server is not None:  # the worker stopped on its own (conveyor shutdown): the API goes too
                    console.print("The worker stopped; stopping the API server.")
            process.wait()
        except KeyboardInterrupt:
            console.print("Stopping the worker (Ctrl-C again to stop it at once)...")
            _stop(process)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            pump.join(timeout=5)
            if scheduler is not None:
                scheduler.stop()
            if server is not None:
                server.stop()
    status = process.returncode
    if status != 0:
        how = f"was killed by {signal.Signals(-status).name}" if status < 0 else f"exited with status {status}"
        raise UserError(f"the worker {how}")


def _config_for_worker() -> dict[str, str]:
    """The config file ``up`` read (``--config`` included), for its worker's own settings
    (its ``[worker]`` table): the worker is a new process, which would read only
    $CONVEYOR_CONFIG or ./conveyor.toml."""
    path = config_path(click.get_current_context().find_root().params.get("config"))
    return {} if path is None else {"CONVEYOR_CONFIG": str(path.resolve())}


class WorkerSettings(NamedTuple):
    """What ``up`` hands on to its worker."""

    concurrency: int
    pool: str
    lease_ttl: float
    worker_ttl: float
    limits: Limits


def worker_command(app: App, queues: list[str], settings: WorkerSettings, burst: bool) -> list[str]:
    """The worker's command line: ``up``'s settings as its flags. The URL goes in the
    environment instead: a password on the command line would show in ps."""
    command = [sys.executable, "-m", "conveyor", "worker", *queues, "--concurrency", str(settings.concurrency),
               "--pool", settings.pool, "--lease-ttl", repr(settings.lease_ttl), "--worker-ttl",
               repr(settings.worker_ttl), *limit_flags(settings.limits)]  # fmt: skip
    for module in ("conveyor.demo", *app.imports):
        command += ["--import", module]
    if burst:
        command.append("--burst")
    return command


class _Server:
    """The API server on a thread of ``up`` (uvicorn leaves signals to the main thread)."""

    def __init__(self, api: object, sock: socket.socket) -> None:
        self.sock = sock
        self.url = url_of(sock)
        self.server = make_server(api, log_level="warning")
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=10)
        self.sock.close()


class _Scheduler:
    """A cron scheduler on a thread of ``up``: it only enqueues, so it needs no process of
    its own; the schedulers of other processes (``conveyor cron``) enqueue no tick twice
    beside it."""

    def __init__(self, scheduler: CronScheduler) -> None:
        self.scheduler = scheduler
        self.halt = Halt()
        self.thread = threading.Thread(target=scheduler.run, args=(self.halt,), name="cron", daemon=True)

    def describe(self) -> str:
        return "; ".join(entry.describe() for entry in self.scheduler.entries)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.halt.set()
        self.thread.join(timeout=10)
        self.halt.close()


def _watch_demo(app: App, jobs: list[Job], process: subprocess.Popen[str], console: Console) -> None:
    """Redraw the demo jobs until they have all ended (or the worker is gone)."""
    ids = [job.id for job in jobs]
    deadline = time.monotonic() + DEMO_DEADLINE
    with Live(jobs_table(jobs, "Demo jobs"), console=console, refresh_per_second=8) as live:
        while True:
            worker_gone = process.poll() is not None  # checked first, so the last redraw is complete
            current = [job for job in Job.fetch_many(ids, connection=app.backend) if job is not None]
            live.update(jobs_table(current, "Demo jobs"))
            if worker_gone or all(job.status in TERMINAL for job in current) or time.monotonic() > deadline:
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.2)  # paces the redraw, and notices a worker that died
    if not console.is_terminal:
        console.line()  # rich ends the last frame without a newline when not on a terminal
    finished = sum(job.status is JobStatus.FINISHED for job in current)
    console.print(f"Demo: {finished} of {len(ids)} jobs finished", style="green" if finished == len(ids) else "red")


def _pump(stream: IO[str] | None, console: Console) -> None:
    """Show the worker's log lines above the live table instead of tearing it."""
    if stream is None:
        return
    for line in stream:
        console.print(Text(line.rstrip("\n"), style="dim"), soft_wrap=True)


def _stop(process: subprocess.Popen[str]) -> None:
    """Ask the worker to finish its jobs; a second Ctrl-C (or the grace) stops it at once."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE)
    except (KeyboardInterrupt, subprocess.TimeoutExpired):
        process.send_signal(signal.SIGINT)  # the worker's second stop signal: give jobs back now
        try:
            process.wait(timeout=STOP_GRACE)
        except (KeyboardInterrupt, subprocess.TimeoutExpired):
            process.kill()


@contextlib.contextmanager
def _stop_signals_interrupt() -> Iterator[None]:
    """Make SIGTERM and SIGINT raise KeyboardInterrupt in ``up``, so the worker child is
    never left behind (a shell may start ``up`` with SIGINT ignored)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
