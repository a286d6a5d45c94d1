"""Rate limits as workers apply them (a queue's, or each user's): at most N starts per
period across the workers, and the jobs held by a rate start once its window frees,
though the workers poll only every 30 s (Redis's idle waits come back every 5 s): the claim that held them announced
when, and the due pass woke the idle workers then."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import jobfuncs
from conveyor import JobStatus, Queue
from conveyor.backends.base import Backend
from waiting import wait_until

from .processes import start_worker, stop_process

POLL = 30.0
JOBS, RATE, PERIOD = 7, 2, 1.0


@pytest.fixture(
    params=[{"per_queue_rate": {"default": f"{RATE}/{PERIOD}s"}}, {"per_user_rate": f"{RATE}/{PERIOD}s"}],
    ids=["queue-rate", "user-rate"],
)
def rated_workers(url: str, request: pytest.FixtureRequest) -> Iterator[None]:
    """Two workers of 'default', at most RATE starts per PERIOD between them (of the
    queue's jobs, or of each user's)."""
    workers = [
        start_worker(url, ("default",), concurrency=4, poll_interval=POLL, lease_ttl=10.0, limits=request.param)
        for _ in range(2)
    ]
    yield
    for process in workers:
        stop_process(process)


def test_a_rate_holds_across_workers_and_the_held_jobs_start_when_the_window_frees(
    backend: Backend, tmp_path: Path, rated_workers: None
) -> None:
    ledger = tmp_path / "starts"
    queue = Queue(connection=backend)
    jobs = [queue.enqueue(jobfuncs.record_time, str(ledger), user_id="alice") for _ in range(JOBS)]
    wait_until(
        lambda: all(job.get_status(refresh=True) is JobStatus.FINISHED for job in jobs),
        timeout=30,
        message="every job to run",
    )
    starts = sorted(float(line) for line in ledger.read_text().split())
    assert len(starts) == JOBS
    # RATE + 1 starts in a row span at least a period (their claims do; a run begins a
    # little after its claim, so with room for that)
    spans = [later - first for first, later in zip(starts, starts[RATE:], strict=False)]
    assert min(spans) > PERIOD / 2, f"more than {RATE} starts within a period: {starts}"
    # held jobs start as each window frees, not at a poll (30 s) or an idle wait's end (5 s)
    assert starts[-1] - starts[0] < (JOBS // RATE) * PERIOD + 2.5, starts
