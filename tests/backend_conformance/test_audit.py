"""The audit log of operator actions: kept in the store, read newest first a page at a
time, and trimmed to the latest entries as new ones come."""

from __future__ import annotations

import pytest

import conveyor.backends.redis.audit
import conveyor.backends.sqlite.audit
from backend_conformance.helpers import NOW
from conveyor.backends.base import Backend
from conveyor.types import AuditRecord


def entry(n: int, **fields: object) -> AuditRecord:
    values: dict[str, object] = {
        "at": NOW + n, "actor": "alice", "role": "admin", "via": "rest", "action": "job.cancel", "target": f"job-{n}",
    }  # fmt: skip
    return AuditRecord(**{**values, **fields})  # type: ignore[arg-type]


def test_entries_read_back_newest_first_with_every_field_and_page_by_id(backend: Backend, other: Backend) -> None:
    backend.audit_append(entry(1, detail="was queued"))
    backend.audit_append(entry(2, actor="root@host-a", role=None, via="cli", action="queue.pause", target="emails"))
    backend.audit_append(entry(3, target="", action="store.cleanup", detail="3 purged"))
    newest = other.audit_read(None, 10)
    assert [e.at for e in newest] == [NOW + 3, NOW + 2, NOW + 1]
    assert all(e.id for e in newest) and len({e.id for e in newest}) == 3
    second = newest[1]
    assert (second.actor, second.role, second.via, second.action, second.target, second.detail) == (
        "root@host-a", None, "cli", "queue.pause", "emails", "",
    )  # fmt: skip
    assert (newest[2].detail, newest[2].role, newest[0].target) == ("was queued", "admin", "")
    first_page = other.audit_read(None, 2)
    assert [e.id for e in first_page] == [e.id for e in newest[:2]]
    assert [e.id for e in other.audit_read(first_page[-1].id, 2)] == [newest[2].id]
    assert other.audit_read(newest[2].id, 2) == []


def test_an_empty_log_reads_empty(backend: Backend) -> None:
    assert backend.audit_read(None, 100) == []


def test_the_log_keeps_the_latest_entries_and_drops_older_ones(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = 5
    monkeypatch.setattr(conveyor.backends.redis.audit, "AUDIT_KEPT", kept)
    monkeypatch.setattr(conveyor.backends.sqlite.audit, "AUDIT_KEPT", kept)
    added = 300
    for n in range(added):
        backend.audit_append(entry(n))
    left = backend.audit_read(None, 1000)
    # Redis trims whole nodes of its stream (about as asked, never fewer); SQLite exactly
    assert kept <= len(left) < added
    assert [e.at for e in left[:kept]] == [NOW + n for n in range(added - 1, added - 1 - kept, -1)]
