"""The event hub when its reader falls behind the events the store keeps."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import conveyor
import jobfuncs
from conveyor import JobStatus, Queue
from conveyor.backends.base import Backend
from conveyor.backends.sqlite import changes
from conveyor.exceptions import BackendUnavailableError
from conveyor.server.events import MISSED, OUTAGE, Change, EventHub, skipped_events
from conveyor.types import JobEvent

pytestmark = pytest.mark.anyio


class GatedReads:
    """A real backend whose event reads (after the first) wait until the test opens the
    gate: the hub's reader falls behind on demand."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.gate = threading.Event()

    def events_read(self, after: str | None, limit: int, timeout: float) -> tuple[str, list[JobEvent]]:
        if after is not None:
            self.gate.wait(60)
        return self.inner.events_read(after, limit, timeout)


async def test_a_follower_re_reads_its_job_when_its_event_was_gone_before_the_hub_read_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(changes, "EVENTS_KEPT", 5)
    backend = conveyor.connect(f"sqlite:///{tmp_path / 'jobs.db'}")
    queue = Queue(connection=backend)
    followed = queue.enqueue(jobfuncs.noop)
    gated = GatedReads(backend)
    hub = EventHub(gated, wait_seconds=0.2)  # type: ignore[arg-type]  (the hub only reads events)
    try:
        async with hub.subscribe(followed.id) as subscription:
            followed.cancel()
            for _ in range(10):  # enough later events that the cancel's is trimmed
                queue.enqueue(jobfuncs.noop)
            gated.gate.set()
            assert await subscription.changes(30) == [Change(MISSED, None)], (
                "woken to re-read, though its own event was gone"
            )
        assert followed.get_status() is JobStatus.CANCELED
    finally:
        gated.gate.set()
        hub.stop()
        backend.close()


class FailingOnce:
    """A real backend whose first event read after the start fails, as when the store
    went away for a moment (and may have come back without the events it had)."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.failed = False

    def events_read(self, after: str | None, limit: int, timeout: float) -> tuple[str, list[JobEvent]]:
        if after is not None and not self.failed:
            self.failed = True
            raise BackendUnavailableError("the store went away")
        return self.inner.events_read(after, limit, timeout)


async def test_followers_re_read_their_jobs_after_the_event_reader_failed(tmp_path: Path) -> None:
    backend = conveyor.connect(f"sqlite:///{tmp_path / 'jobs.db'}")
    followed = Queue(connection=backend).enqueue(jobfuncs.noop)
    hub = EventHub(FailingOnce(backend), wait_seconds=0.2)  # type: ignore[arg-type]
    try:
        async with hub.subscribe(followed.id) as subscription:
            told = await subscription.changes(30)
            while Change(MISSED, None) not in told:
                told += await subscription.changes(30)
            assert told == [Change(OUTAGE, None), Change(MISSED, None)], "told at the failure, woken once back"
    finally:
        hub.stop()
        backend.close()


@pytest.mark.parametrize(
    ("after", "cursor", "returned", "skipped"),
    [("10", "13", 3, 0), ("10", "10", 0, 0), ("10", "20", 3, 7), ("10", "0", 0, 10)],
)
def test_skipped_events_are_what_the_cursor_moved_past_the_events_returned(
    after: str, cursor: str, returned: int, skipped: int
) -> None:
    assert skipped_events(after, cursor, [JobEvent("j", None)] * returned) == skipped


async def test_each_change_carries_its_event_number_as_a_snapshot_counts_them(tmp_path: Path) -> None:
    backend = conveyor.connect(f"sqlite:///{tmp_path / 'jobs.db'}")
    followed = Queue(connection=backend).enqueue(jobfuncs.noop)
    hub = EventHub(backend, wait_seconds=0.2)
    try:
        async with hub.subscribe(followed.id) as subscription:
            _, before = backend.job_snapshot(followed.id)
            followed.set_progress(0.5)
            followed.cancel()
            _, after = backend.job_snapshot(followed.id)
            changes: list[Change] = []
            while len(changes) < 2:
                changes += await subscription.changes(30)
        assert changes == [Change(int(before) + 1, None), Change(int(after), JobStatus.CANCELED)]
    finally:
        hub.stop()
        backend.close()
