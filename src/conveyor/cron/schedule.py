"""When a periodic job is due: its ticks, as instants every scheduler computes alike.

A tick is the time (epoch seconds, UTC) a run is due, not the time a scheduler happened
to notice it, so schedulers in several processes name the same run the same way and the
store can tell whether it was enqueued already (Backend.cron_enqueue). Interval ticks
are the multiples of the interval since the Unix epoch (every 60 s: each minute at :00;
every 86400 s: each midnight UTC); cron ticks are the times the expression matches, in
UTC unless a time zone is given.
"""

from __future__ import annotations

import difflib
import math
from datetime import UTC, datetime, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronsim import CronSim, CronSimError

from conveyor.durations import parse_duration
from conveyor.exceptions import InvalidJobError

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
"""The shorthands croniter (RQ's cron library) takes, as five fields."""


class Schedule(Protocol):
    """The ticks of one periodic job; ``kind``, ``text`` and ``zone_name`` say it as it was
    registered ('interval', '10m', 'UTC'), so that it can be published and rebuilt
    (``schedule_of``) by readers of the store."""

    kind: str
    text: str
    zone_name: str

    def latest_at(self, now: float) -> float:
        """The last tick at or before ``now``."""
        ...

    def next_after(self, now: float) -> float:
        """The first tick after ``now``."""
        ...

    def describe(self) -> str:
        """How a log line says it: 'every 60s', "cron '0 9 * * *' (UTC)"."""
        ...


class IntervalSchedule:
    """Every ``seconds``, on the multiples of it since the Unix epoch (``text``: as given)."""

    kind = "interval"
    zone_name = "UTC"

    def __init__(self, seconds: int, text: str | None = None) -> None:
        self.seconds = seconds
        self.text = str(seconds) if text is None else text

    def latest_at(self, now: float) -> float:
        return now - math.fmod(now, self.seconds)  # exact, where floor(now / seconds) may round up

    def next_after(self, now: float) -> float:
        return self.latest_at(now) + self.seconds

    def describe(self) -> str:
        return f"every {self.seconds}s"


class CronSchedule:
    """The times a 5-field cron expression (``text``, as given) matches, read in ``zone``."""

    kind = "cron"

    def __init__(self, text: str, fields: str, zone: tzinfo, zone_name: str) -> None:
        self.text = text
        self.fields = fields
        self.zone = zone
        self.zone_name = zone_name

    def latest_at(self, now: float) -> float:
        # cron ticks fall on whole minutes, and cronsim's reverse walk excludes its start
        return self._first(math.floor(now) + 1, reverse=True)

    def next_after(self, now: float) -> float:
        return self._first(now, reverse=False)

    def _first(self, start: float, reverse: bool) -> float:
        moment = datetime.fromtimestamp(start, self.zone)
        return next(CronSim(self.fields, moment, reverse=reverse)).timestamp()

    def describe(self) -> str:
        return f"cron {self.text!r} ({self.zone_name})"


def schedule_of(interval: object, cron: object, timezone: object) -> Schedule:
    """The schedule for ``register``'s interval= or cron= (exactly one) and timezone=;
    InvalidJobError saying what is wrong with them."""
    if interval is None and cron is None:
        raise InvalidJobError("a cron job needs a schedule: give interval= (seconds) or cron= ('0 9 * * *')")
    if interval is not None and cron is not None:
        raise InvalidJobError(f"give interval= or cron=, not both (got interval={interval!r}, cron={cron!r})")
    if interval is not None:
        if timezone is not None:
            raise InvalidJobError("timezone= applies to cron= schedules; interval ticks are counted in UTC seconds")
        return IntervalSchedule(_interval_seconds(interval), str(interval))
    zone, zone_name = _zone(timezone)
    return CronSchedule(str(cron), _cron_fields(cron, zone), zone, zone_name)


def _interval_seconds(interval: object) -> int:
    seconds = parse_duration(interval, "interval", forever_allowed=False, zero_allowed=False)
    if seconds is None or seconds != int(seconds) or seconds < 1:
        raise InvalidJobError(f"interval must be a whole number of seconds, at least 1, got {interval!r}")
    return int(seconds)


def _cron_fields(cron: object, zone: tzinfo) -> str:
    if not isinstance(cron, str):
        raise InvalidJobError(f"cron must be a string of 5 fields such as '0 9 * * *', got {cron!r}")
    fields = ALIASES.get(cron.strip().lower(), cron)
    if len(fields.split()) != 5:
        raise InvalidJobError(
            f"cron {cron!r} must have 5 fields (minute hour day-of-month month day-of-week), "
            "such as '*/15 * * * *', or be one of " + ", ".join(ALIASES)
        )
    try:
        next(CronSim(fields, datetime.now(zone)))
    except (CronSimError, StopIteration) as exc:  # (StopIteration: a date that never comes, 30 February)
        raise InvalidJobError(f"cron {cron!r} is not a valid cron expression: {exc or 'it never matches'}") from None
    return fields


def _zone(timezone: object) -> tuple[tzinfo, str]:
    if timezone is None:
        return UTC, "UTC"
    if not isinstance(timezone, str) or not timezone:
        raise InvalidJobError(f"timezone must be an IANA name such as 'Europe/Paris', got {timezone!r}")
    try:
        return ZoneInfo(timezone), timezone
    except (ZoneInfoNotFoundError, ValueError):
        advice = "IANA names such as 'Europe/Paris'; install tzdata where the system has none"
        raise InvalidJobError(
            f"timezone {timezone!r} is not a time zone this system knows{_close_zone(timezone)} ({advice})"
        ) from None


def _close_zone(name: str) -> str:
    """': did you mean 'UTC'?' for a zone mistyped or in the wrong case ('utc'), else ''."""
    known = available_timezones()
    same_but_case = sorted(zone for zone in known if zone.lower() == name.lower())
    close = same_but_case or difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
    return f": did you mean {close[0]!r}?" if close else ""
