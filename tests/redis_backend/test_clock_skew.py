"""A machine's clock against Redis's: measured, warned about by workers once per
crossing, reported by the doctor. The "local" clock is a FrozenClock set off the real
one: the machine's own clock cannot be moved."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import conveyor
from conveyor import Worker, doctor
from conveyor.backends.redis.backend import RedisBackend
from conveyor.cli import cli
from conveyor.clock import SYSTEM_CLOCK, FrozenClock
from conveyor.worker import housekeeper
from conveyor.worker.housekeeper import Housekeeper
from waiting import wait_until

LEASE = 30.0  # warnings past 5 s, errors past 10 s


def off_by(seconds: float) -> FrozenClock:
    return FrozenClock(time.time() + seconds)


def clock_records(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if "this machine's clock is" in r.getMessage()]


@pytest.mark.parametrize("seconds", [25.0, -25.0])
def test_the_offset_is_measured_against_redis_time(backend: RedisBackend, seconds: float) -> None:
    measured = backend.store_clock_offset(off_by(seconds))
    assert measured is not None and abs(measured.offset - seconds) < 0.5
    assert 0 < measured.uncertainty < 0.5, "half the best round trip to a local Redis"
    same = backend.store_clock_offset(SYSTEM_CLOCK)
    assert same is not None and abs(same.offset) < 0.5, "this machine runs the Redis too"


def test_sqlite_has_no_clock_apart_from_the_machines(tmp_path: Path) -> None:
    sqlite = conveyor.connect(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        assert sqlite.store_clock_offset(off_by(25)) is None
        assert doctor.examine(sqlite, time.time(), clock=off_by(25)) == []
    finally:
        sqlite.close()


@pytest.mark.parametrize(
    ("seconds", "level", "says"),
    [
        (1.0, None, ""),
        (-4.0, None, ""),
        (8.0, "WARNING", "8.0 s ahead of"),
        (-8.0, "WARNING", "8.0 s behind"),
        (12.0, "ERROR", "12.0 s ahead of"),
    ],
)
def test_a_worker_whose_clock_is_off_says_so_at_start(
    backend: RedisBackend, caplog: pytest.LogCaptureFixture, seconds: float, level: str | None, says: str
) -> None:
    with caplog.at_level(logging.INFO, logger="conveyor.worker"):
        Worker(["default"], connection=backend, lease_ttl=LEASE, clock=off_by(seconds)).work(burst=True)
    said = clock_records(caplog)
    if level is None:
        assert said == []
    else:
        assert len(said) == 1 and said[0][0] == level
        assert says in said[0][1] and "a second time" in said[0][1] and "NTP" in said[0][1]


def test_the_warning_comes_once_per_crossing(backend: RedisBackend, caplog: pytest.LogCaptureFixture) -> None:
    clock = off_by(0)
    keeper = Housekeeper(Worker(["default"], connection=backend, lease_ttl=LEASE, clock=clock))
    levels = []
    with caplog.at_level(logging.INFO, logger="conveyor.worker"):
        for seconds in (0, 8, 8, 12, 12, 8, 4, 8, 1, 8, 12):  # 4: off still (back in step within 2.5 s)
            clock.set(time.time() + seconds)
            keeper.check_clock()
            levels.append(",".join(level for level, _ in clock_records(caplog)) or "-")
            caplog.clear()
    assert levels == ["-", "WARNING", "-", "ERROR", "-", "-", "-", "-", "INFO", "WARNING", "ERROR"]


def test_a_running_worker_checks_its_clock_again(
    backend: RedisBackend, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(housekeeper, "CHECK_INTERVAL", 0.1)  # each minute otherwise
    clock = off_by(0)
    worker = Worker(["default"], connection=backend, lease_ttl=LEASE, clock=clock)

    def started() -> bool:  # past its start, and the check it makes then
        return worker._housekeeper is not None and worker._housekeeper.is_alive()

    with caplog.at_level(logging.WARNING, logger="conveyor.worker"):
        thread = threading.Thread(target=worker.work)
        thread.start()
        try:
            wait_until(started, timeout=10, message="the worker past its start")
            assert clock_records(caplog) == []
            clock.set(time.time() + 8)  # stepped by hand, say
            wait_until(lambda: clock_records(caplog), timeout=10, message="the worker noticed")
        finally:
            worker.request_stop()
            thread.join(timeout=30)
    assert [level for level, _ in clock_records(caplog)] == ["WARNING"]


def test_the_doctor_reports_a_clock_off_past_a_sixth_of_the_lease(backend: RedisBackend) -> None:
    assert doctor.examine(backend, time.time(), clock=off_by(1)) == []
    [found] = doctor.examine(backend, time.time(), clock=off_by(-8))
    assert found.kind == "clock_skew" and not found.repaired and "8.0 s behind" in found.detail
    assert doctor.examine(backend, time.time(), clock=off_by(-8), lease_ttl=60) == [], "a sixth of 60 s is 10 s"


def test_conveyor_doctor_shows_the_offset(backend: RedisBackend) -> None:
    runner = CliRunner()
    shown = runner.invoke(cli, ["doctor", "-u", backend.url], catch_exceptions=False)
    assert shown.exit_code == 0
    assert shown.stdout.startswith("Clock: this machine's clock is ") and "the store's" in shown.stdout
    data = json.loads(runner.invoke(cli, ["doctor", "--json", "-u", backend.url], catch_exceptions=False).stdout)
    assert abs(data["clock"]["offset"]) < 0.5 and data["findings"] == []
