"""Workers' registrations, the maintenance lock, and the Redis store itself: its
settings, since when it serves, its clock, and conveyor's invariants over it (the doctor)."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from collections.abc import Sequence

from conveyor.clock import Clock
from conveyor.exceptions import BackendError
from conveyor.types import ClockOffset, Finding, HeartbeatReply, WorkerRecord
from conveyor.urls import masked_url

from . import clock_check, codec, doctor
from .connection import RedisConnection

log = logging.getLogger("conveyor.backends.redis")


class RedisUpkeep(RedisConnection):
    """Workers, maintenance and the store itself, for RedisBackend."""

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
        jobs_stopped: int = 0,
    ) -> HeartbeatReply:
        reply = self._run(
            "heartbeat", name, repr(now), state, json.dumps(list(current_job_ids)), jobs_done, jobs_failed,
            repr(working_time), jobs_stopped,
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
        warnings = self._replica_warnings() + self._clock_warnings()
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
        # volatile-* evict only keys with a TTL: conveyor's are rates' start logs and halt
        # marks (a log evicted lets more jobs start in its period; a halt mark, a stopping
        # worker wait out its poll)
        if policy.startswith("allkeys-"):
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

    def _clock_warnings(self) -> list[str]:
        if self._run("time") is not None:
            return []
        return [
            "could not read Redis's clock (TIME is not allowed to the URL's ACL user): workers cannot check that "
            "this machine's clock agrees with the others' (a clock off by a third of lease_ttl runs jobs twice); "
            "add +time to the ACL user"
        ]

    def store_serving_since(self, now: float) -> float | None:
        since = self._run("serving", repr(now))
        return None if since is None else float(since)  # None: INFO is not allowed here

    def store_clock_offset(self, clock: Clock) -> ClockOffset | None:
        return clock_check.measure(lambda: self._run("time"), clock)

    def invariants_check(self, now: float, repair: bool) -> list[Finding]:
        return self._call(lambda: doctor.Inspector(self._redis, self.keys, self._run).check(now, repair))


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
