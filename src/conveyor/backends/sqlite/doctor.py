"""The SQLite backend's invariant check (see conveyor.doctor for the kinds).

SQLite keeps its own indexes in step with the rows, so what can drift here is what
conveyor keeps beside them: the counters, dependency links, leases, and the states
only conveyor's writes keep coherent (a deferred job nobody will release, a held job
no batch will start).
"""

from __future__ import annotations

import sqlite3

from conveyor.batch import CALLBACK_REASON
from conveyor.types import Finding

from .changes import Changes
from .rows import next_seq

_REQUEUE = (
    "UPDATE jobs SET status = 'queued', seq = ?, enqueued_at = ?, "
    "expires_at = CASE WHEN ttl IS NULL THEN NULL ELSE ? + ttl END WHERE id = ?"
)
_PARENT_UNMET = (  # in the unmet set and not ended as needed; gone counts as unmet (deleted unfinished)
    "EXISTS (SELECT 1 FROM job_dependencies dep LEFT JOIN jobs parent ON parent.id = dep.parent_id "
    "WHERE dep.job_id = jobs.id AND dep.met = 0 AND (parent.id IS NULL OR (parent.status != 'finished' "
    "AND NOT (jobs.allow_dependency_failures = 1 AND parent.status IN ('failed', 'stopped', 'canceled')))))"
)


def integrity(conn: sqlite3.Connection) -> list[Finding]:
    """SQLite's own check of the file (pages, indexes against rows): a damaged file is
    reported as such, and the other checks, which would fail on it, are not run."""
    try:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
    except sqlite3.DatabaseError as exc:
        problems = [str(exc)]
    if problems == ["ok"]:
        return []
    detail = "; ".join(problems) + (
        " (stop every process using the file and restore it from a backup, or salvage what it holds "
        "with the sqlite3 shell's .recover)"
    )
    return [Finding("damaged_file", "database", detail, False)]


def check(conn: sqlite3.Connection, changes: Changes, now: float, repair: bool) -> list[Finding]:
    """Every invariant but the counters (see ``counts``)."""
    findings: list[Finding] = []
    findings += _orphan_links(conn, repair)
    findings += _leases(conn, now, repair)
    findings += _requeue_all(
        conn, changes, now, repair, "stuck_deferred", "deferred, but every dependency has ended as it needs",
        f"status = 'deferred' AND status_reason IS NOT '{CALLBACK_REASON}' AND NOT {_PARENT_UNMET}",
    )  # fmt: skip
    findings += _requeue_all(
        conn, changes, now, repair, "unreachable_scheduled", "scheduled with no time and no scheduled batch",
        "status = 'scheduled' AND scheduled_for IS NULL AND NOT EXISTS "
        "(SELECT 1 FROM batches WHERE batches.id = jobs.batch_id AND batches.status = 'scheduled')",
    )  # fmt: skip
    findings += _batch_starters(conn, changes, now, repair)
    return findings


def _orphan_links(conn: sqlite3.Connection, repair: bool) -> list[Finding]:
    rows = conn.execute(
        "SELECT parent_id, job_id FROM job_dependencies WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE id = job_id)"
    ).fetchall()
    if repair:
        conn.executemany("DELETE FROM job_dependencies WHERE parent_id = ? AND job_id = ?", rows)
    return [Finding("orphan_link", child, f"dependency link from {parent} to a missing job", repair)
            for parent, child in rows]  # fmt: skip


def _leases(conn: sqlite3.Connection, now: float, repair: bool) -> list[Finding]:
    leaseless = "status = 'started' AND (lease_expires_at IS NULL OR lease_token IS NULL)"
    ids = [row[0] for row in conn.execute(f"SELECT id FROM jobs WHERE {leaseless}")]
    if repair:
        conn.executemany(
            "UPDATE jobs SET lease_expires_at = ?, lease_token = COALESCE(lease_token, 'lost') WHERE id = ?",
            [(now, job_id) for job_id in ids],
        )
    return [Finding("lease_missing", job_id, "running without a lease: recovery would never take it", repair)
            for job_id in ids]  # fmt: skip


def _requeue_all(
    conn: sqlite3.Connection, changes: Changes, now: float, repair: bool, kind: str, detail: str, where: str
) -> list[Finding]:
    rows = conn.execute(f"SELECT id, queue, status FROM jobs WHERE {where} ORDER BY seq").fetchall()
    if repair and rows:
        first = next_seq(conn, len(rows))
        conn.executemany(_REQUEUE, [(first + i, now, now, job_id) for i, (job_id, _, _) in enumerate(rows)])
        # queued, a job waits on nothing: a later requeue of it must not defer it again
        conn.executemany("UPDATE job_dependencies SET met = 1 WHERE job_id = ?", [(row[0],) for row in rows])
        for job_id, queue, status in rows:
            changes.moved(job_id, queue, status, "queued")
    return [Finding(kind, job_id, detail, repair) for job_id, _, _ in rows]


def _batch_starters(conn: sqlite3.Connection, changes: Changes, now: float, repair: bool) -> list[Finding]:
    ids = [row[0] for row in conn.execute(
        "SELECT id FROM batches WHERE status = 'scheduled' AND scheduled_start IS NULL")]  # fmt: skip
    if repair and ids:
        conn.executemany("UPDATE batches SET scheduled_start = ? WHERE id = ?", [(now, batch_id) for batch_id in ids])
        changes.scheduling = True  # due now: the workers hear it rather than wait for their poll
    return [Finding("batch_starter_missing", batch_id, "scheduled batch without a start time", repair)
            for batch_id in ids]  # fmt: skip


def counts(conn: sqlite3.Connection, repair: bool) -> list[Finding]:
    """Counters against the jobs: checked after the other repairs have been committed."""
    real = {(q, s): n for q, s, n in conn.execute("SELECT queue, status, COUNT(*) FROM jobs GROUP BY queue, status")}
    kept = {(q, s): n for q, s, n in conn.execute("SELECT queue, status, n FROM status_counts WHERE n != 0")}
    wrong = sorted(key for key in real.keys() | kept.keys() if real.get(key, 0) != kept.get(key, 0))
    if repair and wrong:
        conn.execute("DELETE FROM status_counts")
        conn.executemany("INSERT INTO status_counts (queue, status, n) VALUES (?, ?, ?)",
                         [(q, s, n) for (q, s), n in real.items()])  # fmt: skip
    return [
        Finding("counts", f"{queue}/{status}", f"counter says {kept.get((queue, status), 0)}, "
                f"jobs say {real.get((queue, status), 0)}", repair)
        for queue, status in wrong
    ]  # fmt: skip
