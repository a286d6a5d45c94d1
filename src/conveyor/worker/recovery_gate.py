"""When a worker may take back lapsed leases: not while live workers cannot have renewed.

A lease that ran out means a dead worker only if its worker could have renewed it. After
the store was unreachable (to this worker: its own failures; to a worker started since:
the store's ``store_serving_since``, a restart or failover of Redis), every worker lost
it too and needs up to a lease period to renew, so nothing is recovered for one
``lease_ttl``. Brief failures do not hold recovery back past two lease periods in a row
once the store answers (a flapping store must not keep a dead worker's jobs forever); a
failure streak longer than a lease starts that count again.

A store that answers may still have stalled: a SQLite writer stopped (SIGSTOP, a
debugger) while it held the write lock, a Redis busy with a long script. No error says
so, but this worker's own heartbeats do: they come every third of a lease (never later,
nor held up more than a twentieth of a lease by the housekeeper's other work), so
renewals more than half a lease apart mean its writes were held up, and so, likely,
were every worker's; past about 0.6 of a lease, live workers' leases may have lapsed.
What lies between (about a tenth of a lease, 0.1 s of a 1 s lease) is how much a busy
machine may delay a renewal before it passes for a stall: hence a lease of a second at
least (worker.MIN_LEASE_TTL). Such a gap
counts as an outage that just ended, and while this worker's own renewal is that
overdue, nothing is recovered either, whatever the two-period cap says (the main
thread's passes ask while the housekeeper may be the one held up, and a pass sent into
the stall would run after it with the stall's ``now``).

A worker that has just started cannot tell whether the store has just come back from
an outage or a stall it did not see: one started in the last half-lease of a stall
sees no gap (its registration waited less), nor does one started after a partition
that cut every other worker off. Live workers renew within a heartbeat period of
either, their leases lapsed meanwhile, so a worker's start counts as the end of an
outage too: it recovers nothing in its first lease period (older workers do).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .worker import Worker

log = logging.getLogger("conveyor.worker")

STALL_AFTER = 0.5
"""Renewals further apart than this part of a lease mean the store stalled (see above)."""


class RecoveryGate:
    """One worker's view of whether lease recovery may run; fed its store failures."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._unreachable_mono = time.monotonic()  # when the store last failed or stalled (at first: the start)
        self._streak_began = 0.0  # when the store last began failing after it had answered
        self._holding_since: float | None = None  # when recovery began to wait for renewals
        self._ask_store = True  # whether to ask when the store began serving: at start, after failures
        self._renewed_mono = time.monotonic()  # the last renewal (at first: the registration, made next)

    def store_unreachable(self) -> None:
        now = time.monotonic()
        if not self._ask_store:  # the first failure since the store last answered
            self._streak_began = now
        self._unreachable_mono = now
        self._ask_store = True  # it may come back as another server (a failover)

    def renewed(self) -> bool:
        """The worker's heartbeat reached the store; if the one before was too long ago,
        the store stalled and live workers need a lease period to renew (see above).
        Returns whether it had (the renewal, reckoned from before the stall, may have
        come too late for its own leases: renew again at once)."""
        now, lease_ttl = time.monotonic(), self.worker.lease_ttl
        gap, self._renewed_mono = now - self._renewed_mono, now
        if gap <= lease_ttl * STALL_AFTER:
            return False
        log.info(
            "lease renewals were %.1fs apart (lease_ttl %gs): expired leases are recovered only after a lease "
            "period, when live workers held up as long have renewed theirs", gap, lease_ttl,
        )  # fmt: skip
        self._unreachable_mono = now
        self._holding_since = None  # hold anew: the cap counts failures, not a stall live leases may have lapsed in
        return True

    def open(self) -> bool:
        """Whether expired leases may be taken back now (see the module's docstring)."""
        w = self.worker
        if self._ask_store:
            since = w.backend.store_serving_since(w.clock.now())
            self._ask_store = False  # it answered: back from its failures, if any
            if self._unreachable_mono - self._streak_began > w.lease_ttl:  # an outage, not a blip: hold anew
                self._holding_since = None
            if since is not None:  # its start counts as the end of an outage
                started_mono = time.monotonic() - (w.clock.now() - since)
                self._unreachable_mono = max(self._unreachable_mono, started_mono)
        now, lease_ttl = time.monotonic(), w.lease_ttl
        if now - self._renewed_mono > lease_ttl * STALL_AFTER:
            return False  # its own renewal is held up, so may everyone's be: a pass now would take their leases
        if now - self._unreachable_mono > lease_ttl:
            self._holding_since = None
            return True
        if self._holding_since is None:
            self._holding_since = now
        if now - self._holding_since > 2 * lease_ttl:
            log.warning("the store keeps failing: recovering expired leases without waiting for renewals")
            self._holding_since = now
            return True
        return False
