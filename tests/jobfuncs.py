"""Job functions for the tests. Module-level, so worker subprocesses can import them
(the tests directory is on PYTHONPATH for them)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

from conveyor import cancel_job, get_current_job, job_type


def noop() -> None:
    pass


def add(x: int, y: int) -> int:
    return x + y


async def async_add(x: int, y: int) -> int:
    await asyncio.sleep(0)
    return x + y


def fail(message: str = "boom") -> None:
    raise ValueError(message)


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


async def async_sleep(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


def busy_loop(seconds: float) -> None:
    """Hold the CPU (and the GIL) in pure Python."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def record_run(ledger: str, tag: str, seconds: float = 0.0) -> str:
    """Append this execution to a ledger file (one line per run), then sleep."""
    job = get_current_job()
    with Path(ledger).open("a") as f:
        f.write(f"{tag} {job.id if job else '-'} {os.getpid()}\n")
    if seconds:
        time.sleep(seconds)
    return tag


def touch_then_sleep(marker: str, seconds: float) -> None:
    """Create ``marker`` when started (tests wait on it), then sleep."""
    Path(marker).write_text(str(os.getpid()))
    time.sleep(seconds)


def use_current_job(value: int) -> dict[str, object]:
    job = get_current_job()
    assert job is not None
    job.meta["handled_by"] = "test"
    job.save_meta()
    job.set_progress(0.5, items_processed=50, total_items=100)
    return {"id": job.id, "value": value}


def unserializable_result() -> object:
    return {1, 2, 3}


def ignore_interrupts(seconds: float) -> None:
    """Swallow every interrupt, like a C call that never checks for signals."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with contextlib.suppress(BaseException):  # the point of this job
            time.sleep(max(0.0, end - time.monotonic()))


def crash_process() -> None:
    """Kill the worker process running this job (a poison job)."""
    os._exit(9)


@job_type("tests.extraction")
def extraction(document: str) -> dict[str, str]:
    """A registered job type, submitted by its name."""
    return {"extracted": document}


def cancel_other(job_id: str, linger: float = 0.0) -> None:
    """Cancel another job (one the worker may have claimed but not started yet), then
    stay busy for ``linger`` seconds."""
    job = get_current_job()
    assert job is not None
    cancel_job(job_id, connection=job.connection)
    time.sleep(linger)


async def async_cancel_other(job_id: str, linger: float = 0.0) -> None:
    job = get_current_job()
    assert job is not None
    cancel_job(job_id, connection=job.connection)
    await asyncio.sleep(linger)


async def raise_cancelled() -> None:
    """An async job whose own code raises CancelledError (nobody asked it to stop)."""
    raise asyncio.CancelledError("the job's own")


async def async_touch_then_sleep(marker: str, seconds: float) -> None:
    Path(marker).write_text(str(os.getpid()))
    await asyncio.sleep(seconds)


def hold_until_released(marker: str, release: str) -> str:
    """Create ``marker`` when started, then run until the test creates ``release``."""
    Path(marker).write_text(str(os.getpid()))
    deadline = time.monotonic() + 60
    while not Path(release).exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    return marker


def echo(value: object) -> object:
    """Return the one argument (batch callbacks get the batch id)."""
    return value
