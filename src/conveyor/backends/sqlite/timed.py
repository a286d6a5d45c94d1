"""The SQLite backend's time-driven passes over jobs: scheduled jobs that fell due join
their queues, queued jobs past their ttl expire, and ended jobs past their retention go
(with the throughput counters past the longest window); and when the next scheduled job
or batch start comes due.

A mixin of SQLiteBackend. Each pass reads an index of the jobs it may change (INDEXED BY:
see design.md), a chunk at a time; promotion and expiry first look there in a read, and
take the write lock only when they find work.
"""

from __future__ import annotations

import sqlite3

from conveyor.backends.base import CHUNK

from .changes import RATE_DUE_SQL, Changes
from .dependencies import SQLiteDependencies
from .rows import HOLDS_SLOT_SQL, ID_LIST, TERMINAL_SQL, TTL_FROM_NOW, earliest_due, id_list, next_seq

_THROUGHPUT_KEPT_MINUTES = 25 * 60
"""Throughput counters older than this are dropped by jobs_purge (the windows reach a day)."""


class SQLiteTimed(SQLiteDependencies):
    """Time-driven transitions of SQLiteBackend (see conveyor.backends.base.Backend)."""

    def jobs_promote_due(self, now: float, limit: int = CHUNK) -> int:
        """Also wakes the idle workers when a rate's window frees for the jobs it held
        (a rate-due mark's time came: see conveyor/backends/held.py)."""
        due = "FROM jobs INDEXED BY jobs_due WHERE status = 'scheduled' AND scheduled_for <= ?"
        rate_freed = f"{RATE_DUE_SQL} AND at <= ?"
        if not self._pool.read(
            lambda c: c.execute(
                f"SELECT EXISTS (SELECT 1 {due}) OR EXISTS (SELECT 1 {rate_freed})", (now, now)
            ).fetchone()[0]
        ):
            return 0

        def promote(conn: sqlite3.Connection, changes: Changes) -> tuple[int, bool]:
            freed = conn.execute(f"DELETE {rate_freed}", (now,)).rowcount > 0
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
            return len(ids), freed

        promoted, freed = self._write(promote)
        if promoted or freed:
            self._wakeup.notify()
        return promoted

    def schedule_next_due(self) -> float | None:
        return self._pool.read(earliest_due)

    def schedule_signals(self) -> float | None:
        heard, complete = self._due_signals.take()
        return heard if complete else self._pool.read(earliest_due)  # (what was dropped may come sooner)

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
                changes.moved(job_id, queue, "queued", "canceled", at=now)
            ids = [row[0] for row in rows]
            # dependents that allow failures count an expired parent as ended
            released = bool(ids) and self._release_dependents(conn, changes, ids, now)
            return len(ids), released

        expired_count, released = self._write(expire)
        if released:
            self._wakeup.notify()
        return expired_count

    def rate_starts_trim(self, before: float, limit: int) -> int:
        return self._pool.write(
            lambda conn: (
                conn.execute(
                    "DELETE FROM rate_starts WHERE rowid IN "
                    "(SELECT rowid FROM rate_starts INDEXED BY rate_starts_age WHERE at <= ? LIMIT ?)",
                    (before, limit),
                ).rowcount
            )
        )

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
                for job_id, queue, status, user, func_name, held in conn.execute(
                    f"DELETE FROM jobs WHERE id IN ({ID_LIST}) RETURNING id, queue, status, user_id, func_name, "
                    f"{HOLDS_SLOT_SQL}",
                    listed,
                ).fetchall():
                    changes.moved(job_id, queue, status, None)
                    if held:  # canceled while it ran, its worker not heard from since
                        changes.slot_freed(queue, user, func_name)
            conn.execute("DELETE FROM throughput WHERE minute < ?", (int(now // 60) - _THROUGHPUT_KEPT_MINUTES,))
            return len(ids)

        return self._write(purge)
