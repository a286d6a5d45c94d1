"""The Redis backend: many workers on many machines sharing one Redis.

Every transition is one function of conveyor's Lua library (scripts.py): the job hash,
its status indexes, its lease and its dependents change together or not at all. Reads
use plain commands. RedisBackend is put together from mixins of one concern each, over
the connection (connection.py): claiming.py (claim, settle, leases), wakeup.py (the wait
for jobs), due_signals.py (when scheduled jobs come due: read, or heard), queries.py (reads),
upkeep.py (workers, maintenance, the store itself), batches.py and cron.py (periodic
jobs as published); this module adds the other writes to jobs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from conveyor.backends.base import CHUNK
from conveyor.status import JobStatus
from conveyor.types import JobRecord

from . import codec
from .audit import RedisAudit
from .batches import RedisBatches
from .claiming import RedisClaiming
from .connection import SOCKET_TIMEOUT, optional_arg
from .cron import RedisCron
from .due_signals import RedisDueSignals
from .errors import _reply
from .queries import RedisQueries
from .upkeep import RedisUpkeep
from .wakeup import HALT_TTL

__all__ = ["HALT_TTL", "SOCKET_TIMEOUT", "RedisBackend", "_reply"]
"""RedisBackend, and what tests import from here since it was all one module."""

_STATUS_OF_REPLY = {status.value.encode(): status for status in JobStatus}
"""A stored status as the enqueue function returns it (a dict lookup: calling the enum
costs a microsecond a job in enqueue_many)."""


class RedisBackend(RedisClaiming, RedisQueries, RedisUpkeep, RedisBatches, RedisDueSignals, RedisCron, RedisAudit):
    """Backend on one Redis; see conveyor.backends.base.Backend for the contract."""

    kind = "redis"

    # -- jobs: writes -----------------------------------------------------------------------
    def jobs_enqueue(self, records: Sequence[JobRecord], now: float, new_ids: bool = False) -> list[JobRecord]:
        return self._enqueue(records, now, [], new_ids)

    def cron_enqueue(
        self, entry: str, tick: float, record: JobRecord, now: float, catch_up: bool = False
    ) -> JobRecord | None:
        stored = self._enqueue([record], now, ["tick", entry, repr(tick), "1" if catch_up else "0"])
        return stored[0] if stored else None

    def _enqueue(
        self, records: Sequence[JobRecord], now: float, trailer: list[Any], new_ids: bool = False
    ) -> list[JobRecord]:
        """Store jobs in one script, with what ``trailer`` adds (the batch they belong to, or
        the periodic job's tick that guards them: none is stored then if it was taken)."""
        args: list[Any] = [repr(now), len(records), "1" if new_ids else "0"]
        for record in records:  # the script writes status, seq and qmember (a queued job's) itself
            fields = codec.encode(record)
            args += (len(fields) // 2, record.status.value, *fields)
        replies = self._run("enqueue", *args, *trailer, jobs=len(records))
        if replies is None:  # the tick was enqueued already
            return []
        stored = []
        for record, reply in zip(records, replies, strict=True):
            if isinstance(reply, list):  # the live job holding its unique_key stands for it
                stored.append(codec.decode(reply))
            else:
                record.status = _STATUS_OF_REPLY[reply]
                stored.append(record)
        return stored

    def job_cancel(self, job_id: str, now: float, keep_until: float | None, enqueue_dependents: bool) -> JobRecord:
        return codec.decode(self._run("cancel", repr(now), job_id, optional_arg(keep_until), int(enqueue_dependents)))

    def job_request_stop(self, job_id: str, now: float) -> None:
        self._run("stop", repr(now), job_id)

    def stop_requests(self, worker_name: str) -> list[str]:
        members = self._call(lambda: self._redis.smembers(self.keys.stops(worker_name)))
        return sorted(member.decode() for member in members)

    def jobs_requeue(self, job_ids: Sequence[str], now: float, at_front: bool | None = None) -> list[str]:
        if not job_ids:
            return []
        place = "" if at_front is None else "1" if at_front else "0"
        return [job_id.decode() for job_id in self._run("requeue", repr(now), place, *job_ids, jobs=len(job_ids))]

    def job_delete(self, job_id: str, ended_by: float | None = None, with_dependents: bool = False) -> bool:
        return bool(self._run("delete", optional_arg(ended_by), int(with_dependents), job_id))

    def job_update(
        self,
        job_id: str,
        now: float,
        *,
        meta: bytes | None = None,
        progress: float | None = None,
        metrics: bytes | None = None,
    ) -> bool:
        fields: list[Any] = []
        for name, value in (("meta", meta), ("progress", progress), ("metrics", metrics)):
            if value is not None:
                fields += (name, repr(value) if isinstance(value, float) else value)
        return bool(self._run("update", job_id, *fields))

    # -- jobs: time-driven transitions ----------------------------------------------------------
    def jobs_promote_due(self, now: float, limit: int = CHUNK) -> int:
        return int(self._run("promote", repr(now), limit))

    def jobs_expire(self, now: float, limit: int = CHUNK) -> int:
        return int(self._run("expire", repr(now), limit))

    def jobs_purge(self, now: float, limit: int) -> int:
        return int(self._run("purge", repr(now), limit))

    def rate_starts_trim(self, before: float, limit: int) -> int:
        """Nothing to do: each log expires a period (and a margin) after its last start."""
        return 0

    def queue_empty(self, queue: str) -> int:
        total = 0
        while True:
            emptied = int(self._run("empty", queue, CHUNK))
            total += emptied
            if emptied < CHUNK:
                return total

    def queues_pause(self, queues: Sequence[str], now: float) -> None:
        if queues:
            self._run("pause", repr(now), *queues)

    def queues_resume(self, queues: Sequence[str]) -> list[str]:
        return [queue.decode() for queue in self._run("pause", "", *queues)] if queues else []

    def queues_paused(self) -> dict[str, float]:
        paused = self._call(lambda: self._redis.hgetall(self.keys.paused))
        return {queue.decode(): float(at) for queue, at in paused.items()}
