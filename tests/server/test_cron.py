"""GET /api/v1/cron: the periodic jobs a real scheduler published, with their ticks."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

import jobfuncs
from backend_conformance.helpers import cron_record
from conveyor.backends.base import Backend
from conveyor.cron import CronScheduler
from conveyor.cron.entry import cron_job

from .conftest import API, ROOT

pytestmark = pytest.mark.anyio


def moment(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text)


async def test_entries_a_scheduler_published_are_listed_with_their_ticks(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    entries = [
        cron_job(jobfuncs.noop, interval="10m", name="cleanup"),
        cron_job(jobfuncs.add, args=(1, 2), cron="0 9 * * *", timezone="Europe/Paris", queue_name="reports"),
    ]
    scheduler = CronScheduler(backend, entries=entries, name="cron-1")
    before = time.time()
    scheduler.run_once()  # publishes both, enqueues the interval entry's latest tick
    cleanup, add = (await client.get(f"{API}/cron")).json()["data"]

    assert {key: cleanup[key] for key in ("name", "schedule", "schedule_kind", "timezone", "queue", "job_type",
                                          "scheduler", "host", "pid", "stale")} == {  # fmt: skip
        "name": "cleanup", "schedule": "10m", "schedule_kind": "interval", "timezone": "UTC", "queue": "default",
        "job_type": "jobfuncs.noop", "scheduler": "cron-1", "host": scheduler.publisher.hostname,
        "pid": scheduler.publisher.pid, "stale": False,
    }  # fmt: skip
    last_tick, next_tick = moment(cleanup["last_tick"]), moment(cleanup["next_tick"])
    assert last_tick.timestamp() % 600 == 0 and next_tick - last_tick == timedelta(minutes=10)
    assert last_tick.timestamp() <= before < next_tick.timestamp()
    assert moment(cleanup["last_seen"]).timestamp() == pytest.approx(before, abs=5)

    assert (add["name"], add["schedule"], add["timezone"], add["queue"]) == (
        "jobfuncs.add", "0 9 * * *", "Europe/Paris", "reports",
    )  # fmt: skip
    assert add["last_tick"] is None  # a cron entry waits for its first tick
    paris = moment(add["next_tick"]).astimezone(ZoneInfo("Europe/Paris"))
    assert (paris.hour, paris.minute) == (9, 0)
    assert timedelta(0) < paris - datetime.now(UTC) <= timedelta(days=1)


async def test_an_entry_no_scheduler_publishes_any_more_is_stale(client: httpx.AsyncClient, backend: Backend) -> None:
    now = time.time()
    backend.cron_publish([cron_record("dropped", last_seen=now - 301), cron_record("running", last_seen=now - 240)])
    listed = {entry["name"]: entry["stale"] for entry in (await client.get(f"{API}/cron")).json()["data"]}
    assert listed == {"dropped": True, "running": False}


async def test_a_schedule_this_server_cannot_read_has_no_next_tick(client: httpx.AsyncClient, backend: Backend) -> None:
    backend.cron_publish([cron_record("elsewhere", timezone="Mars/Olympus_Mons", last_seen=time.time())])
    (entry,) = (await client.get(f"{API}/cron")).json()["data"]
    assert (entry["name"], entry["next_tick"], entry["stale"]) == ("elsewhere", None, False)


async def test_any_key_lists_the_entries_and_none_yet_is_an_empty_list(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    assert (await client.get(f"{API}/cron")).json() == {"data": []}
    backend.cron_publish([cron_record("report", last_seen=time.time())])
    for headers in ({}, ROOT):  # alice (a user), then an admin
        assert [entry["name"] for entry in (await client.get(f"{API}/cron", headers=headers)).json()["data"]] == [
            "report"
        ]
