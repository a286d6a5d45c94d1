"""conveyor: ``conveyor.connect(redis_url)``, ``Queue.enqueue`` / ``enqueue_many``, ``conveyor.Worker``.

The worker process is this module run as ``python -m adapters.conveyor URL [POOL]``: it
opens the backend and runs ``Worker([Queue("bench")]).work()`` with default settings,
or with ``pool="processes"`` (sync jobs in a reused child process, which a timeout can
kill: the setup to hold against RQ's default Worker, which forks one per job). Jobs are
the plain functions of ``peerjobs``, enqueued by import path.
"""

from __future__ import annotations

import sys
import time
import uuid

import conveyor
from adapters.base import QUEUE, Adapter, RQStyleAdapter, python_module
from conveyor import Queue, Worker


class ConveyorAdapter(RQStyleAdapter):
    name = "conveyor"
    library = "conveyor"
    settings = "conveyor.Worker([Queue('bench')]).work(), default settings (one process)"
    one_api = "Queue.enqueue"
    bulk_api = "Queue.enqueue_many, Queue.prepare_data"
    claim_probe = True
    pool = "threads"

    def open(self, url: str) -> None:
        try:
            self.backend = conveyor.connect(url)
        except Exception as exc:
            raise RuntimeError(
                f"conveyor.connect({url!r}) raised {type(exc).__name__}: {exc} (no Redis backend in this checkout?)"
            ) from exc
        self.queue = Queue(QUEUE, connection=self.backend)
        self._probe = f"bench-probe-{uuid.uuid4().hex[:8]}"

    def close(self) -> None:
        self.backend.close()

    def worker_argv(self, url: str) -> list[str]:
        return python_module("adapters.conveyor", url, self.pool)

    def claim(self, limit: int) -> int:
        now = time.time()
        token = uuid.uuid4().hex
        claimed = self.backend.jobs_claim([QUEUE], self._probe, limit, token, now + 3600, now)
        return len(claimed)


class ConveyorProcessesAdapter(ConveyorAdapter):
    name = "conveyor-processes"
    settings = "conveyor.Worker([Queue('bench')], pool='processes').work(): jobs in one reused child process"
    claim_probe = False  # the backlog probe is the store's, measured once with the default setup
    pool = "processes"


def adapters() -> list[Adapter]:
    return [ConveyorAdapter(), ConveyorProcessesAdapter()]


def worker_main(url: str, pool: str) -> None:
    backend = conveyor.connect(url)
    try:
        Worker([Queue(QUEUE, connection=backend)], pool=pool).work()
    finally:
        backend.close()


if __name__ == "__main__":
    worker_main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "threads")
