"""The read side of the SQLite backend: jobs, counts, positions, inspection, events.

A mixin of SQLiteBackend (it reads through the backend's connection pool); every
query reads an index range or a counter, never the whole jobs table.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from conveyor.backends.base import newest
from conveyor.exceptions import NoSuchJobError
from conveyor.status import JobStatus
from conveyor.types import JobEvent, JobInspection, JobRecord, JobSummaryRecord, Throughput

from .connection import SQLiteConnection
from .rows import (
    CLAIM_ORDER,
    COLUMNS,
    ID_LIST,
    SUMMARY_COLUMNS,
    id_list,
    placeholders,
    record_from_row,
    summary_from_row,
)

_Read = TypeVar("_Read")

_NO_BOUND = 2**63 - 1
"""A seq above every job's."""

_EVENTS_POLL_FIRST = 0.002
_EVENTS_POLL_MAX = 0.05
"""Pauses between reads of new events while none come (seconds, doubling)."""


class SQLiteQueries(SQLiteConnection):
    """Reads of SQLiteBackend (see conveyor.backends.base.Backend)."""

    # -- jobs: reads --------------------------------------------------------------------
    def jobs_get(self, job_ids: Sequence[str]) -> list[JobRecord | None]:
        return self._by_id(job_ids, COLUMNS, record_from_row)

    def jobs_summaries(self, job_ids: Sequence[str]) -> list[JobSummaryRecord | None]:
        return self._by_id(job_ids, SUMMARY_COLUMNS, summary_from_row)

    def _by_id(
        self, job_ids: Sequence[str], columns: str, convert: Callable[[Sequence[Any]], _Read]
    ) -> list[_Read | None]:
        """``columns`` (the id first) of these jobs, in the order asked, None where one is missing."""
        if not job_ids:
            return []

        def get(conn: sqlite3.Connection) -> list[_Read | None]:
            rows = conn.execute(f"SELECT {columns} FROM jobs WHERE id IN ({ID_LIST})", (id_list(job_ids),))
            found = {row[0]: convert(row) for row in rows}
            return [found.get(job_id) for job_id in job_ids]

        return self._pool.read(get)

    def job_dependents(self, job_id: str) -> list[str]:
        rows = self._pool.read(
            lambda c: c.execute(
                "SELECT job_id FROM job_dependencies WHERE parent_id = ? ORDER BY job_id", (job_id,)
            ).fetchall()
        )
        return [row[0] for row in rows]

    def job_snapshot(self, job_id: str) -> tuple[JobRecord | None, str]:
        # one statement: one read transaction, so the record and the cursor are of one moment
        row = self._pool.read(
            lambda c: c.execute(
                f"SELECT {COLUMNS}, (SELECT MAX(seq) FROM job_events) FROM (SELECT 1) LEFT JOIN jobs ON jobs.id = ?",
                (job_id,),
            ).fetchone()
        )
        record = None if row[0] is None else record_from_row(row[:-1])
        return record, str(row[-1] or 0)

    def _get(self, conn: sqlite3.Connection, job_id: str) -> JobRecord:
        row = conn.execute(f"SELECT {COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NoSuchJobError(job_id)
        return record_from_row(row)

    def _exists(self, conn: sqlite3.Connection, job_id: str) -> bool:
        return conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is not None

    def job_ids(self, queue: str | None, statuses: Sequence[JobStatus], offset: int = 0, limit: int = -1) -> list[str]:
        where, params = _status_filter(queue, statuses)
        queued = list(statuses) == [JobStatus.QUEUED]
        order = f"priority DESC, {CLAIM_ORDER}" if queued else "seq"  # queued: claim order
        rows = self._pool.read(
            lambda c: c.execute(
                f"SELECT id FROM jobs WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
                (*params, limit, offset),
            ).fetchall()
        )
        return [row[0] for row in rows]

    def job_ids_newest(
        self,
        queue: str | None,
        statuses: Sequence[JobStatus],
        before: int | None,
        limit: int,
        user_id: str | None = None,
    ) -> list[tuple[str, int]]:
        if limit <= 0:
            return []
        wanted = {status.value for status in statuses}
        of_user, user = ("user_id = ? AND ", (user_id,)) if user_id is not None else ("", ())

        def read(conn: sqlite3.Connection) -> list[tuple[str, int]]:
            indexes = [  # the (queue, status) pairs holding jobs: each an index range
                (name, status)
                for name, status in conn.execute("SELECT queue, status FROM status_counts WHERE n > 0")
                if status in wanted and queue in (None, name)
            ]
            found: list[tuple[str, int]] = []
            for name, status in indexes:
                found += conn.execute(
                    f"SELECT id, seq FROM jobs WHERE {of_user}status = ? AND queue = ? AND seq < ? "
                    "ORDER BY seq DESC LIMIT ?",
                    (*user, status, name, _NO_BOUND if before is None else before, limit),
                ).fetchall()
            return newest(found, limit)

        return self._pool.read(read)

    def jobs_count(self, queue: str | None, statuses: Sequence[JobStatus]) -> int:
        where, params = _status_filter(queue, statuses)
        return int(self._pool.read(
            lambda c: c.execute(f"SELECT COALESCE(SUM(n), 0) FROM status_counts WHERE {where}", params).fetchone()[0]
        ))  # fmt: skip

    def counts(self, user_id: str | None = None) -> dict[str, dict[JobStatus, int]]:
        query, params = "SELECT queue, status, n FROM status_counts WHERE n > 0", []
        if user_id is not None:  # counted in the jobs_by_user index: only this user's jobs are read
            query, params = (
                "SELECT queue, status, COUNT(*) FROM jobs WHERE user_id = ? GROUP BY queue, status",
                [user_id],
            )
        rows = self._pool.read(lambda c: c.execute(query, params).fetchall())
        result: dict[str, dict[JobStatus, int]] = {}
        for queue, status, count in rows:
            result.setdefault(queue, {})[JobStatus(status)] = count
        return result

    def queue_position(self, job_id: str) -> int | None:
        def position(conn: sqlite3.Connection) -> int | None:
            row = conn.execute(
                f"SELECT queue, priority, {CLAIM_ORDER} FROM jobs WHERE id = ? AND status = 'queued'", (job_id,)
            ).fetchone()
            if row is None:
                return None
            queue, priority, place = row
            (ahead,) = conn.execute(
                "SELECT (SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND queue = ? AND priority > ?)"
                " + (SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND queue = ? AND priority = ? "
                f"AND {CLAIM_ORDER} < ?)",
                (queue, priority, queue, priority, place),
            ).fetchone()
            return int(ahead)

        return self._pool.read(position)

    def job_inspect(self, job_id: str) -> JobInspection:
        # SQLite keeps its indexes itself: the places a job is found follow from its row
        found = self.jobs_get([job_id])[0]
        if found is None:
            return JobInspection(job_id, exists=False)
        status = found.status
        # a job canceled while it ran keeps its lease until its worker has stopped it
        canceled_running = status is JobStatus.CANCELED and found.stop_requested and found.lease_token is not None
        holds_lease = status is JobStatus.STARTED or canceled_running
        places = {
            "jobs_claim": status is JobStatus.QUEUED,
            "jobs_queued_expiry": status is JobStatus.QUEUED and found.expires_at is not None,
            "jobs_due": status is JobStatus.SCHEDULED,
            "jobs_leases": status is JobStatus.STARTED,
            "jobs_stop_requests": found.stop_requested,
            "jobs_retention": found.keep_until is not None,
        }
        return JobInspection(
            job_id,
            exists=True,
            status=status,
            in_queue=status is JobStatus.QUEUED,
            queue_position=self.queue_position(job_id),
            # a job held for its batch's start is scheduled with no time of its own: not in the schedule
            in_schedule=status is JobStatus.SCHEDULED and found.scheduled_for is not None,
            scheduled_time=found.scheduled_for if status is JobStatus.SCHEDULED else None,
            lease_owner=found.worker_name if holds_lease else None,
            lease_expires_at=found.lease_expires_at if holds_lease else None,
            locations=("jobs", *(name for name, held in places.items() if held)),
        )

    # -- events and statistics ----------------------------------------------------------
    def events_read(self, after: str | None, limit: int, timeout: float) -> tuple[str, list[JobEvent]]:
        if after is None:
            last = self._pool.read(lambda c: c.execute("SELECT MAX(seq) FROM job_events").fetchone()[0])
            return str(last or 0), []
        cursor = int(after)
        deadline = time.monotonic() + timeout
        pause = _EVENTS_POLL_FIRST
        while True:  # one reader per process (the server's event hub) polls an indexed range
            rows = self._pool.read(
                lambda c: c.execute(
                    "SELECT seq, job_id, status FROM job_events WHERE seq > ? ORDER BY seq LIMIT ?", (cursor, limit)
                ).fetchall()
            )
            if rows:
                events = [JobEvent(job_id, None if status is None else JobStatus(status)) for _, job_id, status in rows]
                return str(rows[-1][0]), events
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return after, []
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, _EVENTS_POLL_MAX)

    def throughput(self, since: float) -> Throughput:
        finished, failed, runtime, cancelled = self._pool.read(
            lambda c: c.execute(
                "SELECT COALESCE(SUM(finished), 0), COALESCE(SUM(failed), 0), COALESCE(SUM(runtime), 0.0), "
                "COALESCE(SUM(cancelled), 0) FROM throughput WHERE minute >= ?",
                (int(since // 60),),
            ).fetchone()
        )
        return Throughput(int(finished), int(failed), float(runtime), int(cancelled))


def _status_filter(queue: str | None, statuses: Iterable[JobStatus]) -> tuple[str, list[Any]]:
    values = [s.value for s in statuses]
    where = f"status IN ({placeholders(len(values))})"
    if queue is not None:
        return where + " AND queue = ?", [*values, queue]
    return where, values
