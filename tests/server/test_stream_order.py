"""The SSE body against the order events reach it: the event hub may deliver events a
read already reflects after that read (SQLite's hub polls, any hub can lag), and a job
may pass through statuses faster than the stream reads it. Driven here with changes
pushed by hand, in the worst order, so each case is deterministic."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from conveyor import Queue
from conveyor.backends.base import Backend
from conveyor.server import watch
from conveyor.server.auth import OPEN_ACCESS
from conveyor.server.events import Change, EventHub, Subscription
from conveyor.status import JobStatus
from conveyor.types import JobRecord
from server import jobtypes

from .conftest import settle, start, until

pytestmark = pytest.mark.anyio

RAN_FAILED_RAN_AGAIN = [
    ("job_update", "running"),
    ("job_update", "pending"),  # requeued after the failure, which is not a job_complete
    ("job_update", "running"),
    ("job_complete", "completed"),
]
"""What a stream shows of a job that ran, failed, was requeued and ran to its end."""


async def enqueued(backend: Backend) -> JobRecord:
    return Queue(connection=backend).enqueue(jobtypes.add, 1, 2)._record


def changes_since(backend: Backend, cursor: int) -> list[Change]:
    """The events after ``cursor``, numbered as the hub numbers them."""
    after, events = backend.events_read(str(cursor), 1000, 0)
    first = int(after) - len(events) + 1
    return [Change(number, event.status) for number, event in enumerate(events, start=first)]


def hand_over(backend: Backend, subscription: Subscription, after: int) -> None:
    """Push the store's events after ``after`` to the follower by hand, as the hub would."""
    for change in changes_since(backend, after):
        subscription.push(change)


async def messages(body: AsyncIterator[str], count: int) -> list[tuple[str, dict[str, Any]]]:
    """The next ``count`` events of an SSE body (heartbeats skipped) as (name, data)."""
    out = []
    async for chunk in body:
        if chunk.startswith(":"):
            continue
        lines = dict(line.split(": ", 1) for line in chunk.strip().split("\n"))
        out.append((lines["event"], json.loads(lines["data"])))
        if len(out) == count:
            break
    return out


async def test_events_a_read_already_shows_are_not_replayed(backend: Backend) -> None:
    job = await enqueued(backend)
    begun, _ = backend.events_read(None, 0, 0)
    settle(backend, start(backend, job.id), JobStatus.FAILED, error="boom")
    assert backend.jobs_requeue([job.id], 0.0) == [job.id]  # queued again: pending
    hub = EventHub(backend)
    subscription = hub.open(job.id)
    first = await watch.snapshot(backend, OPEN_ACCESS, job.id)
    hand_over(backend, subscription, int(begun))  # started, failed, queued: delivered late
    body = watch.stream(backend, hub, OPEN_ACCESS, subscription, first, None, heartbeat=0.05)
    try:
        assert await messages(body, 1) == [("job_update", {"job_id": job.id, "status": "pending", "progress": None})]
        settle(backend, start(backend, job.id), JobStatus.FINISHED, 3)
        hand_over(backend, subscription, first.cursor)
        rest = await messages(body, 2)
    finally:
        await body.aclose()
    assert [(name, data["status"]) for name, data in rest] == [("job_update", "running"), ("job_complete", "completed")]


async def test_a_status_passed_through_between_two_reads_gets_its_update_in_order(backend: Backend) -> None:
    job = await enqueued(backend)
    hub = EventHub(backend)
    subscription = hub.open(job.id)
    first = await watch.snapshot(backend, OPEN_ACCESS, job.id)
    body = watch.stream(backend, hub, OPEN_ACCESS, subscription, first, None, heartbeat=0.05)
    try:
        assert [name for name, _ in await messages(body, 1)] == ["job_update"]
        record = start(backend, job.id)
        settle(backend, record, JobStatus.FAILED, error="boom")
        backend.jobs_requeue([job.id], 0.0)
        settle(backend, start(backend, job.id), JobStatus.FINISHED, 3)
        hand_over(backend, subscription, first.cursor)
        rest = await messages(body, 4)
    finally:
        await body.aclose()
    # the failure in between is not a job_complete: the stream ends only on the state it reads
    assert [(name, data["status"]) for name, data in rest] == RAN_FAILED_RAN_AGAIN
    assert rest[0][1] == {"job_id": job.id, "status": "running", "progress": None}
    assert rest[3][1]["result"] == 3


async def test_statuses_a_read_shows_before_the_hub_hands_them_over_still_come_out_in_order(
    backend: Backend,
) -> None:
    job = await enqueued(backend)
    hub = EventHub(backend)
    subscription = hub.open(job.id)
    first = await watch.snapshot(backend, OPEN_ACCESS, job.id)
    hub._delivered = first.cursor  # as the hub's reader does at its start

    def deliver(after: int) -> int:
        """Hand the store's events after ``after`` to the followers, as the reader thread does."""
        cursor, events = backend.events_read(str(after), 1000, 0)
        hub._dispatch(events, int(cursor), False)
        return int(cursor)

    body = watch.stream(backend, hub, OPEN_ACCESS, subscription, first, None, heartbeat=0.05)
    try:
        assert [data["status"] for _, data in await messages(body, 1)] == ["pending"]
        record = start(backend, job.id)  # running
        cursor, events = backend.events_read(str(first.cursor), 1000, 0)
        settle(backend, record, JobStatus.FAILED, error="boom")  # failed, then pending, then running:
        backend.jobs_requeue([job.id], 0.0)  # all in the store before the hub hands over the first
        record = start(backend, job.id)
        hub._dispatch(events, int(cursor), False)  # only "running" so far
        rest = asyncio.ensure_future(messages(body, 3))
        await until(lambda: bool(hub._waiting), message="the stream to read the job and wait for its events")
        deliver(int(cursor))
        shown = await asyncio.wait_for(rest, 30)
        settle(backend, record, JobStatus.FINISHED, 3)
        deliver(hub._delivered)
        shown += await messages(body, 1)
    finally:
        await body.aclose()
    assert [(name, data["status"]) for name, data in shown] == RAN_FAILED_RAN_AGAIN


async def test_a_missed_batch_of_events_costs_a_stream_one_read(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = await enqueued(backend)
    hub = EventHub(backend)
    subscription = hub.open(job.id)
    first = await watch.snapshot(backend, OPEN_ACCESS, job.id)
    reads = []
    snapshot = backend.job_snapshot

    def counted(job_id: str) -> tuple[JobRecord | None, str]:
        reads.append(job_id)
        return snapshot(job_id)

    monkeypatch.setattr(backend, "job_snapshot", counted)
    body = watch.stream(backend, hub, OPEN_ACCESS, subscription, first, None, heartbeat=0.05)
    try:
        assert [name for name, _ in await messages(body, 1)] == ["job_update"]
        hub._dispatch([], first.cursor, True)  # the reader fell behind: every follower re-reads
        assert await asyncio.wait_for(anext(body), 30) == ": ping\n\n", "then it waits again"
    finally:
        await body.aclose()
    assert len(reads) == 1
