"""Enqueueing on SQLite: new jobs stored in one write transaction, in one statement when
none has dependencies (the common case), else one by one: a live job holding the same
unique_key stands for the new one, and an ended job of the same id is replaced.

A mixin of SQLiteBackend; batch_create stores its jobs through the same ``_insert``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from conveyor.exceptions import JobIdInUseError
from conveyor.status import TERMINAL, JobStatus
from conveyor.types import JobRecord

from .changes import Changes
from .dependencies import SQLiteDependencies
from .rows import COLUMNS, ended_state, insert_rows, next_seq, record_from_row, row_from_record

_LIVE = "status IN ('queued', 'deferred', 'scheduled', 'started')"
"""Jobs that hold their unique_key (the condition of the partial unique index jobs_unique)."""


class SQLiteEnqueue(SQLiteDependencies):
    """jobs_enqueue and cron_enqueue of SQLiteBackend (see conveyor.backends.base.Backend)."""

    def jobs_enqueue(self, records: Sequence[JobRecord], now: float, new_ids: bool = False) -> list[JobRecord]:
        stored = self._write(lambda conn, changes: self._insert(conn, changes, records, now))
        if any(r.status is JobStatus.QUEUED for r in stored):
            self._wakeup.notify()
        return stored

    def cron_enqueue(
        self, entry: str, tick: float, record: JobRecord, now: float, catch_up: bool = False
    ) -> JobRecord | None:
        def enqueue_tick(conn: sqlite3.Connection, changes: Changes) -> JobRecord | None:
            row = conn.execute("SELECT tick FROM cron_ticks WHERE entry = ?", (entry,)).fetchone()
            if (row is None and catch_up) or (row is not None and row[0] >= tick):
                return None
            (stored,) = self._insert(conn, changes, [record], now)
            conn.execute("INSERT OR REPLACE INTO cron_ticks (entry, tick) VALUES (?, ?)", (entry, tick))
            return stored

        stored = self._write(enqueue_tick)
        if stored is record and stored.status is JobStatus.QUEUED:  # (not a live holder standing for it)
            self._wakeup.notify()
        return stored

    def _insert(
        self, conn: sqlite3.Connection, changes: Changes, records: Sequence[JobRecord], now: float
    ) -> list[JobRecord]:
        first = next_seq(conn, len(records))
        if all(not r.depends_on for r in records):
            # A failed statement undoes only itself, so one row needs no savepoint.
            bulk = len(records) > 1
            if bulk:
                conn.execute("SAVEPOINT bulk_insert")
            try:
                insert_rows(conn, (row_from_record(r, first + i) for i, r in enumerate(records)))
                if bulk:
                    conn.execute("RELEASE bulk_insert")
                for record in records:
                    changes.moved(record.id, record.queue, None, record.status.value)
                return list(records)
            except sqlite3.IntegrityError:  # an id is taken: go one by one, to say which
                if bulk:
                    conn.execute("ROLLBACK TO bulk_insert")
                    conn.execute("RELEASE bulk_insert")
        stored = []
        for offset, record in enumerate(records):
            holder = self._live_holder(conn, record.unique_key) if record.unique_key is not None else None
            if holder is not None:  # idempotent: the live job with this key stands for the new one
                stored.append(holder)
                continue
            self._replace_terminal(conn, changes, record.id, now)
            if record.depends_on:
                self._link_dependencies(conn, record, now)
            insert_rows(conn, [row_from_record(record, first + offset)])
            changes.moved(record.id, record.queue, None, record.status.value)
            stored.append(record)
        return stored

    def _live_holder(self, conn: sqlite3.Connection, unique_key: str) -> JobRecord | None:
        row = conn.execute(f"SELECT {COLUMNS} FROM jobs WHERE unique_key = ? AND {_LIVE}", (unique_key,)).fetchone()
        return None if row is None else record_from_row(row)

    def _replace_terminal(self, conn: sqlite3.Connection, changes: Changes, job_id: str, now: float) -> None:
        found = ended_state(conn, job_id, now)
        if found is None:
            return
        status, stopping = found
        if status not in TERMINAL:
            raise JobIdInUseError(job_id, status.value)
        if stopping:
            raise JobIdInUseError(job_id, JobStatus.CANCELED.value, still_stopping=True)
        self._delete(conn, changes, job_id)
