"""The jobs of the contention harness (bench/contention.py): each run leaves one line.

A run appends ``<kind> <job id> <worker pid> <time.time()>`` to the log named by
$CONTEND_LOG, in one O_APPEND write, so the lines of concurrent runs never mix and the
harness can tell whether every job it enqueued finished exactly once. A job enqueued
with ``fail_once=True`` fails its first run on purpose (``IntendedFailure``, which the
harness tells apart from any other traceback) and marks that in its meta, so that
``conveyor requeue --all`` puts it back and its second run finishes.
"""

from __future__ import annotations

import asyncio
import os
import time

import conveyor
from conveyor import get_current_job


class IntendedFailure(Exception):
    """Raised by a fail-once job's first run."""


def _mark(kind: str) -> str:
    job = get_current_job()
    job_id = job.id if job is not None else "-"
    line = f"{kind} {job_id} {os.getpid()} {time.time():.6f}\n"
    fd = os.open(os.environ["CONTEND_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
    return job_id


def _fail_first_run() -> None:
    job = get_current_job()
    if job is not None and not job.meta.get("failed_once"):
        job.meta["failed_once"] = True
        job.save_meta()
        _mark("fail")
        raise IntendedFailure(f"job {job.id} fails its first run on purpose")


@conveyor.job_type("contend.record")
def record(fail_once: bool = False) -> str:
    """A short synchronous job (1 ms of sleep)."""
    if fail_once:
        _fail_first_run()
    time.sleep(0.001)
    return _mark("done")


@conveyor.job_type("contend.arecord")
async def arecord(fail_once: bool = False) -> str:
    """The same as an ``async def`` job, run on a worker's event loop."""
    if fail_once:
        _fail_first_run()
    await asyncio.sleep(0.001)
    return _mark("done")
