"""Waking idle workers: a job made ready ends the wait of a worker that may run it,
whenever that wait begins, and whatever made it ready (here: an enqueue after the
worker's last claim, and a running job giving up the limit slot that held it, however
it gives it up); and a slot no held job waits for wakes nobody.

Each wait could last 30 s and must end within 4 s: a wake-up lost fails the test
(on Redis a wait comes back every 5 s, its longest block, so not sooner)."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from backend_conformance.helpers import LEASE_TTL, NOW, claim, put, settle
from conveyor.backends.base import Backend
from conveyor.status import JobStatus
from conveyor.types import JobRecord, Limits, Settlement

WAIT, PROMPT = 30.0, 4.0


@contextmanager
def ends_promptly(backend: Backend, queues: list[str]) -> Iterator[None]:
    """Start a wait for jobs of ``queues``; what the block does must end it within PROMPT."""
    waiting = threading.Thread(target=backend.wait_for_jobs, args=(queues, WAIT), daemon=True)
    waiting.start()
    yield
    waiting.join(PROMPT)
    assert not waiting.is_alive(), "the wait went on: a wake-up was lost"


def drain(backend: Backend, queues: list[str]) -> None:
    """Take the wake-ups waiting for ``queues`` (as a worker's earlier waits would have),
    and start listening for the next."""
    for _ in range(17):  # at most 16 tokens wait per queue
        backend.wait_for_jobs(queues, 0.01)


def test_a_job_enqueued_between_a_claim_and_the_wait_after_it_ends_the_wait(backend: Backend, other: Backend) -> None:
    assert claim(backend) == [], "the worker's claim: nothing yet"
    put(other)
    with ends_promptly(backend, ["default"]):
        pass  # the wait that follows the claim ends at once


@pytest.mark.parametrize(
    ("limits", "users"),
    [(Limits(per_user_max=1), ("alice", "alice")), (Limits(global_max=1), ("alice", "bob"))],
    ids=["per user", "global"],
)
def test_a_job_held_by_a_limit_ends_a_wait_when_a_running_job_frees_its_slot(
    backend: Backend, other: Backend, limits: Limits, users: tuple[str, str]
) -> None:
    # the limit spans queues: the worker of "second" must hear that "first"'s job ended
    put(backend, queue="first", user_id=users[0])
    (running,) = claim(backend, ("first",))
    put(backend, queue="second", user_id=users[1])
    drain(other, ["second"])
    assert other.jobs_claim(["second"], "w-2", 10, "t-2", NOW + LEASE_TTL, NOW, limits) == [], "held"
    with ends_promptly(other, ["second"]):
        assert settle(backend, running, JobStatus.FINISHED)
    assert [r.user_id for r in other.jobs_claim(["second"], "w-2", 10, "t-3", NOW + LEASE_TTL, NOW, limits)] == [
        users[1]
    ]


class WakeupsSent:
    """Counts the wake-ups sent from now on to the idle workers of one queue, as a worker
    waiting all along would get them: on Redis the tokens pushed to the queue's list
    (emptied first), on SQLite the signals to a socket of its own in the wake-up
    directory (each waiting worker gets every signal)."""

    def __init__(self, backend: Any, queue: str) -> None:
        self.backend = backend
        self.received = 0
        if backend.kind == "redis":
            self.key = backend.keys.wake(queue)
            backend._redis.delete(self.key)
            return
        directory = backend._wakeup.directory
        directory.mkdir(mode=0o700, exist_ok=True)
        self.path = directory / f"counter-{uuid.uuid4().hex[:8]}.sock"
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(self.path))
        self.socket.setblocking(False)

    def count(self) -> int:
        if self.backend.kind == "redis":
            return int(self.backend._redis.llen(self.key))
        while True:  # (a signal is in the socket once the write that sent it returns)
            try:
                self.socket.recv(64)
            except BlockingIOError:
                return self.received
            self.received += 1

    def close(self) -> None:
        if self.backend.kind != "redis":
            self.socket.close()
            self.path.unlink(missing_ok=True)


@pytest.fixture
def wakeups(backend: Backend) -> Iterator[Callable[[str], WakeupsSent]]:
    """Start counting the wake-ups sent to a queue's idle workers."""
    counters: list[WakeupsSent] = []

    def start(queue: str) -> WakeupsSent:
        counters.append(WakeupsSent(backend, queue))
        return counters[-1]

    yield start
    for counter in counters:
        counter.close()


def hold_back(backend: Backend, limits: Limits, **fields: Any) -> JobRecord:
    """A job of "second" (whatever queue ``fields`` name) that a claim with ``limits`` leaves queued."""
    held = put(backend, **{**fields, "queue": "second"})
    assert backend.jobs_claim(["second"], "w-2", 10, "t-2", NOW + LEASE_TTL, NOW, limits) == [], "held"
    return held


def claimed_by_w2(backend: Backend, limits: Limits) -> list[str]:
    return [r.id for r in backend.jobs_claim(["second"], "w-2", 10, "t-3", NOW + LEASE_TTL, NOW, limits)]


def started(backend: Backend, queue: str, worker: str, **fields: Any) -> JobRecord:
    """A job of ``queue`` put and claimed by ``worker``."""
    job = put(backend, queue=queue, **fields)
    (record,) = backend.jobs_claim([queue], worker, 10, "token-" + worker, NOW + LEASE_TTL, NOW)
    assert record.id == job.id
    return record


@pytest.mark.parametrize(
    ("limits", "holder", "other"),
    [
        (Limits(per_user_max=1), {"queue": "first", "user_id": "alice"}, {"queue": "first", "user_id": "bob"}),
        (Limits(per_queue={"second": 1}), {"queue": "second"}, {"queue": "first"}),
        (Limits(per_job_type={"jobs.render": 1}), {"queue": "first", "func_name": "jobs.render"},
         {"queue": "first", "func_name": "jobs.ping"}),
    ],
    ids=["per user", "per queue", "per job type"],
)  # fmt: skip
def test_a_slot_no_held_job_waits_for_wakes_nobody(
    backend: Backend, wakeups: Callable[[str], WakeupsSent], limits: Limits, holder: dict[str, str],
    other: dict[str, str],
) -> None:  # fmt: skip
    # alice is at her cap, and bob's jobs keep ending: each settle woke the idle workers
    # of alice's held job, which claimed nothing (on SQLite, each a write transaction)
    holding = started(backend, worker="w-1", **holder)
    others = [started(backend, worker=f"w-other-{i}", **other) for i in range(3)]
    held = hold_back(backend, limits, **holder)
    sent = wakeups("second")
    for record in others:
        assert settle(backend, record, JobStatus.FINISHED)
    assert sent.count() == 0, "woken in vain by slots the held job does not wait for"
    assert claimed_by_w2(backend, limits) == [], "still held"
    assert settle(backend, holding, JobStatus.FINISHED)
    assert sent.count() == 1, "woken by the slot it waits for"
    assert claimed_by_w2(backend, limits) == [held.id]


def test_a_slot_of_any_job_frees_the_global_limit(backend: Backend, wakeups: Callable[[str], WakeupsSent]) -> None:
    limits = Limits(global_max=1, per_user_max=5)
    holding = started(backend, "first", "w-1", user_id="bob")
    held = hold_back(backend, limits, user_id="alice")
    sent = wakeups("second")
    assert settle(backend, holding, JobStatus.FINISHED)
    assert sent.count() == 1
    assert claimed_by_w2(backend, limits) == [held.id]


def test_jobs_a_claim_read_past_are_woken_when_their_type_frees_a_slot(
    backend: Backend, wakeups: Callable[[str], WakeupsSent]
) -> None:
    # the claim took alice's ping from behind her held renders: they wait for a render slot
    limits = Limits(per_job_type={"jobs.render": 1})
    holding = started(backend, "first", "w-1", func_name="jobs.render")
    renders = [put(backend, queue="second", user_id="alice", func_name="jobs.render") for _ in range(2)]
    ping = put(backend, queue="second", user_id="alice", func_name="jobs.ping")
    claimed = backend.jobs_claim(["second"], "w-2", 1, "t-2", NOW + LEASE_TTL, NOW, limits)
    assert [record.id for record in claimed] == [ping.id]
    sent = wakeups("second")
    assert settle(backend, claimed[0], JobStatus.FINISHED)
    assert sent.count() == 0, "woken by a ping slot, which no held job waits for"
    assert settle(backend, holding, JobStatus.FINISHED)
    assert sent.count() == 1
    assert claimed_by_w2(backend, limits) == [renders[0].id]


def cancel(backend: Backend, record: JobRecord, keep: float = 99) -> None:
    backend.job_cancel(record.id, NOW, NOW + keep, False)


def refused_after_a_cancel(backend: Backend, record: JobRecord) -> None:
    cancel(backend, record)
    stopped = Settlement(record.id, record.lease_token or "", JobStatus.STOPPED, keep_until=NOW + 9)
    assert backend.jobs_settle([stopped], NOW) == [False]


LAPSED = NOW + LEASE_TTL + 1


def recovered_after_a_cancel(backend: Backend, record: JobRecord) -> None:
    cancel(backend, record)
    backend.leases_recover(LAPSED)


def requeued_after_a_cancel(backend: Backend, record: JobRecord) -> None:
    cancel(backend, record)
    assert backend.jobs_requeue([record.id], LAPSED) == [record.id]


def purged_after_a_cancel(backend: Backend, record: JobRecord) -> None:
    cancel(backend, record, keep=1)
    assert backend.jobs_purge(NOW + 2, 10) == 1


FREEING: dict[str, Callable[[Backend, JobRecord], object]] = {
    "settled": lambda backend, record: settle(backend, record, JobStatus.FINISHED),
    "settled for a retry": lambda backend, record: settle(backend, record, JobStatus.QUEUED, count_retry=True),
    "settled, refused after a cancel": refused_after_a_cancel,
    "deleted": lambda backend, record: backend.job_delete(record.id),
    "recovered": lambda backend, record: backend.leases_recover(LAPSED),
    "recovered after a cancel": recovered_after_a_cancel,
    "requeued after a cancel": requeued_after_a_cancel,
    "purged after a cancel": purged_after_a_cancel,
}
"""Every way a running job gives up its limit slot."""


@pytest.mark.parametrize("how", FREEING)
def test_a_held_job_is_woken_for_however_the_slot_frees(
    backend: Backend, wakeups: Callable[[str], WakeupsSent], how: str
) -> None:
    limits = Limits(per_user_max=1)
    holding = started(backend, "first", "w-1", user_id="alice")
    held = hold_back(backend, limits, user_id="alice")
    sent = wakeups("second")
    FREEING[how](backend, holding)
    assert sent.count() >= 1, "the held job's workers were not woken"
    assert claimed_by_w2(backend, limits) == [held.id]
