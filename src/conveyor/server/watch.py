"""Long-poll and Server-Sent Events on one job, woken by the event hub.

Both subscribe before they read the job, then re-read it only when the hub says it
changed; a follower polls the store only to retry a read the store failed.

SSE: each event's ``id`` names the state it carries (``status:progress``). A client
that reconnects with ``Last-Event-ID`` gets the current state only if it differs from
the one it last saw; then changes as they come, and ``job_complete`` on a terminal
state (always, even to a client that saw it: EventSource reconnects until it reads
one), after which the stream ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from asyncio import FIRST_COMPLETED
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NamedTuple

from starlette.types import Receive

from conveyor.backends.base import Backend
from conveyor.exceptions import BackendError, NoSuchJobError
from conveyor.server.auth import Principal
from conveyor.server.errors import STORE_DOWN
from conveyor.server.events import MISSED, OUTAGE, RETRY_SECONDS, Change, EventHub, Subscription
from conveyor.server.schemas import PollResult, RestStatus
from conveyor.server.service import visible, visible_record
from conveyor.server.views import decoded, error_line, job_status, rest
from conveyor.status import TERMINAL, JobStatus
from conveyor.types import JobRecord

DELIVERY_WAIT = 2.0
"""Longest a stream waits for the hub to hand over events its last read already shows."""


async def read(backend: Backend, principal: Principal, job_id: str) -> JobRecord:
    return await asyncio.to_thread(visible_record, backend, principal, job_id)


async def client_gone(receive: Receive) -> None:
    """Returns once the client of this request has gone away (``http.disconnect``), or its
    body cannot be read on (a GET's body is not the poll's: it is read and dropped)."""
    with contextlib.suppress(Exception):  # such as the body limit's 413
        while (await receive())["type"] != "http.disconnect":
            pass


async def poll(
    backend: Backend,
    hub: EventHub,
    principal: Principal,
    job_id: str,
    current: RestStatus | None,
    timeout: float,
    gone: Callable[[], Awaitable[None]] | None = None,
) -> PollResult:
    """The job's status as soon as it differs from ``current`` (at once if it already
    does, or if ``current`` is not given), else the unchanged status after ``timeout``.
    A client that goes away (``gone`` returns) ends the wait at once: an HTTP client
    that gave up before the poll's timeout does not leave it following the job."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    watcher = asyncio.ensure_future(gone()) if gone is not None else None
    try:
        async with hub.subscribe(job_id) as subscription:
            record = await read(backend, principal, job_id)
            while current is not None and rest(record.status) == current:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                waiting = asyncio.ensure_future(subscription.changes(remaining))
                await asyncio.wait([waiting] if watcher is None else [waiting, watcher], return_when=FIRST_COMPLETED)
                if not waiting.done():  # nobody is left to answer
                    waiting.cancel()
                    break
                changed = bool(waiting.result())
                # read again also when the wait ran out: a store that went away meanwhile is
                # then a 503 rather than an unchanged status, and a change the hub missed shows
                record = await read(backend, principal, job_id)
                if not changed or subscription.closed:
                    break
    finally:
        if watcher is not None:
            watcher.cancel()
    view = job_status(record, time.time())
    return PollResult(**view.model_dump(), changed=current is None or view.status != current)


def _event(name: str, data: dict[str, Any], event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _state_id(record: JobRecord) -> str:
    return f"{rest(record.status)}:{'' if record.progress is None else record.progress}"


def _message(record: JobRecord) -> str:
    """job_complete for a terminal record, else job_update."""
    if record.status in TERMINAL:
        data: dict[str, Any] = {"job_id": record.id, "status": rest(record.status)}
        if record.status is JobStatus.FINISHED:
            data["result"] = decoded(record, record.result)
        else:
            data["error"] = error_line(record.exc_info)
        return _event("job_complete", data, _state_id(record))
    data = {"job_id": record.id, "status": rest(record.status), "progress": record.progress}
    return _event("job_update", data, _state_id(record))


class Snapshot(NamedTuple):
    """A job as read, and the number of the last event that read reflects."""

    record: JobRecord
    cursor: int


class Gone(NoSuchJobError):
    """The job no longer exists, as of event ``cursor``."""

    def __init__(self, job_id: str, cursor: int) -> None:
        super().__init__(job_id)
        self.cursor = cursor


async def snapshot(backend: Backend, principal: Principal, job_id: str) -> Snapshot:
    record, cursor = await asyncio.to_thread(backend.job_snapshot, job_id)
    if record is None:
        raise Gone(job_id, int(cursor))
    return Snapshot(visible(principal, job_id, record), int(cursor))


async def open_stream(
    backend: Backend, hub: EventHub, principal: Principal, job_id: str
) -> tuple[Subscription, Snapshot]:
    """Subscribe, then read the job (NoSuchJobError before any byte is sent: a real 404)."""
    subscription = hub.open(job_id)
    try:
        await hub.ensure_started()
        return subscription, await snapshot(backend, principal, job_id)
    except BaseException:
        hub.close(subscription)
        raise


async def stream(
    backend: Backend,
    hub: EventHub,
    principal: Principal,
    subscription: Subscription,
    first: Snapshot,
    last_event_id: str | None,
    heartbeat: float,
) -> AsyncIterator[str]:
    """The SSE body: current state, changes, heartbeats, and job_complete at the end.

    The job is re-read when an event newer than the last read arrives; the statuses its
    events say it passed through between two reads get their job_update first (with the
    progress last read), so a job that starts and ends between two reads still shows
    it ran. Events the last read already reflects are skipped: the hub may deliver them
    after that read. A read that reflects events the hub has not delivered yet waits
    for them (up to DELIVERY_WAIT), so their statuses come out in order too.
    """
    try:
        record, seen = first
        sent = last_event_id
        unread: list[Change] = []  # newer than the last read
        outage_told: float | None = None  # when the client was last told the store is down
        while True:
            state = _state_id(record)
            if state != sent or record.status in TERMINAL:  # job_complete always: clients close on it
                yield _message(record)
                sent = state
            if record.status in TERMINAL:
                return
            if not unread:
                changes = await subscription.changes(heartbeat)
                if subscription.closed:
                    return  # the server is shutting down: the client reconnects
                if outage_told is None and any(change.number == OUTAGE for change in changes):
                    yield _unavailable(subscription.job_id)
                    outage_told = time.monotonic()
                unread = [change for change in changes if seen < change.number < OUTAGE]
                if not unread:
                    yield ": ping\n\n"
                    continue
            read = asyncio.ensure_future(snapshot(backend, principal, subscription.job_id))
            async for ping in _pinging(read, heartbeat):  # a store that hangs must not silence the stream
                yield ping
            try:
                latest = read.result()
            except NoSuchJobError as exc:
                async for message in _last_words(hub, subscription, Snapshot(record, seen), unread, sent, exc):
                    yield message
                return
            except BackendError:  # the store is down: say so, keep what is unread, try again shortly
                if outage_told is None or time.monotonic() - outage_told >= heartbeat:
                    yield ": ping\n\n" if outage_told is not None else _unavailable(subscription.job_id)
                    outage_told = time.monotonic()
                unread += [change for change in await subscription.changes(RETRY_SECONDS) if change.number > seen]
                if subscription.closed:
                    return
                continue
            if outage_told is not None:  # back: the current state again, the client's sign of it
                outage_told, sent = None, None
            if unread[-1].number < latest.cursor:  # the read shows events the hub has not handed over yet
                await hub.delivered(latest.cursor, DELIVERY_WAIT)
                unread += [change for change in subscription.drain() if change.number > seen]
            passed, sent = _passed_through(record, unread, latest.cursor, sent)
            for message in passed:
                yield message
            # what came after this read waits for the next one; a miss is answered by this read
            unread = [change for change in unread if latest.cursor < change.number < MISSED]
            record, seen = latest
    finally:
        hub.close(subscription)


async def _last_words(
    hub: EventHub,
    subscription: Subscription,
    last: Snapshot,
    unread: list[Change],
    sent: str | None,
    exc: NoSuchJobError,
) -> AsyncIterator[str]:
    """The end of a stream whose job is not there any more: its job_complete if its events
    say it was deleted as it ended (result_ttl 0), with the statuses it passed through
    first; else an error event."""
    if isinstance(exc, Gone):
        await hub.delivered(exc.cursor, DELIVERY_WAIT)
        unread = unread + [change for change in subscription.drain() if change.number > last.cursor]
        ended = _ended(unread, exc.cursor)
        if ended is not None:
            passed, sent = _passed_through(last.record, unread, exc.cursor, sent)
            for message in passed:
                yield message
            yield _message(dataclasses.replace(last.record, status=ended, result=None, exc_info=None))
            return
    yield _event("error", {"error": "JobNotFoundError", "message": str(exc), "job_id": exc.job_id})


def _ended(changes: list[Change], cursor: int) -> JobStatus | None:
    """The terminal status the job reached just before it was deleted, as of ``cursor``
    (a job deleted as it ends: result_ttl 0); None if it was deleted otherwise."""
    statuses = [change.status for change in changes if change.number <= cursor]
    if len(statuses) >= 2 and statuses[-1] is None and statuses[-2] in TERMINAL:
        return statuses[-2]
    return None


def _unavailable(job_id: str) -> str:
    """The outage, told without its details (they name the store's address): the
    server's log has them."""
    return _event("store_unavailable", {"error": "BackendUnavailable", "message": STORE_DOWN, "job_id": job_id})


async def _pinging(read: asyncio.Future[Any], heartbeat: float) -> AsyncIterator[str]:
    """Heartbeats while ``read`` has not answered, one per ``heartbeat`` seconds."""
    while not read.done():
        await asyncio.wait([read], timeout=heartbeat)
        if not read.done():
            yield ": ping\n\n"


def _passed_through(
    record: JobRecord, changes: list[Change], cursor: int, sent: str | None
) -> tuple[list[str], str | None]:
    """The job_updates for the statuses ``changes`` up to ``cursor`` say the job passed
    through after ``record`` was read (the job as it was then, in each), and the state
    last sent after them."""
    messages = []
    for change in changes:
        if change.number <= cursor and change.status is not None and change.status not in TERMINAL:
            passed = dataclasses.replace(record, status=change.status)
            if _state_id(passed) != sent:
                messages.append(_message(passed))
                sent = _state_id(passed)
    return messages, sent
