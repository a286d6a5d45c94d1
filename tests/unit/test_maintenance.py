"""Maintenance passes: purging in chunks, within a time budget."""

from __future__ import annotations

import pytest

from conveyor import maintenance
from conveyor.backends.base import Backend
from conveyor.status import JobStatus
from conveyor.testing import make_record

NOW = 1_000_000.0


def fill(backend: Backend, count: int) -> None:
    backend.jobs_enqueue([make_record(status=JobStatus.FINISHED, keep_until=NOW) for _ in range(count)], NOW)


def test_cleanup_purges_everything_in_chunks_without_a_budget(backend: Backend) -> None:
    fill(backend, maintenance.PURGE_CHUNK * 2 + 5)
    report = maintenance.run_cleanup(backend, NOW + 1)
    assert report.purged == maintenance.PURGE_CHUNK * 2 + 5
    assert not report.unfinished
    assert backend.jobs_count(None, [JobStatus.FINISHED]) == 0


def test_cleanup_stops_at_its_budget_and_says_so(backend: Backend) -> None:
    fill(backend, maintenance.PURGE_CHUNK * 3)
    report = maintenance.run_cleanup(backend, NOW + 1, budget=0)
    assert report.purged == maintenance.PURGE_CHUNK  # one chunk, then the budget is spent
    assert report.unfinished
    assert backend.jobs_count(None, [JobStatus.FINISHED]) == maintenance.PURGE_CHUNK * 2


def test_one_worker_at_a_time_cleans_up(backend: Backend) -> None:
    fill(backend, 3)
    assert backend.maintenance_claim("other-worker", NOW, NOW + 60)
    skipped = maintenance.run_cleanup(backend, NOW + 1, owner="me")
    assert skipped.skipped and skipped.purged == 0
    assert backend.maintenance_last() is None
    report = maintenance.run_cleanup(backend, NOW + 1)  # by hand: regardless of the lock
    assert (report.skipped, report.purged) == (False, 3)
    assert backend.maintenance_last() == NOW + 1


def test_an_unfinished_pass_keeps_the_lock_and_is_not_recorded(backend: Backend) -> None:
    fill(backend, maintenance.PURGE_CHUNK * 2)
    report = maintenance.run_cleanup(backend, NOW + 1, budget=0, owner="me")
    assert report.unfinished
    assert backend.maintenance_last() is None
    assert not backend.maintenance_claim("other-worker", NOW + 2, NOW + 60)
    assert not maintenance.run_cleanup(backend, NOW + 2, owner="me").unfinished
    assert backend.maintenance_last() == NOW + 2
    assert backend.maintenance_claim("other-worker", NOW + 3, NOW + 60)


def test_retention_deletes_what_came_due_in_the_lock_holder_only(backend: Backend) -> None:
    fill(backend, 3)
    assert backend.maintenance_claim("other-worker", NOW, NOW + 60)
    assert maintenance.run_retention(backend, NOW + 1, "me", budget=1).skipped
    assert backend.jobs_count(None, [JobStatus.FINISHED]) == 3
    report = maintenance.run_retention(backend, NOW + 61, "me", budget=1)  # the other's lock ran out
    assert (report.skipped, report.purged, report.unfinished) == (False, 3, False)
    assert backend.maintenance_last() is None  # a full pass (reaping too) is what gets recorded
    assert not backend.maintenance_claim("other-worker", NOW + 62, NOW + 120)  # kept by "me"


def test_retention_stops_at_its_budget_and_says_so(backend: Backend) -> None:
    fill(backend, maintenance.PURGE_CHUNK * 2)
    report = maintenance.run_retention(backend, NOW + 1, "me", budget=0)
    assert (report.purged, report.unfinished) == (maintenance.PURGE_CHUNK, True)


def test_a_budgeted_purge_pauses_between_chunks_as_long_as_each_took(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    pauses: list[float] = []
    monkeypatch.setattr(maintenance.time, "sleep", pauses.append)
    fill(backend, maintenance.PURGE_CHUNK * 3 + 1)
    report = maintenance.run_retention(backend, NOW + 1, "me", budget=60)
    assert (report.purged, report.unfinished) == (maintenance.PURGE_CHUNK * 3 + 1, False)
    assert len(pauses) == 3 and all(pause > 0 for pause in pauses), "a pause after each full chunk, none at the end"
    fill(backend, maintenance.PURGE_CHUNK * 2)
    pauses.clear()
    assert maintenance.run_cleanup(backend, NOW + 1).purged == maintenance.PURGE_CHUNK * 2
    assert pauses == [], "conveyor cleanup (no budget) runs at full speed"
