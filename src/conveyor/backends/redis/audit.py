"""The audit log of operator actions: stream ``{ns}:audit``, its entry ids the log's ids,
trimmed to about AUDIT_KEPT entries as it grows (never fewer). A mixin of RedisBackend."""

from __future__ import annotations

from conveyor.backends.base import AUDIT_KEPT
from conveyor.types import AuditRecord

from .connection import RedisConnection

_TEXT = ("actor", "via", "action", "target", "detail")


class RedisAudit(RedisConnection):
    """audit_append and audit_read of RedisBackend."""

    def audit_append(self, entry: AuditRecord) -> None:
        fields = {"at": repr(entry.at), "role": entry.role or "", **{name: getattr(entry, name) for name in _TEXT}}
        self._call(lambda: self._redis.xadd(self.keys.audit, fields, maxlen=AUDIT_KEPT, approximate=True))

    def audit_read(self, before: str | None, limit: int) -> list[AuditRecord]:
        newest = "+" if before is None else f"({before}"
        found = self._call(lambda: self._redis.xrevrange(self.keys.audit, max=newest, min="-", count=limit))
        entries = []
        for entry_id, raw in found:
            fields = {key.decode(): value.decode() for key, value in raw.items()}
            entries.append(
                AuditRecord(
                    at=float(fields["at"]), role=fields["role"] or None, id=entry_id.decode(),
                    **{name: fields.get(name, "") for name in _TEXT},
                )
            )  # fmt: skip
        return entries
