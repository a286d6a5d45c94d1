"""What a worker holds: the jobs it has leases on, and the outcomes it has yet to record.

The claim loop adds claimed jobs and notes outcomes; outcomes are written in batches
(one backend call settles many, which is where throughput comes from). The
housekeeper's thread reads the jobs to renew their leases and gives back the ones
claimed ahead that a slow job keeps from starting. A lock guards the jobs, since both
threads change them; the outcomes belong to the claim loop alone.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence

from conveyor.backends.base import Backend
from conveyor.clock import Clock
from conveyor.exceptions import BackendError, BackendUnavailableError
from conveyor.status import JobStatus
from conveyor.types import Settlement

from . import outcomes
from .running import Running

log = logging.getLogger("conveyor.worker")

LARGE_OUTCOME = 64 * 1024
"""Bytes of result and traceback from which an outcome the store refuses (it answered:
not an outage) is taken for one too big for it (Redis's proto-max-bulk-len, SQLite's
length limit, maxmemory), and recorded without them rather than retried for ever."""
RECENT = 64
"""Outcomes recorded last that ``recorded_since`` remembers."""
KEPT_OF_TRACEBACK = 4096
"""Characters kept from each end of a traceback too big for the store."""


class Holdings:
    """One worker's held jobs, by id, and its outcomes not yet recorded."""

    def __init__(self, backend: Backend, clock: Clock) -> None:
        self._backend = backend
        self._clock = clock
        self._jobs: dict[str, Running] = {}
        self._lock = threading.Lock()
        self._outcomes: list[Settlement] = []
        self._failing = False  # the last flush failed: its error is logged already
        self._recorded: collections.deque[tuple[float, str]] = collections.deque(maxlen=RECENT)
        """(monotonic time, job id) of the latest outcomes recorded, for ``recorded_since``."""
        self.unanswered: set[str] = set()
        self._sent_unanswered: set[tuple[str, str]] = set()  # outcomes (job, lease) sent but not answered
        """Lease tokens of claims the store did not answer: they may have taken jobs."""

    def add(self, claimed: Sequence[Running]) -> None:
        with self._lock:
            for running in claimed:
                self._jobs[running.record.id] = running

    def jobs(self) -> list[Running]:
        """The jobs held: claimed, running, or ended and not yet recorded."""
        with self._lock:
            return list(self._jobs.values())

    @property
    def unrecorded(self) -> list[Settlement]:
        """The outcomes noted but not yet written (a copy)."""
        return list(self._outcomes)

    def note(self, settlement: Settlement) -> int:
        """Keep an outcome for the next flush; returns how many wait."""
        self._outcomes.append(settlement)
        return len(self._outcomes)

    def flush(self) -> None:
        """Write the outcomes noted, in one call; the jobs they settle are no longer held.
        If the store fails, they are kept for the next flush (the lease guard refuses
        the ones whose jobs were recovered meanwhile); one it refuses for its size is
        recorded without its result (see _settle_apart)."""
        if not self._outcomes:
            return
        settlements, self._outcomes = self._outcomes, []
        try:
            applied = self._backend.jobs_settle(settlements, self._clock.now())
        except BackendError as exc:
            if isinstance(exc, BackendUnavailableError) or not any(_large(s) for s in settlements):
                self._keep(settlements, exc)
                return
            settlements, applied = self._settle_apart(settlements)
        if self._failing and not self._outcomes:  # (some may be kept by _settle_apart)
            log.info("recorded %d job outcomes held while the store failed", len(settlements))
            self._failing = False
        with self._lock:
            for settlement in settlements:
                held = self._jobs.get(settlement.job_id)
                if held is not None and held.record.lease_token == settlement.lease_token:
                    del self._jobs[settlement.job_id]
            at = time.monotonic()
            self._recorded.extend((at, s.job_id) for s in settlements[-RECENT:])
        if not self._sent_unanswered and len(applied) == len(settlements) and all(applied):
            return  # the usual case: nothing to say
        for settlement, ok in zip(settlements, applied, strict=True):
            unanswered = (settlement.job_id, settlement.lease_token) in self._sent_unanswered
            self._sent_unanswered.discard((settlement.job_id, settlement.lease_token))
            if ok:
                continue
            if unanswered:  # the lease guard refuses a second write of the same outcome
                log.info("job %s: outcome %s already recorded, most likely, by the earlier attempt the store did "
                         "not answer (else its lease was lost or it was canceled)", settlement.job_id,
                         settlement.status.value)  # fmt: skip
            else:
                log.info("job %s: outcome %s refused (lease lost or job canceled)", settlement.job_id,
                         settlement.status.value)  # fmt: skip

    def recorded_since(self, since: float) -> list[str]:
        """Ids of the jobs whose outcomes were recorded after ``since`` (monotonic)."""
        with self._lock:
            return [job_id for at, job_id in self._recorded if at >= since]

    def _keep(self, settlements: list[Settlement], error: BackendError) -> None:
        """Keep outcomes the store did not take for the next flush."""
        self._outcomes = settlements + self._outcomes
        if isinstance(error, BackendUnavailableError):  # unanswered: maybe recorded all the same
            self._sent_unanswered.update((s.job_id, s.lease_token) for s in settlements)
        if not self._failing:  # once per outage, not at every retry
            log.error("could not record %d job outcomes (%s); will retry", len(settlements), error)
        self._failing = True

    def _settle_apart(self, settlements: list[Settlement]) -> tuple[list[Settlement], list[bool]]:
        """The store refused a batch holding a large outcome: settle the others together,
        then each large one alone, and one the store refuses whole without its result and
        traceback (see _without_payload), so that an outcome it will never take holds back
        no other, and its job does not stay started. What fails on the way is kept for the
        next flush. Returns the settlements written, and for each whether it applied."""
        small = [s for s in settlements if not _large(s)]
        groups = ([small] if small else []) + [[s] for s in settlements if _large(s)]
        written: list[Settlement] = []
        applied: list[bool] = []
        for index, group in enumerate(groups):
            now = self._clock.now()
            settled = group
            try:
                try:
                    applied += self._backend.jobs_settle(settled, now)
                except BackendError as exc:
                    if isinstance(exc, BackendUnavailableError) or not _large(group[0]):
                        raise
                    settled = [self._without_payload(group[0], exc, now)]
                    applied += self._backend.jobs_settle(settled, now)
            except BackendError as exc:
                self._keep([s for rest in groups[index:] for s in rest], exc)
                break
            written += settled
        return written, applied

    def _without_payload(self, settlement: Settlement, error: BackendError, now: float) -> Settlement:
        """An outcome the store refused, made small: a job that returned fails (not
        retried: another run would return as much), saying why; a traceback keeps its
        two ends."""
        size = len(settlement.result or b"")
        if settlement.status is JobStatus.FINISHED:
            text = f"BackendError: the job's result ({size} bytes) could not be stored: {error}"
            log.error("job %s: %s; the job fails", settlement.job_id, text)
            with self._lock:
                held = self._jobs.get(settlement.job_id)
            if held is not None and held.record.lease_token == settlement.lease_token:
                return outcomes.failed(held.record, settlement.started_at, text, now, retriable=False)
            return dataclasses.replace(
                settlement, status=JobStatus.FAILED, result=None, exc_info=text, reason="error", delete=False
            )
        exc_info = settlement.exc_info or ""
        cut = len(exc_info) - 2 * KEPT_OF_TRACEBACK
        if cut > 0:
            exc_info = (
                f"{exc_info[:KEPT_OF_TRACEBACK]}\n... ({cut} characters cut: the store refused them: {error})\n"
                f"{exc_info[-KEPT_OF_TRACEBACK:]}"
            )
        log.error("job %s: its outcome could not be stored whole (%s); recorded with its traceback cut",
                  settlement.job_id, error)  # fmt: skip
        return dataclasses.replace(settlement, result=None, exc_info=exc_info)

    def give_back_unstarted(self, held_since: float) -> int:
        """Give back the jobs claimed ahead before ``held_since`` (monotonic) that have
        not begun: a slow job in front of them would hold them from other workers (and
        past their ttl), and they would be lost with this worker if it died. They go back
        to their place in their queue. Called by the housekeeper; returns how many."""
        waiting = [r for r in self.jobs() if r.given_back or (r.claimed_mono < held_since and r.give_back())]
        if not waiting:
            return 0
        self._backend.jobs_settle([outcomes.released(r.record) for r in waiting], self._clock.now())
        with self._lock:  # only once released: until then their leases are renewed
            for running in waiting:
                if self._jobs.get(running.record.id) is running:  # not a new claim of the same job
                    del self._jobs[running.record.id]
        return len(waiting)

    def release_all(self, outcome_of_abandoned: Callable[[Running], Settlement]) -> None:
        """At exit: record what is noted, and give back every job not settled, so that no
        one waits for its lease (an abandoned job gets the outcome of its interrupt, now
        that its thread ends with the process; one whose function had ended, that outcome)."""
        self.flush()
        leftover = [r for r in self.jobs() if not r.done or r.given_back]
        if leftover:
            settlements = [
                outcome_of_abandoned(r) if r.abandoned or r.outcome is not None else outcomes.released(r.record)
                for r in leftover
            ]
            self._backend.jobs_settle(settlements, self._clock.now())
            with self._lock:
                self._jobs.clear()


def _large(settlement: Settlement) -> bool:
    """Whether the outcome carries enough for a store to refuse it for its size."""
    return len(settlement.result or b"") + len(settlement.exc_info or "") >= LARGE_OUTCOME
