"""job_update: meta, progress and metrics, each set only when given."""

from __future__ import annotations

import pytest

from backend_conformance.helpers import ALL_STATUSES, NOW, get, put, snapshot


@pytest.fixture
def job(backend):
    return put(backend, meta=b'{"a": 1}', progress=0.5, metrics={"items_processed": 1})


def test_meta_only(backend, job):
    assert backend.job_update(job.id, NOW, meta=b'{"a": 2}') is True
    stored = get(backend, job.id)
    assert (stored.meta, stored.progress, stored.metrics) == (b'{"a": 2}', 0.5, job.metrics)


def test_progress_and_metrics(backend, job):
    assert backend.job_update(job.id, NOW, progress=0.0, metrics=b'{"items_processed": 7}') is True
    stored = get(backend, job.id)
    assert (stored.meta, stored.progress, stored.metrics) == (b'{"a": 1}', 0.0, b'{"items_processed": 7}')


def test_nothing_given_changes_nothing(backend, job):
    before = snapshot(backend)
    assert backend.job_update(job.id, NOW) is True
    assert snapshot(backend) == before


@pytest.mark.parametrize("job_status", ALL_STATUSES)
def test_update_leaves_the_status_alone(backend, job_status):
    job = put(backend, job_status)
    assert backend.job_update(job.id, NOW, progress=1.0)
    stored = get(backend, job.id)
    assert (stored.status, stored.progress) == (job_status, 1.0)


def test_update_of_a_missing_job(backend):
    assert backend.job_update("ghost", NOW, meta=b"{}") is False
    assert backend.job_update("ghost", NOW) is False
    assert snapshot(backend) == {}
