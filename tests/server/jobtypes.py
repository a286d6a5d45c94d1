"""Registered job types for the server tests (workers import this module too)."""

from __future__ import annotations

import time
from pathlib import Path

from conveyor import get_current_job, job_type


@job_type("add")
def add(x: int, y: int) -> int:
    return x + y


@job_type("fail")
def fail(message: str = "boom") -> None:
    raise ValueError(message)


@job_type("steps")
def steps(marker: str, count: int = 2) -> str:
    """Reports progress after each step, then waits until ``marker`` exists (the test
    lets it finish), so a test sees it running."""
    job = get_current_job()
    for step in range(1, count + 1):
        if job is not None:
            job.set_progress(step / count, items_processed=step, total_items=count)
    while not Path(marker).exists():
        time.sleep(0.01)
    return f"{count} steps"
