"""The Redis backend's invariant check (see conveyor.doctor for the kinds).

Redis keeps a job's indexes beside its record, so besides the states only conveyor's
writes keep coherent (leases, deferred jobs, held jobs, batch starters) the check
compares every index with what each job's status calls for. It reads with SCAN and
pipelines (a snapshot that concurrent writes may move under it) and repairs each
finding with repair.lua, which checks again inside Redis before changing anything.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from conveyor.batch import CALLBACK_REASON
from conveyor.status import TERMINAL, JobStatus
from conveyor.types import Finding

from .keys import LEASES_PIN, KeySpace

PIN = LEASES_PIN.encode()

_FIELDS = (
    "status", "queue", "qmember", "user_id", "scheduled_for", "lease_expires_at", "lease_token", "keep_until",
    "expires_at", "depends_on", "allow_dependency_failures", "status_reason", "batch_id",
)  # fmt: skip
_MET_WITH_FAILURES = {"finished", "failed", "stopped", "canceled"}


class Inspector:
    """One pass over a namespace: what is stored, what should be indexed, what is."""

    def __init__(self, client: Any, keys: KeySpace, run: Callable[..., Any]) -> None:
        self.client, self.keys, self.run = client, keys, run
        self.jobs: dict[str, dict[str, str]] = {}
        self.indexed: dict[str, set[str]] = defaultdict(set)
        self._actions: list[tuple[Finding, tuple[str, ...]]] = []

    def check(self, now: float, repair: bool) -> list[Finding]:
        self._read_jobs()
        self._read_indexes()
        for job_id, job in self.jobs.items():
            expected = self._expected(job_id, job)
            actual = self.indexed.pop(job_id, set())
            if expected - actual:
                self._found("missing_index", job_id, f"not in {', '.join(sorted(expected - actual))}", "reindex")
            elif actual - expected:
                self._found("stray_index", job_id, f"in {', '.join(sorted(actual - expected))}", "reindex")
            self._check_states(job_id, job)
        for job_id, keys in self.indexed.items():  # index entries of jobs that do not exist
            for key in sorted(keys):
                name, _, member = key.partition("\0")
                self._found("orphan_link", job_id, f"{name} names a job that does not exist", "orphan", name,
                            member or job_id)  # fmt: skip
        self._check_batches()
        if repair:
            for finding, action in self._actions:
                self.run("repair", repr(now), action[0], finding.subject, *action[1:])
        return [Finding(f.kind, f.subject, f.detail, repair) for f, _ in self._actions]

    def _found(self, kind: str, subject: str, detail: str, *action: str) -> None:
        """Note a finding and the repair.lua call that fixes it."""
        self._actions.append((Finding(kind, subject, detail), action))

    # -- reading -------------------------------------------------------------------------
    def _read_jobs(self) -> None:
        ids = [key.decode()[len(self.keys.job("")) :] for key in self.client.scan_iter(self.keys.job("*"), count=1000)]
        pipe = self.client.pipeline(transaction=False)
        for job_id in ids:
            pipe.hmget(self.keys.job(job_id), *_FIELDS)
        for job_id, values in zip(ids, pipe.execute(), strict=True):
            if values[0] is not None:
                self.jobs[job_id] = {f: v.decode() for f, v in zip(_FIELDS, values, strict=True) if v is not None}

    def _read_indexes(self) -> None:
        queues = sorted(q.decode() for q in self.client.smembers(self.keys.queues))
        for queue in queues:
            for member in self.client.zrange(self.keys.queued(queue), 0, -1):
                self.indexed[member.decode().rpartition("|")[2]].add(self.keys.queued(queue) + "\0" + member.decode())
            for user in self.client.smembers(self.keys.base + "users:" + queue):
                key = self.keys.queued_by_user(queue, user.decode() or None)
                for member in self.client.zrange(key, 0, -1):
                    self.indexed[member.decode().rpartition("|")[2]].add(key + "\0" + member.decode())
            for status in JobStatus:
                if status is not JobStatus.QUEUED:
                    self._read_zset(self.keys.status(queue, status))
        for key in self.client.scan_iter(self.keys.base + "ustatus:*", count=1000):
            self._read_zset(key.decode())
        for name in ("due", "leases", "expiry", "retention"):
            self._read_zset(self.keys.base + name)
        for key in self.client.scan_iter(self.keys.dependents("*"), count=1000):
            for member in self.client.smembers(key):
                if member.decode() not in self.jobs:
                    self.indexed[member.decode()].add(key.decode() + "\0" + member.decode())

    def _read_zset(self, key: str) -> None:
        for member in self.client.zrange(key, 0, -1):
            if member != PIN:
                self.indexed[member.decode()].add(key)

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
        elif status == "started":
            keys.add(self.keys.leases)
        elif JobStatus(status) in TERMINAL and "keep_until" in job:
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
        met = _MET_WITH_FAILURES if job.get("allow_dependency_failures") == "1" else {"finished"}
        for parent in json.loads(job.get("depends_on", "[]")):
            status = self.jobs.get(parent, {}).get("status")
            if status not in met:  # a parent gone counts as unmet: it may have been deleted unfinished
                return False
        return True

    def _held_by_batch(self, job: dict[str, str]) -> bool:
        batch_id = job.get("batch_id")
        return batch_id is not None and self.client.hget(self.keys.batch(batch_id), "status") == b"scheduled"

    def _check_batches(self) -> None:
        starters = {m.decode() for m in self.client.zrange(self.keys.batch_starts, 0, -1)}
        for key in self.client.scan_iter(self.keys.batch("*"), count=1000):
            batch_id = key.decode()[len(self.keys.batch("")) :]
            if self.client.hget(key, "status") != b"scheduled":
                continue
            if batch_id in starters:
                starters.discard(batch_id)
            else:
                self._found("batch_starter_missing", batch_id, "scheduled batch without its starter entry", "starter")
        for batch_id in sorted(starters):  # left: starters of batches not scheduled (or gone)
            self._found("batch_starter_stray", batch_id, "starter entry of a batch that is not scheduled", "starter")
