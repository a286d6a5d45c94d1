"""Demo jobs for ``conveyor up``: short sync and async jobs that report progress.

They are ordinary job functions, importable by path, so the worker started by
``conveyor up`` runs them like any user's jobs. ``flaky_report`` fails once and
succeeds on its retry, to show a retry happen. Each is also a registered job type
(``demo.count_words``...), so the API served by ``conveyor up`` accepts them.
"""

from __future__ import annotations

import asyncio
import time

from conveyor.functions import job_type
from conveyor.job import Job, get_current_job
from conveyor.queue import Queue
from conveyor.retry import Retry

DEMO_QUEUE = "demo"


def _report(step: int, steps: int) -> None:
    job = get_current_job()
    if job is not None:
        job.set_progress(step / steps, items_processed=step, total_items=steps)


@job_type("demo.count_words")
def count_words(text: str) -> int:
    """A quick sync job."""
    return len(text.split())


@job_type("demo.crunch_numbers")
def crunch_numbers(steps: int = 10, pause: float = 0.1) -> int:
    """A sync job that reports progress after each step."""
    total = 0
    for step in range(1, steps + 1):
        time.sleep(pause)
        total += step * step
        _report(step, steps)
    return total


@job_type("demo.fetch_pages")
async def fetch_pages(pages: int = 8, pause: float = 0.15) -> dict[str, int]:
    """An async job: waits without blocking the worker, reporting each page."""
    sizes = {}
    for page in range(1, pages + 1):
        await asyncio.sleep(pause)
        sizes[f"/page/{page}"] = 1024 * page
        _report(page, pages)
    return {"pages": pages, "bytes": sum(sizes.values())}


@job_type("demo.resize_images")
async def resize_images(count: int = 5, pause: float = 0.2) -> str:
    """Another async job with progress."""
    for image in range(1, count + 1):
        await asyncio.sleep(pause)
        _report(image, count)
    return f"{count} thumbnails"


@job_type("demo.flaky_report")
def flaky_report(pause: float = 0.3) -> str:
    """Fails on its first run and succeeds on the retry."""
    time.sleep(pause)
    job = get_current_job()
    if job is not None and job.retry_count == 0:
        raise RuntimeError("report service timed out (the demo retries once)")
    return "report ready"


def enqueue_demo(queue: Queue) -> list[Job]:
    """Store the demo jobs in one step and return them, in display order."""
    return queue.enqueue_many(
        [
            Queue.prepare_data(count_words, args=("the quick brown fox jumps over the lazy dog",)),
            Queue.prepare_data(crunch_numbers, kwargs={"steps": 10}),
            Queue.prepare_data(fetch_pages, kwargs={"pages": 8}),
            Queue.prepare_data(resize_images, kwargs={"count": 5}),
            Queue.prepare_data(flaky_report, retry=Retry(max=1, interval=0)),
            Queue.prepare_data(count_words, args=("conveyor runs sync and async jobs",), priority=5),
        ]
    )
