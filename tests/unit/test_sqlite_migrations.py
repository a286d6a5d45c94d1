"""SQLite migrations: a database made by an older conveyor is brought up to date, keeping its jobs."""

from __future__ import annotations

import json
import sqlite3

import pytest

import conveyor
from conveyor.backends.sqlite.schema import MIGRATIONS, SCHEMA_VERSION, _statements, migrate
from conveyor.exceptions import ConfigurationError
from conveyor.status import JobStatus
from conveyor.testing import make_job
from conveyor.types import Settlement

NOW = 1_000_000.0


def _database_of_version(path, version):
    """An empty database as schema ``version`` left it, for a test to write an older
    conveyor's rows into."""
    with sqlite3.connect(path) as old:
        for migration in MIGRATIONS[:version]:
            for statement in _statements(migration):
                old.execute(statement)
        old.execute(f"PRAGMA user_version = {version}")


def _queued_jobs_of_version(path, version, priorities):
    """A database as schema ``version`` left it, holding queued jobs of queue 'default'
    (id: priority, in the order given)."""
    _database_of_version(path, version)
    with sqlite3.connect(path) as old:
        old.executemany(
            "INSERT INTO jobs (id, seq, queue, func_name, payload, serializer, status, priority, created_at) "
            "VALUES (?, ?, 'default', 'f', x'', 'json', 'queued', ?, 0)",
            [(job_id, seq, priority) for seq, (job_id, priority) in enumerate(priorities.items(), start=1)],
        )
        old.execute("UPDATE counters SET value = ? WHERE name = 'seq'", (len(priorities),))
        old.execute("INSERT INTO status_counts VALUES ('default', 'queued', ?)", (len(priorities),))


def test_a_version_1_database_gets_counts_of_the_jobs_it_holds(tmp_path):
    path = tmp_path / "old.db"
    _database_of_version(path, 1)
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
    _database_of_version(path, 2)
    with sqlite3.connect(path) as old:
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


def _version_8_database_with_deferred_jobs(path):
    """A store written by schema 8: dependency links without the unmet flag."""
    _database_of_version(path, 8)
    with sqlite3.connect(path) as old:
        jobs = [  # id, status, depends_on, allow_dependency_failures ('gone' was deleted)
            ("done", "finished", [], 0),
            ("failed", "failed", [], 0),
            ("running", "queued", [], 0),
            ("other", "queued", [], 0),
            ("last", "queued", [], 0),
            ("strict", "deferred", ["done", "gone", "running"], 0),
            ("lenient", "deferred", ["failed", "running"], 1),
            ("blocked", "deferred", ["failed", "running"], 0),
            ("late", "deferred", ["running", "other", "last"], 0),
        ]
        old.executemany(
            "INSERT INTO jobs (id, seq, queue, func_name, payload, serializer, status, created_at, depends_on, "
            "allow_dependency_failures) VALUES (?, ?, ?, 'f', x'', 'json', ?, 0, ?, ?)",
            [(job_id, seq, job_id, status, json.dumps(parents), allow)
             for seq, (job_id, status, parents, allow) in enumerate(jobs)],
        )  # fmt: skip
        old.executemany(
            "INSERT INTO job_dependencies (parent_id, job_id) VALUES (?, ?)",
            [(parent, job_id) for job_id, _, parents, _ in jobs for parent in parents],
        )
        old.execute("INSERT INTO status_counts SELECT queue, status, COUNT(*) FROM jobs GROUP BY queue, status")


def _finish(backend, job_id):
    (claimed,) = backend.jobs_claim([job_id], "worker", 1, "token", NOW + 30, NOW)
    assert backend.jobs_settle([Settlement(claimed.id, "token", JobStatus.FINISHED)], NOW) == [True]


def test_version_9_keeps_deferred_jobs_waiting_on_what_they_waited_on(tmp_path):
    # a parent gone before the upgrade counts as met, as the release rule read it then;
    # a failed one holds only the strict child. After it, a parent deleted unfinished is waited on
    path = tmp_path / "v8.db"
    _version_8_database_with_deferred_jobs(path)
    backend = conveyor.connect(f"sqlite:///{path}")
    try:
        _finish(backend, "running")
        statuses = {r.id: r.status for r in backend.jobs_get(["strict", "lenient", "blocked", "late"]) if r}
        assert statuses == {"strict": JobStatus.QUEUED, "lenient": JobStatus.QUEUED,
                            "blocked": JobStatus.DEFERRED, "late": JobStatus.DEFERRED}  # fmt: skip
        assert backend.job_delete("other") is True
        _finish(backend, "last")
        assert [r.status for r in backend.jobs_get(["late"]) if r] == [JobStatus.DEFERRED]
    finally:
        backend.close()


def test_version_16_keeps_the_claim_order_of_queued_jobs_and_takes_at_front_ones(tmp_path):
    path = tmp_path / "v15.db"
    _queued_jobs_of_version(path, 15, {"a": 0, "b": 1, "c": 0})
    backend = conveyor.connect(f"sqlite:///{path}")
    try:
        make_job(backend, id="front", at_front=True, now=NOW)
        assert backend.job_ids("default", [JobStatus.QUEUED]) == ["b", "front", "a", "c"]
        assert [r.at_front for r in backend.jobs_get(["a", "front"]) if r] == [False, True]
        claimed = backend.jobs_claim(["default"], "worker", 4, "token", NOW + 30, NOW)
        assert [r.id for r in claimed] == ["b", "front", "a", "c"]
    finally:
        backend.close()


def test_version_17_reads_a_job_stored_before_it_as_retried_on_any_exception(tmp_path):
    path = tmp_path / "v16.db"
    _queued_jobs_of_version(path, 16, {"old": 0})
    backend = conveyor.connect(f"sqlite:///{path}")
    try:
        make_job(backend, id="new", retry_on=("ConnectionError", "requests.exceptions.Timeout"), now=NOW)
        assert [r.retry_on for r in backend.jobs_get(["old", "new"]) if r] == [
            (),
            ("ConnectionError", "requests.exceptions.Timeout"),
        ]
    finally:
        backend.close()
