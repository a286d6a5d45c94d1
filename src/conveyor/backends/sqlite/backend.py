"""The SQLite backend: one file in WAL mode, shared by many processes on one machine.

Every transition is one BEGIN IMMEDIATE transaction whose UPDATE carries its own
guard in the WHERE clause, so a lost race changes nothing and is reported.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from conveyor.backends.base import CHUNK
from conveyor.exceptions import STATUS_MARK, InvalidJobOperation
from conveyor.status import REQUEUEABLE, TERMINAL, JobStatus
from conveyor.types import (
    Finding,
    JobRecord,
)

from . import doctor
from .batches import SQLiteBatches
from .changes import Changes
from .claiming import SQLiteClaiming
from .dependencies import WAITS_ON_A_PARENT_SQL, descendants
from .queries import SQLiteQueries
from .rows import (
    ID_LIST,
    STILL_STOPPING_SQL,
    TERMINAL_SQL,
    TTL_FROM_NOW,
    ended_state,
    id_list,
    next_seq,
)
from .upkeep import SQLiteUpkeep

_BATCH_NOT_STARTED_SQL = (
    "(jobs.batch_id IS NOT NULL AND EXISTS "
    "(SELECT 1 FROM batches WHERE batches.id = jobs.batch_id AND batches.status = 'scheduled'))"
)
"""A job of a batch that has not started: requeued, it is held for the batch's starter
again (status scheduled, no time of its own), not run before the batch."""


_THROUGHPUT_KEPT_MINUTES = 25 * 60
"""Throughput counters older than this are dropped by jobs_purge (the windows reach a day)."""


class SQLiteBackend(SQLiteClaiming, SQLiteQueries, SQLiteBatches, SQLiteUpkeep):
    """Backend on one SQLite file; see conveyor.backends.base.Backend for the contract."""

    kind = "sqlite"

    # -- jobs: writes ---------------------------------------------------------------

    def job_cancel(self, job_id: str, now: float, keep_until: float | None, enqueue_dependents: bool) -> JobRecord:
        def cancel(conn: sqlite3.Connection, changes: Changes) -> tuple[JobRecord, bool]:
            record = self._get(conn, job_id)
            if record.status in TERMINAL:
                raise InvalidJobOperation(
                    job_id, record.status.value, f"Cannot cancel job {job_id}: it is already {STATUS_MARK}"
                )
            running = record.status is JobStatus.STARTED
            conn.execute(
                "UPDATE jobs SET status = 'canceled', status_reason = 'canceled', ended_at = ?, "
                "keep_until = ?, stop_requested = ? "
                "WHERE id = ?",
                (now, keep_until, int(running), job_id),
            )
            changes.moved(job_id, record.queue, record.status.value, "canceled")
            # canceled is taken off the unmet sets of dependents allowing failures; with
            # enqueue_dependents off every dependent's, as if it had finished
            released = self._release_dependents(conn, changes, [job_id], now, for_all=enqueue_dependents)
            return self._get(conn, job_id), released

        canceled, released = self._write(cancel)
        if released:
            self._wakeup.notify()
        return canceled

    def job_request_stop(self, job_id: str, now: float) -> None:
        def request(conn: sqlite3.Connection) -> None:
            record = self._get(conn, job_id)
            if record.status is not JobStatus.STARTED:
                raise InvalidJobOperation(
                    job_id, record.status.value, f"Job {job_id} is not running (status {STATUS_MARK})"
                )
            conn.execute("UPDATE jobs SET stop_requested = 1 WHERE id = ?", (job_id,))

        self._pool.write(request)

    def stop_requests(self, worker_name: str) -> list[str]:
        rows = self._pool.read(
            lambda c: c.execute(
                "SELECT id FROM jobs WHERE stop_requested = 1 AND worker_name = ?", (worker_name,)
            ).fetchall()
        )
        return [row[0] for row in rows]

    def jobs_requeue(self, job_ids: Sequence[str], now: float) -> list[str]:
        def requeue(conn: sqlite3.Connection, changes: Changes) -> list[str]:
            moved = []
            statuses = ", ".join(f"'{s.value}'" for s in sorted(REQUEUEABLE))
            for job_id in job_ids:
                before = conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
                try:
                    after = self._requeue_one(conn, job_id, statuses, now)
                except sqlite3.IntegrityError:  # its unique_key is held by another live job
                    continue
                if after is not None:
                    changes.moved(job_id, after[0], before[0], after[1])
                    moved.append(job_id)
            return moved

        moved = self._write(requeue)
        if moved:
            self._wakeup.notify()
        return moved

    def _requeue_one(self, conn: sqlite3.Connection, job_id: str, statuses: str, now: float) -> Any:
        return conn.execute(  # a canceled job may not have run: it may wait on parents
            "UPDATE jobs SET seq = ?, enqueued_at = ?, retry_count = 0, "
            f"status = CASE WHEN status = 'canceled' AND {WAITS_ON_A_PARENT_SQL} THEN 'deferred' "
            f"WHEN {_BATCH_NOT_STARTED_SQL} THEN 'scheduled' ELSE 'queued' END, "
            f"{TTL_FROM_NOW}, "
            "started_at = NULL, ended_at = NULL, result = NULL, exc_info = NULL, "
            "status_reason = NULL, keep_until = NULL, worker_name = NULL, "
            "stop_requested = 0, scheduled_for = NULL, progress = NULL, lease_token = NULL, "
            "lease_expires_at = NULL "
            f"WHERE id = ? AND status IN ({statuses}) AND NOT {STILL_STOPPING_SQL} "
            "RETURNING queue, status",
            (next_seq(conn, 1), now, now, job_id, now),
        ).fetchone()

    def job_delete(self, job_id: str, ended_by: float | None = None, with_dependents: bool = False) -> bool:
        def delete(conn: sqlite3.Connection, changes: Changes) -> bool:
            if ended_by is not None:
                found = ended_state(conn, job_id, ended_by)
                if found is None or found[0] not in TERMINAL or found[1]:
                    return False
            dependents = descendants(conn, job_id) if with_dependents else []
            if not self._delete(conn, changes, job_id):
                return False
            for dependent in dependents:
                self._delete(conn, changes, dependent)
            return True

        return self._write(delete)

    def job_update(
        self,
        job_id: str,
        now: float,
        *,
        meta: bytes | None = None,
        progress: float | None = None,
        metrics: bytes | None = None,
    ) -> bool:
        fields = {"meta": meta, "progress": progress, "metrics": metrics}
        given = {name: value for name, value in fields.items() if value is not None}
        if not given:
            return self._pool.read(lambda c: self._exists(c, job_id))
        assignments = ", ".join(f"{name} = ?" for name in given)

        def update(conn: sqlite3.Connection, changes: Changes) -> bool:
            if conn.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*given.values(), job_id)).rowcount == 0:
                return False
            changes.updated(job_id)
            return True

        return self._write(update)

    # -- jobs: time-driven transitions ------------------------------------------------
    def jobs_promote_due(self, now: float, limit: int = CHUNK) -> int:
        due = "FROM jobs INDEXED BY jobs_due WHERE status = 'scheduled' AND scheduled_for <= ?"
        if not self._pool.read(lambda c: c.execute(f"SELECT 1 {due} LIMIT 1", (now,)).fetchone()):
            return 0

        def promote(conn: sqlite3.Connection, changes: Changes) -> int:
            rows = conn.execute(f"SELECT id, queue {due} ORDER BY scheduled_for LIMIT ?", (now, limit)).fetchall()
            ids = [row[0] for row in rows]
            first = next_seq(conn, len(ids)) if ids else 0
            conn.executemany(
                "UPDATE jobs SET status = 'queued', seq = ?, enqueued_at = ?, "
                f"{TTL_FROM_NOW} "
                "WHERE id = ? AND status = 'scheduled'",
                [(first + i, now, now, job_id) for i, job_id in enumerate(ids)],
            )
            for job_id, queue in rows:
                changes.moved(job_id, queue, "scheduled", "queued")
            return len(ids)

        promoted = self._write(promote)
        if promoted:
            self._wakeup.notify()
        return promoted

    def jobs_expire(self, now: float, limit: int = CHUNK) -> int:
        expired = (
            "FROM jobs INDEXED BY jobs_queued_expiry "
            "WHERE status = 'queued' AND expires_at IS NOT NULL AND expires_at <= ?"
        )
        if not self._pool.read(lambda c: c.execute(f"SELECT 1 {expired} LIMIT 1", (now,)).fetchone()):
            return 0

        def expire(conn: sqlite3.Connection, changes: Changes) -> tuple[int, bool]:
            rows = conn.execute(
                "UPDATE jobs SET status = 'canceled', status_reason = 'expired', ended_at = ?, "
                "keep_until = CASE WHEN failure_ttl IS NULL THEN NULL ELSE ? + failure_ttl END "
                f"WHERE id IN (SELECT id {expired} LIMIT ?) RETURNING id, queue",
                (now, now, now, limit),
            ).fetchall()
            for job_id, queue in rows:
                changes.moved(job_id, queue, "queued", "canceled")
            ids = [row[0] for row in rows]
            # dependents that allow failures count an expired parent as ended
            released = bool(ids) and self._release_dependents(conn, changes, ids, now)
            return len(ids), released

        expired_count, released = self._write(expire)
        if released:
            self._wakeup.notify()
        return expired_count

    def jobs_purge(self, now: float, limit: int) -> int:
        def purge(conn: sqlite3.Connection, changes: Changes) -> int:
            ids = [
                row[0]
                for row in conn.execute(
                    "SELECT id FROM jobs INDEXED BY jobs_retention WHERE keep_until IS NOT NULL AND keep_until <= ? "
                    f"AND status IN {TERMINAL_SQL} LIMIT ?",
                    (now, limit),
                )
            ]
            if ids:
                listed = (id_list(ids),)
                conn.execute(f"DELETE FROM job_dependencies WHERE job_id IN ({ID_LIST})", listed)
                for job_id, queue, status in conn.execute(
                    f"DELETE FROM jobs WHERE id IN ({ID_LIST}) RETURNING id, queue, status", listed
                ).fetchall():
                    changes.moved(job_id, queue, status, None)
            conn.execute("DELETE FROM throughput WHERE minute < ?", (int(now // 60) - _THROUGHPUT_KEPT_MINUTES,))
            return len(ids)

        return self._write(purge)

    def queue_empty(self, queue: str) -> int:
        def empty(conn: sqlite3.Connection, changes: Changes) -> int:
            ids = [row[0] for row in conn.execute(
                "SELECT id FROM jobs WHERE status = 'queued' AND queue = ? LIMIT ?", (queue, CHUNK))]  # fmt: skip
            for job_id in ids:
                self._delete(conn, changes, job_id)
            return len(ids)

        return _in_chunks(lambda: self._write(empty))

    # -- checking the store -------------------------------------------------------------
    def invariants_check(self, now: float, repair: bool) -> list[Finding]:
        damaged = self._pool.read(doctor.integrity)
        if damaged:
            return damaged
        if not repair:
            return self._pool.read(
                lambda conn: [*doctor.check(conn, Changes(), now, False), *doctor.counts(conn, False)]
            )
        found = self._write(lambda conn, changes: doctor.check(conn, changes, now, True))
        return found + self._pool.write(lambda conn: doctor.counts(conn, True))


def _in_chunks(step: Callable[[], int]) -> int:
    """Repeat a step that handles up to CHUNK jobs until one handles fewer; the total."""
    total = 0
    while True:
        done = step()
        total += done
        if done < CHUNK:
            return total
