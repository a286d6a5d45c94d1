"""``conveyor doctor``: report broken invariants, repair them with --repair."""

from __future__ import annotations

import json

from conveyor.backends.base import Backend
from conveyor.status import JobStatus

from .conftest import Run, put_job


def test_a_sound_store(run: Run, db: Backend) -> None:
    put_job(db)
    result = run("doctor")
    assert (result.exit_code, result.stdout.strip()) == (0, "The store is sound: no broken invariant found")


def test_findings_then_repair(run: Run, db: Backend) -> None:
    job = put_job(db, status="started", lease_expires_at=None, lease_token=None)
    found = run("doctor")
    assert found.exit_code == 1
    assert "lease_missing" in found.stdout and job.id in found.stdout and "--repair" in found.stdout
    repaired = json.loads(run("doctor", "--repair", "--json").stdout)
    assert repaired["findings"][0]["kind"] == "lease_missing" and repaired["findings"][0]["repaired"] is True
    assert run("doctor").exit_code == 0
    assert db.leases_recover(job.lease_expires_at or 4e9)[0].status in (JobStatus.FAILED, JobStatus.QUEUED)
