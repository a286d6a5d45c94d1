"""A worker's watch over its clock: off from the store's, it says so once per crossing.

The worker measures its offset at start and every CHECK_INTERVAL after (from its
housekeeper, beside the renewals, never on the claim path) and logs a WARNING when the
clock goes off past conveyor.clock_skew.WARN_SHARE of its lease, an ERROR past
ERROR_SHARE, and once more only after it came back within half the warning threshold
and went off again (a clock near a threshold would otherwise warn every minute).
"""

from __future__ import annotations

import logging

from conveyor import clock_skew
from conveyor.clock_skew import Skew
from conveyor.types import ClockOffset

log = logging.getLogger("conveyor.worker")

CHECK_INTERVAL = 60.0
"""Seconds between two measurements: clocks drift by milliseconds a day when NTP runs,
and jump when it (or someone) steps them."""
BACK_IN_STEP = 0.5
"""Part of the warning threshold a clock must come back within to count as in step
again (and warn anew if it goes off once more)."""


class ClockWatch:
    """Logs how far off the worker's clock is whenever it crosses a threshold."""

    def __init__(self, lease_ttl: float) -> None:
        self.lease_ttl = lease_ttl
        self._said = Skew.IN_STEP  # the worst skew logged since the clock was last in step

    def observe(self, measured: ClockOffset | None) -> None:
        """Take a measurement (None: the store has no clock of its own, nothing to say)."""
        if measured is None:
            return
        skew = clock_skew.judge(measured, self.lease_ttl)
        if skew > self._said:
            level = logging.ERROR if skew is Skew.FAR_OFF else logging.WARNING
            log.log(level, "%s", clock_skew.explain(measured, self.lease_ttl))
            self._said = skew
        elif self._said and abs(measured.offset) <= self.lease_ttl * clock_skew.WARN_SHARE * BACK_IN_STEP:
            log.info("%s: back in step", clock_skew.describe(measured))
            self._said = Skew.IN_STEP
