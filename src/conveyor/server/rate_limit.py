"""Per-user request rate limits (429 TooManyRequests): a token bucket per caller.

Off unless configured (``CONVEYOR_RATE_LIMIT``, e.g. ``600/min``). Each caller (the
API key's user, so a user's keys share one budget; on an open server, each client
address) gets a bucket of N requests refilled at N per period: a burst of N passes at
once, a steady caller gets N per period, and one caller's flood leaves the others
untouched. Buckets live in the server process: ``conveyor serve --workers K`` allows
each caller K times the rate.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from conveyor.exceptions import ConfigurationError

_PERIODS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0, "h": 3600.0, "hour": 3600.0}
_SYNTAX = re.compile(r"\s*(\d+)\s*/\s*([a-z]+)\s*")

MAX_CALLERS = 10_000
"""Buckets kept before the full ones (callers quiet for a whole period) are dropped."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``requests`` per ``seconds``, as configured in ``text``."""

    requests: int
    seconds: float
    text: str

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """``N/s``, ``N/min`` or ``N/h`` (also ``second``, ``m``, ``minute``, ``hour``)."""
        match = _SYNTAX.fullmatch(text.lower())
        if match is None or match.group(2) not in _PERIODS or int(match.group(1)) < 1:
            raise ConfigurationError(
                f"a rate limit must look like 600/min (a positive number of requests per s, min or h), got {text!r}"
            )
        return cls(int(match.group(1)), _PERIODS[match.group(2)], text.strip())


class RateLimiter:
    """Token buckets by caller; called on the event loop only, so it needs no lock."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._rate = limit.requests / limit.seconds
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, when counted)
        self._sweep_at = MAX_CALLERS

    def take(self, caller: str) -> float:
        """Spend one request of ``caller``'s budget: 0 when it may go on, else the seconds
        until it may (nothing is spent then)."""
        now = self._clock()
        tokens = self._tokens(caller, now)
        if tokens >= 1:
            self._buckets[caller] = (tokens - 1, now)
            if len(self._buckets) > self._sweep_at:
                self._forget_full(now)
            return 0.0
        return (1 - tokens) / self._rate

    def _tokens(self, caller: str, now: float) -> float:
        tokens, counted = self._buckets.get(caller, (float(self.limit.requests), now))
        return min(float(self.limit.requests), tokens + (now - counted) * self._rate)

    def _forget_full(self, now: float) -> None:
        """A full bucket is what a new caller gets: dropping it changes nothing."""
        for caller in [c for c in self._buckets if self._tokens(c, now) >= self.limit.requests]:
            del self._buckets[caller]
        # callers all active: sweep again only when they have doubled, not at every request
        self._sweep_at = max(MAX_CALLERS, 2 * len(self._buckets))


def retry_after(seconds: float) -> int:
    """Whole seconds for a ``Retry-After`` header (never 0: the caller would retry at once)."""
    return max(1, math.ceil(seconds))
