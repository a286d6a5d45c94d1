"""``connect(url, read_only=True)``: a store read without a write, on either backend."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import conveyor
import jobfuncs
from conveyor import Batch, Job, Queue
from conveyor.backends.base import Backend
from conveyor.exceptions import ConfigurationError, ReadOnlyStoreError
from conveyor.status import JobStatus
from redis_server import redis_contents


def store_contents(url: str) -> object:
    """What the store holds: for SQLite, the database file's bytes and time of change
    (a read-only open may leave SQLite's own -wal and -shm files beside it: not the store)."""
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        return path.read_bytes(), path.stat().st_mtime_ns
    return redis_contents(url)


def test_reads_work_and_every_write_is_refused_saying_so(backend: Backend, url: str) -> None:
    job = Queue(connection=backend).enqueue(jobfuncs.add, 1, 2)
    Batch.create([Queue.prepare_data(jobfuncs.noop)], queue=Queue(connection=backend))
    reader = conveyor.connect(url, read_only=True)
    try:
        assert Job.fetch(job.id, connection=reader).args == (1, 2)
        assert reader.counts()["default"][JobStatus.QUEUED] == 2
        assert len(Batch.list(reader)) == 1
        assert reader.invariants_check(0.0, repair=False) == []
        assert reader.schedule_next_due() is None
        refusals = [
            lambda: Queue(connection=reader).enqueue(jobfuncs.noop),
            lambda: reader.job_cancel(job.id, 0.0, None, False),
            lambda: reader.queue_empty("default"),
            lambda: reader.invariants_check(0.0, repair=True),
            lambda: reader.workers_reap(0.0),
        ]
        for refused in refusals:
            with pytest.raises(ReadOnlyStoreError, match="opened read-only"):
                refused()
    finally:
        reader.close()
    assert Job.fetch(job.id, connection=backend).get_status() is JobStatus.QUEUED


def test_opening_and_reading_write_nothing(backend: Backend, url: str) -> None:
    Queue(connection=backend).enqueue(jobfuncs.add, 1, 2)
    backend.close()
    before = store_contents(url)
    reader = conveyor.connect(url, read_only=True)
    try:
        reader.counts(), reader.workers_list(), reader.batches_list(None, None, 10), reader.maintenance_last()
        reader.schedule_next_due()
        reader.invariants_check(0.0, repair=False)
    finally:
        reader.close()
    assert store_contents(url) == before


def test_a_missing_file_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "none.db"
    with pytest.raises(ConfigurationError, match="does not exist"):
        conveyor.connect(f"sqlite:///{path}", read_only=True)
    assert list(tmp_path.iterdir()) == []


def test_a_file_of_an_older_schema_is_not_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()  # an empty database: schema version 0
    before = path.read_bytes()
    with pytest.raises(ConfigurationError, match="read-only"):
        conveyor.connect(f"sqlite:///{path}", read_only=True)
    assert path.read_bytes() == before
