"""The Redis backend's batches: a hash per batch, its jobs in a sorted set by seq, and one
starter entry (``batchstarts``) while it is scheduled. Scripts: batch_*.lua, and the
batch part of enqueue.lua (a batch is stored with its jobs in one script)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from conveyor.backends.base import CHUNK
from conveyor.status import BatchStatus, JobStatus
from conveyor.types import BatchInspection, BatchRecord, JobRecord

from .connection import RedisConnection

_FIELDS = {field.name: field.type for field in dataclasses.fields(BatchRecord)}


def encode_batch(batch: BatchRecord) -> list[Any]:
    """Field/value pairs of the batch's set fields (absent fields mean None)."""
    pairs: list[Any] = []
    for name in _FIELDS:
        value = getattr(batch, name)
        if value is not None:
            pairs += (name, value.value if isinstance(value, BatchStatus) else repr(value) if isinstance(value, float)
                      else value)  # fmt: skip
    return pairs


def decode_batch(raw: dict[bytes, bytes]) -> BatchRecord:
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name, text = key.decode(), value.decode()
        kind = str(_FIELDS[name])
        if name == "status":
            values[name] = BatchStatus(text)
        elif kind.startswith("int"):
            values[name] = int(text)
        elif kind.startswith("float"):
            values[name] = float(text)
        else:
            values[name] = text
    return BatchRecord(**values)


class RedisBatches(RedisConnection):
    """Batch methods of RedisBackend (see conveyor.backends.base.Backend)."""

    _enqueue: Callable[[Sequence[JobRecord], float, list[Any]], list[JobRecord]]

    def batch_create(
        self, batch: BatchRecord, jobs: Sequence[JobRecord], callbacks: Sequence[JobRecord], now: float
    ) -> BatchRecord:
        fields = encode_batch(batch)
        self._enqueue([*jobs, *callbacks], now, ["batch", batch.id, len(fields) // 2, *fields])
        stored = self.batches_get([batch.id])[0]
        assert stored is not None
        return stored

    def batches_get(self, batch_ids: Sequence[str]) -> list[BatchRecord | None]:
        def read() -> list[Any]:
            pipe = self._redis.pipeline(transaction=False)
            for batch_id in batch_ids:
                pipe.hgetall(self.keys.batch(batch_id))
            return list(pipe.execute())

        return [decode_batch(raw) if raw else None for raw in (self._call(read) if batch_ids else [])]

    def batches_list(self, user_id: str | None, before: str | None, limit: int) -> list[BatchRecord]:
        upper = "+" if before is None else f"({before}"
        ids = self._call(lambda: self._redis.zrevrangebylex(self.keys.batches(user_id), upper, "-", 0, limit))
        return [batch for batch in self.batches_get([i.decode() for i in ids]) if batch is not None]

    def batch_counts(self, batch_id: str) -> dict[JobStatus, int]:
        counts, _ = self._counts(batch_id)
        return counts

    def _counts(self, batch_id: str) -> tuple[dict[JobStatus, int], int]:
        flat = self._run("batch_counts", "0", batch_id)
        pairs = {flat[i].decode(): int(flat[i + 1]) for i in range(0, len(flat), 2)}
        held = pairs.pop("held")
        return {JobStatus(status): n for status, n in pairs.items()}, held

    def batch_job_ids(self, batch_id: str, before: int | None, limit: int) -> list[tuple[str, int]]:
        top = "+inf" if before is None else f"({before}"  # the place is the job's seq at creation
        pairs = self._call(
            lambda: self._redis.zrevrangebyscore(
                self.keys.batch_jobs(batch_id), top, "-inf", start=0, num=limit, withscores=True
            )
        )
        return [(job_id.decode(), int(place)) for job_id, place in pairs]

    def batch_start(self, batch_id: str, now: float) -> BatchRecord:
        self._run("batch_start", repr(now), "one", batch_id, jobs=self._jobs_in([batch_id]))
        return self._one(batch_id)

    def batch_reschedule(self, batch_id: str, scheduled_start: float, now: float) -> BatchRecord:
        self._run("batch_reschedule", repr(now), batch_id, repr(scheduled_start))
        return self._one(batch_id)

    def batch_cancel(self, batch_id: str, now: float) -> tuple[BatchRecord, int]:
        reply = self._run("batch_cancel", repr(now), batch_id, jobs=self._jobs_in([batch_id]))
        if isinstance(reply, list):  # completed instead (see the contract); gone if no job is left
            return decode_batch(dict(zip(reply[::2], reply[1::2], strict=True))), 0
        return self._one(batch_id), int(reply)

    def batches_start_due(self, now: float, limit: int = CHUNK) -> int:
        due = self._call(lambda: self._redis.zrangebyscore(self.keys.batch_starts, "-inf", repr(now), 0, limit))
        if not due:
            return 0
        jobs = self._jobs_in([batch_id.decode() for batch_id in due])
        return int(self._run("batch_start", repr(now), "due", limit, jobs=jobs))

    def _jobs_in(self, batch_ids: Sequence[str]) -> int:
        """How many jobs the batches hold: a script over them gets that much longer."""

        def count() -> list[int]:
            pipe = self._redis.pipeline(transaction=False)
            for batch_id in batch_ids:
                pipe.zcard(self.keys.batch_jobs(batch_id))
            return list(pipe.execute())

        return sum(self._call(count))

    def batches_complete(self, now: float, limit: int = CHUNK) -> list[str]:
        return [batch_id.decode() for batch_id in self._run("batch_complete", repr(now), limit)]

    def batch_inspect(self, batch_id: str) -> BatchInspection:
        batch = self.batches_get([batch_id])[0]
        if batch is None:
            return BatchInspection(batch_id, exists=False)
        starter = self._call(lambda: self._redis.zscore(self.keys.batch_starts, batch_id))
        _, held = self._counts(batch_id)
        return BatchInspection(batch_id, True, batch.status, starter is not None, starter, held)

    def _one(self, batch_id: str) -> BatchRecord:
        batch = self.batches_get([batch_id])[0]
        assert batch is not None
        return batch
