"""The conformance ``backend`` fixture: the shared backend, audited on every write.

Every write made through it, by any test of the suite, is checked against the state
machine (each status change must be allowed by conveyor.status.can_transition), each job
it ends must be counted once in the throughput counters, and a write that raises must
leave the store exactly as it was (operations are atomic).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest

import conveyor
from backend_conformance.helpers import counts_of, snapshot, transitions
from conftest import BACKENDS, SENTINEL
from conveyor.backends.base import Backend
from conveyor.status import TERMINAL, can_transition
from conveyor.types import JobEvent, JobRecord

THROUGH_SENTINEL = frozenset(
    {"test_claim_wait", "test_due_signals", "test_events", "test_halt", "test_settle", "test_wakeups"}
)
"""The modules run through a Sentinel URL too: those of the blocking reads, the due-time
subscription and the scripts' own connections (the others would add time, not coverage)."""


@pytest.fixture(params=[*BACKENDS, SENTINEL])
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drop the Sentinel runs of the modules not in THROUGH_SENTINEL."""
    dropped = [
        item for item in items
        if getattr(item, "callspec", None) is not None and item.callspec.params.get("backend_kind") == SENTINEL
        and item.module.__name__.rsplit(".")[-1] not in THROUGH_SENTINEL
    ]  # fmt: skip
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in set(dropped)]


WRITES = frozenset(
    {
        "jobs_enqueue",
        "cron_enqueue",
        "jobs_claim",
        "jobs_settle",
        "leases_extend",
        "leases_recover",
        "job_cancel",
        "job_request_stop",
        "jobs_requeue",
        "job_delete",
        "job_update",
        "jobs_promote_due",
        "jobs_expire",
        "jobs_purge",
        "queue_empty",
        "queues_pause",
        "queues_resume",
        "audit_append",
        "batch_create",
        "batch_start",
        "batch_reschedule",
        "batch_cancel",
        "batches_start_due",
        "batches_complete",
        "invariants_check",
    }
)

NOT_ENDING = frozenset({"job_delete", "queue_empty", "jobs_purge"})
"""Writes whose jobs gone were not ended by them (and the purge drops old throughput minutes)."""


class AuditedBackend:
    """Forwards everything to a backend; audits the writes (see the module doc)."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name not in WRITES:
            return attribute
        return self._audited(name, attribute)

    def _audited(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            before = snapshot(self.inner)
            ended_before = self.inner.throughput(0).ended
            cursor, _ = self.inner.events_read(None, 0, 0)
            try:
                result = method(*args, **kwargs)
            except Exception:
                assert snapshot(self.inner) == before, f"{name} raised but changed the store"
                assert self.inner.events_read(cursor, 100_000, 0)[1] == [], f"{name} raised but published"
                raise
            after = snapshot(self.inner)
            # enqueueing over a terminal job replaces it: a new job, not a transition
            replaced = frozenset(r.id for r in args[0]) if name == "jobs_enqueue" else frozenset()
            if name == "cron_enqueue":
                replaced = frozenset({args[2].id})
            if name == "batch_create":
                replaced = frozenset(r.id for r in [*args[1], *args[2]])
            moves = transitions(before, after, replaced)
            for job_id, old, new in moves:
                assert can_transition(old, new), f"{name} moved job {job_id} from {old} to {new}"
            if name not in NOT_ENDING:
                # (a settle may delete the job it ended: gone, it ended all the same)
                gone = [job for job_id, job in before.items() if job_id not in after and job.status not in TERMINAL]
                ended = sum(new in TERMINAL and old not in TERMINAL for _, old, new in moves) + len(gone)
                counted = self.inner.throughput(0).ended - ended_before
                assert counted == ended, f"{name} ended {ended} jobs but counted {counted} in the throughput"
            _check_published(name, before, after, self.inner.events_read(cursor, 100_000, 0)[1])
            assert self.inner.counts() == counts_of(after), f"{name} left counts() different from the jobs"
            return result

        return call


def _check_published(
    name: str, before: dict[str, JobRecord], after: dict[str, JobRecord], events: list[JobEvent]
) -> None:
    """Every job the write added, moved or deleted has, as its last event, its new state."""
    last = {event.job_id: event.status for event in events}
    for job_id, record in after.items():
        old = before.get(job_id)
        if old is None or old.status is not record.status:
            assert last.get(job_id, "none") is record.status, f"{name} did not publish {job_id} -> {record.status}"
    for job_id in before.keys() - after.keys():
        assert last.get(job_id, "none") is None, f"{name} did not publish the deletion of {job_id}"


@pytest.fixture
def backend(backend: Backend) -> Backend:
    return cast(Backend, AuditedBackend(backend))


@pytest.fixture
def other(url: str) -> Iterator[Backend]:
    """Another process's connection to the same store: another worker, or a client."""
    connection = conveyor.connect(url)
    yield connection
    connection.close()
