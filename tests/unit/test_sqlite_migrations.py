"""SQLite migrations: a database made by an older conveyor is brought up to date, keeping its jobs."""

from __future__ import annotations

import sqlite3

import pytest

import conveyor
from conveyor.backends.sqlite.schema import MIGRATIONS, SCHEMA_VERSION, _statements, migrate
from conveyor.exceptions import ConfigurationError
from conveyor.status import JobStatus
from conveyor.testing import make_job


def test_a_version_1_database_gets_counts_of_the_jobs_it_holds(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        for statement in _statements(MIGRATIONS[0]):
            old.execute(statement)
        old.execute("PRAGMA user_version = 1")
    with sqlite3.connect(path) as old:  # jobs written by version 1, before counters existed
        old.executemany(
            "INSERT INTO jobs (id, seq, queue, func_name, payload, serializer, status, created_at) "
            "VALUES (?, ?, ?, 'f', x'', 'json', ?, 0)",
            [("a", 1, "default", "queued"), ("b", 2, "default", "queued"), ("c", 3, "high", "failed")],
        )
    backend = conveyor.connect(f"sqlite:///{path}")
    try:
        assert backend.counts() == {"default": {JobStatus.QUEUED: 2}, "high": {JobStatus.FAILED: 1}}
        make_job(backend, queue="high")
        assert backend.jobs_count("high", [JobStatus.QUEUED, JobStatus.FAILED]) == 2
    finally:
        backend.close()
    with sqlite3.connect(path) as upgraded:
        assert upgraded.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_newer_database_is_refused(tmp_path):
    conn = sqlite3.connect(tmp_path / "new.db", isolation_level=None)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ConfigurationError, match="newer"):
        migrate(conn)
    conn.close()


def test_statements_keep_a_trigger_body_whole():
    script = "CREATE TABLE t (x); CREATE TRIGGER g AFTER INSERT ON t BEGIN SELECT 1; SELECT 2; END; SELECT 3;"
    assert _statements(script) == [
        "CREATE TABLE t (x);",
        "CREATE TRIGGER g AFTER INSERT ON t BEGIN SELECT 1; SELECT 2; END;",
        "SELECT 3;",
    ]


def test_version_3_drops_the_ended_batches_left_without_jobs(tmp_path):
    path = tmp_path / "v2.db"
    with sqlite3.connect(path) as old:
        for migration in MIGRATIONS[:2]:
            for statement in _statements(migration):
                old.execute(statement)
        old.execute("PRAGMA user_version = 2")
        old.executemany(
            "INSERT INTO batches (id, status, total, created_at) VALUES (?, ?, 1, 0)",
            [("gone", "completed"), ("kept", "completed"), ("running", "running")],
        )
        old.execute(
            "INSERT INTO jobs (id, seq, queue, func_name, payload, serializer, status, created_at, batch_id) "
            "VALUES ('a', 1, 'default', 'f', x'', 'json', 'finished', 0, 'kept')"
        )
    backend = conveyor.connect(f"sqlite:///{path}")
    try:
        assert [b and b.id for b in backend.batches_get(["gone", "kept", "running"])] == [None, "kept", "running"]
    finally:
        backend.close()
