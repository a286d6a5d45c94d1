"""The worker's background services, on a thread of their own.

They must keep running while a sync job holds the main thread, so they live on a
separate thread (with its own backend connection) rather than on the event loop:
- lease renewal and the worker heartbeat, every third of the lease, never later (its
  answer carries a shutdown asked from outside), before any other work that came due
  (each service between two renewals gets a slice of at most a twentieth of the lease),
  and a report of the jobs the worker runs whenever they changed, at most every second;
- stop commands, timeouts and lost leases, checked every tick, turned into interrupts;
- jobs claimed ahead that a slow job keeps from starting, given back every tick;
- promotion of due scheduled jobs and starts of due batches as they come due (within
  DUE_SPREAD after: the pass knows the next due time from the last one, and sooner ones
  from the store's announcements);
- promotion again, recovery of expired leases held by dead workers, and expiry of
  queued jobs past their ttl, every poll interval (jittered); after the
  store was unreachable or stalled (heartbeats held up), leases are renewed at once,
  and recovered only when the RecoveryGate opens (live workers have had their chance
  to renew);
- maintenance (retention by result/failure TTL, reaping silent workers), at start and
  every maintenance interval;
- a check of the machine's clock against the store's, at start and every minute
  (conveyor.worker.clock_watch).
A service that raises is logged once and retried with backoff (0.5 s doubling to 30 s,
or to the service's own interval if shorter) until it works again; the thread never
dies quietly, since the worker checks it is alive.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from conveyor import maintenance
from conveyor.exceptions import BackendError, BackendUnavailableError, JobStopRequested, JobTimeoutException
from conveyor.types import HeartbeatReply

from .clock_watch import CHECK_INTERVAL, ClockWatch
from .live import BUSY, IDLE, running_ids
from .recovery_gate import RecoveryGate
from .running import STOP_MESSAGE

if TYPE_CHECKING:
    from .worker import Worker

log = logging.getLogger("conveyor.worker")

Service = tuple[str, float, Callable[[], float | None]]
"""A periodic service: its name, its interval in seconds, and what it runs (which may
return a delay to run again sooner)."""

TICK = 0.1
BACKOFF_FIRST, BACKOFF_LAST = 0.5, 30.0
"""Seconds before a failing service runs again: doubling from the first to the last."""
PREFETCH_HOLD = 0.2
"""Seconds a job claimed ahead may wait to start before it is given back."""
MAINTENANCE_BUDGET = 0.5
"""Most seconds one pass of a service works off a backlog (promotions, recoveries,
deletions), when the lease is long enough (see BUDGET_SHARE)."""
BUDGET_SHARE = 0.05
"""Most part of a lease one pass of a service may take: a renewal waits for the service
running when it comes due, and renewals held up past half a lease count as a stall of
the store (see RecoveryGate). Half a second of deletions, at a 1 s lease, made a
worker's own renewals come 1.2 s apart: another worker took its running job."""
JITTER = {"heartbeat": (0.8, 1.0), "interrupts": (1.0, 1.0)}
"""Parts of its interval after which a service runs again, at random in between (workers
started together would otherwise write in step); others' 0.8 to 1.2. A renewal never
comes later than a third of the lease: with a short lease, renewals a little late
passed for a stalled store (see RecoveryGate)."""
STATE_REPORT_INTERVAL = 1.0
"""Seconds at least between two reports of what the worker runs, beside the heartbeats."""
DUE_SPREAD = TICK
"""Most seconds after a due time a worker runs its due pass, at random: the first of N
workers comes about DUE_SPREAD/(N+1) after it, and the others, finding nothing left to
promote, do not all read the store at the same instant (workers started together tick
in step)."""


class Housekeeper:
    """Runs the periodic services of one worker until stopped."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"conveyor-housekeeper-{worker.name}", daemon=True)
        self._next: dict[str, float] = {}
        self._failures: dict[str, int] = {}  # failures in a row, per service
        self._reported: list[str] | None = None  # the running jobs last reported
        self._reported_done = 0  # and the jobs ended by then
        self._failed_in_pass = False  # a service failed in the current pass
        self._due_mono = math.inf  # (monotonic) when the next scheduled job or batch start is due, spread
        self.recovery = RecoveryGate(worker)
        self.clock_watch = ClockWatch(worker.lease_ttl)
        self.budget = min(MAINTENANCE_BUDGET, worker.lease_ttl * BUDGET_SHARE)
        """Most seconds one pass of a budgeted service takes (a backlog waits for the next)."""

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        w = self.worker
        heartbeat: Service = ("heartbeat", w.lease_ttl / 3, self.heartbeat)
        services: list[Service] = [
            ("interrupts", TICK, self.check_interrupts),
            ("prefetch", TICK, self.give_back_unstarted),
            ("state", STATE_REPORT_INTERVAL, self.report_state),
            ("schedule", w.poll_interval, self.run_schedule),
            ("due", TICK, self.run_due),
            ("retention", w.poll_interval, self.run_retention),
            ("maintenance", w.maintenance_interval, self.run_maintenance),
            ("clock", CHECK_INTERVAL, self.check_clock),
        ]
        began = time.monotonic()  # this pass
        for name, _, _ in (heartbeat, *services):
            self._next[name] = began
        while not self._stop.is_set():
            running = running_ids(w.held())  # the suspects, should this pass be held up
            for service in services:
                self._run_if_due(*heartbeat)  # renewals first: each service may take a budget's time
                self._run_if_due(*service)
            pause = self._pause()
            self._stop.wait(pause)
            self._check_pass(began, running, pause)
            began, self._failed_in_pass = time.monotonic(), False

    def _run_if_due(self, name: str, interval: float, service: Callable[[], float | None]) -> None:
        """Run a service if its time has come, and plan its next run."""
        if time.monotonic() < self._next[name]:
            return
        try:
            delay = service()  # a service may ask to run again sooner than its interval
        except Exception as exc:
            delay = self._failed(name, exc, interval)
        else:
            if self._failures.pop(name, 0):
                log.info("worker service %s works again", name)
                self._next["heartbeat"] = 0.0  # renew leases next, before any recovery
                # the store is back: the claim loop tries now, not at the end of its backoff (up to 30 s)
                self.worker.wake_claims()
        if delay is None:
            delay = interval * random.uniform(*JITTER.get(name, (0.8, 1.2)))
        self._next[name] = time.monotonic() + delay

    def _pause(self) -> float:
        """Seconds to wait before the next pass: a TICK, or less to be on time for the
        next renewal or due pass (unless that pass is backing off after a failure)."""
        due = max(self._due_mono, self._next.get("due", 0.0))
        return min(TICK, max(0.0, min(due, self._next["heartbeat"]) - time.monotonic()))

    def _check_pass(self, began: float, running: list[str], pause: float) -> None:
        """Say so when a pass of the services took a heartbeat period or more, none of
        them failing (a failure says why itself): a job holding the GIL (a regex that
        backtracks, pure C code that keeps it) stops every thread of the process, this
        one too, so leases go unrenewed and timeouts unchecked, and past ``lease_ttl``
        another worker takes the job for lost."""
        w = self.worker
        took = time.monotonic() - began - pause
        if took < w.lease_ttl / 3 or self._failed_in_pass:
            return
        # the job to blame has often ended by now (the thread runs again once it lets go)
        held = (r.record.id for r in w.held() if r.kind != "pending")  # ended ones too, until recorded
        running = sorted({*running, *held, *w.holdings.recorded_since(began)})
        store = (
            "the store was slow to answer (a SQLite writer stopped holding the write lock, a Redis busy with a long "
            "script), or the process was paused"
        )
        causes = (
            f"a job holding the GIL does that (jobs run meanwhile: {', '.join(running)}), so run such jobs with "
            f"pool='processes'; else {store}"
            if running
            else f"no job ran meanwhile, so {store}"
        )
        log.warning(
            "the worker's housekeeping thread could not run for %.1fs (lease_ttl %gs): leases were not renewed nor "
            "timeouts checked; %s", took, w.lease_ttl, causes,
        )  # fmt: skip

    def _failed(self, name: str, error: Exception, interval: float) -> float:
        """Log a service's failure once (a backend error in one line: the store is down,
        not a bug) and back off while it keeps failing, never past the service's own
        interval (heartbeats must come back before the leases they renew run out);
        returns the delay."""
        failures = self._count_failure(name)
        if isinstance(error, BackendUnavailableError):
            self.recovery.store_unreachable()
        delay: float = min(BACKOFF_FIRST * 2.0 ** (failures - 1), BACKOFF_LAST, max(interval, BACKOFF_FIRST))
        if failures == 1 and isinstance(error, BackendError):
            log.warning("worker service %s failed (%s); retrying with backoff up to %gs", name, error, BACKOFF_LAST)
        elif failures == 1:
            log.exception("worker service %s failed; retrying with backoff up to %gs", name, BACKOFF_LAST)
        return delay

    def _count_failure(self, name: str) -> int:
        """One more failure in a row of ``name``; how many there have been."""
        failures = self._failures[name] = self._failures.get(name, 0) + 1
        self._failed_in_pass = True
        return failures

    # -- services --------------------------------------------------------------------
    def check_interrupts(self) -> None:
        """Turn timeouts and stop commands into interrupts; end jobs that ignore them."""
        w = self.worker
        if w.stop_deadline is not None and time.monotonic() > w.stop_deadline:
            w.interrupt_all(f"The worker is shutting down and the job outlived its {w.shutdown_timeout:g}s grace")
        held = w.held()
        if not held:
            return
        try:
            stop_ids = set(w.backend.stop_requests(w.name))
        except BackendError as exc:  # the store is down: timeouts and grace periods still count
            stop_ids = set()
            if isinstance(exc, BackendUnavailableError):
                self.recovery.store_unreachable()
            if self._count_failure("stop commands") == 1:
                log.warning("could not read stop commands from the store; retrying")
        else:
            self._failures.pop("stop commands", None)
        now = time.monotonic()
        for running in held:
            if running.record.id in stop_ids:
                running.request_interrupt(JobStopRequested, STOP_MESSAGE, w.loop)
            deadline = running.deadline
            if deadline is not None and now > deadline:
                running.request_interrupt(JobTimeoutException, running.timeout_message(), w.loop)
            late = running.interrupted_mono is not None and now > running.interrupted_mono + w.interrupt_grace
            if late and running.kind != "pending" and not running.done:
                w.abandon(running)

    def give_back_unstarted(self) -> None:
        """Jobs claimed ahead go back to their queue once they have waited PREFETCH_HOLD
        seconds without starting (a slow job in front of them)."""
        given = self.worker.holdings.give_back_unstarted(time.monotonic() - PREFETCH_HOLD)
        if given:
            log.info("gave back %d job%s claimed ahead: a slow job held them", given, "" if given == 1 else "s")

    def heartbeat(self) -> float | None:
        """Renew the leases of held jobs and the worker's registration; at once again
        when this one came late (a stalled store: it may have renewed them too little)."""
        w = self.worker
        held = w.held()
        now = w.clock.now()
        if held:
            leases = [(r.record.id, r.record.lease_token or "") for r in held]
            renewed = set(w.backend.leases_extend(w.name, leases, now + w.lease_ttl, now))
            for running in held:
                if running.record.id in renewed:
                    running.lease_until = now + w.lease_ttl
                elif not running.done:
                    running.lease_lost = True
                    running.request_interrupt(
                        JobStopRequested, "The worker lost the job's lease (it was recovered or canceled)", w.loop
                    )
        self._report(now, running_ids(held))
        return 0.0 if self.recovery.renewed() else None

    def report_state(self) -> None:
        """Report the jobs the worker runs, and its counters, when they changed since the
        last report, so that /workers and ``conveyor info`` show a worker idle (or busy)
        and the jobs it ended within a second rather than at its next heartbeat (a job
        that began and ended between two looks changes only the counters)."""
        current = running_ids(self.worker.held())
        if current != self._reported or self.worker.jobs_done != self._reported_done:
            self._report(self.worker.clock.now(), current)

    def _report(self, now: float, current: list[str]) -> None:
        w = self.worker
        done = w.jobs_done  # read once: a job that ends during the write is for the next report
        reply = w.backend.workers_heartbeat(
            w.name, now, BUSY if current else IDLE, current, done, w.failed_job_count, w.total_working_time,
            w.stopped_job_count,
        )  # fmt: skip
        w._heartbeat_at(now)
        if reply is HeartbeatReply.UNREGISTERED:
            w.register()  # reaped while alive (a long pause): register again
        elif reply is HeartbeatReply.SHUTDOWN_REQUESTED and w.stop_deadline is None:  # not stopping yet
            log.warning("worker %s was asked to shut down: finishing its running jobs, taking no more", w.name)
            w.request_stop()
        self._reported, self._reported_done = current, done

    def run_schedule(self) -> float | None:
        """Promote due scheduled jobs, recover expired leases, expire old queued jobs, within
        a time budget; a backlog is taken up again on the next tick."""
        w = self.worker
        report = maintenance.run_schedule(
            w.backend, w.clock.now(), budget=self.budget, recover_leases=self.recovery.open()
        )
        for recovery in report.recovered:
            log.warning(
                "recovered job %s from worker %s (lease expired): now %s",
                recovery.job_id, recovery.worker_name, recovery.status.value,
            )  # fmt: skip
        if report.unfinished:
            return TICK
        next_due = w.backend.schedule_next_due()  # read first: a failed read must not drop the pass planned
        self._due_mono = math.inf  # what the store says next replaces what was known
        self._due_at(next_due)
        return None

    def run_due(self) -> float:
        """Promote scheduled jobs and start batches when they come due, rather than at the
        next poll: a job due at T starts within about DUE_SPREAD of T, whatever the poll
        interval. The check is free until then: sooner due times, wherever they were
        scheduled (a client's enqueue_at, this or another worker's retry or released
        dependent), come as the store's announcements, read with no round trip; a due
        pass costs a few index reads. Always asks to be checked again at the next pass."""
        w = self.worker
        self._due_at(w.backend.schedule_signals())
        if time.monotonic() < self._due_mono:
            return 0.0
        report = maintenance.run_due(w.backend, w.clock.now(), budget=self.budget)
        self._due_mono = time.monotonic() + TICK if report.unfinished else math.inf  # a backlog: a tick apart
        self._due_at(report.next_due)
        return 0.0

    def _due_at(self, at: float | None) -> None:
        """Plan a due pass for ``at`` (the store's time), spread by DUE_SPREAD, unless one
        is planned sooner."""
        if at is None:
            return
        delay = max(0.0, at - self.worker.clock.now()) + random.uniform(0.0, DUE_SPREAD)
        self._due_mono = min(self._due_mono, time.monotonic() + delay)

    def run_retention(self) -> float | None:
        """Delete jobs as they come past their TTL, in one worker at a time (the holder
        of the maintenance lock); a backlog is worked off a budget at a time (half a
        second, less with a short lease) with as long a pause between, so that claims
        and settles keep half of the store."""
        w = self.worker
        report = maintenance.run_retention(w.backend, w.clock.now(), w.name, budget=self.budget)
        return self.budget if report.unfinished else None

    def check_clock(self) -> None:
        """Measure the machine's clock against the store's; say so when it is off."""
        self.clock_watch.observe(self.worker.backend.store_clock_offset(self.worker.clock))

    def run_maintenance(self) -> float | None:
        """Drop results and failures past their TTL; reap workers silent too long and
        periodic jobs no scheduler runs (one worker at a time, by the store's maintenance lock).

        Purging stops after a budget's time, so this thread gets back to the heartbeats;
        what is left is taken up again as long after.
        """
        w = self.worker
        report = maintenance.run_cleanup(w.backend, w.clock.now(), w.worker_ttl, budget=self.budget, owner=w.name)
        if report.purged or report.reaped_workers or report.reaped_cron_entries:
            log.info("maintenance: deleted %d expired jobs, reaped workers %s, removed periodic jobs no scheduler "
                     "runs %s", report.purged, report.reaped_workers, report.reaped_cron_entries)  # fmt: skip
        return self.budget if report.unfinished else None
