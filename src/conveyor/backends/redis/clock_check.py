"""How far a process's clock is from the Redis server's.

Every process compares lease deadlines, due times and heartbeats that other machines
wrote by their own clocks with its own, so machines must agree on the time; Redis's
clock is the one they all reach. A sample asks Redis for its time and reads the local
clock as the request leaves: the server read its clock somewhere within the round trip,
taken as its middle, so the sample is off by at most half the round trip. Of a few
samples the one with the shortest round trip is kept (a sample held up by the network
or a busy Redis says least).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from conveyor.clock import Clock
from conveyor.types import ClockOffset

SAMPLES = 5
"""Round trips per measurement: a few, as each costs one; a measurement runs at a
worker's start, each minute after, and in ``conveyor doctor``."""


def measure(server_time: Callable[[], Any], clock: Clock, samples: int = SAMPLES) -> ClockOffset | None:
    """``clock``'s offset from the server's, from ``server_time()`` (TIME's reply:
    seconds and microseconds, or None where TIME is not allowed) called ``samples`` times."""
    best: ClockOffset | None = None
    for _ in range(samples):
        sent = time.perf_counter()  # the round trip in real time: ``clock`` may be frozen (tests)
        local = clock.now()
        reply = server_time()
        if reply is None:
            return None
        seconds, micros = reply
        half_trip = (time.perf_counter() - sent) / 2
        sample = ClockOffset(local + half_trip - (int(seconds) + int(micros) / 1e6), half_trip)
        if best is None or sample.uncertainty < best.uncertainty:
            best = sample
    return best
