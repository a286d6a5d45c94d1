"""What the parts of a Worker share: state, and each other's methods.

A Worker is one object made of parts, each a mixin in a module of its own: the claim
loop (conveyor.worker.claim_loop), the running and settling of jobs
(conveyor.worker.runner) and stopping (conveyor.worker.stopping). ``Worker.__init__``
sets all their state; WorkerPart declares the part of it that several parts use, and
the methods one part calls on another, so that each part type-checks alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from conveyor.backends.base import Backend
from conveyor.clock import Clock
from conveyor.halt import Halt
from conveyor.types import Settlement

from .holdings import Holdings
from .live import LiveState
from .running import Running


class WorkerPart(LiveState):
    """The state two or more parts of a Worker use (see Worker for the settings); what
    one part alone uses is declared in that part."""

    _halt: Halt | None = None
    """Set when it stops (from work() on): a wait for jobs watches it, and ends at once."""

    backend: Backend
    clock: Clock
    name: str
    concurrency: int
    holdings: Holdings
    loop: asyncio.AbstractEventLoop | None
    _stopping: bool
    _wake: asyncio.Event | None
    """Set to wake the claim loop: a job ended, the worker stops, the store is back."""
    _active: int
    """Jobs started and not yet settled, inline ones aside: the slots in use."""
    _batch: int
    """How many jobs a claim may take beyond the free slots: the adaptive prefetch."""
    _busy_mono: float
    _inline: Running | None
    """The job (or its callback) running on the main thread, for a signal to interrupt."""
    _on_main_thread: bool

    def wake_claims(self) -> None:
        """End the claim loop's current wait (a backoff, a wait for a slot), from any
        thread. The loop may have ended already: then there is nothing to wake."""
        if self.loop is not None and self._wake is not None:
            with contextlib.suppress(RuntimeError):  # ("Event loop is closed")
                self.loop.call_soon_threadsafe(self._wake.set)

    if TYPE_CHECKING:  # what the other parts provide

        def request_stop(self) -> None: ...

        def _raise_in_inline(self) -> None: ...

        async def _start(self, running: Running) -> None: ...

        def _settle_many(self, settlements: Sequence[Settlement], held: Sequence[Running]) -> None: ...

        def _interrupted(self, running: Running) -> Settlement: ...
