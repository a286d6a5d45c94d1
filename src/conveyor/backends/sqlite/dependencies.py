"""Dependencies between jobs on SQLite: a job_dependencies row links a child to each of its
parents, ``met`` once that parent has ended in a way the child accepts; a child waits,
deferred, while any of its links is unmet.

A mixin of SQLiteBackend: linking a new job to its parents, releasing the children of
parents that ended, and deleting a job with its links. Its writes run inside the
backend's write transactions and note their job changes in its Changes journal.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from conveyor.exceptions import NoSuchJobError
from conveyor.status import TERMINAL, JobStatus
from conveyor.types import JobRecord

from .changes import Changes
from .connection import SQLiteConnection
from .rows import HOLDS_SLOT_SQL, ID_LIST, TERMINAL_SQL, TTL_FROM_NOW, id_list, next_seq

WAITS_ON_A_PARENT_SQL = "EXISTS (SELECT 1 FROM job_dependencies dep WHERE dep.job_id = jobs.id AND dep.met = 0)"
"""Whether the job in ``jobs`` still waits on a parent: its unmet set is not empty."""
_TAKE_OFF_UNMET_SETS = (
    "UPDATE job_dependencies SET met = 1 "
    f"WHERE parent_id IN ({ID_LIST}) AND met = 0 AND (? OR (SELECT status FROM jobs WHERE id = parent_id) = 'finished' "
    f"OR ((SELECT status FROM jobs WHERE id = parent_id) IN {TERMINAL_SQL} "
    "AND (SELECT allow_dependency_failures FROM jobs WHERE id = job_id) = 1)) "
    "RETURNING job_id"
)
"""Take ended parents off the unmet sets of their children: finished ones off every set,
the others off those of children that allow failures (or off every set, the parameter
after the list). Returns the children whose set changed. A settle of a job without
dependents runs this one statement, as it ran one looking for them before."""


def descendants(conn: sqlite3.Connection, job_id: str) -> list[str]:
    """The jobs that depend on ``job_id``, directly or through others."""
    rows = conn.execute(
        "WITH RECURSIVE below(id) AS (SELECT job_id FROM job_dependencies WHERE parent_id = ? "
        "UNION SELECT d.job_id FROM job_dependencies d JOIN below ON d.parent_id = below.id) SELECT id FROM below",
        (job_id,),
    )
    return [row[0] for row in rows]


class SQLiteDependencies(SQLiteConnection):
    """The links between jobs, for SQLiteBackend's writes."""

    def _link_dependencies(self, conn: sqlite3.Connection, record: JobRecord, now: float) -> None:
        parents = list(dict.fromkeys(record.depends_on))
        found = dict(
            conn.execute(
                f"SELECT id, status FROM jobs WHERE id IN ({ID_LIST})",
                (id_list(parents),),
            ).fetchall()
        )
        for parent in parents:
            if parent not in found:
                raise NoSuchJobError(parent)
        met = {JobStatus.FINISHED.value}
        if record.allow_dependency_failures:
            met |= {s.value for s in TERMINAL}
        unmet = any(status not in met for status in found.values())
        if unmet and record.status in (JobStatus.QUEUED, JobStatus.SCHEDULED):
            record.status = JobStatus.DEFERRED
        conn.executemany(
            "INSERT OR IGNORE INTO job_dependencies (parent_id, job_id, met) VALUES (?, ?, ?)",
            [(parent, record.id, int(found[parent] in met)) for parent in parents],
        )

    def _release_dependents(
        self, conn: sqlite3.Connection, changes: Changes, parent_ids: Sequence[str], now: float, for_all: bool = False
    ) -> bool:
        """Take these ended parents off their children's unmet sets (see _TAKE_OFF_UNMET_SETS;
        ``for_all``: off every child's) and queue the deferred children left waiting on none.
        A parent deleted before it ended is never taken off: its children wait for good."""
        changed = {row[0] for row in conn.execute(_TAKE_OFF_UNMET_SETS, (id_list(parent_ids), int(for_all)))}
        if not changed:
            return False
        children = [
            (row[0], row[1], "scheduled" if row[2] is not None and row[2] > now else "queued")
            for row in conn.execute(
                "SELECT jobs.id, jobs.queue, jobs.scheduled_for "
                f"FROM ({ID_LIST}) AS listed CROSS JOIN jobs ON jobs.id = listed.value "
                f"WHERE jobs.status = 'deferred' AND NOT {WAITS_ON_A_PARENT_SQL} ORDER BY jobs.seq",
                (id_list(sorted(changed)),),
            )
        ]
        if not children:
            return False
        first = next_seq(conn, len(children))
        conn.executemany(
            "UPDATE jobs SET seq = ?, enqueued_at = ?, "
            "status = CASE WHEN scheduled_for > ? THEN 'scheduled' ELSE 'queued' END, "
            f"{TTL_FROM_NOW} "
            "WHERE id = ? AND status = 'deferred'",
            [(first + i, now, now, now, child) for i, (child, _, _) in enumerate(children)],
        )
        for child, queue, status in children:
            changes.moved(child, queue, "deferred", status)
        return True

    def _delete(self, conn: sqlite3.Connection, changes: Changes, job_id: str) -> bool:
        conn.execute("DELETE FROM job_dependencies WHERE job_id = ?", (job_id,))
        deleted = conn.execute(
            f"DELETE FROM jobs WHERE id = ? RETURNING queue, status, user_id, func_name, {HOLDS_SLOT_SQL}", (job_id,)
        ).fetchone()
        if deleted is None:
            return False
        queue, status, user, func_name, held = deleted
        changes.moved(job_id, queue, status, None)
        if held:  # a running job deleted: its slot is free at once (its worker's settle is refused)
            changes.slot_freed(queue, user, func_name)
        return True
