"""A SQLite writer killed with SIGKILL in the middle of its transactions, again and
again; one frozen while it holds the write lock."""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import conveyor
import jobfuncs
from conveyor import Queue
from conveyor.status import JobStatus
from conveyor.types import Settlement
from stalls import FrozenWriter, assert_kept_by_its_live_worker
from waiting import wait_until
from worker.processes import start_worker, stop_processes, worker_log

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


@contextlib.contextmanager
def writer_frozen_holding_the_lock(path: Path) -> Iterator[None]:
    """A process stopped (as by Ctrl-Z or a debugger) while it holds the database's write
    lock, for the block; thawed after it, when it lets go."""
    writer = FrozenWriter(path)
    try:
        wait_until(writer.holding, message="the writer to take the lock")
        yield
    finally:
        writer.thaw()


LEASE_TTL = 2.0


@pytest.mark.parametrize("recoverer_starts", ["before the stall", "in its last half-lease"])
def test_a_writer_frozen_holding_the_lock_past_the_lease_costs_live_workers_none_of_their_jobs(
    tmp_path: Path, recoverer_starts: str
) -> None:
    """No worker can renew while the lock is held; once it is let go, their leases have
    lapsed. A worker that recovered them then would run live workers' jobs twice: each
    holds recovery back a lease period after its own renewals were held up. One started
    in the stall's last half-lease sees no such gap (its registration waited less), and
    holds recovery back for its first lease period instead."""
    path, ledger, release = tmp_path / "conveyor.db", tmp_path / "ledger", tmp_path / "release"
    url = f"sqlite:///{path}"
    backend = conveyor.connect(url)
    job = Queue(connection=backend).enqueue(jobfuncs.record_run, str(ledger), "slow", str(release))
    # its housekeeping writes only its heartbeats (no scheduling pass for 30 s): the stall catches one
    alive = start_worker(url, name="alive", lease_ttl=LEASE_TTL, poll_interval=30)
    recoverer = None
    try:
        wait_until(ledger.exists, message="the job to start")
        if recoverer_starts == "before the stall":
            recoverer = start_worker(url, name="recoverer", lease_ttl=LEASE_TTL, poll_interval=0.1)
            wait_until(lambda: len(backend.workers_list()) == 2, message="both workers registered")
        with writer_frozen_holding_the_lock(path):
            stall_began = time.monotonic()
            wait_until(lambda: time.monotonic() - stall_began > 2 * LEASE_TTL, timeout=30,
                       message="the stall to outlast the lease")  # fmt: skip
            if recoverer is None:
                recoverer = start_worker(url, name="recoverer", lease_ttl=LEASE_TTL, poll_interval=0.1)
                wait_until(lambda: time.monotonic() - stall_began > 2.25 * LEASE_TTL, message="a quarter lease more")
        thawed = time.monotonic()  # the job runs on past when the recoverer could have taken it
        if recoverer_starts == "before the stall":
            wait_until(lambda: "lease renewals were" in worker_log(recoverer), message="the recoverer to see the stall")
        wait_until(lambda: len(backend.workers_list()) == 2, message="both workers registered")
        wait_until(lambda: time.monotonic() - thawed > 1.5 * LEASE_TTL, message="a lease period and a half")
        release.touch()
        wait_until(lambda: job.get_status() not in (JobStatus.STARTED, JobStatus.QUEUED), timeout=30,
                   message="the job to end")  # fmt: skip
        recoverer_log, alive_log = worker_log(recoverer), worker_log(alive)
    finally:
        release.touch()
        stop_processes(alive, recoverer)
        backend.close()
    assert_kept_by_its_live_worker(job, ledger, recoverer_log + alive_log)
    if recoverer_starts == "before the stall":  # its warning blames the store, not a job it did not run
        assert "no job ran meanwhile, so the store was slow to answer" in recoverer_log
