"""GET /jobs: pages of jobs, newest first, with an opaque cursor.

A cursor holds a position in the backend's index of the filtered statuses (oldest
first), so a page is one ``job_ids`` slice counted back from the end: jobs enqueued
after the first page never shift later pages. Counts come from ``counts()`` (counters),
never a scan. Filters the index cannot answer (job type, user) are applied to the
records read, at most SCAN_BUDGET of them per page: such a page may hold fewer than
``limit`` jobs while ``next_cursor`` is not null.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from conveyor.backends.base import Backend
from conveyor.server.auth import Principal
from conveyor.server.errors import validation_error
from conveyor.server.schemas import JobList, RestStatus
from conveyor.server.views import job_detail
from conveyor.status import REST_NAMES, JobStatus
from conveyor.types import JobRecord

SCAN_CHUNK = 500
SCAN_BUDGET = 5_000
"""Most records one page reads when filtering by job type or user."""


@dataclass(frozen=True, slots=True)
class Filters:
    status: RestStatus | None
    job_type: str | None
    queue: str | None
    user: str | None

    @property
    def statuses(self) -> list[JobStatus]:
        return [status for status, name in REST_NAMES.items() if self.status in (None, name)]

    def signature(self) -> str:
        text = "\0".join(str(part) for part in (self.status, self.job_type, self.queue, self.user))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def keeps(self, record: JobRecord) -> bool:
        return (self.job_type is None or record.func_name == self.job_type) and (
            self.user is None or record.user_id == self.user
        )


def effective_filters(principal: Principal, filters: Filters) -> Filters | None:
    """The filters a caller may use: a user sees only its own jobs (None: nothing to show)."""
    if principal.is_admin:
        return filters
    if filters.user is not None and filters.user != principal.user_id:
        return None
    return Filters(filters.status, filters.job_type, filters.queue, principal.user_id)


def list_jobs(backend: Backend, principal: Principal, requested: Filters, cursor: str | None, limit: int) -> JobList:
    filters = effective_filters(principal, requested)
    if filters is None:
        return JobList(data=[], total=0, pending_count=0, running_count=0, next_cursor=None)
    counts = backend.counts()
    statuses = filters.statuses
    total = _count(counts, filters.queue, statuses)
    end = total if cursor is None else _decode(cursor, filters)
    if filters.job_type is None and filters.user is None:
        start = max(0, end - limit)
        records = _records(backend, backend.job_ids(filters.queue, statuses, offset=start, limit=end - start))
        page, next_position = records, start
    else:
        page, next_position = _scan(backend, filters, statuses, end, limit)
    exact = filters.job_type is None and filters.user is None
    return JobList(
        data=[job_detail(record) for record in page],
        total=total if exact else None,
        pending_count=_count(counts, filters.queue, [JobStatus.QUEUED, JobStatus.DEFERRED]) if exact else None,
        running_count=_count(counts, filters.queue, [JobStatus.STARTED]) if exact else None,
        next_cursor=_encode(next_position, filters) if next_position > 0 else None,
    )


def _scan(
    backend: Backend, filters: Filters, statuses: list[JobStatus], end: int, limit: int
) -> tuple[list[JobRecord], int]:
    """Walk back from ``end`` keeping matching records; stop at ``limit`` of them or
    after SCAN_BUDGET records. Returns the page and where the next one starts."""
    page: list[JobRecord] = []
    position = end
    scanned = 0
    while position > 0 and len(page) < limit and scanned < SCAN_BUDGET:
        start = max(0, position - SCAN_CHUNK)
        ids = backend.job_ids(filters.queue, statuses, offset=start, limit=position - start)
        records = backend.jobs_get(list(reversed(ids)))
        for index, record in zip(range(position - 1, start - 1, -1), records, strict=False):
            if record is not None and filters.keeps(record):
                page.append(record)
                if len(page) == limit:
                    return page, index
        scanned += position - start
        position = start
    return page, position


def _records(backend: Backend, ids_oldest_first: Sequence[str]) -> list[JobRecord]:
    """Records newest first; jobs deleted since their id was read are left out."""
    return [record for record in backend.jobs_get(list(reversed(ids_oldest_first))) if record is not None]


def _count(counts: dict[str, dict[JobStatus, int]], queue: str | None, statuses: Sequence[JobStatus]) -> int:
    queues = [counts.get(queue, {})] if queue is not None else list(counts.values())
    return sum(by_status.get(status, 0) for by_status in queues for status in statuses)


def _encode(position: int, filters: Filters) -> str:
    return base64.urlsafe_b64encode(f"1:{position}:{filters.signature()}".encode()).decode().rstrip("=")


def _decode(cursor: str, filters: Filters) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, position, signature = text.split(":")
        if version != "1" or signature != filters.signature() or not position.isdigit():
            raise ValueError(cursor)
        return int(position)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise validation_error(
            "The cursor is invalid, or was made for other filters",
            [{"field": "cursor", "location": "query", "message": "invalid cursor", "type": "value_error"}],
        ) from None
