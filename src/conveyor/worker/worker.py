"""The Worker: claims jobs, runs them, settles their outcome, and survives its jobs.

The claim loop runs on an asyncio event loop in the main thread. It claims only as
many jobs as it can start soon (free slots, plus a prefetch that grows while jobs are
quick and falls back to one when they are slow), runs them, and settles outcomes in
batches: one transaction claims many jobs and one settles many, which is where
throughput comes from. Sync jobs run inline on the main thread when concurrency is
1 (no thread hand-off), else in a thread pool, or with ``pool="processes"`` in child
processes (conveyor.worker.job_processes); ``async def`` jobs run as tasks on the loop.
Leases, heartbeats, timeouts and stop commands are handled by the Housekeeper thread,
so a job that hogs the main thread cannot starve them. The jobs held and the outcomes
not yet recorded are the worker's Holdings (conveyor.worker.holdings).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import math
import os
import random
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import FrameType
from typing import Any

from conveyor import maintenance
from conveyor._version import __version__
from conveyor.backends.base import Backend
from conveyor.clock import SYSTEM_CLOCK, Clock
from conveyor.connection import resolve_connection
from conveyor.exceptions import (
    BackendError,
    BackendUnavailableError,
    ConfigurationError,
    InvalidJobError,
    JobInterrupted,
    JobTimeoutException,
)
from conveyor.functions import function_name, resolve_function
from conveyor.halt import Halt
from conveyor.job import Job
from conveyor.logs import log_to_stderr
from conveyor.maintenance import DEFAULT_WORKER_TTL
from conveyor.queue import Queue
from conveyor.serializers import Serializer, resolve_serializer
from conveyor.status import JobStatus
from conveyor.types import Limits, Settlement, WorkerRecord

from . import callbacks, execution, outcomes
from .holdings import Holdings
from .housekeeper import BACKOFF_FIRST, BACKOFF_LAST, Housekeeper
from .job_processes import JobProcessUnavailable, ProcessPool
from .live import LiveState
from .memory import peak_rss_mb
from .registered import RegisteredWorker, registered
from .rq_options import refuse_rq_options
from .running import INTERRUPT_SIGNAL, Running, ShutdownInterrupt

log = logging.getLogger("conveyor.worker")

MAX_BATCH = 100
"""Most jobs claimed (and settled) in one backend call."""

QUICK_JOB_SECONDS = 0.002
"""Jobs quicker than this on average let the worker prefetch more per claim."""

EXIT_JOB_UNRESPONSIVE = 3
"""Exit status when a job ignored its interrupt and the worker had to end itself."""

MAX_FAILED_STARTS = 5
"""Failed starts of job processes in a row after which the worker stops."""

POOLS = ("threads", "processes")
"""Where sync jobs run: in this process (inline or threads) or in child processes."""


def _check_settings(
    concurrency: int,
    seconds: dict[str, float],
    pool: str,
    max_jobs_per_child: int | None,
    max_memory_per_child: float | None,
    serializer: str | Serializer | type | None,
) -> None:
    """Raise ConfigurationError for settings a worker cannot run with."""
    if concurrency < 1:
        raise ConfigurationError(f"concurrency must be at least 1, got {concurrency}")
    for name, value in seconds.items():  # NaN passes every comparison: a lease of NaN would never end
        if not (math.isfinite(value) and value > 0):
            raise ConfigurationError(f"{name} must be a positive number of seconds, got {value!r}")
    if pool not in POOLS:
        raise ConfigurationError(f"pool must be one of {', '.join(POOLS)}, got {pool!r}")
    per_child = [limit for limit in (max_jobs_per_child, max_memory_per_child) if limit is not None]
    if per_child and pool != "processes":
        raise ConfigurationError("max_jobs_per_child and max_memory_per_child need pool='processes'")
    if any(not limit > 0 for limit in per_child):  # NaN included
        raise ConfigurationError("max_jobs_per_child and max_memory_per_child must be positive")
    resolve_serializer(serializer)  # RQ's worker needs its queues' serializer; each job here names its own


class Worker(LiveState):
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

    _halt: Halt | None = None
    """Set when it stops (from work() on): a wait for jobs watches it, and ends at once."""
    _wait_error: BackendError | None = None
    """How the last wait for jobs on the waiting thread failed, for the claim loop."""

    job_class = Job
    """RQ's: the class of the jobs it hands to functions (conveyor's, always)."""
    queue_class = Queue

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
        shutdown_timeout: float = 60.0,
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
        items = [queues] if isinstance(queues, Queue | str) else list(queues)
        if not items:
            raise ConfigurationError("a worker needs at least one queue")
        if connection is None:
            first = next((q for q in items if isinstance(q, Queue)), None)
            connection = first.connection if first is not None else None
        connection = resolve_connection(connection)
        _check_settings(concurrency, {
            "lease_ttl": lease_ttl, "poll_interval": poll_interval, "maintenance_interval": maintenance_interval,
            "worker_ttl": worker_ttl, "interrupt_grace": interrupt_grace, "shutdown_timeout": shutdown_timeout,
        }, pool, max_jobs_per_child, max_memory_per_child, serializer)  # fmt: skip
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
        self.failure: str | None = None
        """Why the worker stopped itself, when it could not go on."""
        self.clock = clock
        self._start_live_state()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.holdings = Holdings(connection, clock)
        self._inline: Running | None = None
        self._active = 0
        self._stopping = False
        self._burst_checked = False
        self._batch = 1
        self._wake: asyncio.Event | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._processes: ProcessPool | None = None
        self._waiter_pool: ThreadPoolExecutor | None = None
        self._on_main_thread = False  # inline jobs need the main thread (signals interrupt them)
        self._waiting: asyncio.Future[Any] | None = None
        self._housekeeper: Housekeeper | None = None
        self.stop_deadline: float | None = None  # monotonic; the housekeeper enforces it
        self._max_idle_time: float | None = None
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
            self.register()
            for warning in self.backend.store_warnings():
                log.warning("%s", warning)
            for first_pass in (housekeeper.run_schedule, housekeeper.run_maintenance):
                try:  # due jobs and dead workers' jobs count for burst too
                    first_pass()
                except BackendUnavailableError:
                    raise
                except BackendError as exc:  # a full Redis refuses promotions; retention frees it
                    log.warning("the first maintenance pass failed (%s); the housekeeper retries it", exc)
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

    def request_stop(self) -> None:
        """Stop taking jobs and exit once running ones end, interrupting (and giving back)
        those still running after ``shutdown_timeout``: what the first SIGTERM does."""
        if not self._stopping:
            self.stop_deadline = time.monotonic() + self.shutdown_timeout
        self._stopping = True
        if self._halt is not None:  # an idle worker's wait for jobs ends at once
            self._halt.set()
        if self.loop is not None and self._wake is not None:
            # the halt may have ended the loop already: an idle worker sees the stop and exits
            with contextlib.suppress(RuntimeError):  # ("Event loop is closed")
                self.loop.call_soon_threadsafe(self._wake.set)

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

    # -- the claim loop ------------------------------------------------------------------
    async def _run(self, burst: bool, max_jobs: int | None) -> None:
        self.loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        backoff = BACKOFF_FIRST
        while not self._stopping:
            try:
                more = await self._step(burst, max_jobs)
            except BackendError as exc:  # the store failed past its own retries: wait, go on
                log.error("the backend failed (%s); trying again in %.1fs", exc, backoff)
                await self._wake_or_timeout(backoff)
                backoff = min(backoff * 2, BACKOFF_LAST)
                continue
            backoff = BACKOFF_FIRST
            if not more:
                break
        await self._drain()
        self.holdings.flush()

    async def _step(self, burst: bool, max_jobs: int | None) -> bool:
        """Claim and start one batch of jobs (or wait for some); False when the worker is done."""
        if self._housekeeper is not None and not self._housekeeper.is_alive():
            log.critical("the worker's housekeeping thread died: leases are no longer renewed; stopping")
            self.request_stop()
            return False
        await self._wait_for_slot()
        if self._stopping:
            return False
        if self.max_memory is not None and self.jobs_done and (rss := peak_rss_mb()) > self.max_memory:
            log.info("worker %s recycles: its memory (%.0f MB) passed --max-memory %.0f MB", self.name, rss,
                     self.max_memory)  # fmt: skip
            self.recycled = True
            self.request_stop()  # running jobs finish first, within shutdown_timeout
            return False
        budget = None if max_jobs is None else max_jobs - self.jobs_done - self._active
        if budget is not None and budget <= 0:
            if self._active == 0:
                self.recycled = True
                return False
            await self._wake_or_timeout(self.poll_interval)
            return True
        free = self.concurrency - self._active
        # under limits, prefetching would hold shared capacity idle in this worker
        prefetch = free if self.limits else max(free, self._batch)
        limit = min(MAX_BATCH, prefetch, budget or MAX_BATCH)
        self.holdings.flush()
        claimed = self._claim(limit)
        if not claimed and self._idle_too_long():
            return False
        if not claimed and self._can_wait_here(burst):
            claimed = self._claim(limit, wait=self._claim_wait())
            if not claimed:
                return True
        if not claimed:
            if burst and self._active == 0 and not self.holdings.unrecorded:
                if self._burst_checked:
                    return False
                # before a burst ends: one more time-driven pass (due jobs, batch starts and
                # callbacks, recovered jobs, whichever thread runs it), then one more claim
                recover = self._housekeeper is None or self._housekeeper.recovery.open()
                maintenance.run_schedule(self.backend, self.clock.now(), recover_leases=recover)
                self._burst_checked = True
                return True
            await self._idle_wait(burst)
            return True
        self._burst_checked = False
        await self._start_all(claimed)
        return True

    def _idle_too_long(self) -> bool:
        """Whether the worker has had no job for max_idle_time seconds (RQ's work option)."""
        if self._max_idle_time is None or self._active > 0 or self.holdings.unrecorded:
            return False
        if time.monotonic() - self._busy_mono < self._max_idle_time:
            return False
        log.info("worker %s stops: no job for %gs (max_idle_time)", self.name, self._max_idle_time)
        return True

    def _claim(self, limit: int, wait: float = 0.0) -> list[Running]:
        if self.holdings.unanswered:
            adopted = self._unanswered_claims()
            if adopted:
                return adopted
        now = self.clock.now()
        token = secrets.token_hex(8)
        try:
            records = self.backend.jobs_claim(
                self._queue_names, self.name, limit, token, now + self.lease_ttl, now, self.limits, wait, self._halt
            )
        except BackendUnavailableError:  # it may have claimed jobs all the same
            self.holdings.unanswered.add(token)
            raise
        claimed = [Running(record) for record in records]
        self.holdings.add(claimed)
        return claimed

    def _unanswered_claims(self) -> list[Running]:
        """The jobs that claims the store did not answer (a timeout, a connection cut)
        took all the same, now held: a claim that reached the store before the failure
        leased its jobs to this worker, and nobody else would run them until their leases
        lapsed and recovery failed them as abandoned, never run. Found by the claims'
        lease tokens among the started jobs of this worker's queues; raises if the store
        still fails (the tokens are kept for the next try)."""
        tokens = self.holdings.unanswered
        found: list[Running] = []
        for queue in dict.fromkeys(self._queue_names):
            ids = self.backend.job_ids(queue, [JobStatus.STARTED])
            for start in range(0, len(ids), 1000):
                for record in self.backend.jobs_get(ids[start : start + 1000]):
                    if (
                        record is not None
                        and record.status is JobStatus.STARTED
                        and record.worker_name == self.name
                        and record.lease_token in tokens
                    ):
                        found.append(Running(record))
        self.holdings.unanswered = set()
        if found:
            log.warning("a claim the store did not answer took %d jobs all the same: running them (%s)",
                        len(found), ", ".join(r.record.id for r in found))  # fmt: skip
            self.holdings.add(found)
        return found

    async def _start_all(self, claimed: Sequence[Running]) -> None:
        began = time.monotonic()
        for index, running in enumerate(claimed):
            if self._active >= self.concurrency:  # (a free slot needs no wait: no coroutine per job)
                await self._wait_for_slot()
            if self._stopping:
                self._settle_many([outcomes.released(r.record) for r in claimed[index:]], claimed[index:])
                return
            await self._start(running)
        per_job = (time.monotonic() - began) / len(claimed)
        self._batch = min(MAX_BATCH, self._batch * 2) if per_job < QUICK_JOB_SECONDS else 1

    async def _start(self, running: Running) -> None:
        if not running.start():  # given back while it waited: the housekeeper settles it
            return
        record = running.record
        started_at = self.clock.now()
        if running.lease_lapsed(started_at):  # paused since the claim: it may run elsewhere by now
            log.warning("job %s: its lease ran out before it could start (the worker was paused or held up); "
                        "given back, not run", record.id)  # fmt: skip
            self._settle(running, outcomes.released(record))
            return
        prepared = execution.prepare(record, self.backend, self.clock)
        if isinstance(prepared, str):
            self._settle(running, outcomes.failed(record, started_at, prepared, started_at))
            return
        running.started_at = started_at
        in_worker = self.pool == "threads"  # not in a child process
        inline = not prepared.is_async and in_worker and self.concurrency == 1 and self._on_main_thread
        kind = "inline" if inline else "task" if prepared.is_async else "thread" if in_worker else "process"
        if not running.begin(kind):
            self._settle(running, self._interrupted(running))  # stopped or canceled before it began
            return
        if inline:
            self._run_inline(running, prepared)
            return
        self._active += 1
        task: asyncio.Task[Settlement] = asyncio.ensure_future(self._run_concurrently(running, prepared))
        task.add_done_callback(functools.partial(self._concurrent_done, running))
        running.attach(task)
        if self.concurrency == 1:
            await asyncio.wait([task])

    def _run_inline(self, running: Running, prepared: execution.PreparedJob) -> None:
        # An interrupt can land at any bytecode while ``_inline`` is set, including in the
        # finally clause; the outer except catches it wherever it lands.
        self._inline = running
        value = error = None
        try:
            try:
                value = execution.call_sync(prepared)
            finally:
                self._inline = None
        except (*execution.JOB_ERRORS, JobInterrupted) as exc:
            settlement, error = self._raised(running, exc), self._ending_error(running, exc)
        else:
            settlement = execution.success(prepared, running.started_at or 0.0, value, self.clock.now())
        if callbacks.wanted(prepared.job.record, settlement, self.exception_handlers):
            place = _InlinePlace(self, running)  # a signal raises their interrupts, as it does the job's
            settlement = self._run_callbacks(running, prepared, settlement, value, error, place)
        self._settle(running, settlement)

    async def _run_concurrently(self, running: Running, prepared: execution.PreparedJob) -> Settlement:
        """Run an async job as a task, or a sync one in the thread pool or a child process
        (a thread of the pool waits for it)."""
        if prepared.is_async:
            return await self._run_task(running, prepared)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="conveyor-job")
        loop = asyncio.get_running_loop()
        try:
            if running.kind == "process":
                return await loop.run_in_executor(self._pool, self._run_in_process, running)
            return await loop.run_in_executor(self._pool, self._run_in_thread, running, prepared)
        except (*execution.JOB_ERRORS, JobInterrupted, asyncio.CancelledError) as exc:
            return self._raised(running, exc)

    async def _run_task(self, running: Running, prepared: execution.PreparedJob) -> Settlement:
        """An async job, then its callbacks (plain functions) on a daemon thread of their
        own: the loop stays free, and one still running at shutdown does not hold the
        worker (asyncio.to_thread's threads are waited for when the loop closes). There
        they are interrupted, or left to their thread, as a thread-pool job is."""
        value = error = None
        try:
            value = await execution.call_async(prepared)
        except (*execution.JOB_ERRORS, JobInterrupted, asyncio.CancelledError) as exc:
            settlement, error = self._raised(running, exc), self._ending_error(running, exc)
        else:
            settlement = execution.success(prepared, running.started_at or 0.0, value, self.clock.now())
        if not callbacks.wanted(prepared.job.record, settlement, self.exception_handlers):
            return settlement
        with running.lock:  # from here interrupts go to the callbacks' thread, not this task
            running.kind, running.outcome = "thread", settlement
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[Settlement] = loop.create_future()

        def run() -> None:
            outcome = settlement
            try:
                outcome = self._run_callbacks(running, prepared, settlement, value, error, running)
            finally:  # whatever escaped, the task must not wait forever
                with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
                    loop.call_soon_threadsafe(_resolve, ended, outcome)

        threading.Thread(target=run, name=f"conveyor-callbacks-{running.record.id}", daemon=True).start()
        while True:
            try:
                return await asyncio.shield(ended)
            except asyncio.CancelledError:
                if running.abandoned:  # left to its thread: settled with its outcome as the worker exits
                    return self._interrupted(running)
                task = asyncio.current_task()
                assert task is not None
                task.uncancel()  # an interrupt meant for the function, come after it ended: void

    def _concurrent_done(self, running: Running, task: asyncio.Task[Settlement]) -> None:
        """Settle a task's job and free its slot, however the task ended (even cancelled
        before its first step, when its coroutine never ran)."""
        if running.abandoned:
            if running.thread_id is not None:  # the loop is closing, its thread still stuck: work() settles it
                self._active -= 1
                return
            running.abandoned = False  # its thread came back after all: settle it as usual
        if task.cancelled():
            settlement = self._interrupted(running)
        elif (error := task.exception()) is not None:
            settlement = outcomes.raised(running.record, running.started_at, error, self.clock.now())
        else:
            settlement = task.result()
        self._active -= 1
        self._settle(running, settlement)
        if self._wake is not None:
            self._wake.set()

    def _raised(self, running: Running, error: BaseException) -> Settlement:
        """The settlement for a job that raised ``error`` or was interrupted. A
        CancelledError is an interrupt only if one was asked for; else the job's own."""
        if isinstance(error, JobInterrupted) or (
            isinstance(error, asyncio.CancelledError) and running.interrupt is not None
        ):
            return self._interrupted(running)
        return outcomes.raised(running.record, running.started_at, error, self.clock.now())

    def _run_in_thread(self, running: Running, prepared: execution.PreparedJob) -> Settlement:
        """A sync job in a thread of the pool, then its callbacks in the same thread."""
        value = error = None
        running.enter_thread()  # raises if stopped before it began: no callbacks then (see _raised)
        try:
            try:
                value = execution.call_sync(prepared)
            finally:
                running.leave_thread()
        except (*execution.JOB_ERRORS, JobInterrupted) as exc:
            settlement, error = self._raised(running, exc), self._ending_error(running, exc)
        else:
            settlement = execution.success(prepared, running.started_at or 0.0, value, self.clock.now())
        if not callbacks.wanted(prepared.job.record, settlement, self.exception_handlers):
            return settlement
        return self._run_callbacks(running, prepared, settlement, value, error, running)

    def _run_callbacks(
        self,
        running: Running,
        prepared: execution.PreparedJob,
        outcome: Settlement,
        value: Any,
        error: Any,
        place: callbacks.Place,
    ) -> Settlement:
        """A job's callbacks and the worker's exception handlers, where ``place`` raises
        their interrupts: a thread (the Running itself) or the main thread."""
        try:
            return callbacks.run(prepared.job, outcome, value, error, place, self.exception_handlers)
        except JobInterrupted:  # it landed as a callback ended
            return self._interrupted(running)

    def _run_in_process(self, running: Running) -> Settlement:
        """Run the job in a child process (see ProcessPool.run). One no child could take
        goes back, not counted as a retry; when children fail to start again and again,
        the worker stops."""
        pool = self._processes
        assert pool is not None
        try:
            return pool.run(running, lambda: self._stopping, self.clock.now)
        except JobProcessUnavailable as error:
            log.error("job %s goes back to its queue: %s", running.record.id, error)
            failed_starts = pool.failed_starts
        if failed_starts >= MAX_FAILED_STARTS and self.failure is None:
            self.failure = f"no job process could start {failed_starts} times in a row (the errors above say why)"
            log.critical("the worker stops: %s", self.failure)
            self.request_stop()
        return outcomes.released(running.record)

    @staticmethod
    def _ending_error(running: Running, error: BaseException) -> BaseException:
        """What ended a job that raised ``error``, for its callbacks: an interrupt as the
        worker describes it, with the traceback of where it landed."""
        if isinstance(error, JobInterrupted | asyncio.CancelledError) and running.interrupt is not None:
            return running.described(error)
        return error

    def _interrupted(self, running: Running) -> Settlement:
        """The settlement for a job that ended because it was interrupted. One whose
        function had ended keeps that outcome (a callback was cut short), but for an
        on_success past its timeout, which fails the job as in RQ."""
        error = running.interrupt_error()
        if running.outcome is not None:
            if running.callback == "on_success" and isinstance(error, JobTimeoutException):
                return outcomes.raised(running.record, running.started_at, error, self.clock.now())
            return running.outcome
        if isinstance(error, ShutdownInterrupt):
            return outcomes.released(running.record)
        return outcomes.raised(running.record, running.started_at, error, self.clock.now())

    # -- settling ---------------------------------------------------------------------------
    def _settle(self, running: Running, settlement: Settlement) -> None:
        with running.lock:
            running.done = True
        self._busy_mono = time.monotonic()
        waiting = self.holdings.note(settlement)
        self._count(settlement, self.clock.now())
        if waiting >= self._batch or (self._active == 0 and self._batch == 1):
            self.holdings.flush()

    def _settle_many(self, settlements: Sequence[Settlement], held: Sequence[Running]) -> None:
        for running, settlement in zip(held, settlements, strict=True):
            self._settle(running, settlement)
        self.holdings.flush()

    # -- waiting -------------------------------------------------------------------------------
    async def _wait_for_slot(self) -> None:
        while self._active >= self.concurrency and not self._stopping:
            self.holdings.flush()
            await self._wake_or_timeout(self.poll_interval)

    async def _wake_or_timeout(self, timeout: float) -> None:
        assert self._wake is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()

    def _claim_wait(self) -> float:
        """How long a claim may wait for jobs: the jittered poll interval, but at most a
        third of the lease. The store reckons the lease of a job claimed at the end of the
        wait from the wait's start, so a longer wait would hand over a job whose lease is
        nearly (or already) spent before its first renewal."""
        return min(self.poll_interval, self.lease_ttl / 3) * random.uniform(0.8, 1.0)

    def _can_wait_here(self, burst: bool) -> bool:
        """Whether an idle wait may block this thread, in a claim that waits for jobs.

        With nothing running no task needs the loop, and a wake-up then goes straight on
        to the claim, sent with the wait (one round trip on Redis) instead of through a
        hand-off from a waiting thread: together about half of the idle enqueue-to-start
        latency. A stop ends the wait at once: it sets the halt the wait watches.
        """
        assert self._wake is not None
        idle = self._active == 0 and not self._stopping and not self._wake.is_set()
        waiting_elsewhere = self._waiting is not None and not self._waiting.done()
        return not burst and idle and not waiting_elsewhere

    async def _idle_wait(self, burst: bool) -> None:
        """Wait for a new-job signal, a free slot, a stop, or the poll interval."""
        if burst:
            await self._wake_or_timeout(self.poll_interval)
            return
        assert self.loop is not None and self._wake is not None
        if self._waiter_pool is None:
            self._waiter_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="conveyor-wait")
        if self._waiting is None or self._waiting.done():
            interval = self.poll_interval * random.uniform(0.8, 1.0)
            wait = functools.partial(self.backend.wait_for_jobs, interval, self._halt)
            self._waiting = self.loop.run_in_executor(self._waiter_pool, wait)
            self._waiting.add_done_callback(self._wait_ended)
        woken: asyncio.Future[Any] = asyncio.ensure_future(self._wake.wait())
        await asyncio.wait([self._waiting, woken], return_when=asyncio.FIRST_COMPLETED)
        woken.cancel()
        self._wake.clear()
        if (error := self._wait_error) is not None:  # the claim loop backs off and says so
            self._wait_error = None
            raise error

    def _wait_ended(self, waited: asyncio.Future[Any]) -> None:
        """Read how a wait on the waiting thread ended, whenever it ends (asyncio reports an
        error never read): the store's failure goes to the claim loop, which backs off;
        anything else is logged, and the next wait may do better."""
        if waited.cancelled() or (error := waited.exception()) is None:
            return
        if isinstance(error, BackendError):
            self._wait_error = error
        else:
            log.error("the wait for new jobs failed (%s); the worker goes on", error, exc_info=error)

    # -- stopping ------------------------------------------------------------------------------
    async def _drain(self) -> None:
        """Wait for running jobs to end; the housekeeper interrupts them at the stop deadline
        (an inline job holds this thread, so it cannot be the one watching the clock).
        Abandoned jobs are not waited for: their tasks end when they are abandoned."""
        while self._active > 0:
            self.holdings.flush()
            await self._wake_or_timeout(0.1)

    def interrupt_all(self, message: str) -> None:
        """Interrupt every held job; each goes back to its queue, not counted as a retry."""
        for running in self.held():
            running.request_interrupt(ShutdownInterrupt, message, self.loop)

    def abandon(self, unresponsive: Running) -> None:
        """A job ignored its interrupt past the grace period (called by the housekeeper).

        One in a child process is ended by killing the child, and settled as its
        interrupt says when the thread waiting for the child sees it die. Nothing inside
        the worker's own process can end a job stuck in a C call. One in the thread
        pool is left to its thread, its lease still held (so no other worker runs it
        meanwhile), while the worker stops as on SIGTERM: its other jobs finish (within
        shutdown_timeout); then the stuck job gets the outcome of its interrupt and the
        process exits with EXIT_JOB_UNRESPONSIVE, ending the thread, for its supervisor
        to start a fresh one. One that holds the event loop or the main thread leaves no
        way to wait for the others: the process ends at once.
        """
        if unresponsive.kind == "process":
            if unresponsive.kill_process() and not unresponsive.abandon_requested:
                unresponsive.abandon_requested = True
                log.error("job %s ignored its interrupt for %gs: its process is killed", unresponsive.record.id,
                          self.interrupt_grace)  # fmt: skip
            return
        if unresponsive.kind != "thread" or self.loop is None or self.loop.is_closed():
            self.abandon_process(unresponsive)
            return
        with unresponsive.lock:
            if unresponsive.abandon_requested:
                return
            unresponsive.abandon_requested = True
        log.error("job %s ignored its interrupt for %gs: it is left to its thread; the worker stops taking "
                  "jobs and exits once the others end", unresponsive.record.id, self.interrupt_grace)  # fmt: skip
        self.loop.call_soon_threadsafe(self._mark_abandoned, unresponsive)

    def _mark_abandoned(self, unresponsive: Running) -> None:
        """On the loop (where jobs are settled, so never halfway through one): stop."""
        if unresponsive.done:  # it ended after all, just before
            return
        unresponsive.abandoned = True
        if unresponsive.task is not None:  # stop waiting for its thread (at concurrency 1, _start does)
            unresponsive.task.cancel()
        self.request_stop()

    def abandon_process(self, unresponsive: Running) -> None:
        """End the process at once: settle the unresponsive job, give the others back."""
        log.error("job %s ignored its interrupt for %gs; the worker exits", unresponsive.record.id,
                  self.interrupt_grace)  # fmt: skip
        now = self.clock.now()
        settlements = self.holdings.unrecorded
        for running in self.held():
            if running.done and not running.given_back:
                continue
            if running is unresponsive:
                settlements.append(self._interrupted(running))
            else:
                settlements.append(outcomes.released(running.record))
        try:
            self.backend.jobs_settle(settlements, now)
            maintenance.release_lock(self.backend, self.name, now)
            self.backend.workers_unregister(self.name)
        finally:
            os._exit(EXIT_JOB_UNRESPONSIVE)

    def _install_signal_handlers(self) -> Any:
        self._on_main_thread = threading.current_thread() is threading.main_thread()
        if not self._on_main_thread:  # no signals here: sync jobs go to the thread pool instead
            return lambda: None
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, INTERRUPT_SIGNAL)}

        def on_stop_signal(signum: int, frame: FrameType | None) -> None:
            if self._stopping:
                log.warning("second stop signal: interrupting running jobs and giving them back")
                self.interrupt_all("The worker was stopped")
                self._raise_in_inline()
            else:
                log.info("stop signal: finishing running jobs (up to %gs), taking no new ones",
                         self.shutdown_timeout)  # fmt: skip
                self.request_stop()

        def on_interrupt_signal(signum: int, frame: FrameType | None) -> None:
            self._raise_in_inline()

        signal.signal(signal.SIGTERM, on_stop_signal)
        signal.signal(signal.SIGINT, on_stop_signal)
        signal.signal(INTERRUPT_SIGNAL, on_interrupt_signal)

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    def _raise_in_inline(self) -> None:
        """Raise the pending interrupt in the inline job, if one is running on this thread.

        One interrupt per job: clearing ``_inline`` first means a second signal can
        never raise into the worker's own code once the job's frame is left.
        """
        running = self._inline
        if running is not None and running.interrupt is not None:
            self._inline = None
            raise running.interrupt_error()


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


class _InlinePlace:
    """Callbacks on the main thread: the worker marks the job as the one a signal
    interrupts while a callback runs (see Worker._raise_in_inline)."""

    def __init__(self, worker: Worker, running: Running) -> None:
        self._worker = worker
        self._running = running
        self.described = running.described

    def enter_callback(self, event: str, timeout: float, outcome: Settlement) -> bool:
        if not self._running.enter_callback(event, timeout, outcome):
            return False
        self._worker._inline = self._running
        if self._running.interrupt is not None:  # it came before _inline was set: its signal found nothing
            self._worker._raise_in_inline()
        return True

    def leave_callback(self) -> None:
        self._worker._inline = None
        self._running.leave_callback()


def _resolve(future: asyncio.Future[Settlement], outcome: Settlement) -> None:
    if not future.done():
        future.set_result(outcome)


class SimpleWorker(Worker):
    """RQ's SimpleWorker, for code written for it: RQ's runs jobs in its own process
    instead of forking one per job, which conveyor's Worker does already (its default
    pool, ``"threads"``, with ``concurrency=1`` runs each job on the main thread)."""
