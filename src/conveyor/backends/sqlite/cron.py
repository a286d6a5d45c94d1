"""Periodic jobs as their schedulers publish them (table cron_entries), read with their
last tick (cron_ticks, which cron_enqueue keeps). A mixin of SQLiteBackend."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from conveyor.types import CronEntryRecord

from .connection import SQLiteConnection

_FIELDS = "name, schedule_kind, schedule, timezone, queue, job_type, scheduler, hostname, pid, last_seen"
_MARKS = ", ".join("?" * len(_FIELDS.split(", ")))


class SQLiteCron(SQLiteConnection):
    """cron_publish, cron_entries and cron_reap of SQLiteBackend."""

    def cron_publish(self, entries: Sequence[CronEntryRecord]) -> None:
        rows = [
            (e.name, e.schedule_kind, e.schedule, e.timezone, e.queue, e.job_type, e.scheduler, e.hostname, e.pid,
             e.last_seen)
            for e in entries
        ]  # fmt: skip
        self._pool.write(
            lambda conn: conn.executemany(f"INSERT OR REPLACE INTO cron_entries ({_FIELDS}) VALUES ({_MARKS})", rows)
        )

    def cron_entries(self) -> list[CronEntryRecord]:
        rows = self._pool.read(
            lambda conn: conn.execute(
                f"SELECT {', '.join('e.' + f for f in _FIELDS.split(', '))}, t.tick FROM cron_entries e "
                "LEFT JOIN cron_ticks t ON t.entry = e.name ORDER BY e.name"
            ).fetchall()
        )
        return [CronEntryRecord(*row) for row in rows]

    def cron_reap(self, last_seen_before: float) -> list[str]:
        def reap(conn: sqlite3.Connection) -> list[str]:
            names = [
                row[0]
                for row in conn.execute(
                    "DELETE FROM cron_entries WHERE last_seen < ? RETURNING name", (last_seen_before,)
                ).fetchall()
            ]
            conn.executemany("DELETE FROM cron_ticks WHERE entry = ?", [(name,) for name in names])
            return sorted(names)

        return self._pool.write(reap)
