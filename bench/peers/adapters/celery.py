"""Celery: ``Task.delay`` / ``group(...).apply_async()``, ``celery worker`` with one pool process.

The app has the Redis broker from ``$BENCH_REDIS_URL`` and no result backend (Celery's
default). Two setups: the default prefork pool with ``--concurrency 1`` (the main
process receives, one child runs the tasks) and the solo pool (everything in one
process).
"""

from __future__ import annotations

import time

import peerjobs
from celery import Celery, group

from adapters.base import Adapter, console_script

app = Celery("bench", broker=peerjobs.redis_url())
app.conf.broker_connection_retry_on_startup = True  # silences a deprecation warning; the default behaviour


@app.task(name="bench.done")
def done() -> None:
    peerjobs.done()


@app.task(name="bench.started")
def started(stamp: float) -> None:
    peerjobs.started(stamp)


class CeleryAdapter(Adapter):
    name = "celery"
    library = "celery"
    settings = "celery -A adapters.celery worker --pool prefork --concurrency 1: defaults (prefetch multiplier 4)"
    one_api = "Task.delay"
    bulk_api = "group(...).apply_async() (publishes one message per task)"
    pool = "prefork"

    def open(self, url: str) -> None:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)

    def enqueue_one(self, count: int) -> None:
        delay = done.delay
        for _ in range(count):
            delay()

    def enqueue_bulk(self, count: int, batch: int) -> None:
        signature = done.s
        for start in range(0, count, batch):
            group([signature() for _ in range(min(batch, count - start))]).apply_async()

    def enqueue_latency(self) -> None:
        started.delay(time.time())

    def worker_argv(self, url: str) -> list[str]:
        return console_script("celery", "-A", "adapters.celery", "worker", "--pool", self.pool, "--concurrency", "1")


class CelerySoloAdapter(CeleryAdapter):
    name = "celery-solo"
    settings = "celery -A adapters.celery worker --pool solo: one process, defaults (prefetch multiplier 4)"
    pool = "solo"


def adapters() -> list[Adapter]:
    return [CeleryAdapter(), CelerySoloAdapter()]
