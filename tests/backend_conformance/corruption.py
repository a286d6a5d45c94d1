"""Breaking a store's invariants on purpose, behind conveyor's back, for the doctor tests.

Each function does to one backend what a stray hand or an old backup could: the
doctor must find it and, asked to, repair it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any


def drop_batch_starter(backend: Any, batch_id: str) -> None:
    if backend.kind == "sqlite":
        backend._pool.write(lambda c: c.execute("UPDATE batches SET scheduled_start = NULL WHERE id = ?", (batch_id,)))
    else:
        backend._redis.zrem(backend.keys.base + "batchstarts", batch_id)


def skew_counts(backend: Any, queue: str, status: str) -> None:
    """Make a counter lie (SQLite keeps counters; Redis counts its indexes)."""
    backend._pool.write(
        lambda c: c.execute("UPDATE status_counts SET n = n + 5 WHERE queue = ? AND status = ?", (queue, status))
    )


def delete_record_only(backend: Any, job_id: str) -> None:
    """Remove a job's record but nothing that points at it."""
    if backend.kind == "sqlite":
        backend._pool.write(lambda c: c.execute("DELETE FROM jobs WHERE id = ?", (job_id,)))
    else:
        backend._redis.delete(backend.keys.job(job_id))


def forget_unmet_parents(backend: Any, job_id: str) -> None:
    """Empty a deferred job's unmet set, as if every parent it waits on had ended as it needs."""
    if backend.kind == "sqlite":
        backend._pool.write(lambda c: c.execute("UPDATE job_dependencies SET met = 1 WHERE job_id = ?", (job_id,)))
    else:
        backend._redis.hset(backend.keys.job(job_id), "unmet", "[]")


def unindex(backend: Any, job_id: str, key: str) -> None:
    """Take a job out of one Redis index (``key`` relative to the namespace)."""
    backend._redis.zrem(backend.keys.base + key, job_id)


def stray(backend: Any, job_id: str, key: str) -> None:
    """Put a job into a Redis index its status does not call for."""
    backend._redis.zadd(backend.keys.base + key, {job_id: 0})


def damage_sqlite_table(path: Path, table: str) -> None:
    """Overwrite the root page of ``table`` in a closed SQLite file with garbage, as a bad
    disk or a stray write would."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    conn.close()
    with path.open("r+b") as file:
        file.seek((root - 1) * page_size)
        file.write(bytes([0x5A]) * page_size)
