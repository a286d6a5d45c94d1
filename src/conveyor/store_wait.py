"""Long-running commands wait for a store that is down when they start.

A worker, an API server or a cron scheduler started beside its Redis (compose, systemd,
a reboot) often comes up first. Exiting then leaves the restart to a supervisor there
may not be, so ``conveyor worker``, ``conveyor serve`` and ``conveyor cron`` try again
with backoff, saying so each time, until the store answers or they are stopped. Only
an unreachable store is waited for: a wrong setting (a bad URL, a SQLite path whose
directory does not exist) is no outage and fails at once, as does everything a one-shot
command does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from conveyor.exceptions import BackendUnavailableError

T = TypeVar("T")

FIRST_WAIT, LAST_WAIT = 0.5, 30.0
"""Seconds between tries: doubling from the first to the last."""


def once_the_store_answers(
    start: Callable[[], T], say: Callable[[str], object], pause: Callable[[float], object] = time.sleep
) -> T:
    """``start()``, tried again while it finds the store unreachable; ``say`` reports each
    wait, ``pause`` makes it (one a stop cuts short, for a caller whose ``start`` then
    returns at once)."""
    delay = FIRST_WAIT
    while True:
        try:
            return start()
        except BackendUnavailableError as exc:
            say(f"{str(exc).rstrip('.')}; trying again in {delay:g}s (Ctrl-C to give up)")
            pause(delay)
            delay = min(2 * delay, LAST_WAIT)
