"""How a Worker runs a claimed job, then its callbacks, and settles the outcome.

Sync jobs run inline on the main thread when concurrency is 1 (no thread hand-off),
else in a thread pool, or with ``pool="processes"`` in child processes
(conveyor.worker.job_processes); ``async def`` jobs run as tasks on the loop. Outcomes
are noted in the worker's Holdings and recorded in batches: one transaction settles
many jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from conveyor.exceptions import JobInterrupted, JobTimeoutException
from conveyor.types import Settlement

from . import callbacks, execution, outcomes
from .job_log import log_unfinished
from .job_processes import JobProcessUnavailable, ProcessPool
from .parts import WorkerPart
from .running import Running, ShutdownInterrupt

log = logging.getLogger("conveyor.worker")

MAX_FAILED_STARTS = 5
"""Failed starts of job processes in a row after which the worker stops."""


class JobRunner(WorkerPart):
    """The part of a Worker that starts claimed jobs where they run, and settles them."""

    pool: str
    exception_handlers: tuple[str, ...]
    failure: str | None
    _pool: ThreadPoolExecutor | None
    _processes: ProcessPool | None

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
        log_unfinished(running.record, settlement)
        if waiting >= self._batch or (self._active == 0 and self._batch == 1):
            self.holdings.flush()

    def _settle_many(self, settlements: Sequence[Settlement], held: Sequence[Running]) -> None:
        for running, settlement in zip(held, settlements, strict=True):
            self._settle(running, settlement)
        self.holdings.flush()


class _InlinePlace:
    """Callbacks on the main thread: the worker marks the job as the one a signal
    interrupts while a callback runs (see Stopping._raise_in_inline)."""

    def __init__(self, worker: WorkerPart, running: Running) -> None:
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
