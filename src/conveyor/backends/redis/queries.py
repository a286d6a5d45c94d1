"""The read side of the Redis backend: jobs, listings, counts, positions, inspection,
events and throughput. Plain commands and pipelines, and the read-only functions."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from conveyor.backends.base import SUMMARY_EXC_INFO_LIMIT, newest
from conveyor.status import JobStatus
from conveyor.types import JobEvent, JobInspection, JobRecord, JobSummaryRecord, Throughput

from . import codec
from .connection import RedisConnection, optional_arg

T = TypeVar("T")


class RedisQueries(RedisConnection):
    """Reads of RedisBackend."""

    # -- jobs ------------------------------------------------------------------------------------
    def jobs_get(self, job_ids: Sequence[str]) -> list[JobRecord | None]:
        if not job_ids:
            return []

        def fetch() -> list[Any]:
            pipe = self._redis.pipeline(transaction=False)
            for job_id in job_ids:
                pipe.hgetall(self.keys.job(job_id))
            return list(pipe.execute())

        return [codec.decode(fields) if fields else None for fields in self._call(fetch)]

    def job_dependents(self, job_id: str) -> list[str]:
        members = self._call(lambda: self._redis.smembers(self.keys.dependents(job_id)))
        return sorted(member.decode() for member in members)

    def jobs_summaries(self, job_ids: Sequence[str]) -> list[JobSummaryRecord | None]:
        if not job_ids:
            return []
        fields = codec.SUMMARY_FIELDS
        found = self._run("summaries", SUMMARY_EXC_INFO_LIMIT, len(fields), *fields, *job_ids)
        return [codec.decode_summary(values) if values else None for values in found]

    def _queues(self, queue: str | None) -> list[str]:
        if queue is not None:
            return [queue]
        return sorted(name.decode() for name in self._call(lambda: self._redis.smembers(self.keys.queues)))

    def job_ids(self, queue: str | None, statuses: Sequence[JobStatus], offset: int = 0, limit: int = -1) -> list[str]:
        if limit == 0:
            return []
        queues = self._queues(queue)
        stop = -1 if limit < 0 else offset + limit - 1
        indexes = [(name, status) for name in queues for status in statuses]

        def fetch() -> list[Any]:  # each index's first offset+limit entries: enough to merge a page
            pipe = self._redis.pipeline(transaction=False)
            for name, status in indexes:
                if status is JobStatus.QUEUED:
                    pipe.zrange(self.keys.queued(name), 0, stop)
                else:
                    pipe.zrange(self.keys.status(name, status), 0, stop, withscores=True)
            return list(pipe.execute())

        queued_only = list(statuses) == [JobStatus.QUEUED]
        entries: list[tuple[Any, str]] = []
        for (_, status), found in zip(indexes, self._call(fetch), strict=True):
            if status is JobStatus.QUEUED:  # members sort in claim order; seq orders them among others
                entries += ((m if queued_only else _seq_of_member(m), m.split(b"|", 1)[1].decode()) for m in found)
            else:
                entries += ((score, job_id.decode()) for job_id, score in found)
        entries.sort()
        chosen = entries[offset:] if limit < 0 else entries[offset : offset + limit]
        return [job_id for _, job_id in chosen]

    def job_ids_newest(
        self,
        queue: str | None,
        statuses: Sequence[JobStatus],
        before: int | None,
        limit: int,
        user_id: str | None = None,
    ) -> list[tuple[str, int]]:
        if limit <= 0:
            return []
        indexes = [part for name in self._queues(queue) for status in statuses for part in (name, status.value)]
        if not indexes:
            return []
        flat = self._run("newest", "0", "" if before is None else str(before), limit, optional_arg(user_id), *indexes)
        return newest(((flat[i].decode(), int(flat[i + 1])) for i in range(0, len(flat), 2)), limit)

    def jobs_count(self, queue: str | None, statuses: Sequence[JobStatus]) -> int:
        keys = [self.keys.index(name, status) for name in self._queues(queue) for status in statuses]

        def count() -> int:
            pipe = self._redis.pipeline(transaction=False)
            for key in keys:
                pipe.zcard(key)
            return sum(pipe.execute())

        return self._call(count) if keys else 0

    def counts(self, user_id: str | None = None) -> dict[str, dict[JobStatus, int]]:
        queues = self._queues(None)

        def count() -> list[int]:
            pipe = self._redis.pipeline(transaction=False)
            for name in queues:
                for status in JobStatus:
                    pipe.zcard(self.keys.index(name, status, user_id))
            return list(pipe.execute())

        numbers = iter(self._call(count))
        result: dict[str, dict[JobStatus, int]] = {}
        for name in queues:
            for status in JobStatus:
                number = next(numbers)
                if number:
                    result.setdefault(name, {})[status] = number
        return result

    def queue_position(self, job_id: str) -> int | None:
        status, queue, member = self._call(
            lambda: self._redis.hmget(self.keys.job(job_id), "status", "queue", "qmember")
        )
        if status != b"queued" or member is None:
            return None
        rank = self._call(lambda: self._redis.zrank(self.keys.queued(queue.decode()), member))
        return None if rank is None else int(rank)

    def job_inspect(self, job_id: str) -> JobInspection:
        status, queue, member, worker, parents, user = self._call(
            lambda: self._redis.hmget(
                self.keys.job(job_id), "status", "queue", "qmember", "worker_name", "depends_on", "user_id"
            )
        )
        queues = [queue.decode()] if queue is not None else self._queues(None)  # a lost hash: look everywhere
        by_id = self.keys.indexes_by_id(queues)
        sets = [self.keys.dependents(parent) for parent in json.loads(parents or b"[]")]
        if worker is not None:
            sets.append(self.keys.stops(worker.decode()))

        def read() -> list[Any]:
            pipe = self._redis.pipeline(transaction=False)
            for key in by_id:
                pipe.zscore(key, job_id)
            for key in sets:
                pipe.sismember(key, job_id)
            if member is not None:
                pipe.zscore(self.keys.queued_by_user(queue.decode(), user and user.decode()), member)
                pipe.zrank(self.keys.queued(queue.decode()), member)
            return list(pipe.execute())

        found = self._call(read)
        scores = dict(zip(by_id, found, strict=False))
        rank, by_user = (found[-1], found[-2]) if member is not None else (None, None)
        locations = [key for key, score in scores.items() if score is not None]
        locations += [key for key, held in zip(sets, found[len(by_id) :], strict=False) if held]
        if by_user is not None:
            locations.insert(0, self.keys.queued_by_user(queue.decode(), user and user.decode()))
        if rank is not None:
            locations.insert(0, self.keys.queued(queue.decode()))
        if status is not None:
            locations.insert(0, self.keys.job(job_id))
        lease_expires_at = scores.get(self.keys.leases)
        return JobInspection(
            job_id,
            exists=status is not None,
            status=None if status is None else JobStatus(status.decode()),
            in_queue=rank is not None,
            queue_position=None if rank is None else int(rank),
            in_schedule=scores.get(self.keys.due) is not None,
            scheduled_time=scores.get(self.keys.due),
            lease_owner=None if lease_expires_at is None or worker is None else worker.decode(),
            lease_expires_at=lease_expires_at,
            locations=tuple(locations),
        )

    # -- events and statistics --------------------------------------------------------------------
    def events_read(self, after: str | None, limit: int, timeout: float) -> tuple[str, list[JobEvent]]:
        if after is None:
            return self._last_event(), []
        read = functools.partial(self._redis.xread, {self.keys.events: f"{after}-0"}, count=max(limit, 1))
        deadline = time.monotonic() + timeout
        while True:
            # block=None answers at once (XREAD BLOCK 0 would wait forever); a long wait
            # goes in slices shorter than the socket timeout
            remaining = deadline - time.monotonic()
            block = None if remaining <= 0 else max(1, int(min(remaining, self._block_slice) * 1000))
            found = self._call(functools.partial(_again_once, functools.partial(read, block=block)))
            if found or block is None:
                break
        if not found and int(self._last_event()) < int(after):
            return "0", []  # the stream began again (Redis lost its data): read it from its start
        events: list[JobEvent] = []
        cursor = int(after)
        for entry_id, fields in found[0][1] if found else ():
            last = int(_event_number(entry_id))
            ids = fields[b"ids"].decode().split("\n")
            status = JobStatus(fields[b"status"].decode()) if fields[b"status"] else None
            for number, job_id in enumerate(ids, start=last - len(ids) + 1):
                if number > cursor and len(events) < limit:
                    events.append(JobEvent(job_id, status))
                    cursor = number
        return str(cursor), events

    def job_snapshot(self, job_id: str) -> tuple[JobRecord | None, str]:
        def read() -> list[Any]:  # MULTI: Redis runs both with nothing in between
            pipe = self._redis.pipeline(transaction=True)
            pipe.hgetall(self.keys.job(job_id))
            pipe.xrevrange(self.keys.events, count=1)
            return list(pipe.execute())

        fields, last = self._call(read)
        return (codec.decode(fields) if fields else None), (_event_number(last[0][0]) if last else "0")

    def _last_event(self) -> str:
        """The number of the last event published, "0" before the first."""
        last = self._call(lambda: self._redis.xrevrange(self.keys.events, count=1))
        return _event_number(last[0][0]) if last else "0"

    def throughput(self, since: float) -> Throughput:
        first = int(since // 60)
        totals = {b"f": 0.0, b"x": 0.0, b"t": 0.0, b"c": 0.0}
        for field, value in self._call(lambda: self._redis.hgetall(self.keys.throughput)).items():
            minute, _, kind = field.partition(b":")
            if int(minute) >= first and kind in totals:  # (a later release may count more kinds)
                totals[kind] += float(value)
        return Throughput(int(totals[b"f"]), int(totals[b"x"]), totals[b"t"], int(totals[b"c"]))


_SEQ_LIMIT = 2**53 - 1
"""What an at_front job's member holds its seq subtracted from (see queued_member)."""


def _seq_of_member(member: bytes) -> int:
    """A queued index member's seq: the 16 hex digits after the priority's 8 (after a '-',
    an at_front job's, its seq subtracted from _SEQ_LIMIT)."""
    if member[8:9] == b"-":
        return _SEQ_LIMIT - int(member[9:25], 16)
    return int(member[8:24], 16)


def _again_once(read: Callable[[], T]) -> T:
    """A read, sent again at once if its connection was closed under it (a CLIENT KILL, a
    proxy or load balancer dropping it): a blocking read holds its connection for seconds,
    and one dropped connection is no outage to report. A read changes nothing, so sending
    it twice is safe; a second failure is raised."""
    try:
        return read()
    except RedisTimeoutError:
        raise
    except RedisConnectionError:
        return read()


def _event_number(entry_id: bytes) -> str:
    """The number of the last event in a stream entry: its id's first part."""
    return entry_id.split(b"-", 1)[0].decode()
