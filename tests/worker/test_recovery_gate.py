"""The hold-off on lease recovery after the store was unreachable or stalled (RecoveryGate)."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import SimpleNamespace

from conveyor.clock import SYSTEM_CLOCK
from conveyor.worker.recovery_gate import RecoveryGate
from waiting import wait_until

LEASE_TTL = 0.5
"""Short, yet long enough that the gate sees no stall between two statements of a test
on a loaded machine (renewals half a lease apart are one)."""


def make_gate(serving_since: float | None = None) -> RecoveryGate:
    """The gate of a worker whose store began serving at ``serving_since``."""
    backend = SimpleNamespace(store_serving_since=lambda now: serving_since)
    worker = SimpleNamespace(name="w", lease_ttl=LEASE_TTL, backend=backend, clock=SYSTEM_CLOCK)
    return RecoveryGate(worker)  # type: ignore[arg-type]


def store_fails(gate: RecoveryGate) -> None:
    gate.store_unreachable()


def asked(gate: RecoveryGate) -> bool:
    """What a housekeeper's pass does: a heartbeat, then the question."""
    gate.renewed()
    return gate.open()


def past_its_first_lease(gate: RecoveryGate) -> RecoveryGate:
    """The gate once its worker has run a lease period (it holds recovery back until
    then), renewing every tenth of a lease: paced, not waiting for anything (wait_until
    polls up to half a lease apart here, which the gate takes for a stall)."""
    began = time.monotonic()
    while time.monotonic() - began <= LEASE_TTL:
        gate.renewed()
        time.sleep(LEASE_TTL / 10)
    gate.renewed()
    return gate


def asked_until_open(gate: RecoveryGate, before_each: Callable[[], object] = lambda: None) -> float:
    """Ask as a housekeeper does, a heartbeat every tenth of a lease (paced: wait_until
    polls up to half a lease apart here, which the gate takes for a stall), until the
    gate opens; when it did (monotonic). Fails after 10 s."""
    deadline = time.monotonic() + 10
    while True:
        before_each()
        if asked(gate):
            return time.monotonic()
        assert time.monotonic() < deadline, "the gate never opened"
        time.sleep(LEASE_TTL / 10)


def lease_fraction_passes(since: float, fraction: float) -> None:
    wait_until(lambda: time.monotonic() - since > fraction * LEASE_TTL, message=f"{fraction} of a lease")


def test_a_worker_recovers_nothing_in_its_first_lease_period() -> None:
    """It cannot tell whether the store has just come back from an outage or a stall it
    did not see (started in its last half-lease, or after a partition of the others)."""
    began = time.monotonic()
    gate = make_gate(serving_since=time.time() - 3600)  # the store has been serving for an hour
    assert not asked(gate), "live workers may not have renewed yet"
    assert asked_until_open(gate) - began > LEASE_TTL, "recovery a lease period after the start"


def test_recovery_waits_one_lease_period_after_the_store_failed() -> None:
    gate = past_its_first_lease(make_gate())
    assert gate.open(), "nothing failed since: recover at once"
    store_fails(gate)
    failed_at = time.monotonic()
    assert not gate.open(), "the other workers have not renewed yet"
    assert asked_until_open(gate) - failed_at > LEASE_TTL, "recovery once a lease period has passed"


def test_a_store_that_keeps_failing_delays_recovery_two_lease_periods_at_most() -> None:
    gate = make_gate()
    store_fails(gate)
    began = time.monotonic()

    # a failure before every look: the hold-off alone would never end
    assert asked_until_open(gate, lambda: store_fails(gate)) - began > 2 * LEASE_TTL, "recovery despite the failures"
    store_fails(gate)
    assert not gate.open(), "then a new hold-off"


def test_a_store_that_just_began_serving_holds_recovery_back_in_a_worker_that_saw_no_failure() -> None:
    gate = make_gate(serving_since=time.time())  # restarted just now, before this worker began
    assert not gate.open(), "workers alive through the restart have not renewed yet"
    asked_until_open(gate)  # a lease period after the store's start
    assert past_its_first_lease(make_gate(serving_since=time.time() - 3600)).open(), "serving for an hour"


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
    asked_until_open(gate)  # one lease period later


def test_renewals_held_up_past_half_a_lease_hold_recovery_back_one_lease_period() -> None:
    gate = past_its_first_lease(make_gate())
    assert not gate.renewed() and gate.open(), "renewals on time"
    renewed_at = time.monotonic()
    lease_fraction_passes(renewed_at, 0.6)  # a stalled store: every worker's renewals wait
    assert not gate.open(), "its own renewal is overdue, so may the others' be"
    assert gate.renewed(), "a late renewal: renew again at once"
    stall_ended = time.monotonic()
    assert not gate.open(), "the live workers held up as long have not renewed yet"
    assert asked_until_open(gate) - stall_ended > LEASE_TTL, "recovery a lease period after the stall"


def test_a_renewal_overdue_holds_recovery_back_past_the_two_period_cap() -> None:
    gate = make_gate()
    store_fails(gate)
    assert not asked(gate), "holding since the failure"
    began = time.monotonic()
    lease_fraction_passes(began, 2.5)  # no renewal got through for 2.5 leases: a stall
    assert not gate.open(), "a pass sent into a stall would take the leases that lapsed in it"
    assert gate.renewed()
    assert not gate.open(), "a stall longer than a lease: the count starts again"


def test_a_stall_after_a_long_hold_off_starts_the_count_again() -> None:
    """The two-period cap is for a store that keeps failing; a stall at its end is one
    live leases may have lapsed in, and gets its own lease period."""
    gate = make_gate()
    began = time.monotonic()
    while time.monotonic() - began <= 1.5 * LEASE_TTL:  # a flapping store, the worker renewing
        store_fails(gate)
        assert not asked(gate), "holding"
        time.sleep(LEASE_TTL / 10)
    lease_fraction_passes(time.monotonic(), 0.7)  # then a stall: the hold-off began 2.2 leases ago
    assert gate.renewed()
    assert not gate.open(), "past the cap, yet the live workers held up by the stall have not renewed"
