"""The Redis backend: many workers on many machines sharing one Redis.

Every transition is one Lua script (scripts/*.lua, each prefixed by prelude.lua),
loaded once and called by SHA: the job hash, its status indexes, its lease and its
dependents change together or not at all. Reads use plain commands.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

import redis
from redis.exceptions import (
    AuthenticationError,
    NoPermissionError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from conveyor.backends.base import (
    ABANDONED_MESSAGE,
    CHUNK,
    STOPPED_ABANDONED_MESSAGE,
    SUMMARY_EXC_INFO_LIMIT,
    newest,
)
from conveyor.exceptions import (
    BackendError,
    BackendUnavailableError,
    ConfigurationError,
    InvalidBatchOperation,
    InvalidJobOperation,
    JobIdInUseError,
    NoSuchBatchError,
    NoSuchJobError,
)
from conveyor.halt import Halt, halted
from conveyor.status import JobStatus
from conveyor.types import (
    Finding,
    HeartbeatReply,
    JobEvent,
    JobInspection,
    JobRecord,
    JobSummaryRecord,
    Limits,
    Recovery,
    Settlement,
    Throughput,
    WorkerRecord,
)
from conveyor.urls import masked_url

from . import codec, doctor
from .batches import RedisBatches
from .keys import KeySpace
from .scripts import DEFAULT_FAILURE_TTL, Scripts

T = TypeVar("T")
log = logging.getLogger("conveyor.backends.redis")
# A Redis that stops answering (paused, swapping, a network partition) shows up as an error
# after this many seconds; blocking reads wait in slices well inside it.
SOCKET_TIMEOUT = 15.0
_LONGEST_BLOCK = 5.0
# About fifty times what storing (or changing) a job costs an idle Redis, so that a Redis
# sharing a busy machine still answers in time: a script over 20,000 jobs gets 10 s more
# to be answered, one over a million 500 s. (Ten times was not enough: on a machine with
# four busy processes per core, starting a batch of 20,000 jobs outlasted it.)
_SECONDS_PER_JOB = 0.0005
HALT_TTL = 10
"""Seconds a stopping worker's halt token lasts unpopped (it stopped while not waiting)."""


def _opt(value: object) -> bytes | str:
    """An optional script argument: '' for None, else '=' and the value."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return b"=" + value
    return "=" + (repr(value) if isinstance(value, float) else str(value))


_STATUS_TEXT = {status: status.value for status in JobStatus}


def _seq_of_member(member: bytes) -> int:
    return int(member[8:24], 16)


class _HandshakeTimedSSLConnection(redis.SSLConnection):
    """A TLS connection whose handshake gives up after the connect timeout.

    redis-py runs the handshake under the socket timeout (the read timeout, longer), so
    ``rediss://`` pointed at a plain Redis port waited that long to fail.
    """

    def _connect(self) -> Any:
        read_timeout = self.socket_timeout
        self.socket_timeout = self.socket_connect_timeout
        try:
            sock = super()._connect()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
        except TimeoutError:
            raise RedisConnectionError(
                f"no TLS connection to {self.host}:{self.port} within {self.socket_connect_timeout} s"
                " (does that port serve TLS? rediss:// needs Redis's tls-port)"
            ) from None
        finally:
            self.socket_timeout = read_timeout
        sock.settimeout(read_timeout)
        return sock


class RedisBackend(RedisBatches):
    """Backend on one Redis; see conveyor.backends.base.Backend for the contract."""

    kind = "redis"

    def __init__(self, url: str, *, prefix: str = "conveyor") -> None:
        # what connect() opens again (a job's child process does): with the prefix
        self.url = url if prefix == "conveyor" else f"{url}{'&' if '?' in url else '?'}{urlencode({'prefix': prefix})}"
        self.keys = KeySpace(prefix)
        # Any: redis-py types its sync client's replies as sync-or-async unions.
        transport: dict[str, Any] = {} if url.startswith("unix:") else {"socket_keepalive": True}
        if url.startswith("rediss:"):
            transport["connection_class"] = _HandshakeTimedSSLConnection
        self._redis: Any = redis.Redis.from_url(
            url, socket_connect_timeout=5, socket_timeout=SOCKET_TIMEOUT, health_check_interval=30, **transport
        )
        options = self._redis.connection_pool.connection_kwargs
        if options.get("decode_responses") or str(options.get("protocol") or 2) != "2":
            raise ConfigurationError(
                f"the Redis URL {masked_url(url)!r} changes how Redis's replies are read (decode_responses, "
                "protocol): conveyor reads them as bytes over RESP2, its default; drop those options"
            )
        for name in ("socket_timeout", "socket_connect_timeout"):
            if options.get(name) is not None and not options[name] > 0:  # 0: a non-blocking socket, not "none"
                raise ConfigurationError(
                    f"{name} in the Redis URL {masked_url(url)!r} must be a positive number of seconds, "
                    f"got {options[name]!r}"
                )
        self._block_slice = _block_slice(options.get("socket_timeout"))
        self._scripts = Scripts(self._redis, self.keys)
        self._following = threading.Lock()
        self._seed = _node(options)  # the URL's node (Redis Cluster: see _follow)
        try:
            self._call(self._redis.ping)  # fail at connect() when Redis cannot be reached
        except BackendError as exc:
            if "DB index is out of range" in str(exc):
                db = self._redis.connection_pool.connection_kwargs.get("db")
                raise ConfigurationError(
                    f"Redis at {masked_url(url)} has no database {db}: it has as many as its `databases` "
                    "setting says (16 by default), numbered from 0"
                ) from None
            raise

    def close(self) -> None:
        self._scripts.close()
        self._redis.close()

    # -- plumbing -----------------------------------------------------------------------
    def _call(self, operation: Callable[[], T], *, followed: bool = False) -> T:
        try:
            return operation()
        except RedisTimeoutError as exc:  # sent, maybe carried out, unanswered
            raise BackendUnavailableError(
                f"Redis at {masked_url(self.url)} cannot be reached: no answer ({exc}); "
                "a write sent just before may still take effect"
            ) from exc
        except AuthenticationError as exc:  # a ConnectionError: retried, a rotated password may come back
            raise BackendUnavailableError(
                f"Redis at {masked_url(self.url)} refused the credentials ({exc}): check the user and password "
                "of the URL"
            ) from exc
        except RedisConnectionError as exc:
            if _node(self._redis.connection_pool.connection_kwargs) != self._seed:  # a followed cluster node failed
                self._follow(*self._seed)  # the next call asks the URL's node again
            raise BackendUnavailableError(f"Redis at {masked_url(self.url)} cannot be reached: {exc}") from exc
        except ReadOnlyError as exc:
            raise BackendError(
                f"Redis at {masked_url(self.url)} is a read-only replica ({exc}): point conveyor at the primary"
            ) from exc
        except ResponseError as exc:
            moved = _moved(exc)
            if moved and not followed:  # refused, not run: send it again to the node now serving the slot
                self._follow(moved.group(2), int(moved.group(3)), moved.group(1))
                return self._call(operation, followed=True)
            refusal = None if "CONVEYOR " in str(exc) else _REFUSED_FOR_NOW.search(_reply(exc))
            if refusal:  # refused before running, for a while: an outage to wait out, as a lost connection
                raise BackendUnavailableError(
                    f"Redis at {masked_url(self.url)} refuses this for now ({refusal.group(0)}...): nothing was "
                    "written; try again"
                ) from exc
            if "SELECT is not allowed in cluster mode" in str(exc):
                raise ConfigurationError(
                    f"Redis at {masked_url(self.url)} is a Redis Cluster node: use database 0 (a cluster has no other)"
                ) from exc
            if not (isinstance(exc, NoPermissionError) or "The user executing the script can't" in str(exc)):
                raise _conveyor_error(exc) from exc
            raise BackendError(
                f"Redis at {masked_url(self.url)} refused this to the URL's ACL user ({exc}): conveyor's user needs "
                f"the keys ~{self.keys.base}* and the commands the README lists under 'Redis ACL' (FUNCTION LOAD "
                "included, unless another user loaded conveyor's functions)"
            ) from exc
        except RedisError as exc:
            raise BackendError(f"Redis error: {exc}") from exc

    def _follow(self, host: str, port: int, slot: str | None = None) -> None:
        """Talk to ``host:port`` from now on: a Redis Cluster node answered that it is the one
        serving the namespace's slot (every key of a namespace shares it, so one node serves
        them all), or (no ``slot``) the node the URL names, after the one followed failed
        (a failover: the URL's node tells where the slot went). Connections made before
        reconnect there as they are next used."""
        pool = self._redis.connection_pool
        with self._following:
            if _node(pool.connection_kwargs) != (host, port):
                if slot is not None:
                    log.warning("Redis Cluster: slot %s of namespace %s is served by %s:%d now; following it",
                                slot, self.keys.prefix, host, port)  # fmt: skip
                pool.connection_kwargs.update(host=host, port=port)
            for connection in (*pool._available_connections, *pool._in_use_connections, *self._scripts.opened()):
                connection.host, connection.port = host, port
            pool.disconnect(inuse_connections=False)  # idle ones reconnect there; busy ones on their MOVED
        self._scripts.disconnect_own()

    def _run(self, name: str, *args: Any, jobs: int = 0) -> Any:
        """Run a script; one that changes ``jobs`` jobs gets that much longer to answer."""
        return self._call(functools.partial(self._scripts.run, name, *args, patience=jobs * _SECONDS_PER_JOB))

    # -- jobs: writes -----------------------------------------------------------------------
    def jobs_enqueue(self, records: Sequence[JobRecord], now: float, new_ids: bool = False) -> list[JobRecord]:
        return self._enqueue(records, now, [], new_ids)

    def _enqueue(
        self, records: Sequence[JobRecord], now: float, batch: list[Any], new_ids: bool = False
    ) -> list[JobRecord]:
        """Store jobs (and, given its arguments, the batch they belong to) in one script."""
        args: list[Any] = [repr(now), len(records), "1" if new_ids else "0"]
        for record in records:  # the script writes status, seq and qmember (a queued job's) itself
            fields = codec.encode(record)
            args += (len(fields) // 2, record.status.value, *fields)
        stored = []
        for record, reply in zip(records, self._run("enqueue", *args, *batch, jobs=len(records)), strict=True):
            if isinstance(reply, list):  # the live job holding its unique_key stands for it
                stored.append(codec.decode(reply))
            else:
                record.status = _STATUS_OF_REPLY[reply]
                stored.append(record)
        return stored

    def jobs_claim(
        self,
        queues: Sequence[str],
        worker_name: str,
        limit: int,
        lease_token: str,
        lease_expires_at: float,
        now: float,
        limits: Limits | None = None,
        wait: float = 0.0,
        halt: Halt | None = None,
    ) -> list[JobRecord]:
        waits = wait > 0 and not halted(halt)
        # a halt that ends the wait leaves this mark, and the claim sent with the pop then takes nothing
        mark = self.keys.halted(halt.token) if waits and halt is not None else ""
        args = [repr(now), worker_name, limit, lease_token, repr(lease_expires_at), mark, len(queues), *queues]
        if limits:
            args += _limit_args(limits)
        if waits:  # the claim runs as soon as the pop returns: one round trip
            pop = ("BLPOP", *self._wake_keys(halt), self._blpop_timeout(wait))
            run = functools.partial(self._scripts.run_after, pop, "claim")
            rows = self._call(functools.partial(run, *args))
        else:
            rows = self._run("claim", *args)
        records = []
        for row in rows:
            try:
                records.append(codec.decode(row))
            except codec.UnreadableRecord as exc:  # fail it, rather than every worker that claims it
                self._fail_unreadable(exc, now)
        return records

    def _fail_unreadable(self, error: codec.UnreadableRecord, now: float) -> None:
        """Fail a claimed job whose record conveyor cannot read (see codec.UnreadableRecord)."""
        keep: float = DEFAULT_FAILURE_TTL  # type: ignore[assignment]  # a float: dataclasses types it loosely
        failed = Settlement(
            error.job_id, error.lease_token, JobStatus.FAILED, exc_info=f"{error}: fix or delete the job",
            reason="error", keep_until=now + keep,
        )  # fmt: skip
        try:
            self.jobs_settle([failed], now)
        except BackendError as exc:  # its lease lapses and recovery takes it
            log.error("%s; failing it failed too (%s)", error, exc)
            return
        log.error("%s: failed it (fix or delete such records by hand)", error)

    def jobs_settle(self, settlements: Sequence[Settlement], now: float) -> list[bool]:
        # what _opt would give, written out: a worker encodes every outcome it records
        args: list[Any] = [repr(now), len(settlements)]
        for s in settlements:
            args += (
                s.job_id, s.lease_token, _STATUS_TEXT[s.status],
                "" if s.started_at is None else f"={s.started_at!r}",
                "" if s.result is None else b"=" + s.result,
                "" if s.exc_info is None else f"={s.exc_info}",
                "" if s.reason is None else f"={s.reason}",
                "" if s.keep_until is None else f"={s.keep_until!r}",
                "" if s.scheduled_for is None else f"={s.scheduled_for!r}",
                1 if s.count_retry else 0, 1 if s.delete else 0,
            )  # fmt: skip
        return [bool(applied) for applied in self._run("settle", *args)]

    def leases_extend(
        self, worker_name: str, leases: Sequence[tuple[str, str]], lease_expires_at: float, now: float
    ) -> list[str]:
        if not leases:
            return []
        pairs = [item for lease in leases for item in lease]
        return [job_id.decode() for job_id in self._run("extend", repr(now), repr(lease_expires_at), *pairs)]

    def leases_recover(self, now: float, limit: int = CHUNK) -> list[Recovery]:
        rows = self._run("recover", repr(now), ABANDONED_MESSAGE, STOPPED_ABANDONED_MESSAGE, limit)
        return [Recovery(i.decode(), JobStatus(s.decode()), w.decode() or None) for i, s, w in rows]

    def job_cancel(self, job_id: str, now: float, keep_until: float | None, enqueue_dependents: bool) -> JobRecord:
        return codec.decode(self._run("cancel", repr(now), job_id, _opt(keep_until), int(enqueue_dependents)))

    def job_request_stop(self, job_id: str, now: float) -> None:
        self._run("stop", repr(now), job_id)

    def stop_requests(self, worker_name: str) -> list[str]:
        members = self._call(lambda: self._redis.smembers(self.keys.stops(worker_name)))
        return sorted(member.decode() for member in members)

    def jobs_requeue(self, job_ids: Sequence[str], now: float) -> list[str]:
        if not job_ids:
            return []
        return [job_id.decode() for job_id in self._run("requeue", repr(now), *job_ids, jobs=len(job_ids))]

    def job_delete(self, job_id: str, ended_by: float | None = None, with_dependents: bool = False) -> bool:
        return bool(self._run("delete", _opt(ended_by), int(with_dependents), job_id))

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

    def queue_empty(self, queue: str) -> int:
        total = 0
        while True:
            emptied = int(self._run("empty", queue, CHUNK))
            total += emptied
            if emptied < CHUNK:
                return total

    # -- jobs: reads ------------------------------------------------------------------------------
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
        flat = self._run("newest", "0", "" if before is None else str(before), limit, _opt(user_id), *indexes)
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

    def invariants_check(self, now: float, repair: bool) -> list[Finding]:
        return self._call(lambda: doctor.Inspector(self._redis, self.keys, self._run).check(now, repair))

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
        totals = {b"f": 0.0, b"x": 0.0, b"t": 0.0}
        for field, value in self._call(lambda: self._redis.hgetall(self.keys.throughput)).items():
            minute, _, kind = field.partition(b":")
            if int(minute) >= first:
                totals[kind] += float(value)
        return Throughput(int(totals[b"f"]), int(totals[b"x"]), totals[b"t"])

    # -- workers -----------------------------------------------------------------------------------
    def workers_register(self, worker: WorkerRecord) -> None:
        fields = dataclasses.asdict(worker)
        for name in codec.WORKER_TIMES:  # as strings, so the heartbeat script keeps every digit
            fields[name] = repr(fields[name])
        data = json.dumps(fields)
        self._run("register", worker.name, data)  # allowed out of memory: see scripts.FLAGS

    def workers_heartbeat(
        self,
        name: str,
        now: float,
        state: str,
        current_job_ids: Sequence[str],
        jobs_done: int,
        jobs_failed: int = 0,
        working_time: float = 0.0,
    ) -> HeartbeatReply:
        reply = self._run(
            "heartbeat", name, repr(now), state, json.dumps(list(current_job_ids)), jobs_done, jobs_failed,
            repr(working_time),
        )  # fmt: skip
        return HeartbeatReply.of(registered=reply != 0, shutdown_requested=reply == 2)

    def workers_request_shutdown(self, name: str) -> bool:
        return bool(self._run("shutdown", name))

    def workers_unregister(self, name: str) -> None:
        self._call(lambda: self._redis.hdel(self.keys.workers, name))

    def workers_list(self) -> list[WorkerRecord]:
        raw = self._call(lambda: self._redis.hgetall(self.keys.workers))
        workers = []
        for name, data in raw.items():
            try:
                workers.append(codec.decode_worker(data))
            except (ValueError, TypeError, KeyError, AttributeError) as exc:  # not written by conveyor
                log.warning("left out the registration of worker %r that conveyor cannot read (%r): "
                            "`conveyor doctor` reports it", name.decode(errors="replace"), exc)  # fmt: skip
        return sorted(workers, key=lambda w: w.name)

    def workers_reap(self, last_seen_before: float) -> list[str]:
        return sorted(name.decode() for name in self._run("reap", repr(last_seen_before)))

    # -- maintenance ------------------------------------------------------------------------------
    def maintenance_claim(self, owner: str, now: float, hold_until: float) -> bool:
        return bool(self._run("lock", owner, repr(now), repr(hold_until)))

    def maintenance_done(self, owner: str, now: float) -> None:
        self._run("unlock", owner, repr(now))

    def maintenance_last(self) -> float | None:
        last = self._call(lambda: self._redis.hget(self.keys.maintenance, "last"))
        return None if last is None else float(last)

    # -- the store itself ------------------------------------------------------------------------
    def store_maintain(self) -> None:
        """Nothing to do: Redis tidies itself."""

    def store_warnings(self) -> list[str]:
        warnings = self._replica_warnings()
        config: dict[str, str] = {}
        try:
            for name in ("maxmemory-policy", "appendonly", "save"):
                found = self._call(functools.partial(self._redis.config_get, name))
                config.update((_text(key), _text(value)) for key, value in found.items())
        except BackendError:  # managed Redis often disables CONFIG
            return [
                *warnings,
                "could not read Redis's settings (CONFIG is not allowed): make sure maxmemory-policy is "
                "noeviction and persistence is on, or jobs can be lost",
            ]
        policy = config.get("maxmemory-policy", "noeviction")
        if policy.startswith("allkeys-"):  # volatile-* evict only keys with a TTL: conveyor sets none
            warnings.append(
                f"Redis maxmemory-policy is {policy!r}, not 'noeviction': under memory pressure Redis "
                "will evict keys, and evicted job keys are lost jobs. Set maxmemory-policy noeviction."
            )
        if config.get("appendonly") == "no" and not config.get("save"):
            warnings.append(
                "Redis keeps nothing on disk (appendonly no, no save points): a restart of Redis loses "
                "every job. Set appendonly yes for jobs that must survive it."
            )
        return warnings

    def _replica_warnings(self) -> list[str]:
        """A replica that takes writes (replica-read-only no) keeps them to itself until its next
        sync with the primary drops them: jobs enqueued or ended there are lost."""
        try:
            replication = self._call(functools.partial(self._redis.info, "replication"))
        except BackendError:  # INFO is not allowed (some managed services)
            return []
        if replication.get("role") != "slave":
            return []
        primary = f"{replication.get('master_host')}:{replication.get('master_port')}"
        return [
            f"Redis at {masked_url(self.url)} is a replica of {primary}: what conveyor writes here is not "
            "replicated, other workers do not see it, and the replica drops it at its next sync. Point "
            "conveyor at the primary."
        ]

    def store_serving_since(self, now: float) -> float | None:
        since = self._run("serving", repr(now))
        return None if since is None else float(since)  # None: INFO is not allowed here

    # -- wake-up ------------------------------------------------------------------------------------
    def wait_for_jobs(self, timeout: float, halt: Halt | None = None) -> None:
        keys = self._wake_keys(halt)
        if not halted(halt):
            self._call(lambda: self._redis.blpop(keys, timeout=self._blpop_timeout(timeout)))

    def _wake_keys(self, halt: Halt | None) -> list[str]:
        """What an idle worker's pop waits on: the wake-up list and, given a halt, the list
        its stop pushes to (from the halt's thread: see Halt.when_set), so a stop ends the
        wait at once. The pop takes the one token, and Redis deletes the emptied list."""
        if halt is None:
            return [self.keys.wake]
        key = self.keys.halt(halt.token)
        halt.when_set(key, functools.partial(self._push_halt, halt.token))
        return [self.keys.wake, key]

    def _push_halt(self, token: str) -> None:
        """Push the token that ends the wait, and mark the halt for the claim sent with the
        pop (which cannot see what the pop took): a stopping worker claims nothing."""
        key = self.keys.halt(token)
        pipe = self._redis.pipeline(transaction=True)
        pipe.rpush(key, "halt").expire(key, HALT_TTL).set(self.keys.halted(token), "1", ex=HALT_TTL)
        self._call(pipe.execute)

    def _blpop_timeout(self, seconds: float) -> float:
        """A BLPOP timeout: never 0 (which waits forever), and within the socket timeout."""
        return min(max(seconds, 0.01), self._block_slice)


def _node(options: dict[str, Any]) -> tuple[str, int]:
    """The host and port connections go to ('', 0) for a Unix socket."""
    return str(options.get("host") or ""), int(options.get("port") or 0)


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


def _block_slice(socket_timeout: float | None) -> float:
    """The longest a blocking read may wait: a third of the socket timeout (a URL may set
    its own), so that its reply always comes before the timeout calls Redis unreachable."""
    if socket_timeout is None:  # no timeout: any wait is safe
        return _LONGEST_BLOCK
    return max(0.01, min(_LONGEST_BLOCK, socket_timeout / 3))


def _limit_args(limits: Limits) -> list[Any]:
    """The claim script's limit arguments: '' for no cap, then counted cap pairs."""
    args: list[Any] = ["" if cap is None else cap for cap in (limits.global_max, limits.per_user_max)]
    for caps in (limits.per_queue, limits.per_job_type):
        args += (len(caps), *(item for pair in caps.items() for item in pair))
    return args


def _event_number(entry_id: bytes) -> str:
    """The number of the last event in a stream entry: its id's first part."""
    return entry_id.split(b"-", 1)[0].decode()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


_MOVED = re.compile(r"MOVED (\d+) \[?([^\s\]]+?)\]?:(\d+)")
"""A Redis Cluster node's answer for a key of a slot another node serves: slot, host, port."""


def _reply(error: ResponseError) -> str:
    """An error reply as Redis sent it: redis-py 6 and later take the code off the errors
    it has a class for (MOVED, TRYAGAIN, CLUSTERDOWN, MASTERDOWN...), redis-py 5 keeps it."""
    text = str(error)
    code = getattr(error, "status_code", None)
    return f"{code} {text}" if code and not text.startswith(code) else text


def _moved(error: ResponseError) -> re.Match[str] | None:
    """Where a MOVED answer points, if it is one."""
    return _MOVED.match(_reply(error))


_REFUSED_FOR_NOW = re.compile(r"\b(?:NOREPLICAS|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|BUSY)\b[^.]*")
"""Redis errors for a command it did not run and will run later: too few replicas in sync
(min-replicas-to-write), a replica without its primary, a cluster down or migrating, a
script running past busy-reply-threshold (an enqueue of a million jobs runs for seconds)."""

_STATUS_OF_REPLY = {status.value.encode(): status for status in JobStatus}
"""A stored status as the enqueue function returns it (a dict lookup: calling the enum
costs a microsecond a job in enqueue_many)."""


def _conveyor_error(exc: ResponseError) -> Exception:
    """The conveyor exception a script reported, or a BackendError."""
    text = str(exc)
    if isinstance(exc, OutOfMemoryError):  # refused before the function ran: nothing written
        return BackendError(
            "Redis is out of memory (used memory is over its maxmemory): it refused this write and stored "
            "nothing. Reads still work; raise maxmemory or free memory (finished jobs go with their result_ttl)."
        )
    marker = text.find("CONVEYOR ")
    if marker < 0 and "WRONGTYPE" in text:
        return BackendError(f"Redis holds a key of another type where conveyor keeps its own ({text}): "
                            "`conveyor doctor` names it")  # fmt: skip
    if marker < 0:
        return BackendError(f"Redis script error: {text}")
    kind, _, rest = text[marker + len("CONVEYOR ") :].partition(" ")
    parts = rest.split("\t")
    if kind == "JobIdInUse":
        return JobIdInUseError(parts[0], parts[1], still_stopping=len(parts) > 2)
    if kind == "NoSuchJob":
        return NoSuchJobError(parts[0])
    if kind == "InvalidOperation":
        return InvalidJobOperation(parts[0], parts[1], parts[2])
    if kind == "NoSuchBatch":
        return NoSuchBatchError(parts[0])
    if kind == "InvalidBatch":
        return InvalidBatchOperation(parts[0], parts[1], parts[2])
    return BackendError(f"Redis script error: {text}")
