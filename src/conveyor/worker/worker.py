"""The Worker: claims jobs, runs them, settles their outcome, and survives its jobs.

A Worker is made of parts, each a mixin in a module of its own: the claim loop, on an
asyncio event loop in the main thread (conveyor.worker.claim_loop), how a claimed job
runs (inline, in threads, as a task or in a child process) and is settled
(conveyor.worker.runner), and how the worker stops, on request, on a signal, or when a
job ignores its interrupt (conveyor.worker.stopping). This module makes one and runs
it: ``work()`` starts its services, runs the claim loop, and gives back what it holds
when it ends. Leases, heartbeats, timeouts and stop commands are handled by the
Housekeeper thread, so a job that hogs the main thread cannot starve them. The jobs
held and the outcomes not yet recorded are the worker's Holdings
(conveyor.worker.holdings).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from conveyor import maintenance
from conveyor._version import __version__
from conveyor.backends.base import Backend
from conveyor.clock import SYSTEM_CLOCK, Clock
from conveyor.connection import resolve_connection
from conveyor.exceptions import BackendError, BackendUnavailableError, ConfigurationError, InvalidJobError
from conveyor.functions import function_name, resolve_function
from conveyor.halt import Halt
from conveyor.job import Job
from conveyor.logs import log_to_stderr
from conveyor.maintenance import DEFAULT_WORKER_TTL
from conveyor.queue import Queue
from conveyor.rq_absent import RQOnly, no_keys
from conveyor.serializers import Serializer, resolve_serializer
from conveyor.types import Limits, WorkerRecord

from .claim_loop import ClaimLoop
from .holdings import Holdings
from .housekeeper import Housekeeper
from .job_processes import ProcessPool
from .mistyped import mistyped_queue_warnings, queues_with_waiting_jobs
from .registered import RegisteredWorker, registered
from .rq_options import refuse_rq_options
from .runner import JobRunner
from .running import Running
from .stopping import EXIT_JOB_UNRESPONSIVE, Stopping

log = logging.getLogger("conveyor.worker")

POOLS = ("threads", "processes")
"""Where sync jobs run: in this process (inline or threads) or in child processes."""
MIN_LEASE_TTL = 1.0
"""The shortest lease a worker takes, in seconds. Renewals come every third of it, and
what holds one up (a store round trip, a slice of housekeeping work, the machine's
scheduling) must stay well inside the sixth of a lease that tells a late renewal from a
stalled store (see RecoveryGate): with 0.5 s leases renewals passed for stalls every
second or two, and with 0.2 s a dead worker's job was not recovered in a minute (each
stall holds recovery back a lease period)."""


def _check_settings(
    concurrency: int,
    seconds: dict[str, float],
    limits: Limits | None,
    pool: str,
    max_jobs_per_child: int | None,
    max_memory_per_child: float | None,
    serializer: str | Serializer | type | None,
) -> None:
    """Raise ConfigurationError for settings a worker cannot run with."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigurationError(f"concurrency must be a whole number, at least 1, got {concurrency!r}")
    if limits is not None and not isinstance(limits, Limits):
        raise ConfigurationError(f"limits takes a conveyor.types.Limits, got {type(limits).__name__}")
    for name, value in seconds.items():  # NaN passes every comparison: a lease of NaN would never end
        if isinstance(value, bool) or not isinstance(value, int | float) or not (math.isfinite(value) and value > 0):
            raise ConfigurationError(f"{name} must be a positive number of seconds, got {value!r}")
    if seconds["lease_ttl"] < MIN_LEASE_TTL:
        raise ConfigurationError(
            f"lease_ttl must be at least {MIN_LEASE_TTL:g} s, got {seconds['lease_ttl']!r}: a shorter lease leaves "
            "too little time between renewals to tell a busy machine from a stalled store"
        )
    if pool not in POOLS:
        raise ConfigurationError(f"pool must be one of {', '.join(POOLS)}, got {pool!r}")
    per_child = [limit for limit in (max_jobs_per_child, max_memory_per_child) if limit is not None]
    if per_child and pool != "processes":
        raise ConfigurationError("max_jobs_per_child and max_memory_per_child need pool='processes'")
    if any(not limit > 0 for limit in per_child):  # NaN included
        raise ConfigurationError("max_jobs_per_child and max_memory_per_child must be positive")
    resolve_serializer(serializer)  # RQ's worker needs its queues' serializer; each job here names its own


def _queue_items(queues: object) -> list[Queue | str]:
    """A worker's queues as a list (RQ takes one queue, a name or a list of them)."""
    if isinstance(queues, Queue | str):
        return [queues]
    if not isinstance(queues, Iterable):
        raise ConfigurationError(f"queues takes a Queue, a queue name or a list of them, got {queues!r}")
    items = list(queues)
    if not items:
        raise ConfigurationError("a worker needs at least one queue")
    return items


class Worker(ClaimLoop, JobRunner, Stopping):
    """Runs jobs from one or more queues, in the order the queues are given.

    ``concurrency`` is how many jobs run at once in this process. ``lease_ttl`` is
    how long a claimed job stays reserved without a heartbeat (renewed every third of
    it); a worker that dies loses its jobs to recovery once that lapses. ``limits``
    caps running jobs across every worker of the store (each claim checks them), so
    give every worker the same ones. ``max_memory`` (MB of peak resident memory)
    makes the worker stop taking jobs, finish the running ones and return, so that a
    supervisor (``conveyor worker --supervise``) starts a fresh process.

    ``pool="processes"`` runs sync jobs in up to ``concurrency`` child processes, each
    reused for many jobs: slower to hand a job to, but a timeout or stop then ends even
    a job stuck in a C call (its child is killed) and a job that crashes its process
    fails alone, while the worker goes on. ``async def`` jobs run on the worker's event
    loop either way. ``max_jobs_per_child`` and ``max_memory_per_child`` (MB of peak
    resident memory) replace a child once it has run that many jobs or grown that big.

    RQ's ``default_result_ttl``, ``job_monitoring_interval``,
    ``disable_default_exception_handler``, ``job_class`` and ``queue_class`` are taken
    at RQ's defaults and refused when set otherwise (see conveyor.worker.rq_options).
    """

    job_class = Job
    """RQ's: the class of the jobs it hands to functions (conveyor's, always)."""
    queue_class = Queue
    key = no_keys("worker.name")
    find_by_key = RQOnly("conveyor keeps no RQ keys: find a worker by name in Worker.all(connection=...)")

    def __init__(
        self,
        queues: Iterable[Queue | str] | Queue | str,
        name: str | None = None,
        connection: Backend | None = None,
        *,
        concurrency: int = 1,
        lease_ttl: float = 30.0,
        poll_interval: float = 1.0,
        maintenance_interval: float = 600.0,
        worker_ttl: float = DEFAULT_WORKER_TTL,
        interrupt_grace: float = 10.0,
        shutdown_timeout: float = 25.0,
        limits: Limits | None = None,
        max_memory: float | None = None,
        pool: str = "threads",
        max_jobs_per_child: int | None = None,
        max_memory_per_child: float | None = None,
        exception_handlers: Iterable[Callable[..., Any] | str] | Callable[..., Any] | str | None = None,
        serializer: str | Serializer | type | None = None,
        default_result_ttl: float | None = None,
        job_monitoring_interval: float | None = None,
        disable_default_exception_handler: bool = False,
        job_class: type | str | None = None,
        queue_class: type | str | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        items = _queue_items(queues)
        if connection is None:
            first = next((q for q in items if isinstance(q, Queue)), None)
            connection = first.connection if first is not None else None
        connection = resolve_connection(connection)
        _check_settings(concurrency, {
            "lease_ttl": lease_ttl, "poll_interval": poll_interval, "maintenance_interval": maintenance_interval,
            "worker_ttl": worker_ttl, "interrupt_grace": interrupt_grace, "shutdown_timeout": shutdown_timeout,
        }, limits, pool, max_jobs_per_child, max_memory_per_child, serializer)  # fmt: skip
        refuse_rq_options(default_result_ttl, job_monitoring_interval, disable_default_exception_handler,
                          job_class, queue_class)  # fmt: skip
        self.backend = connection
        self._queue_names = [q.name if isinstance(q, Queue) else q for q in items]
        self.queues = [Queue(n, connection=connection) for n in self._queue_names]
        self.name = name or f"{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(2)}"
        self.concurrency = concurrency
        self.lease_ttl = lease_ttl
        self.poll_interval = poll_interval
        self.maintenance_interval = maintenance_interval
        self.worker_ttl = worker_ttl
        self.interrupt_grace = interrupt_grace
        self.shutdown_timeout = shutdown_timeout
        self.limits = limits or None
        self.max_memory = max_memory
        self.pool = pool
        self.max_jobs_per_child = max_jobs_per_child
        self.max_memory_per_child = max_memory_per_child
        self.exception_handlers = _handler_paths(exception_handlers)
        """RQ's: called after every run that raised, in order, until one returns a false
        value other than None."""
        self.recycled = False
        """Whether the worker stopped for a fresh process: max_jobs or max_memory reached."""
        self.failure = None
        """Why the worker stopped itself, when it could not go on."""
        self.clock = clock
        self._start_live_state()
        self.loop = None
        self.holdings = Holdings(connection, clock)
        self._inline = None
        self._active = 0
        self._stopping = False
        self._burst_checked = False
        self._batch = 1
        self._wake = None
        self._pool = None
        self._processes = None
        self._waiter_pool = None
        self._on_main_thread = False  # inline jobs need the main thread (signals interrupt them)
        self._waiting = None
        self._housekeeper = None
        self.stop_deadline = None  # monotonic; the housekeeper enforces it
        self._max_idle_time = None
        self._busy_mono = time.monotonic()  # when a job last ended (or the worker began)

    # -- public ------------------------------------------------------------------------
    def queue_names(self) -> list[str]:
        """The names of the queues it serves, in order (a method, as RQ's)."""
        return list(self._queue_names)

    def work(
        self,
        burst: bool = False,
        *,
        logging_level: str | int | None = None,
        date_format: str | None = None,
        log_format: str | None = None,
        max_jobs: int | None = None,
        max_idle_time: float | None = None,
        with_scheduler: bool = True,
        dequeue_strategy: str = "default",
    ) -> bool:
        """Run jobs until stopped (SIGTERM/SIGINT), or until the queues are empty with
        ``burst``, or after ``max_jobs`` jobs, or after ``max_idle_time`` seconds without
        one. Returns whether any job was run.

        RQ's arguments (by keyword): ``logging_level`` (with ``log_format`` and
        ``date_format``) sends conveyor's log records to stderr while the worker runs
        (without it, logging is the program's to set up); ``with_scheduler`` is accepted
        and changes nothing, since every conveyor worker moves due scheduled jobs; of
        ``dequeue_strategy``, only ``"default"`` (queues in the order given) is supported.
        """
        if dequeue_strategy != "default":
            raise ConfigurationError(
                f"dequeue_strategy {dequeue_strategy!r} is not supported: a worker serves its queues in the order given"
            )
        if isinstance(logging_level, str) and not isinstance(logging.getLevelName(logging_level.upper()), int):
            raise ConfigurationError(f"logging_level {logging_level!r} is not a level (DEBUG, INFO, WARNING, ERROR)")
        if max_jobs is not None and (isinstance(max_jobs, bool) or not isinstance(max_jobs, int) or max_jobs < 1):
            raise ConfigurationError(f"max_jobs must be a whole number, at least 1, got {max_jobs!r}")
        if max_idle_time is not None and not (math.isfinite(max_idle_time) and max_idle_time > 0):
            raise ConfigurationError(f"max_idle_time must be a positive number of seconds, got {max_idle_time!r}")
        self._max_idle_time, self._busy_mono = max_idle_time, time.monotonic()
        logs = (
            log_to_stderr(logging_level, log_format, date_format)
            if logging_level is not None
            else contextlib.nullcontext()
        )
        with logs:
            return self._work(burst, max_jobs)

    def _work(self, burst: bool, max_jobs: int | None) -> bool:
        housekeeper = self._housekeeper = Housekeeper(self)
        if self.pool == "processes":
            # children start with the first jobs
            self._processes = ProcessPool(
                self.backend.url, self.max_jobs_per_child, self.max_memory_per_child, self.exception_handlers
            )
        halt = self._halt = Halt()
        restore = self._install_signal_handlers()
        self._begin_work()
        try:
            self.backend.schedule_signals()  # listen for due times before being seen, then read the next one
            self.register()
            for warning in [
                *self.backend.store_warnings(),
                *mistyped_queue_warnings(self._queue_names, queues_with_waiting_jobs(self.backend.counts())),
                *_paused_queue_warnings(self._queue_names, self.backend.queues_paused()),
            ]:
                log.warning("%s", warning)
            for first_pass in (housekeeper.check_clock, housekeeper.run_schedule, housekeeper.run_maintenance):
                try:  # a clock off says so before any job runs; due and dead workers' jobs count for burst too
                    first_pass()
                except BackendUnavailableError:
                    raise
                except BackendError as exc:  # a full Redis refuses promotions; retention frees it
                    log.warning("the first pass of %s failed (%s); the housekeeper retries it", first_pass.__name__,
                                exc)  # fmt: skip
            housekeeper.start()
            asyncio.run(self._run(burst, max_jobs))
        finally:
            housekeeper.stop()
            restore()
            halt.set()  # a wait for jobs still going on in the waiting thread ends now
            for pool in (self._pool, self._waiter_pool):
                if pool is not None:
                    pool.shutdown(wait=False)
            halt.close()
            if self._processes is not None:
                self._processes.close()
            stuck = [running for running in self.held() if running.abandoned and not running.done]
            try:
                if self.holdings.unanswered:  # give back what they took, as any job held
                    self._unanswered_claims()
                self.holdings.release_all(self._interrupted)
                maintenance.release_lock(self.backend, self.name, self.clock.now())
                self.backend.workers_unregister(self.name)
            except BackendError as exc:
                log.error("could not give back held jobs (%s); other workers recover them when their leases expire",
                          exc)  # fmt: skip
            self._end_work()
            log.info("worker %s stopped after %d job%s", self.name, self.jobs_done, "" if self.jobs_done == 1 else "s")
        if stuck:  # the interpreter would wait forever to join their threads at exit
            os._exit(EXIT_JOB_UNRESPONSIVE)
        return self.jobs_done > 0

    def register(self) -> None:
        now = self.clock.now()
        self.backend.workers_register(
            WorkerRecord(
                name=self.name,
                hostname=self.hostname,
                pid=self.pid,
                queues=tuple(self._queue_names),
                concurrency=self.concurrency,
                state="idle",
                started_at=now,
                last_heartbeat=now,
                jobs_done=self.jobs_done,
                jobs_failed=self.failed_job_count,
                jobs_stopped=self.stopped_job_count,
                working_time=self.total_working_time,
                version=__version__,
                pool=self.pool,
            )
        )
        self._registered_at(now)

    @staticmethod
    def all(connection: Backend | None = None, queue: Queue | str | None = None) -> list[RegisteredWorker]:
        """The workers registered in the store (RQ's ``Worker.all``), read-only; with
        ``queue`` those that serve it."""
        return registered(resolve_connection(connection), queue)

    @staticmethod
    def count(connection: Backend | None = None, queue: Queue | str | None = None) -> int:
        """How many workers are registered (RQ's ``Worker.count``); with ``queue`` serving it."""
        return len(Worker.all(connection, queue))

    def held(self) -> list[Running]:
        """The jobs this worker holds a lease on (claimed, running, not yet settled)."""
        return self.holdings.jobs()


def _handler_paths(handlers: Iterable[Callable[..., Any] | str] | Callable[..., Any] | str | None) -> tuple[str, ...]:
    """The exception handlers' import paths (a job process imports them by these), each
    checked now: a handler that cannot be found would fail only when a job does. As in
    RQ, one handler may be given alone, and None means none."""
    if handlers is None:
        return ()
    given = [handlers] if callable(handlers) or isinstance(handlers, str) else list(handlers)
    try:
        paths = tuple(function_name(handler) for handler in given)
        for path in paths:
            if inspect.iscoroutinefunction(resolve_function(path)):
                raise InvalidJobError(f"{path} must be a plain function, as in RQ, not an async one")
    except InvalidJobError as exc:
        raise ConfigurationError(f"exception_handlers: {exc}") from None
    return paths


class SimpleWorker(Worker):
    """RQ's SimpleWorker, for code written for it: RQ's runs jobs in its own process
    instead of forking one per job, which conveyor's Worker does already (its default
    pool, ``"threads"``, with ``concurrency=1`` runs each job on the main thread)."""


def _paused_queue_warnings(served: Sequence[str], paused: Mapping[str, float]) -> list[str]:
    """A paused queue starts none of its jobs on any worker: said at start, so that a
    worker that seems to ignore a queue's jobs does not look broken."""
    return [
        f"queue {name!r} is paused (since {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(paused[name]))} UTC): "
        f"this worker starts none of its jobs until `conveyor resume {name}` (or Queue({name!r}).resume())"
        for name in dict.fromkeys(served)
        if name in paused
    ]
