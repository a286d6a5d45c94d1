"""Periodic jobs as schedulers publish them: cron_publish, cron_entries, cron_reap."""

from __future__ import annotations

import dataclasses

import conveyor
from backend_conformance.helpers import NOW, cron_record
from conveyor.testing import make_record


def test_published_entries_are_read_back_by_name_with_no_tick_yet(backend):
    daily = cron_record("report")
    minutely = cron_record("cleanup", schedule_kind="interval", schedule="10m", timezone="UTC", queue="default",
                           job_type="myapp.jobs.cleanup", last_seen=NOW + 0.123456789)  # fmt: skip
    backend.cron_publish([daily, minutely])
    assert backend.cron_entries() == [minutely, daily]
    assert type(backend.cron_entries()[0].last_seen) is float


def test_an_entry_is_read_with_the_last_tick_enqueued_for_it(backend):
    backend.cron_publish([cron_record("report"), cron_record("cleanup")])
    backend.cron_enqueue("report", NOW - 60.5, make_record(), NOW)
    backend.cron_enqueue("report", NOW - 0.25, make_record(), NOW)
    ticks = {entry.name: entry.last_tick for entry in backend.cron_entries()}
    assert ticks == {"cleanup": None, "report": NOW - 0.25}


def test_publishing_again_replaces_the_definition_and_keeps_the_tick(backend):
    backend.cron_publish([cron_record("report")])
    backend.cron_enqueue("report", NOW - 60, make_record(), NOW)
    moved = cron_record("report", schedule="30 8 * * *", timezone="UTC", scheduler="host-b.7.cafe",
                        hostname="host-b", pid=7, last_seen=NOW + 60)  # fmt: skip
    backend.cron_publish([moved])
    assert backend.cron_entries() == [dataclasses.replace(moved, last_tick=NOW - 60)]


def test_publishing_nothing_changes_nothing(backend):
    backend.cron_publish([cron_record("report")])
    backend.cron_publish([])
    assert [entry.name for entry in backend.cron_entries()] == ["report"]


def test_reaping_removes_the_entries_published_before_the_cutoff_and_their_ticks(backend):
    backend.cron_publish([cron_record("gone", last_seen=NOW - 100), cron_record("kept", last_seen=NOW)])
    for name in ("gone", "kept"):
        backend.cron_enqueue(name, NOW - 200, make_record(), NOW)
    assert backend.cron_reap(NOW - 10) == ["gone"]
    assert [(entry.name, entry.last_tick) for entry in backend.cron_entries()] == [("kept", NOW - 200)]
    assert backend.cron_reap(NOW - 10) == []
    # its tick went with it: republished, it is a new entry, whose catch-up does not run
    backend.cron_publish([cron_record("gone")])
    assert backend.cron_enqueue("gone", NOW - 60, make_record(), NOW, catch_up=True) is None
    assert backend.cron_entries()[0].last_tick is None


def test_a_read_only_store_lists_entries(backend, url):
    backend.cron_publish([cron_record("report")])
    reader = conveyor.connect(url, read_only=True)
    try:
        assert [entry.name for entry in reader.cron_entries()] == ["report"]
    finally:
        reader.close()
