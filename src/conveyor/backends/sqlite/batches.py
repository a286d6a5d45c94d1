"""Batches on SQLite: a row per batch, whose ``scheduled_start`` (on a partial index of
scheduled batches) is the one starter entry that releases the batch's held jobs; the
time stays in the row once the batch has started or been canceled, for its detail.

Each function runs inside the backend's write transaction and notes its job changes
in the transaction's Changes journal, like every other write.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from conveyor.backends.base import CHUNK
from conveyor.exceptions import STATUS_MARK, InvalidBatchOperation, NoSuchBatchError
from conveyor.status import BatchStatus, JobStatus
from conveyor.types import BatchInspection, BatchRecord, JobRecord

from .changes import Changes
from .enqueue import SQLiteEnqueue
from .rows import TTL_FROM_NOW, next_seq

BATCH_COLUMNS = (
    "id, total, created_at, status, name, user_id, scheduled_start, started_at, completed_at, "
    "on_complete_job, on_failure_job"
)
LIVE_SQL = "('queued', 'deferred', 'scheduled', 'started')"
HELD = "batch_id = ? AND status = 'scheduled' AND scheduled_for IS NULL"
"""A batch's jobs still waiting for its starter."""
KEEP_FAILED_FROM_NOW = "keep_until = CASE WHEN failure_ttl IS NULL THEN NULL ELSE ? + failure_ttl END"


def batch_from_row(row: Sequence[Any]) -> BatchRecord:
    values = list(row)
    values[3] = BatchStatus(values[3])
    return BatchRecord(*values)


def insert_batch(conn: sqlite3.Connection, batch: BatchRecord) -> None:
    b = batch
    conn.execute(
        f"INSERT INTO batches ({BATCH_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (b.id, b.total, b.created_at, b.status.value, b.name, b.user_id, b.scheduled_start, b.started_at,
         b.completed_at, b.on_complete_job, b.on_failure_job),
    )  # fmt: skip


def get(conn: sqlite3.Connection, batch_id: str) -> BatchRecord:
    row = conn.execute(f"SELECT {BATCH_COLUMNS} FROM batches WHERE id = ?", (batch_id,)).fetchone()
    if row is None:
        raise NoSuchBatchError(batch_id)
    return batch_from_row(row)


def get_many(conn: sqlite3.Connection, batch_ids: Sequence[str]) -> list[BatchRecord | None]:
    found = {}
    for batch_id in dict.fromkeys(batch_ids):
        row = conn.execute(f"SELECT {BATCH_COLUMNS} FROM batches WHERE id = ?", (batch_id,)).fetchone()
        if row is not None:
            found[batch_id] = batch_from_row(row)
    return [found.get(batch_id) for batch_id in batch_ids]


def listing(conn: sqlite3.Connection, user_id: str | None, before: str | None, limit: int) -> list[BatchRecord]:
    where, params = [], []
    if user_id is not None:
        where.append("user_id = ?")
        params.append(user_id)
    if before is not None:
        where.append("id < ?")
        params.append(before)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = conn.execute(
        f"SELECT {BATCH_COLUMNS} FROM batches {clause} ORDER BY id DESC LIMIT ?", (*params, limit)
    ).fetchall()
    return [batch_from_row(row) for row in rows]


def counts(conn: sqlite3.Connection, batch_id: str) -> dict[JobStatus, int]:
    rows = conn.execute("SELECT status, COUNT(*) FROM jobs WHERE batch_id = ? GROUP BY status", (batch_id,))
    return {JobStatus(status): n for status, n in rows}


def job_ids(conn: sqlite3.Connection, batch_id: str, before: int | None, limit: int) -> list[tuple[str, int]]:
    """The place of a batch's job is its rowid: rows are inserted in the order given, and
    a retry or requeue updates the row (seq changes, the rowid stays). jobs_batch_order
    holds them in that order."""
    rows = conn.execute(
        "SELECT id, rowid FROM jobs WHERE batch_id = ? AND rowid < ? ORDER BY rowid DESC LIMIT ?",
        (batch_id, 2**63 - 1 if before is None else before, limit),
    )
    return [(job_id, place) for job_id, place in rows]


def release_held(conn: sqlite3.Connection, changes: Changes, batch: BatchRecord, now: float) -> int:
    """Queue every job of the batch still held for its starter, in the order given (a job
    restarted before the start keeps its place, as on Redis); mark it started."""
    rows = conn.execute(f"SELECT id, queue FROM jobs WHERE {HELD} ORDER BY rowid", (batch.id,)).fetchall()
    first = next_seq(conn, len(rows)) if rows else 0
    conn.executemany(
        f"UPDATE jobs SET status = 'queued', seq = ?, enqueued_at = ?, {TTL_FROM_NOW} WHERE id = ?",
        [(first + i, now, now, job_id) for i, (job_id, _) in enumerate(rows)],
    )
    for job_id, queue in rows:
        changes.moved(job_id, queue, "scheduled", "queued")
    conn.execute("UPDATE batches SET status = 'running', started_at = ? WHERE id = ?", (now, batch.id))
    return len(rows)


def start(conn: sqlite3.Connection, changes: Changes, batch_id: str, now: float) -> BatchRecord:
    batch = get(conn, batch_id)
    if batch.status is not BatchStatus.SCHEDULED:
        raise InvalidBatchOperation.already("start", batch_id, batch.status.value)
    release_held(conn, changes, batch, now)
    return get(conn, batch_id)


def start_due(conn: sqlite3.Connection, changes: Changes, now: float, limit: int) -> int:
    due = conn.execute(
        f"SELECT {BATCH_COLUMNS} FROM batches WHERE status = 'scheduled' AND scheduled_start <= ? "
        "ORDER BY scheduled_start LIMIT ?",
        (now, limit),
    ).fetchall()
    for row in due:
        release_held(conn, changes, batch_from_row(row), now)
    return len(due)


def reschedule(conn: sqlite3.Connection, batch_id: str, scheduled_start: float) -> BatchRecord:
    batch = get(conn, batch_id)
    if batch.status is not BatchStatus.SCHEDULED:
        raise InvalidBatchOperation(
            batch_id, batch.status.value, f"Batch {batch_id} cannot be rescheduled: it is {STATUS_MARK}"
        )
    conn.execute("UPDATE batches SET scheduled_start = ? WHERE id = ?", (scheduled_start, batch_id))
    return get(conn, batch_id)


def cancel(
    conn: sqlite3.Connection, changes: Changes, batch_id: str, now: float
) -> tuple[BatchRecord, list[str], list[str]]:
    """Cancel the batch's live jobs and callbacks; the ids of the batch's jobs canceled,
    and of its callbacks canceled (what waits on them may allow failures: callers release).

    A running batch whose jobs have all ended is completed instead, as the next
    maintenance pass would have done (its callbacks run), and returned COMPLETED.
    """
    batch = get(conn, batch_id)
    if batch.status not in (BatchStatus.SCHEDULED, BatchStatus.RUNNING):
        raise InvalidBatchOperation.already("cancel", batch_id, batch.status.value)
    live = conn.execute(
        f"SELECT id, queue, status FROM jobs WHERE batch_id = ? AND status IN {LIVE_SQL}", (batch_id,)
    ).fetchall()
    if batch.status is BatchStatus.RUNNING and not live:
        callbacks_canceled = _complete_one(conn, changes, batch_id, batch.on_complete_job, batch.on_failure_job, now)
        completed = get(conn, batch_id)
        _drop_if_jobless(conn, [batch_id])
        return completed, [], callbacks_canceled
    callbacks = [job_id for job_id in (batch.on_complete_job, batch.on_failure_job) if job_id is not None]
    for job_id in callbacks:
        row = conn.execute("SELECT id, queue, status FROM jobs WHERE id = ? AND status = 'deferred'", (job_id,))
        live.extend(row.fetchall())
    conn.executemany(
        "UPDATE jobs SET status = 'canceled', status_reason = 'canceled', ended_at = ?, "
        f"{KEEP_FAILED_FROM_NOW}, stop_requested = (status = 'started') WHERE id = ?",
        [(now, now, job_id) for job_id, _, _ in live],
    )
    for job_id, queue, status in live:
        changes.moved(job_id, queue, status, "canceled", at=now)
    conn.execute(
        "UPDATE batches SET status = 'canceled', completed_at = ? WHERE id = ?",
        (now, batch_id),
    )
    canceled = [job_id for job_id, _, _ in live if job_id not in callbacks]
    return get(conn, batch_id), canceled, [job_id for job_id, _, _ in live if job_id in callbacks]


def complete(conn: sqlite3.Connection, changes: Changes, now: float, limit: int) -> tuple[list[str], list[str]]:
    """Complete running batches whose jobs have all ended: their ids, and the callbacks
    canceled (what waits on them may allow failures: callers release)."""
    ended = conn.execute(
        f"SELECT id, on_complete_job, on_failure_job FROM batches WHERE status = 'running' "
        f"AND NOT EXISTS (SELECT 1 FROM jobs WHERE batch_id = batches.id AND status IN {LIVE_SQL}) LIMIT ?",
        (limit,),
    ).fetchall()
    callbacks_canceled: list[str] = []
    for batch_id, on_complete, on_failure in ended:
        callbacks_canceled += _complete_one(conn, changes, batch_id, on_complete, on_failure, now)
    _drop_if_jobless(conn, [row[0] for row in ended])
    return [row[0] for row in ended], callbacks_canceled


def _drop_if_jobless(conn: sqlite3.Connection, batch_ids: list[str]) -> None:
    """A batch completed with no job left goes now (the others go with their last job:
    see schema migration 3)."""
    conn.executemany(
        "DELETE FROM batches WHERE id = ? AND NOT EXISTS (SELECT 1 FROM jobs WHERE batch_id = ?)",
        [(batch_id, batch_id) for batch_id in batch_ids],
    )


def _complete_one(
    conn: sqlite3.Connection,
    changes: Changes,
    batch_id: str,
    on_complete: str | None,
    on_failure: str | None,
    now: float,
) -> list[str]:
    """A running batch whose jobs have all ended: completed, its callbacks queued or canceled
    (the ids of those canceled)."""
    failed = conn.execute(
        "SELECT 1 FROM jobs WHERE batch_id = ? AND status IN ('failed', 'stopped') LIMIT 1", (batch_id,)
    ).fetchone()
    _settle_callback(conn, changes, on_complete, run=True, now=now)
    canceled = _settle_callback(conn, changes, on_failure, run=failed is not None, now=now)
    conn.execute("UPDATE batches SET status = 'completed', completed_at = ? WHERE id = ?", (now, batch_id))
    return [on_failure] if canceled and on_failure is not None else []


def _settle_callback(conn: sqlite3.Connection, changes: Changes, job_id: str | None, *, run: bool, now: float) -> bool:
    """Queue a waiting callback job, or cancel it when its condition did not hold; whether
    it was canceled."""
    if job_id is None:
        return False
    if run:
        moved = conn.execute(
            f"UPDATE jobs SET status = 'queued', seq = ?, enqueued_at = ?, {TTL_FROM_NOW} "
            "WHERE id = ? AND status = 'deferred' RETURNING queue",
            (next_seq(conn, 1), now, now, job_id),
        ).fetchone()
        target = "queued"
    else:
        moved = conn.execute(
            "UPDATE jobs SET status = 'canceled', status_reason = 'batch succeeded', ended_at = ?, "
            f"{KEEP_FAILED_FROM_NOW} WHERE id = ? AND status = 'deferred' RETURNING queue",
            (now, now, job_id),
        ).fetchone()
        target = "canceled"
    if moved is not None:
        changes.moved(job_id, moved[0], "deferred", target, at=now)
    return moved is not None and not run


def inspect(conn: sqlite3.Connection, batch_id: str) -> BatchInspection:
    row = conn.execute("SELECT status, scheduled_start FROM batches WHERE id = ?", (batch_id,)).fetchone()
    if row is None:
        return BatchInspection(batch_id, exists=False)
    status = BatchStatus(row[0])
    starter = status is BatchStatus.SCHEDULED and row[1] is not None  # in the batches_starters index
    (held,) = conn.execute(f"SELECT COUNT(*) FROM jobs WHERE {HELD}", (batch_id,)).fetchone()
    return BatchInspection(batch_id, True, status, starter, row[1] if starter else None, held)


class SQLiteBatches(SQLiteEnqueue):
    """Batch methods of SQLiteBackend (see conveyor.backends.base.Backend): a mixin that
    runs the functions above in the backend's transactions."""

    # -- batches ------------------------------------------------------------------------
    def batch_create(
        self, batch: BatchRecord, jobs: Sequence[JobRecord], callbacks: Sequence[JobRecord], now: float
    ) -> BatchRecord:
        def store(conn: sqlite3.Connection, changes: Changes) -> BatchRecord:
            insert_batch(conn, batch)
            self._insert(conn, changes, [*jobs, *callbacks], now)
            return get(conn, batch.id)

        created = self._write(store)
        if created.status is BatchStatus.RUNNING:
            self._wakeup.notify()
        return created

    def batches_get(self, batch_ids: Sequence[str]) -> list[BatchRecord | None]:
        return self._pool.read(lambda conn: get_many(conn, batch_ids))

    def batches_list(self, user_id: str | None, before: str | None, limit: int) -> list[BatchRecord]:
        return self._pool.read(lambda conn: listing(conn, user_id, before, limit))

    def batch_counts(self, batch_id: str) -> dict[JobStatus, int]:
        return self._pool.read(lambda conn: counts(conn, batch_id))

    def batch_job_ids(self, batch_id: str, before: int | None, limit: int) -> list[tuple[str, int]]:
        return self._pool.read(lambda conn: job_ids(conn, batch_id, before, limit))

    def batch_start(self, batch_id: str, now: float) -> BatchRecord:
        started = self._write(lambda conn, changes: start(conn, changes, batch_id, now))
        self._wakeup.notify()
        return started

    def batch_reschedule(self, batch_id: str, scheduled_start: float, now: float) -> BatchRecord:
        def put_on_time(conn: sqlite3.Connection, changes: Changes) -> BatchRecord:
            changes.scheduling = True  # the new start may come first
            return reschedule(conn, batch_id, scheduled_start)

        return self._write(put_on_time)

    def batch_cancel(self, batch_id: str, now: float) -> tuple[BatchRecord, int]:
        def cancel_all(conn: sqlite3.Connection, changes: Changes) -> tuple[BatchRecord, int, bool]:
            batch, canceled, callbacks = cancel(conn, changes, batch_id, now)
            ended = [*canceled, *callbacks]  # what waits on a callback may allow failures
            released = bool(ended) and self._release_dependents(conn, changes, ended, now)
            return batch, len(canceled), released

        batch, count, released = self._write(cancel_all)
        if released or batch.status is BatchStatus.COMPLETED:  # completed instead: a callback may be queued
            self._wakeup.notify()
        return batch, count

    def batches_start_due(self, now: float, limit: int = CHUNK) -> int:
        due = "FROM batches WHERE status = 'scheduled' AND scheduled_start <= ?"
        if not self._pool.read(lambda c: c.execute(f"SELECT 1 {due} LIMIT 1", (now,)).fetchone()):
            return 0
        started = self._write(lambda conn, changes: start_due(conn, changes, now, limit))
        if started:
            self._wakeup.notify()
        return started

    def batches_complete(self, now: float, limit: int = CHUNK) -> list[str]:
        if not self._pool.read(lambda c: c.execute("SELECT 1 FROM batches WHERE status = 'running'").fetchone()):
            return []

        def complete_all(conn: sqlite3.Connection, changes: Changes) -> list[str]:
            completed, callbacks = complete(conn, changes, now, limit)
            if callbacks:  # canceled: what waits on them may allow failures
                self._release_dependents(conn, changes, callbacks, now)
            return completed

        completed = self._write(complete_all)
        if completed:
            self._wakeup.notify()
        return completed

    def batch_inspect(self, batch_id: str) -> BatchInspection:
        return self._pool.read(lambda conn: inspect(conn, batch_id))
