"""The SQLite backend's hot statements read through the index made for them, and come
in few shapes.

Without statistics, SQLite's planner prefers an equality on ``status`` over a range on a
time column, so "queued jobs whose ttl has passed" read every queued job through
jobs_by_status and checked each one. That costs nothing in a small store and a scan per
second in a big one: the soak's purges of expired results took half of the store's
time this way. Every statement that the claim, settle and housekeeping paths run is
captured here, with a page of GET /jobs, and its plan checked.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

import conveyor
from conveyor import maintenance
from conveyor.backends.base import Backend
from conveyor.backends.sqlite import connection
from conveyor.status import JobStatus
from conveyor.testing import make_job
from conveyor.types import Settlement

NOW = 1_000_000.0


@pytest.fixture
def traced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Backend, list[str]]]:
    """A SQLite backend, and every statement its connections ran (parameters inlined)."""
    statements: list[str] = []
    open_connection = connection.ConnectionPool._open

    def open_traced(pool: connection.ConnectionPool) -> sqlite3.Connection:
        conn = open_connection(pool)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(connection.ConnectionPool, "_open", open_traced)
    backend = conveyor.connect(f"sqlite:///{tmp_path}/plans.db")
    yield backend, statements
    backend.close()


def plan(path: str, statement: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}")]


def test_claim_settle_and_housekeeping_never_read_jobs_by_status_alone(
    traced: tuple[Backend, list[str]], tmp_path: Path
) -> None:
    backend, statements = traced
    parent = make_job(backend, status=JobStatus.QUEUED, expires_at=NOW + 3_600)
    make_job(backend, status=JobStatus.DEFERRED, depends_on=[parent.id])
    make_job(backend, status=JobStatus.QUEUED, expires_at=NOW + 10)
    make_job(backend, status=JobStatus.SCHEDULED, scheduled_for=NOW + 10)
    make_job(backend, status=JobStatus.STARTED, lease_expires_at=NOW + 10)
    make_job(backend, status=JobStatus.FINISHED, ended_at=NOW, keep_until=NOW + 10)
    make_job(backend, status=JobStatus.FAILED, ended_at=NOW, keep_until=NOW + 10)

    (claimed,) = backend.jobs_claim(["default"], "worker-1", 1, "token-1", NOW + 30, NOW)
    assert claimed.id == parent.id
    settled = Settlement(parent.id, "token-1", JobStatus.FINISHED, keep_until=NOW + 10)
    assert backend.jobs_settle([settled], NOW) == [True]  # its deferred child is enqueued
    later = NOW + 100
    schedule = maintenance.run_schedule(backend, later)
    assert (schedule.promoted, len(schedule.recovered), schedule.expired) == (1, 1, 1)
    assert maintenance.run_retention(backend, later, "worker-1", budget=1).purged == 3
    assert maintenance.run_due(backend, later, budget=1).next_due is None
    assert len(backend.job_ids_newest(None, list(JobStatus), None, 10)) == 4  # a page of GET /jobs
    hers = make_job(backend, status=JobStatus.QUEUED, user_id="alice")  # ... and of one user's
    assert [i for i, _ in backend.job_ids_newest(None, list(JobStatus), None, 10, "alice")] == [hers.id]
    assert backend.counts("alice") == {"default": {JobStatus.QUEUED: 1}}
    assert backend.batch_job_ids("b-1", 10**9, 10) == []  # a page of a batch's jobs

    database = str(tmp_path / "plans.db")
    reads_of_jobs = {s for s in statements if " jobs" in s and not s.startswith(("INSERT", "CREATE", "PRAGMA"))}
    assert len(reads_of_jobs) > 10
    for statement in sorted(reads_of_jobs):
        steps = plan(database, statement)
        assert "SCAN jobs" not in steps, (statement, steps)
        assert "SEARCH jobs USING INDEX jobs_by_status (status=?)" not in steps, (statement, steps)
        if "user_id = '" in statement:
            assert any("jobs_by_user" in step for step in steps), (statement, steps)
        if "batch_id = '" in statement and "ORDER BY" in statement:
            assert not any("TEMP B-TREE" in step for step in steps), (statement, steps)


def shape(statement: str) -> str:
    """A statement with its inlined values taken out: what SQLite compiles and caches."""
    return re.sub(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b", "?", statement)


def test_lists_of_ids_of_any_length_share_one_statement(traced: tuple[Backend, list[str]]) -> None:
    """Each statement shape is compiled and cached per connection (128 of them): one shape
    per list length held 20 MB in a soak worker whose settles and purges came in all sizes."""
    backend, statements = traced
    for size in range(1, 9):
        jobs = [make_job(backend, status=JobStatus.STARTED, lease_token="t") for _ in range(size)]
        backend.jobs_get([job.id for job in jobs])
        settled = [Settlement(job.id, "t", JobStatus.FINISHED, keep_until=NOW) for job in jobs]
        assert backend.jobs_settle(settled, NOW) == [True] * size
        assert backend.jobs_purge(NOW + 1, 1_000) == size
    shapes_by_kind: dict[str, set[str]] = {}
    for statement in statements:
        if statement.startswith(("SELECT", "DELETE", "UPDATE")) and "jobs" in statement:
            shapes_by_kind.setdefault(statement.split()[0], set()).add(shape(statement))
    kinds = {kind: len(shapes) for kind, shapes in shapes_by_kind.items()}
    assert all(count < 8 for count in kinds.values()), kinds


def test_a_fair_claim_reads_the_turns_of_the_waiting_users_only(
    traced: tuple[Backend, list[str]], tmp_path: Path
) -> None:
    """A queue keeps the turn of every user it ever served: a claim that read them all (or
    scanned them for the latest) cost 99 ms after 100,000 users had been served."""
    backend, statements = traced
    for user in ("alice", "bob"):
        make_job(backend, status=JobStatus.QUEUED, user_id=user)
    assert len(backend.jobs_claim(["default"], "worker-1", 2, "token-1", NOW + 30, NOW)) == 2
    reads = [s for s in statements if "user_turns" in s and s.startswith("SELECT")]
    assert reads
    database = str(tmp_path / "plans.db")
    for statement in reads:
        steps = plan(database, statement)
        # the latest turn from the end of the index in turn order; else one user's turn by its key
        wanted = "INDEX user_turns_order" if "MAX(served)" in statement else "(queue=? AND user_id=?)"
        assert all(wanted in step for step in steps), (statement, steps)
