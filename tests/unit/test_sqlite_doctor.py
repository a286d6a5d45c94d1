"""The doctor on what only SQLite keeps beside its rows: the counters."""

from __future__ import annotations

from pathlib import Path

import conveyor
from backend_conformance import corruption
from conveyor.testing import make_job

NOW = 1_000_000.0


def test_counters_that_lie_are_recounted(tmp_path: Path) -> None:
    backend = conveyor.connect(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        make_job(backend)
        corruption.skew_counts(backend, "default", "queued")
        (found,) = backend.invariants_check(NOW, False)
        assert (found.kind, found.subject, found.detail) == ("counts", "default/queued", "counter says 6, jobs say 1")
        assert backend.invariants_check(NOW, True)[0].repaired
        assert backend.invariants_check(NOW, False) == []
        assert backend.jobs_count("default", [conveyor.JobStatus.QUEUED]) == 1
    finally:
        backend.close()
