"""One event hub per app: a single thread reads the backend's job events and wakes the
asyncio tasks (long-polls, SSE streams) that follow those jobs.

Streams therefore cost a dict entry each, not a thread or a store query per tick:
the store is read once per batch of events for the whole process, and a follower
re-reads only the job it follows, when that job changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import NamedTuple

from conveyor.backends.base import Backend
from conveyor.status import JobStatus
from conveyor.types import JobEvent

log = logging.getLogger("conveyor.server.events")

BATCH = 1_000
PENDING_KEPT = 64
"""Most undelivered changes one follower keeps; older ones are dropped (it re-reads the job
anyway, and only statuses passed through in between go unshown)."""
RETRY_SECONDS = 1.0
MISSED = 2**62
"""The number of a change that stands for changes the reader may have missed: later than
any event, so every follower re-reads its job."""
OUTAGE = MISSED + 1
"""The number of a change that says the store cannot be reached: followers tell their
clients, and read nothing until the reader hands them a MISSED once it is back."""


class Change(NamedTuple):
    """One event for a followed job: its number (see Backend.events_read) and the job's
    new status (None: something else changed, or any change may have been missed)."""

    number: int
    status: JobStatus | None


class Subscription:
    """The changes to one job since the follower last looked (on the event loop)."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.closed = False
        """The server is shutting down: the follower answers now and ends."""
        self._pending: list[Change] = []
        self._ready = asyncio.Event()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    def push(self, change: Change) -> None:
        self._pending.append(change)
        del self._pending[:-PENDING_KEPT]
        self._ready.set()

    async def changes(self, timeout: float) -> list[Change]:
        """The changes, oldest first, waiting up to ``timeout`` seconds for the first;
        empty if nothing changed in time (or at once, when closed)."""
        if not self._pending and not self.closed:
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return []
        return self.drain()

    def drain(self) -> list[Change]:
        """The changes delivered so far, without waiting."""
        changes, self._pending = self._pending, []
        self._ready.clear()
        return changes


class EventHub:
    """Reads ``backend.events_read`` in one thread, from the first subscription on."""

    def __init__(self, backend: Backend, wait_seconds: float = 1.0) -> None:
        self._backend = backend
        self._wait = wait_seconds
        self._subscribers: dict[str, set[Subscription]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._starting = asyncio.Lock()
        self._closing = False
        self._delivered = 0  # the number of the last event handed to the subscriptions
        self._waiting: list[tuple[int, asyncio.Future[None]]] = []

    @property
    def followers(self) -> int:
        return sum(len(subs) for subs in self._subscribers.values())

    @contextlib.asynccontextmanager
    async def subscribe(self, job_id: str) -> AsyncIterator[Subscription]:
        """Follow one job. Enter before reading the job's state: no change made after
        that read can be missed."""
        subscription = self.open(job_id)
        try:
            await self.ensure_started()
            yield subscription
        finally:
            self.close(subscription)

    def open(self, job_id: str) -> Subscription:
        subscription = Subscription(job_id)
        if self._closing:
            subscription.close()
        self._subscribers.setdefault(job_id, set()).add(subscription)
        return subscription

    def close_followers(self) -> None:
        """The server is shutting down: every long-poll answers and every stream ends now
        (an EventSource reconnects, to this server once it is back or to another one),
        instead of being cut when the server's grace period runs out. On the event loop."""
        self._closing = True
        for subscriptions in self._subscribers.values():
            for subscription in subscriptions:
                subscription.close()
        for _, waiter in self._waiting:
            if not waiter.done():
                waiter.set_result(None)
        self._waiting = []

    def close(self, subscription: Subscription) -> None:
        followers = self._subscribers.get(subscription.job_id)
        if followers is not None:
            followers.discard(subscription)
            if not followers:
                del self._subscribers[subscription.job_id]

    async def ensure_started(self) -> None:
        """Start the reader thread from the current cursor (read here, so every event
        after a subscription is seen). Raises a backend error if the store is down."""
        if self._thread is not None:
            return
        async with self._starting:
            if self._thread is not None:
                return
            cursor, _ = await asyncio.to_thread(self._backend.events_read, None, 0, 0.0)
            self._loop = asyncio.get_running_loop()
            self._delivered = int(cursor)
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, args=(cursor,), name="conveyor-events", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self._wait + 5)
            self._thread = None

    def _run(self, cursor: str) -> None:
        failed = False
        while not self._stopping.is_set():
            try:
                after = cursor
                cursor, events = self._backend.events_read(after, BATCH, self._wait)
            except Exception as exc:  # the store went away: keep the cursor and try again
                if not failed:
                    log.warning("reading job events failed, retrying every %.0fs: %s", RETRY_SECONDS, exc)
                    if not self._call_on_loop(self._push_all, Change(OUTAGE, None)):
                        return
                failed = True
                self._stopping.wait(RETRY_SECONDS)
                continue
            skipped = skipped_events(after, cursor, events)
            if skipped:
                log.warning("the job event reader fell %d events behind; every follower re-reads its job", skipped)
            # after a failure too: a store that came back may have lost events the cursor cannot tell
            missed, failed = skipped > 0 or failed, False
            if (events or missed) and not self._deliver(events, int(cursor), missed):
                return

    def _deliver(self, events: list[JobEvent], cursor: int, missed: bool) -> bool:
        return self._call_on_loop(self._dispatch, events, cursor, missed)

    def _call_on_loop(self, function: Callable[..., None], *args: object) -> bool:
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(function, *args)
        except RuntimeError:  # the loop has closed: nobody is left to tell
            return False
        return True

    def _push_all(self, change: Change) -> None:
        for subscriptions in self._subscribers.values():
            for subscription in subscriptions:
                subscription.push(change)

    def _dispatch(self, events: list[JobEvent], cursor: int, missed: bool) -> None:
        if missed:  # any job may have changed unseen: wake every follower to re-read its job
            self._push_all(Change(MISSED, None))
        first = cursor - len(events) + 1  # the events are numbered consecutively up to the cursor
        for number, event in enumerate(events, start=first):
            for subscription in self._subscribers.get(event.job_id, ()):
                subscription.push(Change(number, event.status))
        self._delivered = cursor
        still = []
        for number, waiter in self._waiting:
            if number <= cursor or missed:  # after a miss, numbers may have started again
                if not waiter.done():
                    waiter.set_result(None)
            else:
                still.append((number, waiter))
        self._waiting = still

    async def delivered(self, number: int, timeout: float) -> None:
        """Wait until the events up to ``number`` have been handed to the subscriptions
        (at most ``timeout`` seconds): a follower that read a job reflecting events it
        has not been given yet waits for them, so as to show every status in order."""
        if number <= self._delivered or self._closing:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append((number, waiter))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(waiter), timeout)


def skipped_events(after: str, cursor: str, events: list[JobEvent]) -> int:
    """How many events a read passed over: cursors count the events published (see
    Backend.events_read), so a cursor that moved further than the events returned, or
    went back (a store that began again), means the oldest were gone before they were
    read."""
    moved = int(cursor) - int(after)
    return -moved if moved < 0 else moved - len(events)
