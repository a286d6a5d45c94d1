"""Workers killed, frozen and crowded, on every backend: nothing lost, nothing run twice at once.

Each scenario asserts on counts kept in a side channel (a ledger file every run appends
to), never on timing; each has a bounded run time.
"""

from __future__ import annotations

import collections
import random
import signal
import subprocess
from pathlib import Path

import pytest

import jobfuncs
from conveyor import Queue, Retry
from conveyor.backends.base import Backend
from conveyor.status import JobStatus
from waiting import wait_until
from worker.processes import freeze, start_worker, stop_process, worker_log


def ledger_runs(ledger: Path) -> collections.Counter[str]:
    """How many times each job id ran, from the ledger (lines: tag id pid)."""
    lines = ledger.read_text().splitlines() if ledger.exists() else []
    return collections.Counter(line.split()[1] for line in lines)


@pytest.mark.timeout(300)
def test_repeated_sigkills_lose_no_job(url: str, backend: Backend, tmp_path: Path) -> None:
    total, kills = 5000, 5
    ledger = tmp_path / "ledger"
    queue = Queue(connection=backend)
    jobs = queue.enqueue_many(
        [Queue.prepare_data(jobfuncs.record_run, args=(str(ledger), "j"), retry=Retry(max=20)) for _ in range(total)]
    )
    rng = random.Random(7)
    serial = 0

    def start(number: int) -> subprocess.Popen[bytes]:
        return start_worker(url, name=f"worker-{number}", concurrency=2, lease_ttl=3)  # kept on a busy machine

    workers = {serial: start(serial), serial + 1: start(serial + 1)}
    serial = 2
    in_flight_at_kills: list[set[str]] = []
    try:
        for kill in range(kills):
            wait_until(lambda k=kill: backend.jobs_count(None, [JobStatus.FINISHED]) >= (k + 1) * total // (kills + 2),
                       timeout=60, message="more jobs to finish")  # fmt: skip
            victim = rng.choice(sorted(workers))
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait(timeout=10)
            stop_process(workers.pop(victim))
            name = f"worker-{victim}"
            started = backend.job_ids(None, [JobStatus.STARTED])
            in_flight_at_kills.append({r.id for r in backend.jobs_get(started) if r and r.worker_name == name})
            workers[serial] = start(serial)
            serial += 1
        wait_until(lambda: backend.jobs_count(None, [JobStatus.FINISHED]) == total, timeout=90,
                   message="every job to finish")  # fmt: skip
    finally:
        for worker in workers.values():
            stop_process(worker)
    runs = ledger_runs(ledger)
    assert set(runs) == {job.id for job in jobs}, "every job ran"
    exposure = collections.Counter(job_id for in_flight in in_flight_at_kills for job_id in in_flight)
    for job_id, count in runs.items():
        assert count <= 1 + exposure[job_id], (
            f"{job_id} ran {count} times but was in flight at {exposure[job_id]} kills"
        )
    assert sum(map(len, in_flight_at_kills)) > 0, "the kills should have caught jobs in flight"


def test_a_frozen_worker_loses_its_job_and_its_late_result_is_refused(
    url: str, backend: Backend, tmp_path: Path
) -> None:
    ledger, release = tmp_path / "ledger", tmp_path / "release"
    queue = Queue(connection=backend)
    job = queue.enqueue(jobfuncs.record_run, str(ledger), "slow", str(release), retry=Retry(max=1))
    frozen = start_worker(url, name="frozen", lease_ttl=3)  # its heartbeats keep the lease on a loaded machine
    try:
        wait_until(lambda: ledger_runs(ledger)[job.id] == 1, message="the first worker to start the job")
        freeze(frozen)  # holding the job, unreleased: it cannot end before the rescuer takes it
        release.touch()  # the rescuer's run goes straight through; the frozen one ends once thawed
        rescuer = start_worker(url, name="rescuer", lease_ttl=5)
        try:
            wait_until(lambda: job.get_status(refresh=True) is JobStatus.FINISHED, timeout=30,
                       message="the second worker to take over and finish")  # fmt: skip
            assert job.worker_name == "rescuer"
            frozen.send_signal(signal.SIGCONT)  # it wakes up with a result for a lease it lost
            wait_until(lambda: "refused" in worker_log(frozen), timeout=30, message="its late settle refused")
        finally:
            stop_process(rescuer)
    finally:
        release.touch()
        frozen.send_signal(signal.SIGCONT)
        stop_process(frozen)
    record = backend.jobs_get([job.id])[0]
    assert record is not None
    assert (record.status, record.worker_name, record.retry_count) == (JobStatus.FINISHED, "rescuer", 1)
    assert ledger_runs(ledger)[job.id] == 2


@pytest.mark.timeout(600)  # 160,000 jobs: about 30 s on a quiet machine, several times that on a busy one
@pytest.mark.parametrize("workers, per_worker", [(8, 20_000)])
def test_many_workers_run_each_job_exactly_once(
    url: str, backend: Backend, tmp_path: Path, workers: int, per_worker: int
) -> None:
    total = workers * per_worker
    ledger = tmp_path / "ledger"
    queue = Queue(connection=backend)
    for start_at in range(0, total, 10_000):
        queue.enqueue_many(
            [
                Queue.prepare_data(jobfuncs.record_run, args=(str(ledger), "j"))
                for _ in range(start_at, start_at + 10_000)
            ]
        )
    processes = [start_worker(url, burst=True) for _ in range(workers)]
    try:
        for process in processes:
            assert process.wait(timeout=300) == 0
    finally:
        for process in processes:
            stop_process(process)
    runs = ledger_runs(ledger)
    assert len(runs) == total
    assert set(runs.values()) == {1}
    assert backend.jobs_count(None, [JobStatus.FINISHED]) == total
