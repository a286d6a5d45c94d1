"""Paused queues as workers see them: a worker goes on serving its other queues and
starts none of a paused queue's jobs, and a resume reaches it at once, though it polls
only every 30 s (Redis: its idle waits come back every 5 s)."""

from __future__ import annotations

import jobfuncs
from conveyor import JobStatus, Queue
from conveyor.backends.base import Backend
from waiting import wait_until

from .processes import start_worker, stop_process

POLL, PROMPT = 30.0, 4.0


def test_a_worker_passes_a_paused_queue_over_and_a_resume_starts_its_jobs_at_once(backend: Backend, url: str) -> None:
    emails, reports = Queue("emails", connection=backend), Queue("reports", connection=backend)
    emails.pause()
    assert emails.is_paused() and not reports.is_paused()
    held = emails.enqueue(jobfuncs.add, 1, 2)
    worker = start_worker(url, ("emails", "reports"), poll_interval=POLL)
    try:
        # the worker claims emails first: a reports job done after the emails job was queued shows it passed it over
        done = reports.enqueue(jobfuncs.add, 3, 4)
        wait_until(lambda: done.get_status(refresh=True) is JobStatus.FINISHED, message="the reports job to run")
        assert held.get_status(refresh=True) is JobStatus.QUEUED
        emails.resume()
        assert not emails.is_paused()
        # within PROMPT: not at a poll or an idle wait's end (no wake-up would have reached the worker)
        wait_until(
            lambda: held.get_status(refresh=True) is JobStatus.FINISHED, timeout=PROMPT, message="the resumed job"
        )
        assert held.result == 3
    finally:
        stop_process(worker)
