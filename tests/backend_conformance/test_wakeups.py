"""Waking idle workers: a job made ready ends the wait of a worker that may run it,
whenever that wait begins, and whatever made it ready (here: an enqueue after the
worker's last claim, and a running job giving up the limit slot that held it).

Each wait could last 30 s and must end within 4 s: a wake-up lost fails the test
(on Redis a wait comes back every 5 s, its longest block, so not sooner)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from backend_conformance.helpers import LEASE_TTL, NOW, claim, put, settle
from conveyor.backends.base import Backend
from conveyor.status import JobStatus
from conveyor.types import Limits

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
