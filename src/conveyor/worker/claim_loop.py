"""A Worker's claim loop: claim as many jobs as it can start soon, start them, wait.

It runs on an asyncio event loop in the main thread. It claims only as many jobs as it
can start soon (free slots, plus a prefetch that grows while jobs are quick and falls
back to one when they are slow): one transaction claims many jobs, which is where
throughput comes from. With nothing to do it waits for a new-job signal, a free slot, a
stop or the poll interval: inside the claim itself when nothing runs, else on a waiting
thread, so that jobs ending and stops are seen at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import secrets
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from conveyor import maintenance
from conveyor.exceptions import BackendError, BackendUnavailableError
from conveyor.status import JobStatus
from conveyor.types import Limits

from . import outcomes
from .housekeeper import BACKOFF_FIRST, BACKOFF_LAST, Housekeeper
from .memory import peak_rss_mb
from .parts import WorkerPart
from .running import Running

log = logging.getLogger("conveyor.worker")

MAX_BATCH = 100
"""Most jobs claimed (and settled) in one backend call."""

QUICK_JOB_SECONDS = 0.002
"""Jobs quicker than this on average let the worker prefetch more per claim."""


class ClaimLoop(WorkerPart):
    """The part of a Worker that claims jobs and starts them, until it is done."""

    _queue_names: list[str]
    lease_ttl: float
    poll_interval: float
    limits: Limits | None
    max_memory: float | None
    recycled: bool
    _housekeeper: Housekeeper | None
    _wait_error: BackendError | None = None
    """How the last wait for jobs on the waiting thread failed, for the next idle wait to raise."""
    _burst_checked: bool
    """A burst found nothing, then ran the time-driven pass once: the next empty claim ends it."""
    _max_idle_time: float | None
    _waiter_pool: ThreadPoolExecutor | None
    _waiting: asyncio.Future[Any] | None
    _awaiting_jobs: bool = False
    """In an idle wait, with free slots: a wake-up the waiting thread takes is acted on."""

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
        self._awaiting_jobs = True  # before the wait starts: a token already there is for this worker
        if self._waiting is None or self._waiting.done():
            interval = self.poll_interval * random.uniform(0.8, 1.0)
            wait = functools.partial(
                self.backend.wait_for_jobs, self._queue_names, interval, self._halt, self._wants_wakeup
            )
            self._waiting = self.loop.run_in_executor(self._waiter_pool, wait)
            self._waiting.add_done_callback(self._wait_ended)
        woken: asyncio.Future[Any] = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait([self._waiting, woken], return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._awaiting_jobs = False
        woken.cancel()
        self._wake.clear()
        if (error := self._wait_error) is not None:  # the claim loop backs off and says so
            self._wait_error = None
            raise error

    def _wants_wakeup(self) -> bool:
        """Whether a wake-up the waiting thread took will lead to a claim (asked on that
        thread). A wait outlives the idle wait that began it, when a job ending woke the
        loop first: by the time it takes a wake-up the worker may be full or stopping,
        and the wake-up must then go to another worker."""
        return self._awaiting_jobs and not self._stopping

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

    async def _drain(self) -> None:
        """Wait for running jobs to end; the housekeeper interrupts them at the stop deadline
        (an inline job holds this thread, so it cannot be the one watching the clock).
        Abandoned jobs are not waited for: their tasks end when they are abandoned."""
        while self._active > 0:
            self.holdings.flush()
            await self._wake_or_timeout(0.1)
