"""``conveyor worker --supervise``: fresh worker processes on recycling, signals passed on."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import jobfuncs
from conveyor import Queue
from conveyor.backends.base import Backend
from conveyor.status import JobStatus
from waiting import wait_until

from .conftest import conveyor_cmd, subprocess_env


def pids_in(ledger: Path) -> list[str]:
    return [line.split()[2] for line in ledger.read_text().splitlines()]


def run_supervised(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = conveyor_cmd("worker", "--supervise", "--burst", "-u", db_url, *args)
    return subprocess.run(command, check=False, env=subprocess_env(), capture_output=True, text=True, timeout=120)


def test_max_jobs_recycles_the_process_until_the_queue_is_empty(db_url: str, db: Backend, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    jobs = [Queue(connection=db).enqueue(jobfuncs.record_run, str(ledger), f"j{i}") for i in range(5)]
    done = run_supervised(db_url, "--max-jobs", "2")
    assert done.returncode == 0, done.stderr
    assert all(job.get_status(refresh=True) is JobStatus.FINISHED for job in jobs)
    pids = pids_in(ledger)
    assert len(pids) == 5
    assert len(set(pids)) == 3, "two jobs per process, then a fresh one"
    assert done.stderr.count("recycled itself; starting a new one") == 2


def test_max_memory_recycles_after_each_batch(db_url: str, db: Backend, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    for i in range(3):
        Queue(connection=db).enqueue(jobfuncs.record_run, str(ledger), f"j{i}")
    done = run_supervised(db_url, "--max-memory", "1")  # every process is over 1 MB
    assert done.returncode == 0, done.stderr
    assert len(pids_in(ledger)) == 3
    assert len(set(pids_in(ledger))) >= 2
    assert "passed --max-memory 1 MB" in done.stderr


def test_sigterm_to_the_supervisor_stops_the_worker_gracefully(db_url: str, db: Backend, tmp_path: Path) -> None:
    marker = tmp_path / "started"
    job = Queue(connection=db).enqueue(jobfuncs.touch_then_sleep, str(marker), 0.5)
    supervisor = subprocess.Popen(
        conveyor_cmd("worker", "--supervise", "-u", db_url), env=subprocess_env(), stderr=subprocess.PIPE, text=True
    )
    try:
        wait_until(marker.exists, message="the job to start")
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=30) == 0
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()
    assert job.get_status(refresh=True) is JobStatus.FINISHED


def test_a_worker_killed_under_the_supervisor_is_its_status_as_a_shell_gives_it(
    db_url: str, db: Backend, tmp_path: Path
) -> None:
    """The kernel's OOM killer, say: the supervisor exits 128 + 9, as systemd and a shell
    report a kill, not 247 (256 - 9)."""
    marker = tmp_path / "started"
    Queue(connection=db).enqueue(jobfuncs.touch_then_sleep, str(marker), 60)
    supervisor = subprocess.Popen(
        conveyor_cmd("worker", "--supervise", "-u", db_url), env=subprocess_env(), stderr=subprocess.PIPE, text=True
    )
    try:
        wait_until(marker.exists, message="the job to start")
        os.kill(int(marker.read_text()), signal.SIGKILL)  # the job runs in the worker: touch_then_sleep notes its pid
        assert supervisor.wait(timeout=30) == 128 + signal.SIGKILL
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()
