"""How a clock offset reads in a worker's log line and in the doctor's output."""

from __future__ import annotations

import pytest

from conveyor.clock_skew import describe, explain
from conveyor.types import ClockOffset


@pytest.mark.parametrize(
    ("offset", "uncertainty", "words"),
    [
        (6.24, 0.0004, "6.2 s ahead of the store's (±0.4 ms)"),
        (-0.25, 0.15, "250 ms behind the store's (±150 ms)"),
        (0.999, 0.012, "999 ms ahead of the store's (±12 ms)"),
        (0.00002, 0.00001, "0.02 ms ahead of the store's (±0.01 ms)"),
    ],
)
def test_an_offset_reads_in_seconds_or_milliseconds_never_in_exponent_form(
    offset: float, uncertainty: float, words: str
) -> None:
    assert describe(ClockOffset(offset, uncertainty)) == f"this machine's clock is {words}"


def test_the_warning_says_the_stores_own_clock_may_be_the_one_off() -> None:
    # workers measure against the store's clock, which no lease reads: a store whose clock
    # alone is off makes every worker warn while their leases stay safe
    words = explain(ClockOffset(12.0, 0.001), lease_ttl=30)
    assert "If every worker reports about the same offset, the store's host is the clock that is off" in words
