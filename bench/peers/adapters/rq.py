"""RQ: ``Queue.enqueue`` / ``Queue.enqueue_many``, ``rq worker`` with the default Worker or SimpleWorker.

Jobs are the plain functions of ``peerjobs``, enqueued by import path. The default
``Worker`` forks a work horse for every job; ``SimpleWorker`` runs jobs in its own
process.
"""

from __future__ import annotations

from redis import Redis
from rq import Queue

from adapters.base import QUEUE, Adapter, RQStyleAdapter, console_script


class RQAdapter(RQStyleAdapter):
    name = "rq"
    library = "rq"
    settings = "rq worker --url URL bench: default Worker (forks a work horse per job), default settings"
    one_api = "Queue.enqueue"
    bulk_api = "Queue.enqueue_many, Queue.prepare_data (one pipeline per call)"
    worker_class: str | None = None

    def open(self, url: str) -> None:
        self.redis = Redis.from_url(url)
        self.queue = Queue(QUEUE, connection=self.redis)

    def close(self) -> None:
        self.redis.close()

    def worker_argv(self, url: str) -> list[str]:
        extra = ["--worker-class", self.worker_class] if self.worker_class else []
        return console_script("rq", "worker", "--url", url, *extra, QUEUE)


class RQSimpleAdapter(RQAdapter):
    name = "rq-simple"
    settings = "rq worker --url URL --worker-class rq.worker.SimpleWorker bench: no fork, default settings"
    worker_class = "rq.worker.SimpleWorker"


def adapters() -> list[Adapter]:
    return [RQAdapter(), RQSimpleAdapter()]
