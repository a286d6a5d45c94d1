"""What one transaction changed, written at its end as job events, counts and throughput.

Each write of the SQLite backend notes here every job it moved between statuses (or
into or out of the table) and every other change it made, then ``flush`` writes them
in a few statements per transaction rather than one trigger run per row (per-row
triggers halved the claim-and-settle rate). The conformance suite checks, after every
write, that counts equal the real ones and that every change was published.

So too every limit slot a job gave up (settled, recovered, deleted, requeued after a
cancel): ``flush`` takes the held marks of the limits those slots free (see
conveyor.backends.held), and says whether it took any: the write then wakes the idle
workers, as no enqueue would. No write can free a slot and forget to wake.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter

from conveyor.backends import held
from conveyor.backends.base import EVENTS_KEPT
from conveyor.status import TERMINAL

HELD_MARK = "held:"
"""Names of the marks table's rows that name a full limit a claim left jobs queued for
(the limit's name follows)."""
RATE_DUE_MARK = "ratedue:"
"""Names of the marks table's rows that name a rate a claim left jobs queued for (the
rate's name follows), at the time its window lets one more job start: the earliest due
time noted; the due pass (jobs_promote_due) takes them when it comes and wakes the idle
workers."""
RATE_DUE_SQL = f"FROM marks WHERE name >= '{RATE_DUE_MARK}' AND name < '{RATE_DUE_MARK[:-1]};'"
"""Every rate-due mark, by a range of the key."""
_HELD_MARKS_SQL = f"SELECT name FROM marks WHERE name >= '{HELD_MARK}' AND name < '{HELD_MARK[:-1]};'"
"""Every held mark, by a range of the key (';' follows ':')."""
_ENDED = frozenset(status.value for status in TERMINAL)


class Changes:
    """Job changes of one transaction, in the order they were made."""

    __slots__ = ("deltas", "ended", "events", "freed", "scheduling")

    def __init__(self) -> None:
        self.scheduling = False
        """A job or batch start was put on a time: the write announces the next due time."""
        self.events: list[tuple[str, str | None]] = []
        self.deltas: Counter[tuple[str, str]] = Counter()
        self.ended: dict[int, list[float]] = {}
        """minute -> [finished, failed, runtime, cancelled]"""
        self.freed: set[tuple[str, str | None, str]] = set()
        """(queue, user, func_name) of the slots given up (see slot_freed)."""

    def moved(
        self,
        job_id: str,
        queue: str,
        old: str | None,
        new: str | None,
        *,
        at: float | None = None,
        started_at: float | None = None,
    ) -> None:
        """A job changed status (``old`` None: it was inserted; ``new`` None: deleted).

        A move into a terminal status is the job's end, counted here once in the
        throughput of the minute of ``at`` (with the run since ``started_at`` if it
        finished or failed), so that no terminal write can forget to count it. A job
        inserted already ended (``old`` None) did not end in this write."""
        self.events.append((job_id, new))
        if new == "scheduled":
            self.scheduling = True
        if old is not None:
            self.deltas[(queue, old)] -= 1
        if new is not None:
            self.deltas[(queue, new)] += 1
        if old is not None and new in _ENDED:
            if at is None:
                raise ValueError(f"job {job_id} moved to {new} without the time it ended")
            self._count_end(new, started_at, at)

    def moved_many(self, job_ids: list[str], queue: str, old: str | None, new: str | None) -> None:
        """Several jobs of one queue made the same move."""
        self.events.extend((job_id, new) for job_id in job_ids)
        if new == "scheduled":
            self.scheduling = True
        if old is not None:
            self.deltas[(queue, old)] -= len(job_ids)
        if new is not None:
            self.deltas[(queue, new)] += len(job_ids)

    def updated(self, job_id: str) -> None:
        """A job's progress, meta or metrics changed."""
        self.events.append((job_id, None))

    def slot_freed(self, queue: str, user: str | None, func_name: str) -> None:
        """A job that counted against the limits (started, or canceled while it ran and
        not yet stopped) no longer does."""
        self.freed.add((queue, user, func_name))

    def _count_end(self, status: str, started_at: float | None, ended_at: float) -> None:
        bucket = self.ended.setdefault(int(ended_at // 60), [0, 0, 0.0, 0])
        if status in ("stopped", "canceled"):
            bucket[3] += 1
            return
        bucket[0 if status == "finished" else 1] += 1
        if started_at is not None:
            bucket[2] += max(0.0, ended_at - started_at)

    def flush(self, conn: sqlite3.Connection) -> bool:
        """Write the events, counts and throughput of this transaction; take the held
        marks its slots free. Whether it took any (the caller wakes idle workers)."""
        if self.events:
            conn.executemany("INSERT INTO job_events (job_id, status) VALUES (?, ?)", self.events)
            conn.execute("DELETE FROM job_events WHERE seq <= (SELECT MAX(seq) FROM job_events) - ?", (EVENTS_KEPT,))
        changed = [(queue, status, n) for (queue, status), n in self.deltas.items() if n]
        if changed:
            conn.executemany(
                "INSERT INTO status_counts (queue, status, n) VALUES (?, ?, ?) "
                "ON CONFLICT (queue, status) DO UPDATE SET n = n + excluded.n",
                changed,
            )
        if self.ended:
            conn.executemany(
                "INSERT INTO throughput (minute, finished, failed, runtime, cancelled) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (minute) DO UPDATE SET finished = finished + excluded.finished, "
                "failed = failed + excluded.failed, runtime = runtime + excluded.runtime, "
                "cancelled = cancelled + excluded.cancelled",
                [(minute, *bucket) for minute, bucket in self.ended.items()],
            )
        if not self.freed:
            return False
        # (the marks are read first, by their key's range: most writes find none, and name no limit)
        marked = {name for (name,) in conn.execute(_HELD_MARKS_SQL)}
        if not marked:
            return False
        freed = {HELD_MARK + limit for slot in self.freed for limit in held.freed_by(*slot)} & marked
        if not freed:
            return False
        conn.execute("DELETE FROM marks WHERE name IN (SELECT value FROM json_each(?))", (json.dumps(list(freed)),))
        return True
