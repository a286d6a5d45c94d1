"""Workers' registrations, the maintenance lock, upkeep of the SQLite file itself, and
the doctor's entry point (its checks are doctor.py's).

A mixin of SQLiteBackend (it writes through the backend's connection pool).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from conveyor.clock import Clock
from conveyor.types import ClockOffset, Finding, HeartbeatReply, WorkerRecord

from . import doctor
from .changes import Changes
from .connection import SQLiteConnection


class SQLiteUpkeep(SQLiteConnection):
    """Workers, maintenance and the store itself, for SQLiteBackend."""

    # -- workers -------------------------------------------------------------------------
    def workers_register(self, worker: WorkerRecord) -> None:
        w = worker
        self._pool.write(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO workers (name, hostname, pid, queues, concurrency, state, "
                "current_job_ids, started_at, last_heartbeat, jobs_done, jobs_failed, working_time, version, pool, "
                "jobs_stopped) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (w.name, w.hostname, w.pid, json.dumps(list(w.queues)), w.concurrency, w.state,
                 json.dumps(list(w.current_job_ids)), w.started_at, w.last_heartbeat, w.jobs_done,
                 w.jobs_failed, w.working_time, w.version, w.pool, w.jobs_stopped),
            )
        )  # fmt: skip

    def workers_heartbeat(
        self,
        name: str,
        now: float,
        state: str,
        current_job_ids: Sequence[str],
        jobs_done: int,
        jobs_failed: int = 0,
        working_time: float = 0.0,
        jobs_stopped: int = 0,
    ) -> HeartbeatReply:
        row = self._pool.write(
            lambda conn: conn.execute(
                "UPDATE workers SET last_heartbeat = ?, state = ?, current_job_ids = ?, jobs_done = ?, "
                "jobs_failed = ?, working_time = ?, jobs_stopped = ? WHERE name = ? RETURNING shutdown_requested",
                (now, state, json.dumps(list(current_job_ids)), jobs_done, jobs_failed, working_time, jobs_stopped,
                 name),
            ).fetchone()
        )  # fmt: skip
        return HeartbeatReply.of(registered=row is not None, shutdown_requested=bool(row and row[0]))

    def workers_request_shutdown(self, name: str) -> bool:
        return self._pool.write(
            lambda conn: conn.execute("UPDATE workers SET shutdown_requested = 1 WHERE name = ?", (name,)).rowcount == 1
        )

    def workers_unregister(self, name: str) -> None:
        self._pool.write(lambda conn: conn.execute("DELETE FROM workers WHERE name = ?", (name,)))

    def workers_list(self) -> list[WorkerRecord]:
        rows = self._pool.read(
            lambda c: c.execute(
                "SELECT name, hostname, pid, queues, concurrency, state, current_job_ids, "
                "started_at, last_heartbeat, jobs_done, version, pool, shutdown_requested, jobs_failed, working_time, "
                "jobs_stopped FROM workers ORDER BY name"
            ).fetchall()
        )
        return [
            WorkerRecord(
                name=r[0],
                hostname=r[1],
                pid=r[2],
                queues=tuple(json.loads(r[3])),
                concurrency=r[4],
                state=r[5],
                current_job_ids=tuple(json.loads(r[6])),
                started_at=r[7],
                last_heartbeat=r[8],
                jobs_done=r[9],
                version=r[10],
                pool=r[11],
                shutdown_requested=bool(r[12]),
                jobs_failed=r[13],
                working_time=r[14],
                jobs_stopped=r[15],
            )
            for r in rows
        ]

    def workers_reap(self, last_seen_before: float) -> list[str]:
        return self._pool.write(
            lambda conn: [
                row[0]
                for row in conn.execute(
                    "DELETE FROM workers WHERE last_heartbeat < ? RETURNING name", (last_seen_before,)
                ).fetchall()
            ]
        )

    # -- maintenance ------------------------------------------------------------------------
    def maintenance_claim(self, owner: str, now: float, hold_until: float) -> bool:
        return self._pool.write(
            lambda conn: (
                conn.execute(
                    "INSERT INTO locks (name, owner, expires_at) VALUES ('maintenance', ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at "
                    "WHERE locks.owner = excluded.owner OR locks.expires_at <= ?",
                    (owner, hold_until, now),
                ).rowcount
                == 1
            )
        )

    def maintenance_done(self, owner: str, now: float) -> None:
        def done(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM locks WHERE name = 'maintenance' AND owner = ?", (owner,))
            conn.execute(
                "INSERT INTO marks (name, at) VALUES ('last_cleanup', ?) "
                "ON CONFLICT (name) DO UPDATE SET at = MAX(at, excluded.at)",
                (now,),
            )

        self._pool.write(done)

    def maintenance_last(self) -> float | None:
        row = self._pool.read(lambda c: c.execute("SELECT at FROM marks WHERE name = 'last_cleanup'").fetchone())
        return None if row is None else float(row[0])

    # -- the store itself ----------------------------------------------------------------------
    def store_maintain(self) -> None:
        self._pool.read(lambda c: c.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())

    def store_warnings(self) -> list[str]:
        if self._pool.synchronous == "OFF":
            return ["SQLite synchronous=OFF: a crash of the machine can corrupt the database"]
        return []

    def store_serving_since(self, now: float) -> float | None:
        """None: a file opened by each process has no server to restart."""
        return None

    def store_clock_offset(self, clock: Clock) -> ClockOffset | None:
        """None: every process of a SQLite file runs on its machine, by its one clock."""
        return None

    # -- checking the store -------------------------------------------------------------
    def invariants_check(self, now: float, repair: bool) -> list[Finding]:
        damaged = self._pool.read(doctor.integrity)
        if damaged:
            return damaged
        if not repair:
            return self._pool.read(
                lambda conn: [*doctor.check(conn, Changes(), now, False), *doctor.counts(conn, False)]
            )
        found = self._write(lambda conn, changes: doctor.check(conn, changes, now, True))
        return found + self._pool.write(lambda conn: doctor.counts(conn, True))
