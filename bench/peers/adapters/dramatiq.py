"""Dramatiq: ``Actor.send`` (no bulk API: ``group.run`` sends one by one), ``dramatiq --processes 1``.

The broker is a ``RedisBroker`` with default settings, set when this module is imported
(by the benchmark and by the worker process) from ``$BENCH_REDIS_URL``.
"""

from __future__ import annotations

import time

import dramatiq
import peerjobs
from dramatiq.brokers.redis import RedisBroker

from adapters.base import Adapter, console_script

broker = RedisBroker(url=peerjobs.redis_url())
dramatiq.set_broker(broker)


@dramatiq.actor
def done() -> None:
    peerjobs.done()


@dramatiq.actor
def started(stamp: float) -> None:
    peerjobs.started(stamp)


class DramatiqAdapter(Adapter):
    name = "dramatiq"
    library = "dramatiq"
    settings = "dramatiq adapters.dramatiq --processes 1: default --threads 8, RedisBroker defaults"
    one_api = "Actor.send"
    bulk_api = "none: dramatiq.group(...).run(), which sends the messages one by one"
    idle_poll = 1.0  # an idle consumer polls with a backoff growing to worker_timeout (1,000 ms)

    def open(self, url: str) -> None:
        broker.client.ping()

    def enqueue_one(self, count: int) -> None:
        send = done.send
        for _ in range(count):
            send()

    def enqueue_bulk(self, count: int, batch: int) -> None:
        message = done.message
        for start in range(0, count, batch):
            dramatiq.group([message() for _ in range(min(batch, count - start))]).run()

    def enqueue_latency(self) -> None:
        started.send(time.time())

    def worker_argv(self, url: str) -> list[str]:
        return console_script("dramatiq", "adapters.dramatiq", "--processes", "1")


def adapters() -> list[Adapter]:
    return [DramatiqAdapter()]
