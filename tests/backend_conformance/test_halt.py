"""A halt (a stopping worker's): the waits for jobs watch it, and end at once once set."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from backend_conformance.helpers import LEASE_TTL, NOW, get, put
from conveyor.halt import Halt
from conveyor.status import JobStatus

WAIT = 30.0
"""Each wait here asks for this long; ending within DEADLINE means the halt ended it."""
DEADLINE = 20.0


def ended_before_its_timeout(call: Callable[[], Any]) -> Any:
    """Run ``call`` on a thread; its result, once it returns, well before WAIT."""
    results: list[Any] = []
    thread = threading.Thread(target=lambda: results.append(call()), daemon=True)
    thread.start()
    thread.join(DEADLINE)
    assert not thread.is_alive(), f"the wait went on for {DEADLINE}s: the halt did not end it"
    return results[0]


def claim_waiting(backend, halt: Halt) -> list[str]:
    records = backend.jobs_claim(["default"], "w-1", 10, "token-1", NOW + LEASE_TTL, NOW, None, WAIT, halt)
    return [record.id for record in records]


def test_a_halt_set_already_ends_the_waits_at_once(backend):
    halt = Halt()
    halt.set()
    try:
        ended_before_its_timeout(lambda: backend.wait_for_jobs(["default"], WAIT, halt))
        assert ended_before_its_timeout(lambda: claim_waiting(backend, halt)) == []
    finally:
        halt.close()


def test_a_halt_set_from_another_thread_ends_a_wait(backend):
    halt = Halt()
    try:  # set as the wait begins or in it (the Redis suite sees it block first)
        results: list[list[str]] = []
        waiting = threading.Thread(target=lambda: results.append(claim_waiting(backend, halt)), daemon=True)
        waiting.start()
        halt.set()
        waiting.join(DEADLINE)
        assert not waiting.is_alive(), f"the wait went on for {DEADLINE}s: the halt did not end it"
        assert results == [[]]
    finally:
        halt.close()


def test_a_halted_claim_still_claims_what_is_queued(backend):
    job = put(backend)
    halt = Halt()
    halt.set()
    try:
        assert ended_before_its_timeout(lambda: claim_waiting(backend, halt)) == [job.id]
    finally:
        halt.close()
    assert get(backend, job.id).status is JobStatus.STARTED
