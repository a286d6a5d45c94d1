"""The hold-off on lease recovery after the store was unreachable (RecoveryGate)."""

from __future__ import annotations

import time
from types import SimpleNamespace

from conveyor.clock import SYSTEM_CLOCK
from conveyor.worker.recovery_gate import RecoveryGate
from waiting import wait_until

LEASE_TTL = 0.05


def make_gate(serving_since: float | None = None) -> RecoveryGate:
    """The gate of a worker whose store began serving at ``serving_since``."""
    backend = SimpleNamespace(store_serving_since=lambda now: serving_since)
    worker = SimpleNamespace(name="w", lease_ttl=LEASE_TTL, backend=backend, clock=SYSTEM_CLOCK)
    return RecoveryGate(worker)  # type: ignore[arg-type]


def store_fails(gate: RecoveryGate) -> None:
    gate.store_unreachable()


def test_recovery_waits_one_lease_period_after_the_store_failed() -> None:
    gate = make_gate()
    assert gate.open(), "nothing failed: recover at once"
    store_fails(gate)
    failed_at = time.monotonic()
    assert not gate.open(), "the other workers have not renewed yet"
    wait_until(gate.open, message="recovery once a lease period has passed")
    assert time.monotonic() - failed_at > LEASE_TTL


def test_a_store_that_keeps_failing_delays_recovery_two_lease_periods_at_most() -> None:
    gate = make_gate()
    store_fails(gate)
    began = time.monotonic()

    def flapping_then_recovering() -> bool:
        store_fails(gate)  # a failure before every look: the hold-off alone would never end
        return gate.open()

    wait_until(flapping_then_recovering, timeout=10, message="recovery despite the failures")
    assert time.monotonic() - began > 2 * LEASE_TTL
    store_fails(gate)
    assert not gate.open(), "then a new hold-off"


def test_a_store_that_just_began_serving_holds_recovery_back_in_a_worker_that_saw_no_failure() -> None:
    gate = make_gate(serving_since=time.time())  # restarted just now, before this worker began
    assert not gate.open(), "workers alive through the restart have not renewed yet"
    wait_until(gate.open, message="recovery a lease period after the store's start")
    assert make_gate(serving_since=time.time() - 3600).open(), "serving for an hour"


def test_an_outage_longer_than_a_lease_starts_the_count_again() -> None:
    gate = make_gate(serving_since=time.time())
    assert not gate.open(), "holding since the start"
    store_fails(gate)
    began = time.monotonic()

    def outage_over() -> bool:
        store_fails(gate)  # unreachable throughout: nobody could renew, nobody could recover
        return time.monotonic() - began > 3 * LEASE_TTL

    wait_until(outage_over, message="an outage of three lease periods")
    assert not gate.open(), "back: the live workers get their lease period to renew"
    wait_until(gate.open, message="recovery one lease period later")
