"""Stores that stall without failing, for the fault tests and the chaos harness.

SQLite: a process stopped (as by Ctrl-Z or a debugger) while it holds the database's
write lock holds up every process's writes until it is thawed. Redis: ``CLIENT PAUSE
<ms> WRITE`` holds up every write (scripts and functions that may write included)
while reads go on.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import redis

from conveyor import Job, JobStatus

_HOLD_AND_STOP = """
import fcntl, os, signal, sqlite3, sys
path, holding = sys.argv[1], sys.argv[2]
lock = os.open(path + "-lock", os.O_RDWR | os.O_CREAT)  # conveyor's writers queue on this first
fcntl.flock(lock, fcntl.LOCK_EX)
conn = sqlite3.connect(path, isolation_level=None, timeout=60)
conn.execute("BEGIN IMMEDIATE")  # and SQLite's own write lock
open(holding, "w").close()
os.kill(os.getpid(), signal.SIGSTOP)
conn.execute("ROLLBACK")
"""


class FrozenWriter:
    """A process that takes the write lock of the SQLite database at ``path``, then stops
    itself; ``holding()`` once it has; ``thaw()`` lets it go on, and so let go."""

    def __init__(self, path: Path, name: str = "holding") -> None:
        self._holding = path.with_name(f"{path.name}-{name}")
        self._holding.unlink(missing_ok=True)
        self._process = subprocess.Popen([sys.executable, "-c", _HOLD_AND_STOP, str(path), str(self._holding)])

    def holding(self) -> bool:
        return self._holding.exists()

    def thaw(self) -> None:
        self._process.send_signal(signal.SIGCONT)
        self._process.wait(timeout=30)
        self._holding.unlink(missing_ok=True)


def pause_redis_writes(url: str, seconds: float) -> None:
    """Hold up every write to the Redis at ``url`` for ``seconds`` (reads go on); it
    resumes by itself."""
    client = redis.Redis.from_url(url.split("?", 1)[0])
    try:
        client.execute_command("CLIENT", "PAUSE", str(max(1, round(seconds * 1000))), "WRITE")
    finally:
        client.close()


def assert_kept_by_its_live_worker(job: Job, ledger: Path, logs: str) -> None:
    """The job of the worker named "alive", run once (one line in ``ledger``), through a
    stall: no worker (their ``logs``) took it for abandoned."""
    assert "recovered job" not in logs, "a live worker's job is not taken for abandoned"
    assert len(ledger.read_text().splitlines()) == 1, "it ran once"
    assert (job.get_status(), job.result, job.worker_name, job.retry_count) == (JobStatus.FINISHED, "slow", "alive", 0)
