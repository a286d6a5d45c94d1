"""events_read: every change of a job is published, in order, and readers can resume.

The audited ``backend`` fixture already checks, after every write of the whole suite,
that each job's last event is its new state; these tests cover the reading side.
"""

from __future__ import annotations

import threading
import time

import pytest

from backend_conformance.helpers import LEASE_TTL, NOW, claim, put, settle
from conveyor.status import JobStatus
from conveyor.types import JobEvent, Settlement


def start(backend) -> str:
    cursor, events = backend.events_read(None, 100, 30)
    assert events == []
    return cursor


def read_all(backend, cursor: str) -> list[JobEvent]:
    return backend.events_read(cursor, 10_000, 0)[1]


def test_none_returns_the_current_cursor_at_once_without_history(backend):
    put(backend)
    begun = time.monotonic()
    cursor = start(backend)
    assert time.monotonic() - begun < 10  # not the 30 s timeout
    assert read_all(backend, cursor) == []


def test_a_lifecycle_in_order(backend):
    cursor = start(backend)
    job = put(backend)
    (claimed,) = claim(backend)
    backend.job_update(job.id, NOW, progress=0.5)
    assert settle(backend, claimed, JobStatus.FINISHED, keep_until=NOW + 500)
    backend.job_delete(job.id)
    assert read_all(backend, cursor) == [
        JobEvent(job.id, JobStatus.QUEUED),
        JobEvent(job.id, JobStatus.STARTED),
        JobEvent(job.id, None),
        JobEvent(job.id, JobStatus.FINISHED),
        JobEvent(job.id, None),
    ]


def test_a_batch_publishes_each_job(backend):
    jobs = [put(backend, priority=0) for _ in range(5)]
    cursor = start(backend)
    claimed = claim(backend, limit=5)
    backend.jobs_settle(
        [Settlement(r.id, r.lease_token or "", JobStatus.FAILED, keep_until=NOW + 9) for r in claimed], NOW
    )
    events = read_all(backend, cursor)
    assert sorted(e.job_id for e in events if e.status is JobStatus.STARTED) == sorted(j.id for j in jobs)
    assert sorted(e.job_id for e in events if e.status is JobStatus.FAILED) == sorted(j.id for j in jobs)
    assert events.index(JobEvent(jobs[0].id, JobStatus.STARTED)) < events.index(JobEvent(jobs[0].id, JobStatus.FAILED))


def test_deferred_jobs_publish_their_release(backend):
    parent = put(backend)
    child = put(backend, depends_on=(parent.id,))
    cursor = start(backend)
    (claimed,) = claim(backend)
    settle(backend, claimed, JobStatus.FINISHED, keep_until=NOW + 9)
    assert JobEvent(child.id, JobStatus.QUEUED) in read_all(backend, cursor)


def test_a_refused_settle_publishes_nothing(backend):
    put(backend)
    (claimed,) = claim(backend)
    cursor = start(backend)
    assert not settle(backend, claimed, JobStatus.FINISHED, token="someone-else")
    assert read_all(backend, cursor) == []


def test_limit_and_cursor_resume_without_gaps_or_repeats(backend):
    cursor = start(backend)
    jobs = [put(backend) for _ in range(25)]
    seen: list[JobEvent] = []
    for _ in range(10):
        cursor, events = backend.events_read(cursor, 10, 0)
        assert len(events) <= 10
        if not events:
            break
        seen.extend(events)
    assert seen == [JobEvent(job.id, JobStatus.QUEUED) for job in jobs]


def test_a_cursor_counts_the_events_so_a_reader_can_tell_when_it_skipped_some(backend):
    cursor = start(backend)
    jobs = [put(backend) for _ in range(7)]
    claim(backend, limit=5)  # one step publishing five events
    read = 0
    while True:
        after = cursor
        cursor, events = backend.events_read(after, 3, 0)
        assert int(cursor) - int(after) == len(events), "a read moves the cursor by the events it returns"
        if not events:
            break
        read += len(events)
    assert read == len(jobs) + 5


def test_no_event_returns_the_same_cursor_after_the_timeout(backend):
    cursor = start(backend)
    assert backend.events_read(cursor, 10, 0.05) == (cursor, [])


def test_a_waiting_reader_wakes_on_a_change(backend):
    cursor = start(backend)
    got: list[tuple[str, list[JobEvent]]] = []
    reader = threading.Thread(target=lambda: got.append(backend.events_read(cursor, 10, 30)))
    begun = time.monotonic()
    reader.start()
    job = put(backend)
    reader.join(60)
    assert got and got[0][1] == [JobEvent(job.id, JobStatus.QUEUED)]
    assert time.monotonic() - begun < 20  # woken by the event, not by the 30 s timeout


@pytest.mark.parametrize("field", ["meta", "progress", "metrics"])
def test_updates_publish_without_a_status(backend, field):
    job = put(backend)
    cursor = start(backend)
    value = 0.25 if field == "progress" else b'{"x": 1}'
    assert backend.job_update(job.id, NOW, **{field: value})
    assert read_all(backend, cursor) == [JobEvent(job.id, None)]


def test_lease_recovery_publishes(backend):
    job = put(backend)
    claim(backend)
    cursor = start(backend)
    backend.leases_recover(NOW + LEASE_TTL + 1)
    assert read_all(backend, cursor) == [JobEvent(job.id, JobStatus.FAILED)]


def test_a_snapshot_reads_the_job_with_the_cursor_of_the_same_moment(backend):
    job = put(backend)
    record, cursor = backend.job_snapshot(job.id)
    assert record == backend.jobs_get([job.id])[0]
    assert cursor == start(backend), "every event so far is reflected in the read"
    (claimed,) = claim(backend)
    record, after_claim = backend.job_snapshot(job.id)
    assert record.status is JobStatus.STARTED
    assert backend.events_read(cursor, 10, 0) == (after_claim, [JobEvent(job.id, JobStatus.STARTED)])
    assert backend.events_read(after_claim, 10, 0) == (after_claim, []), "nothing after the read"


def test_a_snapshot_of_a_missing_job_is_none_with_the_cursor(backend):
    put(backend)
    assert backend.job_snapshot("no-such-job") == (None, start(backend))
