"""Limits and fair share as workers apply them: jobs over a limit wait, others run."""

from __future__ import annotations

import threading
from pathlib import Path

import jobfuncs
from conveyor import JobStatus, Queue, Worker
from conveyor.backends.base import Backend
from conveyor.types import Limits
from waiting import wait_until


def start_worker(backend: Backend, limits: Limits, concurrency: int = 4) -> threading.Thread:
    worker = Worker(["default"], connection=backend, concurrency=concurrency, limits=limits)
    thread = threading.Thread(target=worker.work, kwargs={"burst": True})
    thread.start()
    return thread


def held_job(queue: Queue, folder: Path, tag: str, **options: object):
    marker = folder / tag
    return marker, queue.enqueue(jobfuncs.hold_until_released, str(marker), str(folder / "release"), **options)


def test_a_user_at_its_limit_waits_while_another_users_job_runs(backend: Backend, tmp_path: Path) -> None:
    queue = Queue(connection=backend)
    first_marker, first = held_job(queue, tmp_path, "alice-1", user_id="alice")
    second_marker, second = held_job(queue, tmp_path, "alice-2", user_id="alice")
    bob_marker, bob = held_job(queue, tmp_path, "bob-1", user_id="bob")
    thread = start_worker(backend, Limits(per_user_max=1))
    wait_until(lambda: first_marker.exists() and bob_marker.exists(), message="alice's first and bob's job run")
    assert second.get_status(refresh=True) is JobStatus.QUEUED
    assert not second_marker.exists()
    (tmp_path / "release").touch()
    thread.join(60)
    assert not thread.is_alive()
    assert [job.get_status(refresh=True) for job in (first, second, bob)] == [JobStatus.FINISHED] * 3


def test_the_global_limit_holds_across_workers(backend: Backend, tmp_path: Path) -> None:
    queue = Queue(connection=backend)
    jobs = [held_job(queue, tmp_path, f"job-{i}") for i in range(3)]
    limits = Limits(global_max=2)
    threads = [start_worker(backend, limits, concurrency=2) for _ in range(2)]
    wait_until(lambda: sum(marker.exists() for marker, _ in jobs) == 2, message="two jobs running")
    statuses = sorted(job.get_status(refresh=True).value for _, job in jobs)
    assert statuses == ["queued", "started", "started"]
    (tmp_path / "release").touch()
    for thread in threads:
        thread.join(60)
    assert all(job.get_status(refresh=True) is JobStatus.FINISHED for _, job in jobs)
