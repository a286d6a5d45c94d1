"""Cron and interval schedules: their ticks, and the errors for schedules that cannot be."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from conveyor.cron.schedule import schedule_of
from conveyor.exceptions import InvalidJobError


def at(*parts: int, zone: object = UTC) -> float:
    return datetime(*parts, tzinfo=zone).timestamp()  # type: ignore[arg-type, misc]


def test_interval_ticks_fall_on_multiples_of_the_interval_since_the_epoch() -> None:
    every_hour = schedule_of(3600, None, None)
    now = at(2026, 3, 4, 10, 59, 30)
    assert every_hour.latest_at(now) == at(2026, 3, 4, 10)
    assert every_hour.next_after(now) == at(2026, 3, 4, 11)
    # on a tick: it is the latest, and the next is one interval on
    assert every_hour.latest_at(at(2026, 3, 4, 11)) == at(2026, 3, 4, 11)
    assert every_hour.next_after(at(2026, 3, 4, 11)) == at(2026, 3, 4, 12)


def test_interval_ticks_are_exact_for_any_time() -> None:
    every_7s = schedule_of(7, None, None)
    for now in (1_764_000_000.0, 1_764_000_006.999999, 1_764_000_007.0, 1_764_000_007.5e-3 + 1e9):
        latest = every_7s.latest_at(now)
        assert latest <= now < latest + 7 and latest % 7 == 0
        assert every_7s.next_after(now) == latest + 7


def test_an_interval_may_be_a_duration_string() -> None:
    assert schedule_of("5m", None, None).next_after(at(2026, 1, 1, 0, 1)) == at(2026, 1, 1, 0, 5)


def test_cron_ticks_are_read_in_utc_by_default() -> None:
    weekdays_at_nine = schedule_of(None, "0 9 * * mon-fri", None)
    friday_evening = at(2026, 3, 6, 18)
    assert weekdays_at_nine.next_after(friday_evening) == at(2026, 3, 9, 9)  # Monday
    assert weekdays_at_nine.latest_at(friday_evening) == at(2026, 3, 6, 9)
    assert weekdays_at_nine.latest_at(at(2026, 3, 6, 9)) == at(2026, 3, 6, 9)  # a tick is its own latest
    assert weekdays_at_nine.latest_at(at(2026, 3, 6, 8, 59, 59, 500000)) == at(2026, 3, 5, 9)
    assert weekdays_at_nine.next_after(at(2026, 3, 6, 9)) == at(2026, 3, 9, 9)


@pytest.mark.parametrize(("alias", "fields"), [("@daily", "0 0 * * *"), ("@hourly", "0 * * * *"),
                                                ("@weekly", "0 0 * * 0"), ("@MONTHLY", "0 0 1 * *")])  # fmt: skip
def test_rqs_cron_shorthands_are_taken(alias: str, fields: str) -> None:
    now = at(2026, 5, 17, 13, 14)
    assert schedule_of(None, alias, None).next_after(now) == schedule_of(None, fields, None).next_after(now)


def test_a_time_zone_reads_the_fields_in_it_across_a_dst_change() -> None:
    paris = ZoneInfo("Europe/Paris")
    nine_in_paris = schedule_of(None, "0 9 * * *", "Europe/Paris")
    # Paris moves to summer time on 29 March 2026: 9:00 is 8:00 UTC before, 7:00 UTC after
    assert nine_in_paris.next_after(at(2026, 3, 28, 0)) == at(2026, 3, 28, 8) == at(2026, 3, 28, 9, zone=paris)
    assert nine_in_paris.next_after(at(2026, 3, 29, 0)) == at(2026, 3, 29, 7) == at(2026, 3, 29, 9, zone=paris)
    assert "Europe/Paris" in nine_in_paris.describe()


@pytest.mark.parametrize(
    ("interval", "cron", "timezone", "fragment"),
    [
        (None, None, None, "needs a schedule"),
        (60, "* * * * *", None, "not both"),
        (0, None, None, "interval"),
        (-5, None, None, "interval"),
        (1.5, None, None, "whole number of seconds"),
        (True, None, None, "interval"),
        ("soon", None, None, "not a duration"),
        (60, None, "Europe/Paris", "timezone= applies to cron="),
        (None, "0 9 * *", None, "must have 5 fields"),
        (None, "0 0 9 * * *", None, "must have 5 fields"),
        (None, "61 * * * *", None, "not a valid cron expression"),
        (None, "0 0 30 2 *", None, "not a valid cron expression"),
        (None, 5, None, "must be a string"),
        (None, "@daily", "Mars/Olympus", "not a time zone"),
        (None, "@daily", "Europe/Pariss", "not a time zone this system knows: did you mean 'Europe/Paris'"),
        (None, "@daily", "utc", "did you mean 'UTC'"),  # zone names are case-sensitive
        (None, "@daily", "", "IANA name"),
    ],
)
def test_a_schedule_that_cannot_be_is_a_clear_error(interval: object, cron: object, timezone: object,
                                                    fragment: str) -> None:  # fmt: skip
    with pytest.raises(InvalidJobError, match=fragment) as caught:
        schedule_of(interval, cron, timezone)
    assert isinstance(caught.value, ValueError)
