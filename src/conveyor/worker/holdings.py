"""What a worker holds: the jobs it has leases on, and the outcomes it has yet to record.

The claim loop adds claimed jobs and notes outcomes; outcomes are written in batches
(one backend call settles many, which is where throughput comes from). The
housekeeper's thread reads the jobs to renew their leases and gives back the ones
claimed ahead that a slow job keeps from starting. A lock guards the jobs, since both
threads change them; the outcomes belong to the claim loop alone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from conveyor.backends.base import Backend
from conveyor.clock import Clock
from conveyor.exceptions import BackendError
from conveyor.types import Settlement

from . import outcomes
from .running import Running

log = logging.getLogger("conveyor.worker")


class Holdings:
    """One worker's held jobs, by id, and its outcomes not yet recorded."""

    def __init__(self, backend: Backend, clock: Clock) -> None:
        self._backend = backend
        self._clock = clock
        self._jobs: dict[str, Running] = {}
        self._lock = threading.Lock()
        self._outcomes: list[Settlement] = []
        self._failing = False  # the last flush failed: its error is logged already

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
        the ones whose jobs were recovered meanwhile)."""
        if not self._outcomes:
            return
        settlements, self._outcomes = self._outcomes, []
        try:
            applied = self._backend.jobs_settle(settlements, self._clock.now())
        except BackendError as exc:
            self._outcomes = settlements + self._outcomes
            if not self._failing:  # once per outage, not at every retry
                log.error("could not record %d job outcomes (%s); will retry", len(settlements), exc)
            self._failing = True
            return
        if self._failing:
            log.info("recorded %d job outcomes held while the store failed", len(settlements))
            self._failing = False
        with self._lock:
            for settlement in settlements:
                held = self._jobs.get(settlement.job_id)
                if held is not None and held.record.lease_token == settlement.lease_token:
                    del self._jobs[settlement.job_id]
        for settlement, ok in zip(settlements, applied, strict=True):
            if not ok:
                log.info("job %s: outcome %s refused (lease lost or job canceled)", settlement.job_id,
                         settlement.status.value)  # fmt: skip

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
