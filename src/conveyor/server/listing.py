"""GET /jobs: pages of jobs, newest first, with an opaque cursor.

A cursor holds the sequence number of the last job shown, and the next page is the jobs
below it (``job_ids_newest``): each page reads a few index ranges whatever the store
holds, and jobs enqueued after the first page never shift later pages. (Positions
counted from the oldest job, as before, made every first page read and sort all the
jobs of its statuses: a third of a second with 335,000 of them on SQLite.) Counts come
from ``counts()`` (counters), never a scan; a user's listing reads that user's indexes
and counts. The filter the indexes cannot answer, job type, is applied to the records
read, at most SCAN_BUDGET of them per page: such a page may hold fewer than ``limit``
jobs while ``next_cursor`` is not null, and the page after a full one may be empty when
the budget ran out before a further match. A batch's jobs (``batch_id``) come from the
batch's own list, last given first (``batch_job_ids``), every filter applied that way;
their counts are the batch's (``batch_counts``: on Redis a pass over its jobs).
``view=summary`` reads each page with ``jobs_summaries`` instead of ``jobs_get``: none
of the jobs' large values leave the store; all the rest is the same for both views.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from conveyor.backends.base import Backend
from conveyor.server import cursors
from conveyor.server.auth import Principal
from conveyor.server.schemas import JobList, JobSummaryList, ListView, RestStatus
from conveyor.server.views import job_detail, job_summary
from conveyor.status import REST_NAMES, JobStatus
from conveyor.types import JobRecord, JobSummaryRecord

MAX_LIMIT = 1_000
"""Most jobs one page lists (?limit=)."""
SCAN_CHUNK = 500
SCAN_BUDGET = 5_000
"""Most records one page reads when filtering by job type, or listing a batch's jobs."""
PAGE_BYTES = 8 * 2**20
"""Most stored bytes (input, result, meta, metrics, traceback) the jobs of one page hold,
beyond its first job: a page of a thousand jobs of a mebibyte each would take gigabytes
of the server's memory to answer. A page cut short has a next_cursor. A page of summaries
never is: each carries at most SUMMARY_EXC_INFO_LIMIT of traceback."""
READ_CHUNK = 100
"""Records read at a time for a page, so that a page cut short has not read them all
(summaries, which never are, are read in one go)."""

Listed = TypeVar("Listed", JobRecord, JobSummaryRecord)


@dataclass(frozen=True, slots=True)
class Filters:
    status: frozenset[RestStatus]
    """The statuses listed (any of them); empty: every status."""
    job_type: str | None
    queue: str | None
    user: str | None
    batch_id: str | None

    @property
    def statuses(self) -> list[JobStatus]:
        return [status for status, name in REST_NAMES.items() if not self.status or name in self.status]

    def scope(self) -> str:
        parts = (",".join(sorted(self.status)), self.job_type, self.queue, self.user, self.batch_id)
        return "\0".join(str(part) for part in parts)

    def keeps(self, record: JobRecord | JobSummaryRecord) -> bool:
        """Whether a record read matches what its index did not check."""
        if self.job_type is not None and record.func_name != self.job_type:
            return False
        if self.batch_id is None:  # the index checked the rest
            return True
        return (
            (not self.status or REST_NAMES[record.status] in self.status)
            and self.queue in (None, record.queue)
            and self.user in (None, record.user_id)
        )

    @property
    def exact(self) -> bool:
        """Whether the indexes answer these filters alone (pages full, counts known)."""
        return self.job_type is None and self.batch_id is None


def effective_filters(principal: Principal, filters: Filters) -> Filters | None:
    """The filters a caller may use: a user sees only its own jobs (None: nothing to show)."""
    if principal.is_admin:
        return filters
    if filters.user is not None and filters.user != principal.user_id:
        return None
    return replace(filters, user=principal.user_id)


def list_jobs(
    backend: Backend, principal: Principal, requested: Filters, cursor: str | None, limit: int, view: ListView = "full"
) -> JobList | JobSummaryList:
    """A page of jobs, each in full or (``view="summary"``) as a JobSummary, whose large
    values the store does not read."""
    if view == "summary":  # never cut short by PAGE_BYTES: read in one go
        summaries, counts = _list(backend, principal, requested, cursor, limit, backend.jobs_summaries, MAX_LIMIT)
        return JobSummaryList(data=[job_summary(summary) for summary in summaries], **counts)
    records, counts = _list(backend, principal, requested, cursor, limit, backend.jobs_get, READ_CHUNK)
    return JobList(data=[job_detail(record) for record in records], **counts)


Read = Callable[[Sequence[str]], list[Listed | None]]
"""How a listing reads its jobs: Backend.jobs_get (records) or jobs_summaries."""


def _list(
    backend: Backend,
    principal: Principal,
    requested: Filters,
    cursor: str | None,
    limit: int,
    read: Read[Listed],
    chunk: int,
) -> tuple[list[Listed], dict[str, Any]]:
    """The page's jobs, read ``chunk`` at a time, and its counts and next cursor (JobList's
    other fields)."""
    filters = effective_filters(principal, requested)
    if filters is None:
        return [], {"total": 0, "pending_count": 0, "running_count": 0, "next_cursor": None}
    statuses = filters.statuses
    before = None if cursor is None else _decode(cursor, filters)
    total, pending, running = _totals(_counts(backend, filters), filters.queue, statuses)
    counts: dict[str, Any] = {"total": total, "pending_count": pending, "running_count": running}
    if total == 0:  # nothing to page through (a scan would read its whole budget to find so)
        return [], {**counts, "next_cursor": None}
    if filters.exact:  # one more than a page: is there a next one?
        found = backend.job_ids_newest(filters.queue, statuses, before, limit + 1, filters.user)
        page, next_before = _read_page(read, found[:limit], chunk)
        if next_before is None and len(found) > limit:
            next_before = found[limit - 1][1]
    else:
        page, next_before = _scan(read, filters, _source(backend, filters), before, limit)
    return page, {**counts, "next_cursor": None if next_before is None else _encode(next_before, filters)}


STORED_VALUES = ("payload", "result", "meta", "metrics", "exc_info")
"""A job's values of any size: a summary holds only a short exc_info of them."""


def stored_size(record: JobRecord | JobSummaryRecord) -> int:
    """The bytes a job's answer carries for its stored values (its fixed fields aside)."""
    return sum(len(getattr(record, name, None) or b"") for name in STORED_VALUES)


def _read_page(read: Read[Listed], shown: list[tuple[str, int]], chunk: int) -> tuple[list[Listed], int | None]:
    """The jobs of ``shown`` (those that still exist), read ``chunk`` at a time, cut short
    once they hold PAGE_BYTES; and the seq the next page starts below when cut short
    (else None)."""
    page: list[Listed] = []
    size = last = 0
    for start in range(0, len(shown), chunk):
        part = shown[start : start + chunk]
        for (_, seq), record in zip(part, read([job_id for job_id, _ in part]), strict=True):
            if record is None:
                continue
            size += stored_size(record)
            if page and size > PAGE_BYTES:
                return page, last
            page.append(record)
            last = seq
    return page, None


Source = Callable[[int | None, int], list[tuple[str, int]]]
"""(before, limit) -> (id, place) pairs, newest first: where a scanned listing reads."""


def _source(backend: Backend, filters: Filters) -> Source:
    if filters.batch_id is not None:
        batch_id = filters.batch_id
        return lambda before, limit: backend.batch_job_ids(batch_id, before, limit)
    statuses = filters.statuses
    return lambda before, limit: backend.job_ids_newest(filters.queue, statuses, before, limit, filters.user)


def _counts(backend: Backend, filters: Filters) -> dict[str, dict[JobStatus, int]] | None:
    """Counts by queue and status for the listing's totals; None where they cannot be
    told without reading every job (a job type; a batch's jobs of one queue, or of a
    user other than the batch's)."""
    if filters.job_type is not None:
        return None
    if filters.batch_id is None:
        return backend.counts(filters.user)
    if filters.queue is not None:
        return None
    if filters.user is not None:
        (batch,) = backend.batches_get([filters.batch_id])
        if batch is None or batch.user_id != filters.user:
            return None
    return {"": backend.batch_counts(filters.batch_id)}


def _scan(
    read: Read[Listed], filters: Filters, source: Source, before: int | None, limit: int
) -> tuple[list[Listed], int | None]:
    """Walk back from ``before`` keeping matching records, until one match past ``limit``
    (so a page holding the last matches says there is no next one), no job is left, or
    SCAN_BUDGET records were read. Returns the page and the seq the next page starts
    below (None: no job is left)."""
    page: list[Listed] = []
    last = None
    scanned = size = 0
    while scanned < SCAN_BUDGET:
        found = source(before, SCAN_CHUNK)
        records = read([job_id for job_id, _ in found])
        for (_, seq), record in zip(found, records, strict=True):
            if record is not None and filters.keeps(record):
                size += stored_size(record)
                if len(page) == limit or (page and size > PAGE_BYTES):
                    return page, last  # a match past the page (or past its bytes): there is a next one
                page.append(record)
                last = seq
        if len(found) < SCAN_CHUNK:
            return page, None
        scanned += len(found)
        before = found[-1][1]
    return page, before  # nothing between the last match and here matched: go on from here


def _totals(
    counts: dict[str, dict[JobStatus, int]] | None, queue: str | None, statuses: Sequence[JobStatus]
) -> tuple[int | None, int | None, int | None]:
    """The listing's total, pending and running counts (None when not known)."""
    if counts is None:
        return None, None, None
    return (
        _count(counts, queue, statuses),
        _count(counts, queue, [JobStatus.QUEUED, JobStatus.DEFERRED]),
        _count(counts, queue, [JobStatus.STARTED]),
    )


def _count(counts: dict[str, dict[JobStatus, int]], queue: str | None, statuses: Sequence[JobStatus]) -> int:
    queues = [counts.get(queue, {})] if queue is not None else list(counts.values())
    return sum(by_status.get(status, 0) for by_status in queues for status in statuses)


def _encode(before: int, filters: Filters) -> str:
    return cursors.encode("jobs", str(before), filters.scope())


def _decode(cursor: str, filters: Filters) -> int:
    position = cursors.decode("jobs", cursor, filters.scope())
    if not position.isdigit():
        raise cursors.invalid()
    return int(position)
