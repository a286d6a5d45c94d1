"""A worker's hold on its jobs: claiming them under a lease (after a wait, when it is
idle), settling them, renewing their leases, and recovering the leases that lapsed."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from typing import Any

from conveyor.backends.base import ABANDONED_MESSAGE, CHUNK, STOPPED_ABANDONED_MESSAGE
from conveyor.exceptions import BackendError
from conveyor.halt import Halt, halted
from conveyor.status import JobStatus
from conveyor.types import JobRecord, Limits, Recovery, Settlement

from . import codec
from .scripts import DEFAULT_FAILURE_TTL
from .wakeup import RedisWakeup

log = logging.getLogger("conveyor.backends.redis")
_STATUS_TEXT = {status: status.value for status in JobStatus}


class RedisClaiming(RedisWakeup):
    """Claim, settle and leases of RedisBackend."""

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
        if waits and limits is not None and limits.rates:
            # rates count starts at the time they are made: a claim sent with the pop would
            # log them at now, from before a wait of up to a poll interval, and let a later
            # claim start more within the period. So the claim follows the pop, at the time
            # the pop returned: two round trips, for idle rated workers only.
            entered = time.monotonic()
            keys = self._wake_keys(queues, halt)
            self._call(lambda: self._redis.blpop(keys, timeout=self._blpop_timeout(wait)))
            now += time.monotonic() - entered
            args[0] = repr(now)
            rows = self._run("claim", *args, *_rate_args(limits, now))
        elif waits:  # the claim runs as soon as the pop returns: one round trip
            pop = ("BLPOP", *self._wake_keys(queues, halt), self._blpop_timeout(wait))
            run = functools.partial(self._scripts.run_after, pop, "claim")
            rows = self._call(functools.partial(run, *args))
        else:
            rows = self._run("claim", *args, *(_rate_args(limits, now) if limits is not None and limits.rates else ()))
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
        # what optional_arg would give, written out: a worker encodes every outcome it records
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


def _rate_args(limits: Limits, rate_now: float) -> list[Any]:
    """The claim script's rate arguments: the time starts count at, then counted
    name/count/period triples, per queue and per job type, then the per-user rate's
    count and period ('' and '' for none)."""
    args: list[Any] = [repr(rate_now)]
    for rates in (limits.queue_rates, limits.job_type_rates):
        args.append(len(rates))
        for name, rate in rates.items():
            args += (name, rate.count, repr(rate.period))
    user_rate = limits.user_rate
    args += ("", "") if user_rate is None else (user_rate.count, repr(user_rate.period))
    return args


def _limit_args(limits: Limits) -> list[Any]:
    """The claim script's limit arguments: '' for no cap, then counted cap pairs."""
    args: list[Any] = ["" if cap is None else cap for cap in (limits.global_max, limits.per_user_max)]
    for caps in (limits.per_queue, limits.per_job_type):
        args += (len(caps), *(item for pair in caps.items() for item in pair))
    return args
