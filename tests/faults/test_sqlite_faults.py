"""A SQLite writer killed with SIGKILL in the middle of its transactions, again and again."""

from __future__ import annotations

import os
import random
import secrets
import signal
import sqlite3
import time
from pathlib import Path

import conveyor
from conveyor import Queue
from conveyor.status import JobStatus
from conveyor.types import Settlement

ROUNDS = 50


def _write_until_killed(url: str, out_fd: int) -> None:
    """In a forked child: enqueue, claim and settle in a loop, reporting each acknowledged write."""
    backend = conveyor.connect(url)
    queue = Queue(connection=backend)
    out = os.fdopen(out_fd, "w", buffering=1)
    while True:
        jobs = queue.enqueue_many([Queue.prepare_data("jobfuncs.noop") for _ in range(10)])
        out.write("Q " + " ".join(job.id for job in jobs) + "\n")
        now = time.time()
        token = secrets.token_hex(4)
        claimed = backend.jobs_claim(["default"], "writer", 5, token, now + 60, now)
        settled = backend.jobs_settle(
            [Settlement(r.id, token, JobStatus.FINISHED, keep_until=now + 3600) for r in claimed], now
        )
        out.write("F " + " ".join(r.id for r, ok in zip(claimed, settled, strict=True) if ok) + "\n")


def test_a_writer_killed_mid_transaction_leaves_an_intact_database(tmp_path: Path) -> None:
    path = tmp_path / "conveyor.db"
    url = f"sqlite:///{path}"
    rng = random.Random(11)
    enqueued: set[str] = set()
    finished: set[str] = set()
    for _ in range(ROUNDS):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns
            os.close(read_end)
            try:
                _write_until_killed(url, write_end)
            finally:
                os._exit(1)
        os.close(write_end)
        with os.fdopen(read_end) as reports:
            lines = [reports.readline() for _ in range(rng.randint(1, 30))]
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            for line in [*lines, *reports]:
                if not line.endswith("\n"):
                    continue  # cut short by the kill: not a report of a completed write
                kind, *ids = line.split()
                (enqueued if kind == "Q" else finished).update(ids)
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        real = dict(check.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall())
    backend = conveyor.connect(url)
    try:
        records = {r.id: r for r in backend.jobs_get(sorted(enqueued)) if r is not None}
        assert set(records) == enqueued, "every acknowledged enqueue survived"
        ended = backend.jobs_get(sorted(finished))  # some were enqueued by a child killed before it said so
        assert all(r is not None and r.status is JobStatus.FINISHED for r in ended), "acknowledged settles stayed"
        assert {status.value: n for status, n in backend.counts()["default"].items()} == real
        assert len(enqueued) >= ROUNDS * 10
    finally:
        backend.close()
