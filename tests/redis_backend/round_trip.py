"""One job through a Redis backend reached some unusual way (a cluster node, Sentinels)."""

from __future__ import annotations

import jobfuncs
from conveyor import Job, JobStatus, Queue, Worker
from conveyor.backends.redis.backend import RedisBackend


def run_one_job(backend: RedisBackend) -> Job:
    """Enqueue a job, run it with a burst worker, and check its result, its events and the
    store's invariants: every kind of call (scripts, reads, the event stream) went through."""
    queue = Queue(connection=backend)
    job = queue.enqueue(jobfuncs.add, 1, 2)
    Worker([queue]).work(burst=True)
    assert (job.get_status(), job.result) == (JobStatus.FINISHED, 3)
    assert backend.events_read("0", 10, 0)[1]
    assert backend.invariants_check(0.0, repair=False) == []
    return job
