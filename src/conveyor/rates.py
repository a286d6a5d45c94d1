"""Rate limits: at most N job starts per period, as ``Limits(per_queue_rate=...,
per_job_type_rate=..., per_user_rate=...)`` and the worker's ``--queue-rate``/
``--job-type-rate``/``--user-rate`` take them.

A rate is written ``"N/PERIOD"``: ``"10/s"``, ``"100/m"``, ``"5/h"``, ``"1000/d"``, or a
period with a number (conveyor.durations: ``"5/30s"``, ``"100/10m"``, ``"2/1.5"``
seconds), or given as a ``(count, seconds)`` tuple. Both backends keep a sliding window of
the claim times of each rate in the store and check it inside the claim (see
conveyor/backends/held.py and docs/design.md)."""

from __future__ import annotations

from dataclasses import dataclass

from conveyor.durations import parse_duration
from conveyor.exceptions import ConfigurationError, InvalidJobError

LONGEST_PERIOD = 86400.0
"""The longest period a rate takes (a day): the store keeps each start for a period,
and a count per week or month is a quota, better kept by the application."""

START_LOG_MARGIN = 10.0
"""Seconds a rate's log of starts outlives its period on Redis (its expiry, refreshed at
each start): the starts of another worker whose clock is ahead by up to this still count
(the workers' clock check warns well before, at 5 s with the default lease)."""

_UNIT_ALONE = {"s", "m", "h", "d"}


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``count`` starts in any ``period`` seconds."""

    count: int
    period: float

    def __str__(self) -> str:
        """As the worker's flags take it (``"10/60s"``): whole seconds without a point."""
        seconds = int(self.period) if self.period.is_integer() else self.period
        return f"{self.count}/{seconds}s"


RateSpec = Rate | str | tuple[int, float]
"""A rate as Limits takes it: ``"N/PERIOD"``, ``(count, seconds)`` or a Rate."""


def parse_named_rate(item: str) -> tuple[str, Rate]:
    """``NAME=N/PERIOD`` (as the worker's --queue-rate and CONVEYOR_QUEUE_RATES give a
    rate) as the name and its Rate; ConfigurationError for anything else."""
    name, sep, text = item.rpartition("=")
    if not sep or not name.strip():
        raise ConfigurationError(f"{item!r} is not NAME=N/PERIOD")
    return name.strip(), parse_rate(text.strip(), f"the rate of {name.strip()!r}")


def parse_named_rates(text: str) -> dict[str, Rate]:
    """Comma-separated ``NAME=N/PERIOD`` items (an environment variable's value)."""
    return dict(parse_named_rate(item.strip()) for item in text.split(",") if item.strip())


def parse_rate(value: object, what: str = "rate") -> Rate:
    """A Rate from ``"N/PERIOD"`` text, a ``(count, seconds)`` pair or a Rate;
    ConfigurationError naming ``what`` for anything else (N a whole number, 1 or more;
    the period more than 0 and at most a day)."""
    if isinstance(value, Rate):
        return value
    if isinstance(value, str):
        count_text, sep, period_text = value.partition("/")
        period_text = period_text.strip()
        if not sep or not count_text.strip().isdigit() or not period_text:
            raise ConfigurationError(
                f"{what} {value!r} is not a rate: write N/PERIOD, as '10/s', '100/m', '5/30s' or '1000/h'"
            )
        count: object = int(count_text)
        period: object = "1" + period_text if period_text.lower() in _UNIT_ALONE else period_text
    elif isinstance(value, tuple) and len(value) == 2:
        count, period = value
    else:
        raise ConfigurationError(f"{what} must be 'N/PERIOD' (as '10/s') or a (count, seconds) pair, got {value!r}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigurationError(f"{what}: the count must be a whole number of jobs, 1 or more, got {count!r}")
    try:
        seconds = parse_duration(period, f"{what}'s period", forever_allowed=False, zero_allowed=False)
    except InvalidJobError as exc:
        raise ConfigurationError(str(exc)) from None
    assert seconds is not None  # (forever refused)
    if seconds > LONGEST_PERIOD:
        raise ConfigurationError(f"{what}: the period must be at most a day (86400 seconds), got {value!r}")
    return Rate(count, seconds)
