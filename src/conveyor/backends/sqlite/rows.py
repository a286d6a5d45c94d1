"""Rows of the jobs table: its columns, conversion to and from JobRecord, fast inserts,
and the conditions on them that several parts of the backend share."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import operator
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from conveyor.backends.base import SUMMARY_EXC_INFO_LIMIT
from conveyor.status import TERMINAL, JobStatus
from conveyor.types import JobRecord, JobSummaryRecord

from .changes import RATE_DUE_SQL

COLUMNS = (
    "id, queue, func_name, payload, serializer, status, priority, user_id, timeout, ttl, "
    "result_ttl, failure_ttl, max_retries, retry_intervals, retry_jitter, retry_count, "
    "depends_on, allow_dependency_failures, description, meta, progress, metrics, "
    "created_at, enqueued_at, scheduled_for, started_at, ended_at, last_heartbeat, "
    "expires_at, keep_until, result, exc_info, status_reason, worker_name, lease_token, "
    "lease_expires_at, stop_requested, batch_id, unique_key, callbacks, at_front, retry_on"
)
INSERT_COLUMNS = ("seq", *COLUMNS.split(", "))


def _json_tuple(text: str) -> tuple[Any, ...]:
    return () if text == "[]" else tuple(json.loads(text))


def _json_list(values: Sequence[Any]) -> str:
    return json.dumps(list(values)) if values else "[]"


def record_from_row(row: Sequence[Any]) -> JobRecord:
    values = list(row)
    values[5] = JobStatus(values[5])
    values[13] = _json_tuple(values[13])
    values[16] = _json_tuple(values[16])
    values[17] = bool(values[17])
    values[36] = bool(values[36])
    values[40] = bool(values[40])
    values[41] = () if values[41] is None else _json_tuple(values[41])
    return JobRecord(*values)


_SUMMARY_FIELDS = [field.name for field in dataclasses.fields(JobSummaryRecord)]
_EXC_INFO_END = f"substr(exc_info, -{SUMMARY_EXC_INFO_LIMIT})"
"""A job's exc_info, of a long one its end: the error a listing shows is its last line."""
SUMMARY_COLUMNS = ", ".join(_EXC_INFO_END if name == "exc_info" else name for name in _SUMMARY_FIELDS)
"""The columns of a JobSummaryRecord: the large ones are never read, nor a long exc_info
handed over whole."""
_SUMMARY_STATUS = _SUMMARY_FIELDS.index("status")


def summary_from_row(row: Sequence[Any]) -> JobSummaryRecord:
    values = list(row)
    values[_SUMMARY_STATUS] = JobStatus(values[_SUMMARY_STATUS])
    return JobSummaryRecord(*values)


def row_from_record(record: JobRecord, seq: int) -> tuple[Any, ...]:
    r = record
    return (
        seq, r.id, r.queue, r.func_name, r.payload, r.serializer, r.status.value, r.priority,
        r.user_id, r.timeout, r.ttl, r.result_ttl, r.failure_ttl, r.max_retries,
        _json_list(r.retry_intervals), r.retry_jitter, r.retry_count,
        _json_list(r.depends_on), int(r.allow_dependency_failures), r.description,
        r.meta, r.progress, r.metrics, r.created_at, r.enqueued_at, r.scheduled_for,
        r.started_at, r.ended_at, r.last_heartbeat, r.expires_at, r.keep_until, r.result,
        r.exc_info, r.status_reason, r.worker_name, r.lease_token, r.lease_expires_at,
        int(r.stop_requested), r.batch_id, r.unique_key, r.callbacks, 1 if r.at_front else None,
        _json_list(r.retry_on) if r.retry_on else None,
    )  # fmt: skip


@functools.lru_cache(maxsize=128)
def _insert_sql(present: tuple[bool, ...]) -> str:
    names = list(itertools.compress(INSERT_COLUMNS, present))
    return f"INSERT INTO jobs ({', '.join(names)}) VALUES ({placeholders(len(names))})"


def insert_rows(conn: sqlite3.Connection, rows: Iterable[tuple[Any, ...]]) -> None:
    """Insert rows, binding only their non-null values: sqlite3 binds each None slowly,
    and a new job has many empty fields. Consecutive rows with the same empty fields share
    a statement; rows go in in the order given, as their rowids keep it (a batch's jobs are
    listed, and a scheduled batch's released, in rowid order)."""
    shaped = ((tuple(map(operator.is_not, row, itertools.repeat(None))), row) for row in rows)
    for present, run in itertools.groupby(shaped, key=operator.itemgetter(0)):
        conn.executemany(_insert_sql(present), (tuple(itertools.compress(row, present)) for _, row in run))


def next_seq(conn: sqlite3.Connection, count: int) -> int:
    """Reserve ``count`` consecutive sequence numbers; return the first."""
    (last,) = conn.execute(
        "UPDATE counters SET value = value + ? WHERE name = 'seq' RETURNING value", (count,)
    ).fetchone()
    return int(last) - count + 1


def earliest_due(conn: sqlite3.Connection) -> float | None:
    """When the earliest scheduled job or batch start comes due, or a rate's window frees
    for the jobs it held (None: nothing waits on a time): three index reads."""
    times = conn.execute(
        "SELECT (SELECT scheduled_for FROM jobs INDEXED BY jobs_due "
        "WHERE status = 'scheduled' AND scheduled_for IS NOT NULL ORDER BY scheduled_for LIMIT 1), "
        "(SELECT scheduled_start FROM batches INDEXED BY batches_starters "
        "WHERE status = 'scheduled' AND scheduled_start IS NOT NULL ORDER BY scheduled_start LIMIT 1), "
        f"(SELECT MIN(at) {RATE_DUE_SQL})"
    ).fetchone()
    return min((t for t in times if t is not None), default=None)


def placeholders(count: int) -> str:
    """``?, ?, ...``: for lists whose length takes few values (statuses, columns)."""
    return ", ".join("?" * count)


ID_LIST = "SELECT value FROM json_each(?)"
"""A list of ids of any length as one bound JSON array (see id_list), for ``IN (...)``.

With a placeholder per id, each length was a statement of its own, compiled and kept in
the connection's cache of 128: 20 MB in a soak worker whose purges and settles came in
all sizes."""


def id_list(ids: Iterable[str]) -> str:
    """The parameter of ID_LIST."""
    return json.dumps(list(ids))


CLAIM_ORDER = "(CASE WHEN at_front THEN -seq ELSE seq END)"
"""A queued job's place among those of its priority, as the jobs_claim and jobs_fair
indexes hold it: an at_front job's seq negated, so that it comes before the others, the
one queued last first (as RQ's LPUSH). Statements ordering by it name it exactly so."""
TERMINAL_SQL = "(" + ", ".join(f"'{s.value}'" for s in sorted(TERMINAL)) + ")"
TTL_FROM_NOW = "expires_at = CASE WHEN ttl IS NULL THEN NULL ELSE ? + ttl END"
"""A job (re-)entering its queue may wait there ttl seconds from now (the parameter)."""
STILL_STOPPING_SQL = "(lease_token IS NOT NULL AND lease_expires_at >= ?)"
"""A job canceled while it ran, whose worker has not yet stopped it (the parameter: now).
Until it has, or its lease has run out, the job must not run again anywhere else."""
STILL_HELD_SQL = "stop_requested = 1 AND status = 'canceled' AND lease_token IS NOT NULL"
"""A job canceled while it ran whose worker has not stopped it yet (its settle, refused,
clears the stop) nor lost its lease to recovery: it keeps its lease and its limit slots."""
HOLDS_SLOT_SQL = f"(status = 'started' OR ({STILL_HELD_SQL}))"
"""A job that counts against the limits."""


def ended_state(conn: sqlite3.Connection, job_id: str, now: float) -> tuple[JobStatus, bool] | None:
    """A job's status and whether a worker is still stopping it at ``now``; None if absent.
    An ended job may be replaced or deleted only once no worker is left running it."""
    found = conn.execute(f"SELECT status, {STILL_STOPPING_SQL} FROM jobs WHERE id = ?", (now, job_id)).fetchone()
    return None if found is None else (JobStatus(found[0]), bool(found[1]))
