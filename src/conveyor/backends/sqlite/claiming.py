"""A worker's hold on its jobs on SQLite: claiming them under a lease (after a wait, when
it is idle), settling them, renewing their leases, and recovering the leases that lapsed.

A mixin of SQLiteBackend. Which jobs a claim takes when users share a queue or limits
apply is picking.py's to say.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from conveyor.backends import held
from conveyor.backends.base import ABANDONED_MESSAGE, CHUNK, STOPPED_ABANDONED_MESSAGE
from conveyor.halt import Halt, halted
from conveyor.status import TERMINAL, JobStatus
from conveyor.types import RELEASED, JobRecord, Limits, Recovery, Settlement

from . import picking
from .changes import HELD_MARK, RATE_DUE_MARK, Changes
from .dependencies import SQLiteDependencies
from .rows import (
    CLAIM_ORDER,
    COLUMNS,
    ID_LIST,
    STILL_HELD_SQL,
    TTL_FROM_NOW,
    id_list,
    next_seq,
    record_from_row,
)

_LEASE_GUARD = "WHERE id = ? AND status = 'started' AND lease_token = ?"
_SETTLE_ENDED = (
    "UPDATE jobs SET status = ?, result = ?, exc_info = ?, status_reason = ?, "
    "started_at = COALESCE(?, started_at), ended_at = ?, keep_until = ?, "
    "lease_token = NULL, lease_expires_at = NULL, stop_requested = 0 " + _LEASE_GUARD
)


def _claim_order(row: Sequence[Any]) -> tuple[int, int]:
    """A claimed row's (seq, COLUMNS...) place in claim order: priority, then CLAIM_ORDER."""
    return -row[7], -row[0] if row[41] else row[0]


def _ended_params(s: Settlement, now: float) -> tuple[Any, ...]:
    return (s.status.value, s.result, s.exc_info, s.reason, s.started_at, now, s.keep_until, s.job_id, s.lease_token)


LATE_CLAIM = 0.5
"""Seconds a claim may wait for the write lock and still count its rates' starts at the
``now`` it was given. One that waited longer (another writer held the lock: a stall, a
long write) counts them when it got the lock: at ``now``, from before the wait, the
starts of claims that went first at their own time would lie out of its window, and the
rate would start more than N jobs within a period. Not for every wait: ``now`` is the
caller's clock, which tests set, and a claim no writer held up must count at it exactly;
half a second is past what a busy machine's scheduling alone costs a claim (a 50 ms
bound made the rate tests flaky under load), and an error under it is small beside a
rate's period."""


class SQLiteClaiming(SQLiteDependencies):
    """Claim, settle and leases of SQLiteBackend (see conveyor.backends.base.Backend)."""

    def wait_for_jobs(
        self,
        queues: Sequence[str],
        timeout: float,
        halt: Halt | None = None,
        wanted: Callable[[], bool] | None = None,
    ) -> None:
        """Every waiting worker gets every wake-up: none to give back, whatever ``wanted`` says."""
        self._wakeup.wait(timeout, halt)

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
        entered = time.monotonic()
        # listening before the claim: a job enqueued after it finds the socket to signal,
        # whether this claim or the waiting thread's wait_for_jobs waits next
        self._wakeup.listen()
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
            running = picking.Running.read(conn) if rules.caps else picking.Running() if rules else None
            if rules.rates:  # counted at the claim's time: after a wait, for jobs or for the lock, its end
                assert running is not None
                held_up = time.monotonic() - asked
                late = time.monotonic() - entered if wait > 0 else held_up if held_up > LATE_CLAIM else 0.0
                running.read_rates(conn, rules, now + late)
            paused = {queue for (queue,) in conn.execute("SELECT queue FROM paused_queues")}
            for queue in queues:
                wanted = limit - len(claimed)
                if wanted <= 0:
                    break
                if queue in paused:
                    continue
                chosen: tuple[str, tuple[Any, ...]]
                if running is None and not picking.needs_fair_pick(conn, queue):
                    chosen = (
                        "SELECT id FROM jobs WHERE status = 'queued' AND queue = ? "
                        f"AND (expires_at IS NULL OR expires_at > ?) ORDER BY priority DESC, {CLAIM_ORDER} LIMIT ?",
                        (queue, now, wanted),
                    )
                    order = None
                else:
                    running = running or picking.Running()
                    ids = picking.pick(conn, queue, wanted, now, rules, running)
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
                    rows.sort(key=_claim_order)  # RETURNING keeps no order
                    if rows:  # one user's queue (or only jobs without one): its turn still counts
                        picking.record_turns(conn, queue, [rows[0][8]])
                else:
                    rows.sort(key=lambda row: order[row[1]])
                claimed.extend(record_from_row(row[1:]) for row in rows)
                changes.moved_many([row[1] for row in rows], queue, "queued", "started")
            if running is not None and running.starts:
                conn.executemany("INSERT INTO rate_starts (rate, at) VALUES (?, ?)", running.starts)
            if running is not None and running.held:
                conn.executemany(
                    "INSERT INTO marks (name, at) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET at = excluded.at",
                    [(HELD_MARK + limit, now) for limit in running.held if not held.is_rate(limit)],
                )
                rate_due = running.rate_due(conn)
                if rate_due:  # the earliest time noted stays; announced as a due time (see held.py)
                    conn.executemany(
                        "INSERT INTO marks (name, at) VALUES (?, ?) "
                        "ON CONFLICT (name) DO UPDATE SET at = MIN(at, excluded.at)",
                        [(RATE_DUE_MARK + name, at) for name, at in rate_due],
                    )
                    changes.scheduling = True
            return claimed

        asked = time.monotonic()
        return self._write(claim)

    def jobs_settle(self, settlements: Sequence[Settlement], now: float) -> list[bool]:
        def settle(conn: sqlite3.Connection, changes: Changes) -> tuple[list[bool], bool]:
            leased = _leased_jobs(conn, [s.job_id for s in settlements])
            applied = self._settle_all(conn, settlements, now)
            for s, ok in zip(settlements, applied, strict=True):
                job = leased.get(s.job_id)
                if job is None or job.lease_token != s.lease_token:
                    continue  # (not refused for a cancel: its lease was lost, its slot is another's)
                # applied, or refused with its stop handled (canceled while it ran): either way
                # the job gives up its slot
                changes.slot_freed(job.queue, job.user_id, job.func_name)
                if ok:
                    started_at = s.started_at or job.started_at
                    changes.moved(s.job_id, job.queue, "started", s.status.value, at=now, started_at=started_at)
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
        lapsed_sql = f"FROM jobs INDEXED BY jobs_stop_requests WHERE {STILL_HELD_SQL} AND lease_expires_at < ?"
        if not self._pool.read(
            lambda c: c.execute(
                f"SELECT EXISTS (SELECT 1 {expired_sql}) OR EXISTS (SELECT 1 {lapsed_sql})", (now, now)
            ).fetchone()[0]
        ):
            return []

        def recover(conn: sqlite3.Connection, changes: Changes) -> tuple[list[Recovery], bool]:
            for queue, user, func_name in conn.execute(
                "UPDATE jobs SET stop_requested = 0, lease_token = NULL "
                f"WHERE id IN (SELECT id {lapsed_sql} LIMIT ?) RETURNING queue, user_id, func_name",
                (now, limit),
            ).fetchall():
                changes.slot_freed(queue, user, func_name)
            rows = conn.execute(
                "SELECT id, worker_name, stop_requested, retry_count < max_retries, failure_ttl, queue, started_at, "
                f"user_id, func_name {expired_sql} "
                "ORDER BY lease_expires_at, id LIMIT ?",
                (now, limit),
            ).fetchall()
            recovered = []
            ended = []
            for job_id, worker, stop_requested, can_retry, failure_ttl, queue, started_at, user, func_name in rows:
                changes.slot_freed(queue, user, func_name)
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
                changes.moved(job_id, queue, "started", status.value, at=now, started_at=started_at)
                recovered.append(Recovery(job_id, status, worker))
            requeued = any(r.status is JobStatus.QUEUED for r in recovered)
            released = bool(ended) and self._release_dependents(conn, changes, ended, now)
            return recovered, requeued or released

        recovered, made_ready = self._write(recover)
        if made_ready:
            self._wakeup.notify()
        return recovered


class _Leased(NamedTuple):
    lease_token: str
    queue: str
    user_id: str | None
    func_name: str
    started_at: float | None


def _leased_jobs(conn: sqlite3.Connection, job_ids: Sequence[str]) -> dict[str, _Leased]:
    """Those of these jobs that hold a lease (running, or canceled while they ran), as
    settle's bookkeeping needs them."""
    rows = conn.execute(
        f"SELECT jobs.id, lease_token, queue, user_id, func_name, started_at FROM ({ID_LIST}) AS listed "
        "CROSS JOIN jobs ON jobs.id = listed.value WHERE lease_token IS NOT NULL",  # by id, not every started job
        (id_list(job_ids),),
    )
    return {row[0]: _Leased(*row[1:]) for row in rows}


def _abandoned_message(worker: str | None, status: JobStatus) -> str:
    return (STOPPED_ABANDONED_MESSAGE if status is JobStatus.STOPPED else ABANDONED_MESSAGE) % worker
