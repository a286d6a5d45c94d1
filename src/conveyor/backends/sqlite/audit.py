"""The audit log of operator actions: table audit_log, by seq (its ids). A mixin of
SQLiteBackend."""

from __future__ import annotations

import sqlite3

from conveyor.backends.base import AUDIT_KEPT
from conveyor.types import AuditRecord

from .connection import SQLiteConnection

_FIELDS = "at, actor, role, via, action, target, detail"


class SQLiteAudit(SQLiteConnection):
    """audit_append and audit_read of SQLiteBackend."""

    def audit_append(self, entry: AuditRecord) -> None:
        def append(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"INSERT INTO audit_log ({_FIELDS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (entry.at, entry.actor, entry.role, entry.via, entry.action, entry.target, entry.detail),
            )
            conn.execute("DELETE FROM audit_log WHERE seq <= (SELECT MAX(seq) FROM audit_log) - ?", (AUDIT_KEPT,))

        self._pool.write(append)

    def audit_read(self, before: str | None, limit: int) -> list[AuditRecord]:
        below = int(before) if before is not None and before.isdigit() else None
        rows = self._pool.read(
            lambda conn: conn.execute(
                f"SELECT seq, {_FIELDS} FROM audit_log WHERE ? IS NULL OR seq < ? ORDER BY seq DESC LIMIT ?",
                (below, below, limit),
            ).fetchall()
        )
        return [
            AuditRecord(at, actor, role, via, action, target, detail, id=str(seq))
            for seq, at, actor, role, via, action, target, detail in rows
        ]
