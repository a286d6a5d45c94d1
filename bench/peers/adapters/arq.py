"""ARQ: ``ArqRedis.enqueue_job`` (no bulk API), ``arq adapters.arq.WorkerSettings``.

Worker settings are ARQ's defaults: ``max_jobs=10`` concurrent jobs, ``poll_delay=0.5``
seconds (ARQ polls the queue; an idle worker notices a new job on its next poll),
``keep_result=3600``.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import peerjobs
from arq import create_pool
from arq.connections import RedisSettings

from adapters.base import Adapter, AsyncAdapter, console_script


async def done(ctx: dict[str, Any]) -> None:
    peerjobs.done()


async def started(ctx: dict[str, Any], stamp: float) -> None:
    peerjobs.started(stamp)


class WorkerSettings:
    """Read by ``arq adapters.arq.WorkerSettings``; everything not named here is ARQ's default."""

    functions: ClassVar[list[Any]] = [done, started]
    redis_settings = RedisSettings.from_dsn(peerjobs.redis_url())


class ArqAdapter(AsyncAdapter):
    name = "arq"
    library = "arq"
    settings = "arq adapters.arq.WorkerSettings: defaults (max_jobs=10, poll_delay=0.5 s, keep_result=3600 s)"
    one_api = "ArqRedis.enqueue_job"
    bulk_api = "none: enqueue_job awaited in a loop"
    idle_poll = 0.5  # poll_delay

    def open(self, url: str) -> None:
        self.pool = self.run(create_pool(RedisSettings.from_dsn(url)))

    def close(self) -> None:
        self.run(self.pool.aclose())
        super().close()

    def enqueue_one(self, count: int) -> None:
        async def go() -> None:
            for _ in range(count):
                await self.pool.enqueue_job("done")

        self.run(go())

    def enqueue_bulk(self, count: int, batch: int) -> None:
        self.enqueue_one(count)

    def enqueue_latency(self) -> None:
        async def go() -> None:
            await self.pool.enqueue_job("started", time.time())

        self.run(go())

    def worker_argv(self, url: str) -> list[str]:
        return console_script("arq", "adapters.arq.WorkerSettings")


def adapters() -> list[Adapter]:
    return [ArqAdapter()]
