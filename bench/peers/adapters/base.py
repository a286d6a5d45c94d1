"""The interface every adapter implements, so the runner treats all libraries alike.

An adapter drives one library (one worker configuration of it) from the benchmark's
process: it enqueues the two jobs of ``peerjobs`` through the library's own API and says
how to start one worker process of the library with its recommended settings.

How completion is detected is the same for all: the jobs record themselves in Redis
(``peerjobs``), so an adapter only has to make its library run ``peerjobs.done()`` and
``peerjobs.started(stamp)``, through wrappers declared in its module if the library needs
decorated tasks. The worker process finds those by import path: the runner puts
``bench/peers`` on its ``PYTHONPATH`` and the Redis URL in ``$BENCH_REDIS_URL``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, ClassVar

import peerjobs

QUEUE = "bench"  # the queue name, where the library lets us choose one


class Adapter:
    name: ClassVar[str]  # as shown in the table, e.g. "rq-simple"
    library: ClassVar[str]  # the distribution whose version is reported, e.g. "rq"
    settings: ClassVar[str]  # the worker's settings, in words (printed with the results)
    one_api: ClassVar[str]  # the call used for one-by-one enqueues
    bulk_api: ClassVar[str]  # the bulk call used, or "none: ..." and what was used instead
    # How long an idle worker of this setup may sleep between two looks at Redis, in seconds; 0
    # when it blocks on Redis and is woken by the enqueue. The latency measurement waits a random
    # extra 0..idle_poll between samples, so that samples do not lock onto the poll's phase.
    idle_poll: ClassVar[float] = 0.0

    def open(self, url: str) -> None:
        """Connect the producer side to Redis at ``url``. Raising here skips the library."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what ``open`` took."""

    def enqueue_one(self, count: int) -> None:
        """Enqueue ``count`` no-op jobs (``peerjobs.done``), one library call each."""
        raise NotImplementedError

    def enqueue_bulk(self, count: int, batch: int) -> None:
        """Enqueue ``count`` no-op jobs through the library's bulk API, ``batch`` per call."""
        raise NotImplementedError

    def enqueue_latency(self) -> None:
        """Enqueue one ``peerjobs.started(stamp)``, with ``stamp = time.time()`` taken just before the call."""
        raise NotImplementedError

    def worker_argv(self, url: str) -> list[str]:
        """The command line of one worker process, with the settings described in ``settings``."""
        raise NotImplementedError

    # Optional: a backend-level claim, for the cost of a claim under a backlog (conveyor only).
    claim_probe: ClassVar[bool] = False

    def claim(self, limit: int) -> int:
        """Claim up to ``limit`` queued jobs in one backend call; return how many were claimed."""
        raise NotImplementedError


class AsyncAdapter(Adapter):
    """For asyncio libraries: a private event loop from ``open`` to ``close``; each call runs one coroutine."""

    _loop: asyncio.AbstractEventLoop | None = None

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(coro)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None


def python_module(module: str, *args: str) -> list[str]:
    """``python -m module args...`` with the benchmark's interpreter."""
    return [sys.executable, "-m", module, *args]


def console_script(name: str, *args: str) -> list[str]:
    """A library's command-line tool from the benchmark's environment, e.g. ``rq``."""
    return [str(Path(sys.executable).with_name(name)), *args]


class RQStyleAdapter(Adapter):
    """Enqueueing through RQ's API, which RQ and conveyor share to the letter: the same
    code serves both (``self.queue`` is the library's Queue)."""

    queue: Any

    def enqueue_one(self, count: int) -> None:
        enqueue, func = self.queue.enqueue, peerjobs.done
        for _ in range(count):
            enqueue(func)

    def enqueue_bulk(self, count: int, batch: int) -> None:
        prepare, func = type(self.queue).prepare_data, peerjobs.done
        for start in range(0, count, batch):
            self.queue.enqueue_many([prepare(func) for _ in range(min(batch, count - start))])

    def enqueue_latency(self) -> None:
        self.queue.enqueue(peerjobs.started, time.time())
