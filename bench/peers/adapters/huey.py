"""Huey: calling a task enqueues it; ``TaskWrapper.map`` for many; ``huey_consumer`` with one thread.

``RedisHuey`` with default settings (blocking dequeue, results stored when not None),
from ``$BENCH_REDIS_URL``; the consumer runs one worker thread, Huey's default.
"""

from __future__ import annotations

import time

import peerjobs
from huey import RedisHuey

from adapters.base import Adapter, console_script

huey = RedisHuey("bench", url=peerjobs.redis_url())


@huey.task()
def done() -> None:
    peerjobs.done()


@huey.task()
def started(stamp: float) -> None:
    peerjobs.started(stamp)


class HueyAdapter(Adapter):
    name = "huey"
    library = "huey"
    settings = "huey_consumer adapters.huey.huey: defaults (-w 1 -k thread), RedisHuey defaults (blocking)"
    one_api = "task() (calling a task enqueues it)"
    bulk_api = "TaskWrapper.map (enqueues one by one)"

    def open(self, url: str) -> None:
        huey.storage.conn.ping()

    def enqueue_one(self, count: int) -> None:
        for _ in range(count):
            done()

    def enqueue_bulk(self, count: int, batch: int) -> None:
        for start in range(0, count, batch):
            done.map([()] * min(batch, count - start))

    def enqueue_latency(self) -> None:
        started(time.time())

    def worker_argv(self, url: str) -> list[str]:
        return console_script("huey_consumer", "adapters.huey.huey")


def adapters() -> list[Adapter]:
    return [HueyAdapter()]
