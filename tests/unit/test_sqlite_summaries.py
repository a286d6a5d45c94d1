"""A SQLite summary reads only the summary's columns: seen by SQLite's authorizer, which
is asked for every column a statement reads."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

import conveyor
from conveyor.backends.base import Backend
from conveyor.backends.sqlite import connection
from conveyor.status import JobStatus
from conveyor.testing import make_job

LARGE = {"payload", "result", "meta", "metrics"}


@pytest.fixture
def watched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Backend, set[str]]]:
    """A SQLite backend, and the columns of the jobs table its statements read."""
    columns: set[str] = set()
    open_connection = connection.ConnectionPool._open

    def authorize(action: int, table: str | None, column: str | None, *_: object) -> int:
        if action == sqlite3.SQLITE_READ and table == "jobs" and column:
            columns.add(column)
        return sqlite3.SQLITE_OK

    def open_watched(pool: connection.ConnectionPool) -> sqlite3.Connection:
        conn = open_connection(pool)
        conn.set_authorizer(authorize)
        return conn

    monkeypatch.setattr(connection.ConnectionPool, "_open", open_watched)
    backend = conveyor.connect(f"sqlite:///{tmp_path}/summaries.db")
    yield backend, columns
    backend.close()


def test_a_summary_reads_none_of_a_jobs_large_columns(watched: tuple[Backend, set[str]]) -> None:
    backend, columns = watched
    make_job(backend, id="done", status=JobStatus.FINISHED, args=["x" * 100_000], result=b"r" * 100_000)
    columns.clear()
    (summary,) = backend.jobs_summaries(["done"])
    assert summary is not None and summary.status is JobStatus.FINISHED
    assert {"id", "status", "queue"} <= columns and not columns & LARGE
    backend.jobs_get(["done"])
    assert columns >= LARGE  # what the authorizer sees of a full read
