"""Worker subprocesses for tests: real processes that can be killed, stopped, signalled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from waiting import wait_until

TESTS_DIR = Path(__file__).resolve().parent.parent

_SCRIPT = """
import json, logging, sys
import conveyor
log_format = "%(relativeCreated)6.0f ms %(levelname)s:%(name)s:%(message)s"  # ms since the process began
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=log_format)
options = json.loads(sys.argv[1])
url, queues, burst = options.pop("url"), options.pop("queues"), options.pop("burst")
if "limits" in options:
    options["limits"] = conveyor.types.Limits(**options["limits"])
worker = conveyor.Worker(queues, connection=conveyor.connect(url), **options)
worker.work(burst=burst)
"""


def start_worker(
    url: str,
    queues: tuple[str, ...] = ("default",),
    *,
    burst: bool = False,
    **options: object,
) -> subprocess.Popen[bytes]:
    """Start a worker process on ``url``; options go to conveyor.Worker (lease_ttl...;
    ``limits`` as a dict of conveyor.types.Limits's fields)."""
    options.setdefault("poll_interval", 0.2)
    config = json.dumps({"url": url, "queues": list(queues), "burst": burst, **options})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")])}
    log = tempfile.NamedTemporaryFile(prefix="conveyor-worker-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen([sys.executable, "-c", _SCRIPT, config], env=env, stdout=log, stderr=log)
    process.log_path = Path(log.name)  # type: ignore[attr-defined]
    return process


def worker_log(process: subprocess.Popen[bytes]) -> str:
    """What the worker has logged so far."""
    return process.log_path.read_text(errors="replace")  # type: ignore[attr-defined, no-any-return]


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Kill a worker the test left running; its log goes to the test's captured output,
    which pytest shows when the test fails (what the worker did is then the question)."""
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)
    log: Path = process.log_path  # type: ignore[attr-defined]
    if log.exists():  # (not when stopped twice)
        print(f"--- log of worker process {process.pid} (exit status {process.returncode}) ---\n{worker_log(process)}")
        log.unlink()


def freeze(process: subprocess.Popen[bytes]) -> None:
    """SIGSTOP a worker (SIGCONT thaws it), never while it holds a write lock on a SQLite
    database (the advisory writer lock, or SQLite's own: a write, a checkpoint): frozen
    holding one, it would stall every other writer of the store, and the test would
    measure that instead of a frozen worker. Caught mid-write, it is thawed and frozen
    again until it is caught between writes."""

    def frozen_between_writes() -> bool:
        process.send_signal(signal.SIGSTOP)
        wait_until(lambda: _state(process.pid) == "T", message=f"worker {process.pid} to stop")
        if not _holds_write_lock(process.pid):
            return True
        process.send_signal(signal.SIGCONT)
        return False

    wait_until(frozen_between_writes, message=f"worker {process.pid} frozen between writes")


def _state(pid: int) -> str:
    """The process's state letter (T: stopped), from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2]


def _holds_write_lock(pid: int) -> bool:
    """Whether ``pid`` holds an exclusive file lock, as /proc/locks lists them (lines
    with '->' are waiters, which hold nothing)."""
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "->" not in fields and fields[3] == "WRITE" and fields[4] == str(pid):
            return True
    return False


def terminate_once_started(url: str, marker: Path, *, deadline: float = 20.0, **options: object) -> int:
    """Start a worker, wait until its job touches ``marker``, SIGTERM it; its exit status,
    which it must give within ``deadline`` seconds of the SIGTERM."""
    worker = start_worker(url, **options)
    try:
        wait_until(marker.exists, message="the job to start")
        worker.send_signal(signal.SIGTERM)
        return worker.wait(timeout=deadline)
    finally:
        stop_process(worker)


def stop_processes(*processes: subprocess.Popen[bytes] | None) -> None:
    """stop_process each worker a test started (None: one it did not get to start)."""
    for process in processes:
        if process is not None:
            stop_process(process)
