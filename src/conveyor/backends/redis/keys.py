"""Every Redis key conveyor uses, named in one place.

All keys of one namespace share the hash tag ``{<prefix>}``, so they live in one slot:
a Redis Cluster can hold a namespace, and the scripts (which move a job between
several indexes at once) never cross slots. Separate prefixes spread across a cluster.

    {conveyor}:job:<id>                 hash: the job record (plus seq, qmember, and unmet:
                                        a JSON list of the parents it still waits on)
    {conveyor}:queued:<queue>           zset, all scores 0, ordered by member
                                        "<inverted priority><seq>|<id>": the claim order
                                        ("<inverted priority>-<2^53-1 - seq>|<id>" for an
                                        at_front job: before the others of its priority)
    {conveyor}:byuser:<n>:<queue>:<user>  the same, for one user's jobs ('' for none; n:
                                        the queue name's length in UTF-8 bytes), for fair share
    {conveyor}:users:<queue>            set: users with queued jobs (some may have none left)
    {conveyor}:turns:<queue>            zset: user -> when last served (a counter)
    {conveyor}:status:<queue>:<status>  zset of ids by seq, every status but queued
    {conveyor}:ustatus:<n>:<queue>:<user>:<status>  the same, for one user's jobs (n: the
                                        queue name's UTF-8 bytes), for listings and counts of a user
    {conveyor}:due                      zset: scheduled ids by scheduled_for
    {conveyor}:leases                   zset: started ids by lease_expires_at, and LEASES_PIN; also
                                        canceled ids whose worker has not yet stopped them
    {conveyor}:expiry                   zset: queued ids by expires_at (ttl)
    {conveyor}:retention                zset: ended ids by keep_until
    {conveyor}:dependents:<id>          set: ids of jobs waiting on this one
    {conveyor}:stops:<worker>           set: ids the worker must stop
    {conveyor}:queues                   set: queue names ever used
    {conveyor}:workers                  hash: worker name -> JSON registration
    {conveyor}:seq                      counter for the order of entry into queues
    {conveyor}:wake:<queue>             list: wake-up tokens for the queue's idle workers, one
                                        per job made ready, at most 16
    {conveyor}:paused                   hash: paused queue -> when it was paused; the claim takes
                                        none of its jobs and no wake-up is pushed for it
    {conveyor}:heldby                   hash: a full limit a claim left jobs queued for (named as
                                        conveyor/backends/held.py says) -> the queues of
                                        those jobs, newline-separated; a job giving up a slot of
                                        that limit wakes their workers, and drops the field
    {conveyor}:starts:<rate>            zset: the last starts counted against a rate (named as held.py
                                        says: queuerate:<queue>, typerate:<type>,
                                        userrate:<user>), members '<id>|<time>|<n>', scores
                                        the claim times; each rated claim drops those older
                                        than its period; expires a period (and
                                        rates.START_LOG_MARGIN) after its last start
    {conveyor}:ratedue                  zset: queue -> when the window of a rate holding some of
                                        its queued jobs frees (the earliest noted); the due
                                        pass wakes the queue's idle workers then
    {conveyor}:halt:<token>             list: one token, pushed when a worker stops, that
                                        ends its wait for jobs (the pop removes the key;
                                        a short TTL removes one no wait popped)
    {conveyor}:halted:<token>           string, pushed with that token, for as long: a claim
                                        sent after the wait sees it and claims nothing
    {conveyor}:signal:due               pub/sub channel (not a key): the earliest due time,
                                        published when a call put something on it; each
                                        worker's housekeeper listens (see due_signals.py)
    {conveyor}:events                   stream: job events, entry id '<event number>-0',
                                        fields status ('' for other changes) and ids
                                        (newline-separated: ids hold no control characters)
    {conveyor}:events:total             counter: events published so far (the last entry's id)
    {conveyor}:unique                   hash: unique_key -> id of the job that took it last
                                        (it holds the key while it has not ended)
    {conveyor}:audit                    stream: operator actions (Backend.audit_append), about the
                                        latest AUDIT_KEPT, fields at, actor, role, via, action,
                                        target, detail
    {conveyor}:maintenance              hash: lock owner and until, last (completed pass)
    {conveyor}:cron                     hash: periodic job (cron entry) name -> the last tick
                                        enqueued for it (epoch seconds)
    {conveyor}:cronentries              hash: periodic job name -> JSON of what it is and which
                                        scheduler published it when (Backend.cron_publish)
    {conveyor}:server                   hash: run_id of the Redis process last seen, and
                                        since (when it was first seen: its start, as noticed)
    {conveyor}:throughput               hash: '<minute>:f' jobs finished, '<minute>:x'
                                        failed, '<minute>:t' their runtime in seconds,
                                        '<minute>:c' stopped or canceled
    {conveyor}:batch:<id>               hash: the batch record
    {conveyor}:batchjobs:<id>           zset: the batch's job ids by seq
    {conveyor}:batchstarts              zset: scheduled batch ids by start time (the starter)
    {conveyor}:batchesrunning           set: ids of running batches
    {conveyor}:batches                  zset, scores 0: every batch id (ids sort by time)
    {conveyor}:userbatches:<user>       zset, scores 0: one user's batch ids
"""

from __future__ import annotations

from conveyor.status import JobStatus

WAKE_TOKENS_KEPT = 16
"""Most wake-up tokens that wait on one queue's list: it is full while every worker is
busy, and the functions read its length rather than push and trim."""
LEASES_PIN = "\x01conveyor keeps this lease index a skiplist".ljust(70, ".")
"""A member of the lease index (score +inf: it never lapses) that no job id can be, ids
having no control characters. Being over 64 bytes, it keeps Redis from holding the
index as a listpack, which it does up to 128 members: a worker's jobs in flight, up to a
few hundred, are just that size, and there every ZADD and ZREM walks the whole index,
parsing each member's score (lease times have 17 digits): a fifth of the Redis work of
claiming and settling a job, counted with callgrind."""


class KeySpace:
    """The keys of one conveyor namespace."""

    def __init__(self, prefix: str = "conveyor") -> None:
        self.prefix = prefix
        self.base = f"{{{prefix}}}:"
        self.seq = self.base + "seq"
        self.queues = self.base + "queues"
        self.workers = self.base + "workers"
        self.events = self.base + "events"
        self.events_total = self.base + "events:total"
        self.throughput = self.base + "throughput"
        self.maintenance = self.base + "maintenance"
        self.due = self.base + "due"
        self.due_signals = self.base + "signal:due"
        self.rate_due = self.base + "ratedue"
        self.leases = self.base + "leases"
        self.batch_starts = self.base + "batchstarts"
        self.cron_ticks = self.base + "cron"
        self.cron_entries = self.base + "cronentries"
        self.paused = self.base + "paused"
        self.audit = self.base + "audit"

    def batch(self, batch_id: str) -> str:
        return f"{self.base}batch:{batch_id}"

    def batch_jobs(self, batch_id: str) -> str:
        return f"{self.base}batchjobs:{batch_id}"

    def batches(self, user_id: str | None) -> str:
        return self.base + "batches" if user_id is None else f"{self.base}userbatches:{user_id}"

    def job(self, job_id: str) -> str:
        return f"{self.base}job:{job_id}"

    def queued(self, queue: str) -> str:
        return f"{self.base}queued:{queue}"

    def queued_by_user(self, queue: str, user: str | None) -> str:
        return f"{self.base}byuser:{_length(queue)}:{queue}:{user or ''}"

    def status(self, queue: str, status: JobStatus) -> str:
        return f"{self.base}status:{queue}:{status.value}"

    def status_of_user(self, queue: str, user: str, status: JobStatus) -> str:
        return f"{self.base}ustatus:{_length(queue)}:{queue}:{user}:{status.value}"

    def index(self, queue: str, status: JobStatus, user: str | None = None) -> str:
        """The sorted set holding a queue's jobs in ``status`` (only ``user``'s, if given)."""
        if status is JobStatus.QUEUED:
            return self.queued(queue) if user is None else self.queued_by_user(queue, user)
        return self.status(queue, status) if user is None else self.status_of_user(queue, user, status)

    def wake(self, queue: str) -> str:
        """The list of wake-up tokens that the queue's idle workers block on."""
        return f"{self.base}wake:{queue}"

    def stops(self, worker: str) -> str:
        return f"{self.base}stops:{worker}"

    def halt(self, token: str) -> str:
        """The list a stopping worker's wait for jobs pops beside the wake-up lists."""
        return f"{self.base}halt:{token}"

    def halted(self, token: str) -> str:
        """Set with the halt list's token: the claim sent with a wait's pop claims nothing."""
        return f"{self.base}halted:{token}"

    def dependents(self, job_id: str) -> str:
        return f"{self.base}dependents:{job_id}"

    def indexes_by_id(self, queues: list[str]) -> list[str]:
        """The sorted sets that hold job ids as members (the queued sets hold them inside
        their members), for job_inspect."""
        by_status = [
            self.status(queue, status) for queue in queues for status in JobStatus if status is not JobStatus.QUEUED
        ]
        return [*by_status, self.due, self.leases, self.base + "expiry", self.base + "retention"]


def _length(queue: str) -> int:
    """A queue name's length as the functions count it (Lua's ``#``): in UTF-8 bytes."""
    return len(queue.encode())
