"""``conveyor doctor``: report broken invariants, repair them with --repair."""

from __future__ import annotations

import json
from pathlib import Path

import conveyor
from backend_conformance import corruption
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
    (audited,) = db.audit_read(None, 10)  # the read-only runs recorded nothing
    assert (audited.action, audited.detail) == ("store.repair", "1 lease_missing")
    assert db.leases_recover(job.lease_expires_at or 4e9)[0].status in (JobStatus.FAILED, JobStatus.QUEUED)


def test_a_damaged_sqlite_file_is_a_finding_that_repair_leaves_so_the_exit_stays_1(run: Run, db_url: str) -> None:
    backend = conveyor.connect(db_url)
    put_job(backend)
    backend.close()
    corruption.damage_sqlite_table(Path(db_url.removeprefix("sqlite:///")), "jobs")
    for args in (("doctor",), ("doctor", "--repair")):
        result = run(*args)
        assert result.exit_code == 1, args  # --repair said 0: nothing left, it seemed
        assert "damaged_file" in result.stdout
