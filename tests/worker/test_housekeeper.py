"""The housekeeper's hold-off on lease recovery after the store was unreachable."""

from __future__ import annotations

import time
from types import SimpleNamespace

from conveyor.exceptions import BackendUnavailableError
from conveyor.worker.housekeeper import Housekeeper
from waiting import wait_until

LEASE_TTL = 0.05


def housekeeper() -> Housekeeper:
    return Housekeeper(SimpleNamespace(name="w", lease_ttl=LEASE_TTL))  # type: ignore[arg-type]


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
