"""The housekeeper's hold-off on lease recovery after the store was unreachable."""

from __future__ import annotations

import time
from types import SimpleNamespace

from conveyor.clock import SYSTEM_CLOCK
from conveyor.exceptions import BackendUnavailableError
from conveyor.worker.housekeeper import Housekeeper
from waiting import wait_until

LEASE_TTL = 0.05


def housekeeper(serving_since: float | None = None) -> Housekeeper:
    """A housekeeper for a worker whose store began serving at ``serving_since``."""
    backend = SimpleNamespace(store_serving_since=lambda now: serving_since)
    worker = SimpleNamespace(name="w", lease_ttl=LEASE_TTL, backend=backend, clock=SYSTEM_CLOCK)
    return Housekeeper(worker)  # type: ignore[arg-type]


def store_fails(keeper: Housekeeper) -> None:
    keeper._failed("schedule", BackendUnavailableError("Redis cannot be reached"), 1.0)


def test_recovery_waits_one_lease_period_after_the_store_failed() -> None:
    keeper = housekeeper()
    assert keeper.may_recover_leases(), "nothing failed: recover at once"
    store_fails(keeper)
    failed_at = time.monotonic()
    assert not keeper.may_recover_leases(), "the other workers have not renewed yet"
    wait_until(keeper.may_recover_leases, message="recovery once a lease period has passed")
    assert time.monotonic() - failed_at > LEASE_TTL


def test_a_store_that_keeps_failing_delays_recovery_two_lease_periods_at_most() -> None:
    keeper = housekeeper()
    store_fails(keeper)
    began = time.monotonic()

    def flapping_then_recovering() -> bool:
        store_fails(keeper)  # a failure before every look: the hold-off alone would never end
        return keeper.may_recover_leases()

    wait_until(flapping_then_recovering, timeout=10, message="recovery despite the failures")
    assert time.monotonic() - began > 2 * LEASE_TTL
    store_fails(keeper)
    assert not keeper.may_recover_leases(), "then a new hold-off"


def test_a_store_that_just_began_serving_holds_recovery_back_in_a_worker_that_saw_no_failure() -> None:
    keeper = housekeeper(serving_since=time.time())  # restarted just now, before this worker began
    assert not keeper.may_recover_leases(), "workers alive through the restart have not renewed yet"
    wait_until(keeper.may_recover_leases, message="recovery a lease period after the store's start")
    assert housekeeper(serving_since=time.time() - 3600).may_recover_leases(), "serving for an hour"


def test_an_outage_longer_than_a_lease_starts_the_count_again() -> None:
    keeper = housekeeper(serving_since=time.time())
    assert not keeper.may_recover_leases(), "holding since the start"
    store_fails(keeper)
    began = time.monotonic()

    def outage_over() -> bool:
        store_fails(keeper)  # unreachable throughout: nobody could renew, nobody could recover
        return time.monotonic() - began > 3 * LEASE_TTL

    wait_until(outage_over, message="an outage of three lease periods")
    assert not keeper.may_recover_leases(), "back: the live workers get their lease period to renew"
    wait_until(keeper.may_recover_leases, message="recovery one lease period later")
