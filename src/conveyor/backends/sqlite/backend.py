"""The SQLite backend: one file in WAL mode, shared by many processes on one machine.

Every transition is one BEGIN IMMEDIATE transaction whose UPDATE carries its own
guard in the WHERE clause, so a lost race changes nothing and is reported.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from conveyor.backends.base import ABANDONED_MESSAGE, CHUNK, STOPPED_ABANDONED_MESSAGE
from conveyor.exceptions import STATUS_MARK, InvalidJobOperation
from conveyor.halt import Halt, halted
from conveyor.status import REQUEUEABLE, TERMINAL, JobStatus
from conveyor.types import (
    RELEASED,
    Finding,
    JobRecord,
    Limits,
    Recovery,
    Settlement,
)

from . import claiming, doctor
from .batches import SQLiteBatches
from .changes import Changes
from .dependencies import WAITS_ON_A_PARENT_SQL, descendants
from .queries import SQLiteQueries
from .rows import (
    COLUMNS,
    ID_LIST,
    STILL_STOPPING_SQL,
    TERMINAL_SQL,
    TTL_FROM_NOW,
    ended_state,
    id_list,
    next_seq,
    record_from_row,
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

_LEASE_GUARD = "WHERE id = ? AND status = 'started' AND lease_token = ?"
_SETTLE_ENDED = (
    "UPDATE jobs SET status = ?, result = ?, exc_info = ?, status_reason = ?, "
    "started_at = COALESCE(?, started_at), ended_at = ?, keep_until = ?, "
    "lease_token = NULL, lease_expires_at = NULL, stop_requested = 0 " + _LEASE_GUARD
)


def _ended_params(s: Settlement, now: float) -> tuple[Any, ...]:
    return (s.status.value, s.result, s.exc_info, s.reason, s.started_at, now, s.keep_until, s.job_id, s.lease_token)


class SQLiteBackend(SQLiteQueries, SQLiteBatches, SQLiteUpkeep):
    """Backend on one SQLite file; see conveyor.backends.base.Backend for the contract."""

    kind = "sqlite"

    # -- jobs: writes ---------------------------------------------------------------

    def jobs_claim(
        self,
        queues: Sequence[str],
        worker_name: str,
        limit: int,
        lease_token: str,
        lease_expires_at: float,
        now: float,
        limits: Limits | None = None,
        wait: float = 0.0,
        halt: Halt | None = None,
    ) -> list[JobRecord]:
        if wait > 0:
            claimed = self.jobs_claim(queues, worker_name, limit, lease_token, lease_expires_at, now, limits)
            if claimed:
                return claimed
            self._wakeup.wait(wait, halt)
            if halted(halt):  # stopping: what it claimed now would only go back
                return []
        rules = limits or Limits()
        lease = (worker_name, lease_token, lease_expires_at, now, now, now)

        def claim(conn: sqlite3.Connection, changes: Changes) -> list[JobRecord]:
            claimed: list[JobRecord] = []
            running = claiming.Running.read(conn) if rules else None
            for queue in queues:
                wanted = limit - len(claimed)
                if wanted <= 0:
                    break
                chosen: tuple[str, tuple[Any, ...]]
                if running is None and not claiming.needs_fair_pick(conn, queue):
                    chosen = (
                        "SELECT id FROM jobs WHERE status = 'queued' AND queue = ? "
                        "AND (expires_at IS NULL OR expires_at > ?) ORDER BY priority DESC, seq LIMIT ?",
                        (queue, now, wanted),
                    )
                    order = None
                else:
                    running = running or claiming.Running()
                    ids = claiming.pick(conn, queue, wanted, now, rules, running)
                    chosen = (ID_LIST, (id_list(ids),))
                    order = {job_id: i for i, job_id in enumerate(ids)}
                rows = conn.execute(
                    "UPDATE jobs SET status = 'started', worker_name = ?, lease_token = ?, "
                    # not before it was queued: after a wait, now is from before the wait
                    "lease_expires_at = ?, started_at = MAX(?, IFNULL(enqueued_at, ?)), last_heartbeat = ?, "
                    "stop_requested = 0 "
                    f"WHERE id IN ({chosen[0]}) "
                    f"RETURNING seq, {COLUMNS}",
                    (*lease, *chosen[1]),
                ).fetchall()
                if order is None:
                    rows.sort(key=lambda row: (-row[7], row[0]))  # RETURNING keeps no order
                    if rows:  # one user's queue (or only jobs without one): its turn still counts
                        claiming.record_turns(conn, queue, [rows[0][8]])
                else:
                    rows.sort(key=lambda row: order[row[1]])
                claimed.extend(record_from_row(row[1:]) for row in rows)
                changes.moved_many([row[1] for row in rows], queue, "queued", "started")
            return claimed

        return self._write(claim)

    def jobs_settle(self, settlements: Sequence[Settlement], now: float) -> list[bool]:
        def settle(conn: sqlite3.Connection, changes: Changes) -> tuple[list[bool], bool]:
            held = _running_jobs(conn, [s.job_id for s in settlements])
            applied = self._settle_all(conn, settlements, now)
            for s, ok in zip(settlements, applied, strict=True):
                if ok:
                    queue, started_at = held[s.job_id]
                    changes.moved(s.job_id, queue, "started", s.status.value)
                    if s.status in (JobStatus.FINISHED, JobStatus.FAILED):
                        changes.ended_run(s.status.value, s.started_at or started_at, now)
            ended = [s.job_id for s, ok in zip(settlements, applied, strict=True) if ok and s.status in TERMINAL]
            requeued = any(ok and s.status is JobStatus.QUEUED for s, ok in zip(settlements, applied, strict=True))
            if ended:
                requeued = self._release_dependents(conn, changes, ended, now) or requeued
                for s, ok in zip(settlements, applied, strict=True):
                    if ok and s.delete:
                        self._delete(conn, changes, s.job_id)
            return applied, requeued

        applied, requeued = self._write(settle)
        if requeued:
            self._wakeup.notify()
        return applied

    def _settle_all(self, conn: sqlite3.Connection, settlements: Sequence[Settlement], now: float) -> list[bool]:
        """Apply settlements; ended ones in one statement when every lease holds (the usual case)."""
        if len(settlements) > 1 and all(s.status in TERMINAL for s in settlements):
            conn.execute("SAVEPOINT settle_batch")
            before = conn.total_changes
            conn.executemany(_SETTLE_ENDED, [_ended_params(s, now) for s in settlements])
            if conn.total_changes - before == len(settlements):
                conn.execute("RELEASE settle_batch")
                return [True] * len(settlements)
            conn.execute("ROLLBACK TO settle_batch")  # some lease was lost: find out which
            conn.execute("RELEASE settle_batch")
        return [self._settle_one(conn, s, now) for s in settlements]

    def _settle_one(self, conn: sqlite3.Connection, s: Settlement, now: float) -> bool:
        if s.status in TERMINAL:
            cursor = conn.execute(_SETTLE_ENDED, _ended_params(s, now))
        else:
            # a released job keeps its place (seq, enqueued_at, expiry): NULLs keep them
            requeued = None if s.reason == RELEASED else now
            cursor = conn.execute(
                "UPDATE jobs SET status = ?, seq = COALESCE(?, seq), scheduled_for = ?, exc_info = ?, "
                "status_reason = ?, retry_count = retry_count + ?, enqueued_at = COALESCE(?, enqueued_at), "
                "expires_at = CASE WHEN ? IS NULL THEN expires_at WHEN ttl IS NULL THEN NULL ELSE ? + ttl END, "
                "lease_token = NULL, lease_expires_at = NULL, stop_requested = 0, "
                "started_at = NULL " + _LEASE_GUARD,
                (s.status.value, None if requeued is None else next_seq(conn, 1), s.scheduled_for, s.exc_info,
                 s.reason, int(s.count_retry), requeued, requeued, requeued, s.job_id, s.lease_token),
            )  # fmt: skip
        if cursor.rowcount == 1:
            return True
        conn.execute(  # refused: if the job was canceled while it ran, its stop is handled
            "UPDATE jobs SET stop_requested = 0, lease_token = NULL "
            "WHERE id = ? AND lease_token = ? AND status != 'started'",
            (s.job_id, s.lease_token),
        )
        return False

    def leases_extend(
        self, worker_name: str, leases: Sequence[tuple[str, str]], lease_expires_at: float, now: float
    ) -> list[str]:
        def extend(conn: sqlite3.Connection) -> list[str]:
            held = []
            for job_id, token in leases:
                cursor = conn.execute(
                    "UPDATE jobs SET lease_expires_at = ?, last_heartbeat = ? "
                    "WHERE id = ? AND status = 'started' AND lease_token = ?",
                    (lease_expires_at, now, job_id, token),
                )
                if cursor.rowcount:
                    held.append(job_id)
            return held

        return self._pool.write(extend) if leases else []

    def leases_recover(self, now: float, limit: int = CHUNK) -> list[Recovery]:
        expired_sql = "FROM jobs INDEXED BY jobs_leases WHERE status = 'started' AND lease_expires_at < ?"
        # jobs canceled while they ran, whose worker never stopped them: they give up their lease
        lapsed_sql = f"FROM jobs INDEXED BY jobs_stop_requests WHERE {claiming.STILL_HELD_SQL} AND lease_expires_at < ?"
        if not self._pool.read(
            lambda c: c.execute(
                f"SELECT EXISTS (SELECT 1 {expired_sql}) OR EXISTS (SELECT 1 {lapsed_sql})", (now, now)
            ).fetchone()[0]
        ):
            return []

        def recover(conn: sqlite3.Connection, changes: Changes) -> list[Recovery]:
            conn.execute(
                f"UPDATE jobs SET stop_requested = 0, lease_token = NULL WHERE id IN (SELECT id {lapsed_sql} LIMIT ?)",
                (now, limit),
            )
            rows = conn.execute(
                "SELECT id, worker_name, stop_requested, retry_count < max_retries, failure_ttl, queue, started_at "
                f"{expired_sql} "
                "ORDER BY lease_expires_at, id LIMIT ?",
                (now, limit),
            ).fetchall()
            recovered = []
            ended = []
            for job_id, worker, stop_requested, can_retry, failure_ttl, queue, started_at in rows:
                if stop_requested:
                    status, reason = JobStatus.STOPPED, "stopped"
                elif can_retry:
                    status, reason = JobStatus.QUEUED, "abandoned"
                else:
                    status, reason = JobStatus.FAILED, "abandoned"
                if status is JobStatus.QUEUED:
                    conn.execute(
                        "UPDATE jobs SET status = 'queued', seq = ?, retry_count = retry_count + 1, "
                        "status_reason = ?, lease_token = NULL, lease_expires_at = NULL, "
                        "enqueued_at = ?, started_at = NULL, "
                        f"{TTL_FROM_NOW} WHERE id = ?",
                        (next_seq(conn, 1), reason, now, now, job_id),
                    )
                else:
                    keep_until = None if failure_ttl is None else now + failure_ttl
                    conn.execute(
                        "UPDATE jobs SET status = ?, status_reason = ?, exc_info = ?, ended_at = ?, "
                        "keep_until = ?, lease_token = NULL, lease_expires_at = NULL, "
                        "stop_requested = 0 WHERE id = ?",
                        (status.value, reason, _abandoned_message(worker, status), now, keep_until, job_id),
                    )
                    ended.append(job_id)
                    if status is JobStatus.FAILED:
                        changes.ended_run(status.value, started_at, now)
                changes.moved(job_id, queue, "started", status.value)
                recovered.append(Recovery(job_id, status, worker))
            if ended:
                self._release_dependents(conn, changes, ended, now)
            return recovered

        recovered = self._write(recover)
        if recovered:
            self._wakeup.notify()
        return recovered

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


def _running_jobs(conn: sqlite3.Connection, job_ids: Sequence[str]) -> dict[str, tuple[str, float | None]]:
    """Queue and start time of those of these jobs that are running (settle's bookkeeping)."""
    rows = conn.execute(
        f"SELECT jobs.id, queue, started_at FROM ({ID_LIST}) AS listed CROSS JOIN jobs ON jobs.id = listed.value "
        "WHERE status = 'started'",  # by id, not by reading every started job
        (id_list(job_ids),),
    )
    return {job_id: (queue, started_at) for job_id, queue, started_at in rows}


def _in_chunks(step: Callable[[], int]) -> int:
    """Repeat a step that handles up to CHUNK jobs until one handles fewer; the total."""
    total = 0
    while True:
        done = step()
        total += done
        if done < CHUNK:
            return total


def _abandoned_message(worker: str | None, status: JobStatus) -> str:
    return (STOPPED_ABANDONED_MESSAGE if status is JobStatus.STOPPED else ABANDONED_MESSAGE) % worker
