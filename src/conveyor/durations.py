"""Parsing the durations users give for timeouts and TTLs ('1h', '3m', '5s', 30)."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Hashable

from conveyor.exceptions import InvalidJobError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
LONGEST = 100 * 366 * 86400.0
"""The longest duration taken (100 years): beyond it is a mistake, and a time that far
ahead could pass the year 9999, which dates cannot show."""
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)


def parse_duration(
    value: object, name: str, *, forever_allowed: bool = True, zero_allowed: bool = True
) -> float | None:
    """Seconds for ``value``; None means no limit (given as None or -1).

    Accepts an int or float of seconds, a numeric string, or a string with one unit
    (s, m, h, d). Anything else raises InvalidJobError naming the option, and so does 0
    unless ``zero_allowed``.
    """
    if isinstance(value, Hashable):  # remembered: enqueue parses the same few values for every job
        return _cached_parse(value, name, forever_allowed, zero_allowed)
    return _parse(value, name, forever_allowed, zero_allowed)


@functools.lru_cache(maxsize=256, typed=True)
def _cached_parse(value: object, name: str, forever_allowed: bool, zero_allowed: bool) -> float | None:
    return _parse(value, name, forever_allowed, zero_allowed)


def _parse(value: object, name: str, forever_allowed: bool, zero_allowed: bool) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidJobError(f"{name} must be a number of seconds or a string like '5m', got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _PATTERN.match(value)
        if match is None:
            if value.strip() == "-1":
                seconds = -1.0
            else:
                raise InvalidJobError(
                    f"{name} {value!r} is not a duration; use seconds (30) or a number "
                    "with one unit: '45s', '3m', '1h', '2d'"
                )
        else:
            seconds = float(match.group(1)) * _UNITS[match.group(2).lower() or "s"]
    else:
        raise InvalidJobError(f"{name} must be a number of seconds or a string like '5m', got {value!r}")
    if seconds == -1:
        if not forever_allowed:
            raise InvalidJobError(f"{name} cannot be -1 (forever)")
        return None
    if seconds < 0 or not math.isfinite(seconds) or (seconds == 0 and not zero_allowed):
        least = ">= 0 seconds" if zero_allowed else "more than 0 seconds"
        forever = " or -1 for no limit" if forever_allowed else ""
        raise InvalidJobError(f"{name} must be {least}{forever}, got {value!r}")
    if seconds > LONGEST:
        forever = " (or -1 for no limit)" if forever_allowed else ""
        raise InvalidJobError(f"{name} must be at most 100 years{forever}, got {value!r}")
    return seconds


def as_rq_reads(seconds: float | None) -> int | float:
    """A stored duration as RQ code reads it back: the int it gave when whole (RQ keeps
    ints, and ``f"{job.timeout}s"`` should not say ``180.0s``), -1 for no limit."""
    if seconds is None:
        return -1
    return int(seconds) if seconds.is_integer() else seconds
