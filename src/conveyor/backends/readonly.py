"""A backend opened read-only (``connect(url, read_only=True)``): reads pass, writes are refused.

It sits above the backend contract, so both backends refuse the same operations the same
way: an operation is let through only if it is listed here as one that writes nothing on
every backend (Redis's ``store_serving_since`` records what it sees, so it is not). The
SQLite backend also opens its file read-only (see ConnectionPool), which lets it read a
file the user cannot write; this wrapper is what says so clearly when a write is tried.
"""

from __future__ import annotations

from typing import Any, NoReturn

from conveyor.backends.base import Backend
from conveyor.exceptions import ReadOnlyStoreError
from conveyor.types import Finding

READS = frozenset(
    {
        "close", "jobs_get", "jobs_summaries", "job_ids", "job_dependents", "job_ids_newest", "jobs_count",
        "counts", "queue_position", "job_inspect", "batches_get", "batches_list", "batch_counts",
        "batch_job_ids", "batch_inspect", "events_read", "job_snapshot", "throughput", "stop_requests",
        "workers_list", "maintenance_last", "store_warnings", "schedule_next_due", "schedule_signals",
        "store_clock_offset", "cron_entries", "queues_paused",
        "audit_read",
    }
)  # fmt: skip
"""The contract's operations that write nothing, on either backend."""


class ReadOnlyBackend:
    """Forwards reads (and plain attributes such as ``url``) to ``inner``; refuses the rest."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name in READS or not callable(attribute):
            return attribute
        return lambda *args, **kwargs: _refuse(name)

    def invariants_check(self, now: float, repair: bool) -> list[Finding]:
        """The doctor reads only, unless it is to repair."""
        if repair:
            _refuse("invariants_check (repair)")
        return self.inner.invariants_check(now, False)


def _refuse(operation: str) -> NoReturn:
    raise ReadOnlyStoreError(
        f"cannot {operation}: this store was opened read-only (connect(url, read_only=True)); "
        "open it without read_only to change it"
    )
