"""SAQ: ``Queue.enqueue`` (no bulk API: ``Queue.map`` waits for results), ``saq adapters.saq.settings``.

Worker settings are SAQ's defaults (``concurrency=10``, dequeue by a blocking pop).
"""

from __future__ import annotations

import time
from typing import Any

import peerjobs
from saq import Queue

from adapters.base import QUEUE, Adapter, AsyncAdapter, console_script


async def done(ctx: Any) -> None:
    peerjobs.done()


async def started(ctx: Any, *, stamp: float) -> None:
    peerjobs.started(stamp)


def settings() -> dict[str, Any]:
    """Read by ``saq adapters.saq.settings`` in the worker process; the rest is SAQ's default."""
    return {
        "queue": Queue.from_url(peerjobs.redis_url(), name=QUEUE),
        "functions": [done, started],
    }


class SaqAdapter(AsyncAdapter):
    name = "saq"
    library = "saq"
    settings = "saq adapters.saq.settings --workers 1: defaults (concurrency=10)"
    one_api = "Queue.enqueue"
    bulk_api = "none (Queue.map waits for results): enqueue awaited in a loop"

    def open(self, url: str) -> None:
        self.queue = Queue.from_url(url, name=QUEUE)
        self.run(self.queue.connect())

    def close(self) -> None:
        self.run(self.queue.disconnect())
        super().close()

    def enqueue_one(self, count: int) -> None:
        async def go() -> None:
            for _ in range(count):
                await self.queue.enqueue("done")

        self.run(go())

    def enqueue_bulk(self, count: int, batch: int) -> None:
        self.enqueue_one(count)

    def enqueue_latency(self) -> None:
        async def go() -> None:
            await self.queue.enqueue("started", stamp=time.time())

        self.run(go())

    def worker_argv(self, url: str) -> list[str]:
        return console_script("saq", "adapters.saq.settings", "--workers", "1")


def adapters() -> list[Adapter]:
    return [SaqAdapter()]
