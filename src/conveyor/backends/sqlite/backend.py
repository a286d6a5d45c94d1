"""The SQLite backend: one file in WAL mode, shared by many processes on one machine.

Every transition is one BEGIN IMMEDIATE transaction whose UPDATE carries its own
guard in the WHERE clause, so a lost race changes nothing and is reported.
SQLiteBackend is put together from mixins of one concern each, over the connection
(connection.py): claiming.py (claim, settle, leases, the wait for jobs), enqueue.py
(storing new jobs), dependencies.py (the links between jobs, which the writes share),
timed.py (promotion of due jobs, expiry, retention), queries.py (reads), upkeep.py
(workers, maintenance, the store itself), batches.py and cron.py (periodic jobs as
published); this module adds the other writes to jobs: cancel, stop, requeue, delete,
update and emptying a queue.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from conveyor.backends.base import CHUNK
from conveyor.exceptions import STATUS_MARK, InvalidJobOperation
from conveyor.status import REQUEUEABLE, TERMINAL, JobStatus
from conveyor.types import JobRecord

from .audit import SQLiteAudit
from .batches import SQLiteBatches
from .changes import Changes
from .claiming import SQLiteClaiming
from .cron import SQLiteCron
from .dependencies import WAITS_ON_A_PARENT_SQL, descendants
from .enqueue import SQLiteEnqueue
from .queries import SQLiteQueries
from .rows import HOLDS_SLOT_SQL, STILL_STOPPING_SQL, TTL_FROM_NOW, ended_state, next_seq
from .timed import SQLiteTimed
from .upkeep import SQLiteUpkeep

_BATCH_NOT_STARTED_SQL = (
    "(jobs.batch_id IS NOT NULL AND EXISTS "
    "(SELECT 1 FROM batches WHERE batches.id = jobs.batch_id AND batches.status = 'scheduled'))"
)
"""A job of a batch that has not started: requeued, it is held for the batch's starter
again (status scheduled, no time of its own), not run before the batch."""


class SQLiteBackend(
    SQLiteClaiming, SQLiteTimed, SQLiteQueries, SQLiteUpkeep, SQLiteBatches, SQLiteEnqueue, SQLiteCron, SQLiteAudit
):
    """Backend on one SQLite file; see conveyor.backends.base.Backend for the contract."""

    kind = "sqlite"

    # -- jobs: the other writes ----------------------------------------------------------
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
            changes.moved(job_id, record.queue, record.status.value, "canceled", at=now)
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

    def jobs_requeue(self, job_ids: Sequence[str], now: float, at_front: bool | None = None) -> list[str]:
        # stored as the column holds it: 1, or NULL for not at the front (None: as it is)
        front = None if at_front is None else (1 if at_front else None)

        def requeue(conn: sqlite3.Connection, changes: Changes) -> list[str]:
            moved = []
            statuses = ", ".join(f"'{s.value}'" for s in sorted(REQUEUEABLE))
            for job_id in job_ids:
                before = conn.execute(
                    f"SELECT status, user_id, func_name, {HOLDS_SLOT_SQL} FROM jobs WHERE id = ?", (job_id,)
                ).fetchone()
                try:
                    after = self._requeue_one(conn, job_id, statuses, now, at_front is not None, front)
                except sqlite3.IntegrityError:  # its unique_key is held by another live job
                    continue
                if after is not None:
                    status, user, func_name, held = before
                    changes.moved(job_id, after[0], status, after[1])
                    if held:  # canceled while it ran, its lease lapsed unrecovered
                        changes.slot_freed(after[0], user, func_name)
                    moved.append(job_id)
            return moved

        moved = self._write(requeue)
        if moved:
            self._wakeup.notify()
        return moved

    def _requeue_one(
        self, conn: sqlite3.Connection, job_id: str, statuses: str, now: float, placed: bool, front: int | None
    ) -> Any:
        return conn.execute(  # a canceled job may not have run: it may wait on parents
            "UPDATE jobs SET seq = ?, enqueued_at = ?, retry_count = 0, "
            "at_front = CASE WHEN ? THEN ? ELSE at_front END, "
            f"status = CASE WHEN status = 'canceled' AND {WAITS_ON_A_PARENT_SQL} THEN 'deferred' "
            f"WHEN {_BATCH_NOT_STARTED_SQL} THEN 'scheduled' ELSE 'queued' END, "
            f"{TTL_FROM_NOW}, "
            "started_at = NULL, ended_at = NULL, result = NULL, exc_info = NULL, "
            "status_reason = NULL, keep_until = NULL, worker_name = NULL, "
            "stop_requested = 0, scheduled_for = NULL, progress = NULL, lease_token = NULL, "
            "lease_expires_at = NULL "
            f"WHERE id = ? AND status IN ({statuses}) AND NOT {STILL_STOPPING_SQL} "
            "RETURNING queue, status",
            (next_seq(conn, 1), now, placed, front, now, job_id, now),
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

    def queue_empty(self, queue: str) -> int:
        def empty(conn: sqlite3.Connection, changes: Changes) -> int:
            ids = [row[0] for row in conn.execute(
                "SELECT id FROM jobs WHERE status = 'queued' AND queue = ? LIMIT ?", (queue, CHUNK))]  # fmt: skip
            for job_id in ids:
                self._delete(conn, changes, job_id)
            return len(ids)

        return _in_chunks(lambda: self._write(empty))

    def queues_pause(self, queues: Sequence[str], now: float) -> None:
        self._pool.write(
            lambda conn: conn.executemany(
                "INSERT INTO paused_queues (queue, paused_at) VALUES (?, ?) ON CONFLICT (queue) DO NOTHING",
                [(queue, now) for queue in queues],
            )
        )

    def queues_resume(self, queues: Sequence[str]) -> list[str]:
        def resume(conn: sqlite3.Connection) -> list[str]:
            deleted = (conn.execute("DELETE FROM paused_queues WHERE queue = ?", (queue,)).rowcount for queue in queues)
            return [queue for queue, count in zip(queues, deleted, strict=True) if count]

        resumed = self._pool.write(resume)
        if resumed:
            self._wakeup.notify()
        return resumed

    def queues_paused(self) -> dict[str, float]:
        return dict(self._pool.read(lambda conn: conn.execute("SELECT queue, paused_at FROM paused_queues").fetchall()))


def _in_chunks(step: Callable[[], int]) -> int:
    """Repeat a step that handles up to CHUNK jobs until one handles fewer; the total."""
    total = 0
    while True:
        done = step()
        total += done
        if done < CHUNK:
            return total
