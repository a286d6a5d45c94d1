"""The Redis backend's invariant check (see conveyor.doctor for the kinds).

Redis keeps a job's indexes beside its record, so besides the states only conveyor's
writes keep coherent (leases, deferred jobs, held jobs, batch starters) the check
compares every index with what each job's status calls for. It reads with SCAN and
pipelines (a snapshot that concurrent writes may move under it) and repairs each
finding with repair.lua, which checks again inside Redis before changing anything.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from redis.exceptions import ResponseError

from conveyor.batch import CALLBACK_REASON
from conveyor.exceptions import BackendError
from conveyor.status import TERMINAL, JobStatus
from conveyor.types import Finding

from . import codec
from .keys import LEASES_PIN, KeySpace

PIN = LEASES_PIN.encode()
_STATUSES = frozenset(status.value for status in JobStatus)

_FIELDS = (
    "status", "queue", "qmember", "user_id", "scheduled_for", "lease_expires_at", "lease_token", "keep_until",
    "expires_at", "depends_on", "allow_dependency_failures", "status_reason", "batch_id", "unmet", "stop_requested",
)  # fmt: skip
_MET_WITH_FAILURES = {"finished", "failed", "stopped", "canceled"}


class Inspector:
    """One pass over a namespace: what is stored, what should be indexed, what is."""

    def __init__(self, client: Any, keys: KeySpace, run: Callable[..., Any]) -> None:
        self.client, self.keys, self.run = client, keys, run
        self.jobs: dict[str, dict[str, str]] = {}
        self.indexed: dict[str, set[str]] = defaultdict(set)
        self.unreadable_jobs: set[str] = set()  # reported as broken keys; their index entries are theirs
        self._actions: list[tuple[Finding, tuple[str, ...]]] = []

    def check(self, now: float, repair: bool) -> list[Finding]:
        self._read_jobs()
        self._read_indexes()
        self._check_counters()
        self._check_workers()
        for job_id, job in self.jobs.items():
            expected = self._expected(job_id, job)
            actual = self.indexed.pop(job_id, set())
            if expected - actual:
                self._found("missing_index", job_id, f"not in {', '.join(sorted(expected - actual))}", "reindex")
            elif actual - expected:
                self._found("stray_index", job_id, f"in {', '.join(sorted(actual - expected))}", "reindex")
            self._check_states(job_id, job)
        for job_id in self.unreadable_jobs:
            self.indexed.pop(job_id, None)
        for job_id, keys in self.indexed.items():  # index entries of jobs that do not exist
            for key in sorted(keys):
                name, _, member = key.partition("\0")
                self._found("orphan_link", job_id, f"{name} names a job that does not exist", "orphan", name,
                            member or job_id)  # fmt: skip
        self._check_batches()
        findings = []
        for found, action in self._actions:
            detail, repaired = found.detail, False
            if repair and action:  # a broken key has no repair: what it should hold is not known
                try:
                    self.run("repair", repr(now), action[0], found.subject, *action[1:])
                    repaired = True
                except BackendError as exc:  # such as an index that is a broken key: the rest go on
                    detail += f" (repair failed: {exc})"
            findings.append(Finding(found.kind, found.subject, detail, repaired))
        return findings

    def _found(self, kind: str, subject: str, detail: str, *action: str) -> None:
        """Note a finding and the repair.lua call that fixes it."""
        self._actions.append((Finding(kind, subject, detail), action))

    def _broken(self, subject: str, detail: str) -> None:
        self._found("broken_key", subject, detail)

    def _read(self, key: str, read: Callable[[], Any], default: Any) -> Any:
        """``read()`` of ``key``, or ``default`` with a finding when the key holds another
        type than conveyor writes there (WRONGTYPE)."""
        try:
            return read()
        except ResponseError as exc:
            self._broken(key, f"holds what conveyor cannot read ({exc})")
            return default

    # -- reading -------------------------------------------------------------------------
    def _read_jobs(self) -> None:
        found = self.client.scan_iter(_glob(self.keys.base) + "job:*", count=1000)
        ids = [key.decode()[len(self.keys.job("")) :] for key in found]
        pipe = self.client.pipeline(transaction=False)
        for job_id in ids:
            pipe.hmget(self.keys.job(job_id), *_FIELDS)
        for job_id, values in zip(ids, pipe.execute(raise_on_error=False), strict=True):
            problem: str | None
            if isinstance(values, Exception):
                problem = f"is not a job hash ({values})"
            elif all(value is None for value in values):
                continue  # deleted meanwhile
            else:
                job = {f: v.decode(errors="replace") for f, v in zip(_FIELDS, values, strict=True) if v is not None}
                problem = _malformed(job)
                if not problem:
                    self.jobs[job_id] = job
                    continue
            self.unreadable_jobs.add(job_id)
            self._broken(job_id, f"{self.keys.job(job_id)} {problem}: not repaired (delete or restore it)")

    def _read_indexes(self) -> None:
        queues = sorted(q.decode() for q in self._members(self.keys.queues))
        for queue in queues:
            for member in self._zrange(self.keys.queued(queue)):
                self.indexed[member.decode().partition("|")[2]].add(self.keys.queued(queue) + "\0" + member.decode())
            for user in self._members(self.keys.base + "users:" + queue):
                key = self.keys.queued_by_user(queue, user.decode() or None)
                for member in self._zrange(key):
                    self.indexed[member.decode().partition("|")[2]].add(key + "\0" + member.decode())
            for status in JobStatus:
                if status is not JobStatus.QUEUED:
                    self._read_zset(self.keys.status(queue, status))
        for key in self.client.scan_iter(_glob(self.keys.base) + "ustatus:*", count=1000):
            self._read_zset(key.decode())
        for name in ("due", "leases", "expiry", "retention"):
            self._read_zset(self.keys.base + name)
        for key in self.client.scan_iter(_glob(self.keys.base) + "dependents:*", count=1000):
            for member in self._members(key.decode()):
                if member.decode() not in self.jobs:
                    self.indexed[member.decode()].add(key.decode() + "\0" + member.decode())

    def _zrange(self, key: str) -> list[bytes]:
        members: list[bytes] = self._read(key, functools.partial(self.client.zrange, key, 0, -1), [])
        return members

    def _members(self, key: str) -> set[bytes]:
        members: set[bytes] = self._read(key, lambda: self.client.smembers(key), set())
        return members

    def _read_zset(self, key: str) -> None:
        for member in self._zrange(key):
            if member != PIN:
                self.indexed[member.decode()].add(key)

    def _check_counters(self) -> None:
        """The counters every write moves: one that is not a number, or an event counter
        behind the stream's last entry, fails every enqueue and claim."""
        seq = self._read(self.keys.seq, lambda: self.client.get(self.keys.seq), None)
        if seq is not None and not seq.isdigit():
            self._broken(self.keys.seq, f"holds {seq[:40]!r}, not a number: every enqueue fails; not repaired")
        total = self._read(self.keys.events_total, lambda: self.client.get(self.keys.events_total), None)
        last = self._read(self.keys.events, lambda: self.client.xrevrange(self.keys.events, count=1), [])
        if total is not None and not total.isdigit():
            self._broken(self.keys.events_total, f"holds {total[:40]!r}, not a number: every write fails; not repaired")
        elif total is not None and int(total) > 0 and last and int(last[0][0].split(b"-")[0]) > int(total):
            self._broken(
                self.keys.events_total,
                f"is {int(total)}, behind the last event of {self.keys.events} ({last[0][0].decode()}): every "
                "write fails; not repaired",
            )

    def _check_workers(self) -> None:
        """Worker registrations conveyor cannot read (listings leave them out)."""
        for name, data in self._read(self.keys.workers, lambda: self.client.hgetall(self.keys.workers), {}).items():
            try:
                codec.decode_worker(data)
            except (ValueError, TypeError, KeyError, AttributeError):
                self._broken(name.decode(errors="replace"), f"the registration in {self.keys.workers} is not one "
                             "conveyor wrote: not repaired (HDEL it; a live worker registers again)")  # fmt: skip

    # -- what should be ------------------------------------------------------------------
    def _expected(self, job_id: str, job: dict[str, str]) -> set[str]:
        queue, status = job["queue"], job["status"]
        if status == "queued":
            member = job.get("qmember", "")
            keys = {self.keys.queued(queue) + "\0" + member,
                    self.keys.queued_by_user(queue, job.get("user_id")) + "\0" + member}  # fmt: skip
            if "expires_at" in job:
                keys.add(self.keys.base + "expiry")
            return keys
        keys = {self.keys.status(queue, JobStatus(status))}
        if "user_id" in job:
            keys.add(self.keys.status_of_user(queue, job["user_id"], JobStatus(status)))
        if status == "scheduled" and "scheduled_for" in job:
            keys.add(self.keys.due)
        elif status == "started" or _still_held(job):
            keys.add(self.keys.leases)
        if JobStatus(status) in TERMINAL and "keep_until" in job:
            keys.add(self.keys.base + "retention")
        return keys

    def _check_states(self, job_id: str, job: dict[str, str]) -> None:
        status = job["status"]
        if status == "started" and not ("lease_expires_at" in job and "lease_token" in job):
            self._found("lease_missing", job_id, "running without a lease: recovery would never take it", "lease")
        elif status == "deferred" and job.get("status_reason") != CALLBACK_REASON and self._dependencies_met(job):
            self._found("stuck_deferred", job_id, "deferred, but every dependency has ended as it needs", "requeue")
        elif status == "scheduled" and "scheduled_for" not in job and not self._held_by_batch(job):
            self._found("unreachable_scheduled", job_id, "scheduled with no time and no scheduled batch", "requeue")

    def _dependencies_met(self, job: dict[str, str]) -> bool:
        """Whether every parent the job still waits on (its unmet set; every parent for a
        job stored before conveyor kept that set) has ended as it needs."""
        met = _MET_WITH_FAILURES if job.get("allow_dependency_failures") == "1" else {"finished"}
        for parent in json.loads(job.get("unmet", job.get("depends_on", "[]"))):
            status = self.jobs.get(parent, {}).get("status")
            if status not in met:  # a parent gone counts as unmet: it may have been deleted unfinished
                return False
        return True

    def _held_by_batch(self, job: dict[str, str]) -> bool:
        batch_id = job.get("batch_id")
        if batch_id is None:
            return False
        key = self.keys.batch(batch_id)
        return bool(self._read(key, lambda: self.client.hget(key, "status"), None) == b"scheduled")

    def _check_batches(self) -> None:
        starters = {m.decode() for m in self._zrange(self.keys.batch_starts)}
        for key in self.client.scan_iter(_glob(self.keys.base) + "batch:*", count=1000):
            batch_id = key.decode()[len(self.keys.batch("")) :]
            if self._read(key.decode(), functools.partial(self.client.hget, key, "status"), None) != b"scheduled":
                continue
            if batch_id in starters:
                starters.discard(batch_id)
            else:
                self._found("batch_starter_missing", batch_id, "scheduled batch without its starter entry", "starter")
        for batch_id in sorted(starters):  # left: starters of batches not scheduled (or gone)
            self._found("batch_starter_stray", batch_id, "starter entry of a batch that is not scheduled", "starter")


def _still_held(job: dict[str, str]) -> bool:
    """A job canceled while it ran that its worker has not stopped yet: it keeps its lease
    (prelude.lua's still_held)."""
    return job["status"] == "canceled" and job.get("stop_requested") == "1" and "lease_token" in job


def _malformed(job: dict[str, str]) -> str | None:
    """What makes a job hash unusable to conveyor, if anything."""
    if "queue" not in job:
        return "has no queue"
    if job.get("status") not in _STATUSES:
        return f"has status {job.get('status')!r}, not a job status"
    for field in ("depends_on", "unmet"):
        try:
            parents = json.loads(job.get(field, "[]"))
        except ValueError:
            parents = None
        if not (isinstance(parents, list) and all(isinstance(parent, str) for parent in parents)):
            return f"has a {field} that is not a list of job ids"
    return None


def _glob(text: str) -> str:
    """``text`` as a literal in a SCAN pattern: a prefix holding * ? [ ] or \\ would
    otherwise match another namespace's keys."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
