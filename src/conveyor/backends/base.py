"""The backend contract: every read and every atomic, guarded state transition.

Each method is one atomic operation on the store (one transaction on SQLite, one
script on Redis). Transitions are guarded: they change a job only if it is still in
the state the caller saw (a settle only under the lease that claimed the job), and
report what they did rather than raising on a lost race. Callers pass ``now``, so
tests freeze time. Backends move plain records; policy (retry delays, TTL arithmetic,
validation) lives above this contract and is written once.

``status_reason`` values a backend writes itself: 'expired' (a queued job past its
ttl), 'abandoned' (a lease expired), 'stopped' (a stop request outlived its worker),
'canceled'. Settlements carry the others ('error', 'timeout', 'stopped', 'released').

This interface is internal and not yet stable: it will grow with the REST, batch and
limits work.
"""

from __future__ import annotations

import heapq
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from conveyor.clock import Clock
from conveyor.halt import Halt
from conveyor.status import JobStatus
from conveyor.types import (
    AuditRecord,
    BatchInspection,
    BatchRecord,
    ClockOffset,
    CronEntryRecord,
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

EVENTS_KEPT = 100_000
AUDIT_KEPT = 10_000
"""Operator actions the audit log keeps (Backend.audit_append): the latest, as a trail to
read in the store; the ``conveyor.audit`` logger has every one, for logs kept longer."""
"""Fewest recent job events a backend keeps for readers that resume (SSE, dashboard)."""

CHUNK = 1_000
"""Most jobs one time-driven pass changes in one atomic step, so none holds the store long."""

ABANDONED_MESSAGE = "Abandoned: the lease of worker %s expired while the job ran (worker lost)"
STOPPED_ABANDONED_MESSAGE = "Stopped: the worker %s holding the job went away before it could stop it"
"""exc_info of jobs taken back by lease recovery (%s: the worker's name)."""

SUMMARY_EXC_INFO_LIMIT = 8_192
"""Most of an exc_info (characters; bytes on Redis) a job summary carries, of a longer one
its end: a page of a thousand summaries then holds at most 8 MiB of tracebacks, the
listing's page budget, and each still ends with its error."""


class Backend(Protocol):
    """What a storage backend provides. Implementations: sqlite (redis next)."""

    url: str
    kind: str

    def close(self) -> None:
        """Release connections and wake-up resources held by this process."""

    # -- jobs: writes -------------------------------------------------------------
    def jobs_enqueue(self, records: Sequence[JobRecord], now: float, new_ids: bool = False) -> list[JobRecord]:
        """Store new jobs in one atomic step and return them as stored.

        Records are stored as given, in whatever status they carry, and indexed by it:
        usually QUEUED or SCHEDULED; STARTED with a lease for a job the caller runs at
        once (Queue(is_async=False)); any status from the test factory
        (conveyor.testing.make_job). A job with ``depends_on`` keeps its unmet set: the
        parents not yet finished (or, when it allows dependency failures, not yet ended);
        a QUEUED or SCHEDULED one whose set is not empty is stored DEFERRED instead. A
        record whose ``unique_key`` is held by a live (not terminal) job is not stored:
        that job's record is returned in its place (idempotent submission). Raises
        JobIdInUseError if an id belongs to a job that is not terminal (a terminal one is
        replaced), and NoSuchJobError for a dependency that does not exist; nothing is
        stored then. ``new_ids``: the caller made every id for this call (``new_job_id``,
        62 random bits) and no job can hold one, so a store may skip looking them up.
        """
        ...

    def cron_enqueue(
        self, entry: str, tick: float, record: JobRecord, now: float, catch_up: bool = False
    ) -> JobRecord | None:
        """Store ``record`` as jobs_enqueue does, only if the periodic job ``entry`` has no
        tick recorded at or after ``tick``, and record ``tick`` as its last, in one atomic
        step: of several schedulers firing the same tick, one stores its job and the others
        get None. With ``catch_up`` (a tick that passed while no scheduler ran), an entry
        with no tick recorded gets None too: a new entry never runs for a time before it
        existed. Returns the record stored, or the live job holding its ``unique_key``
        (which then stands for it, the tick recorded all the same)."""
        ...

    def cron_publish(self, entries: Sequence[CronEntryRecord]) -> None:
        """Record what these periodic jobs are and who schedules them (replacing what was
        recorded under each name, ``last_tick`` left alone), in one atomic step: a
        scheduler does so at start and every minute, and an entry it stops publishing
        goes stale, then is removed by cron_reap."""
        ...

    def cron_entries(self) -> list[CronEntryRecord]:
        """Every periodic job published, by name, each with its last tick (cron_enqueue's)."""
        ...

    def cron_reap(self, last_seen_before: float) -> list[str]:
        """Remove the periodic jobs last published before the given time, with their last
        tick, in one atomic step; return their names."""
        ...

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
        """Move up to ``limit`` queued jobs to STARTED under a lease, atomically.

        Queues are served in the order given; within a queue, higher priority first,
        then the jobs whose record says ``at_front``, the one that entered the queue last
        first, then the others first in, first out. Jobs whose ``expires_at`` has passed
        are skipped.

        Fair share: when a queue holds jobs of more than one user (``user_id``; jobs
        without one count as one more user), users take turns within each priority:
        each claim serves first the users served least recently, one job each per
        round, so one user's flood never starves another's single job. ``limits`` caps
        the STARTED jobs (every worker's) globally, per user, per queue and per job
        type; jobs over a cap stay queued and the claim goes on with others.

        ``limits`` rates (``per_queue_rate``, ``per_job_type_rate``, and ``per_user_rate``
        for each user apart, jobs without a user not held by it) cap the jobs STARTED in
        any window of their period, every worker's claims counted: the claim keeps the
        times of its starts in the store, per rate and per user (every claim of a job
        counts, retries and requeues too). Jobs over a rate stay queued alike; the claim then
        notes when the rate's window frees, which schedule_next_due includes and which is
        announced as a due time (schedule_signals), and jobs_promote_due wakes the idle
        workers once it has come (see conveyor/backends/held.py). Starts are counted at
        ``now``, or after a wait at the time the wait ended.

        With ``wait`` (an idle worker's call), when no job is waiting the claim first
        waits up to that many seconds for one to be enqueued, as wait_for_jobs does. A
        backend may send the wait and the claim together, in one round trip: ``now``
        and ``lease_expires_at`` are from before the wait, so a claimed job's
        ``started_at`` is ``now`` or, if later, its ``enqueued_at``. The wait ends at
        once when ``halt`` is set (or is set already): the worker is stopping; a
        wake-up its wait took then goes on to another worker.
        """
        ...

    def jobs_settle(self, settlements: Sequence[Settlement], now: float) -> list[bool]:
        """Apply outcomes of claimed jobs; each only if its lease still holds.

        Returns, per settlement, whether it was applied. A job that finishes is taken
        off its dependents' unmet sets (one that ends another way, off those of
        dependents that allow failures), and deferred jobs whose set is then empty are
        released; the same holds wherever a job ends (recovery, cancel, expiry). A job
        settled QUEUED with reason ``released`` (claimed but given back unrun, or
        interrupted by a shutdown) goes back to its place: its seq, ``enqueued_at`` and
        ttl expiry are kept (an ``at_front`` job's place at the front too); any other job
        re-entering its queue goes to the back (an ``at_front`` one to the front), its
        ttl counted from now.
        """
        ...

    def leases_extend(
        self, worker_name: str, leases: Sequence[tuple[str, str]], lease_expires_at: float, now: float
    ) -> list[str]:
        """Renew the leases ``(job_id, token)`` still held; return the ids renewed."""
        ...

    def leases_recover(self, now: float, limit: int = CHUNK) -> list[Recovery]:
        """Take back jobs whose lease expired.

        A job with retries left goes back to QUEUED (counted as a retry), a job with a
        stop request becomes STOPPED, any other becomes FAILED with reason 'abandoned'.
        Jobs are taken in the order their leases ran out (then by id), at most ``limit``
        per call, as for every time-driven pass: callers loop.
        """
        ...

    def job_cancel(self, job_id: str, now: float, keep_until: float | None, enqueue_dependents: bool) -> JobRecord:
        """Cancel a job that is not terminal; a started one is also told to stop.

        Raises NoSuchJobError, or InvalidJobOperation when the job is terminal.
        With ``enqueue_dependents`` it is taken off the unmet set of every dependent, as
        if it had finished; dependents left waiting on nothing are released.
        """
        ...

    def job_request_stop(self, job_id: str, now: float) -> None:
        """Ask the worker running a STARTED job to stop it (it ends STOPPED).

        Raises NoSuchJobError, or InvalidJobOperation when the job is not started.
        """
        ...

    def stop_requests(self, worker_name: str) -> list[str]:
        """Ids of jobs held by this worker that must stop (stop command or cancel)."""
        ...

    def jobs_requeue(self, job_ids: Sequence[str], now: float, at_front: bool | None = None) -> list[str]:
        """Put FAILED, STOPPED or CANCELED jobs back in their queue; return the ids moved.

        ``at_front`` True or False is stored as each job's ``at_front`` (the front of its
        priority or the back, now and whenever it re-enters its queue); None keeps each
        job's own.

        A job canceled while it ran is not moved until its worker has acknowledged the
        stop (its refused settle) or its lease has run out: it must never run twice at
        once. A canceled job whose unmet set is not empty goes back to DEFERRED. A
        job whose ``unique_key`` another live job holds meanwhile is not moved.
        """
        ...

    def job_delete(self, job_id: str, ended_by: float | None = None, with_dependents: bool = False) -> bool:
        """Remove a job record (and its dependency links); False if it did not exist.

        A job deleted before it ended is never taken off its dependents' unmet sets:
        they stay deferred.

        With ``ended_by`` (now), only a job that has ended and whose worker is no longer
        stopping it at that time, checked in the same step: False otherwise. With
        ``with_dependents``, every job that depends on it, directly or through others,
        is deleted in the same step too (RQ's ``delete_dependents``).
        """
        ...

    def job_update(
        self,
        job_id: str,
        now: float,
        *,
        meta: bytes | None = None,
        progress: float | None = None,
        metrics: bytes | None = None,
    ) -> bool:
        """Set meta, progress or metrics (the fields given) of an existing job."""
        ...

    # -- jobs: time-driven transitions --------------------------------------------------
    def jobs_promote_due(self, now: float, limit: int = CHUNK) -> int:
        """Move SCHEDULED jobs whose time has come to QUEUED; return how many. Also wake
        the idle workers of the jobs a rate held whose window has freed by ``now`` (see
        jobs_claim)."""
        ...

    def schedule_next_due(self) -> float | None:
        """When the earliest scheduled job (a delayed enqueue or retry) or scheduled batch
        start comes due, or a rate's window frees for jobs it held (see jobs_claim), past
        or future; None when nothing waits on a time. One index read (O(log n)) each, so a
        worker can sleep until then rather than a poll interval."""
        ...

    def schedule_signals(self) -> float | None:
        """The earliest due time announced since the last call, or None: read locally,
        with no round trip to the store, so a worker can ask every tick.

        A write that puts a job on a time (a delayed enqueue or retry, a dependent given
        a time) or sets a batch's start announces the store's earliest due time after it;
        one whose time is not the earliest may announce nothing. A worker that hears it
        runs its due pass then, so a job scheduled less than a poll interval ahead, from
        any process, starts on time. The first call begins listening and returns None;
        when what was announced may have been missed since (a Redis subscription made
        again, a SQLite socket that filled up), a call reads the earliest due time
        instead. Workers sharing the backend object may call it at once: each
        announcement reaches one of them, whose due pass promotes for all. What cannot
        be heard (no listening possible) is found by the next poll pass, since this is a
        shortcut, never a requirement."""
        ...

    def jobs_expire(self, now: float, limit: int = CHUNK) -> int:
        """Cancel (reason 'expired') QUEUED jobs whose ttl has passed; return how many."""
        ...

    def jobs_purge(self, now: float, limit: int) -> int:
        """Delete up to ``limit`` terminal jobs whose ``keep_until`` has passed; return how
        many. Callers purge in such chunks so no single write holds the store for long."""
        ...

    def rate_starts_trim(self, before: float, limit: int) -> int:
        """Drop up to ``limit`` starts logged by rates (see conveyor/backends/held.py) at
        claims at or before ``before``, and return how many: the maintenance pass drops
        those a day old (the longest period), which no window reaches, so that the log of a
        queue, job type or user that no claim reads any more does not linger (a claim
        trims only the logs of its own rates). Redis: 0, its logs expire by themselves
        (a period and a margin after their last start)."""
        ...

    def queue_empty(self, queue: str) -> int:
        """Delete every QUEUED job of ``queue`` (in chunks of CHUNK, each atomic); return how many."""
        ...

    def queues_pause(self, queues: Sequence[str], now: float) -> None:
        """Pause these queues store-wide, until resumed: jobs_claim takes none of their
        jobs (enqueues, promotions and retries still queue them; running jobs go on), and
        no wake-up is sent for them. A queue paused already keeps its first pause time."""
        ...

    def queues_resume(self, queues: Sequence[str]) -> list[str]:
        """Lift the pause of these queues (those not paused are left as they are) and wake
        idle workers for the jobs they hold; return those that were paused."""
        ...

    def queues_paused(self) -> dict[str, float]:
        """The paused queues, each with when it was paused."""
        ...

    # -- jobs: reads ------------------------------------------------------------------
    def jobs_get(self, job_ids: Sequence[str]) -> list[JobRecord | None]:
        """The records for these ids, None where a job does not exist."""
        ...

    def jobs_summaries(self, job_ids: Sequence[str]) -> list[JobSummaryRecord | None]:
        """What a listing shows of these jobs, None where a job does not exist: only the
        fields of JobSummaryRecord are read, never a job's large values, and of an exc_info
        longer than SUMMARY_EXC_INFO_LIMIT only its end, that many characters (on Redis bytes,
        less a character cut in two). One read (one round trip) for all of them."""
        ...

    def job_ids(self, queue: str | None, statuses: Sequence[JobStatus], offset: int = 0, limit: int = -1) -> list[str]:
        """Ids of jobs in these statuses (of one queue, or all), oldest first; QUEUED alone
        in claim order (as queue_position counts)."""
        ...

    def job_dependents(self, job_id: str) -> list[str]:
        """Ids of the stored jobs that name ``job_id`` in their ``depends_on`` (directly),
        whatever their status, sorted; RQ's ``job.dependent_ids``."""
        ...

    def job_ids_newest(
        self,
        queue: str | None,
        statuses: Sequence[JobStatus],
        before: int | None,
        limit: int,
        user_id: str | None = None,
    ) -> list[tuple[str, int]]:
        """Up to ``limit`` (id, seq) of jobs in these statuses (of one queue, or all; of one
        user, or everyone's), newest (highest seq) first, with seq below ``before`` if
        given: pages of a listing, each costing the same however many jobs the store holds
        (``job_ids`` counts an offset), also for a user among many."""
        ...

    def jobs_count(self, queue: str | None, statuses: Sequence[JobStatus]) -> int:
        """How many jobs are in these statuses (of one queue, or all)."""
        ...

    def counts(self, user_id: str | None = None) -> dict[str, dict[JobStatus, int]]:
        """Job counts per queue and status (of one user's jobs, if given); statuses with no
        jobs are left out.

        Read from counters or index sizes kept with every change: the cost depends on
        the number of queues, never on the number of jobs (SQLite counts a user's jobs
        in an index: in proportion to that user's jobs).
        """
        ...

    def queue_position(self, job_id: str) -> int | None:
        """0-based position of a QUEUED job in its queue's claim order (jobs_claim's,
        users' turns aside), else None."""
        ...

    def job_inspect(self, job_id: str) -> JobInspection:
        """What the store holds for this id, read from the store's own structures."""
        ...

    # -- batches ---------------------------------------------------------------------------
    def batch_create(
        self, batch: BatchRecord, jobs: Sequence[JobRecord], callbacks: Sequence[JobRecord], now: float
    ) -> BatchRecord:
        """Store a batch, its jobs and its callback jobs in one atomic step.

        Jobs come SCHEDULED without a time of their own (held for the starter) when the
        batch is SCHEDULED, QUEUED when it is RUNNING; callbacks come DEFERRED.
        """
        ...

    def batches_get(self, batch_ids: Sequence[str]) -> list[BatchRecord | None]:
        """The batches for these ids, None where one does not exist."""
        ...

    def batches_list(self, user_id: str | None, before: str | None, limit: int) -> list[BatchRecord]:
        """Batches newest first (of one user, or all), with ids below ``before`` if given."""
        ...

    def batch_counts(self, batch_id: str) -> dict[JobStatus, int]:
        """How many of the batch's jobs are in each status (callbacks not counted)."""
        ...

    def batch_job_ids(self, batch_id: str, before: int | None, limit: int) -> list[tuple[str, int]]:
        """Up to ``limit`` (id, place) of the batch's jobs (callbacks not included), the
        last given at its creation first, with place below ``before`` if given. A place
        orders the batch's jobs as they were given, and stays when a job is retried or
        requeued; an unknown batch has none."""
        ...

    def batch_start(self, batch_id: str, now: float) -> BatchRecord:
        """Release a SCHEDULED batch's held jobs to their queues now, and drop its starter.

        Raises NoSuchBatchError, or InvalidBatchOperation when it is not SCHEDULED.
        """
        ...

    def batch_reschedule(self, batch_id: str, scheduled_start: float, now: float) -> BatchRecord:
        """Move a SCHEDULED batch's start; InvalidBatchOperation once it has started."""
        ...

    def batch_cancel(self, batch_id: str, now: float) -> tuple[BatchRecord, int]:
        """Cancel every job of the batch not yet ended (running ones are told to stop), its
        callbacks and its starter; return the batch and how many jobs were canceled.

        A RUNNING batch whose jobs have all ended (the maintenance pass has not completed
        it yet) is completed instead, its callbacks queued, as that pass would have done,
        and returned COMPLETED with 0: cancelling it could stop nothing, and would lose its
        on_complete. InvalidBatchOperation when the batch is already COMPLETED or CANCELED.
        """
        ...

    def batches_start_due(self, now: float, limit: int = CHUNK) -> int:
        """Start SCHEDULED batches whose time has come (each in one step); return how many."""
        ...

    def batches_complete(self, now: float, limit: int = CHUNK) -> list[str]:
        """Complete RUNNING batches whose jobs have all ended, in one step each with their
        callbacks: on_complete is queued whatever the outcome, on_failure only if a job
        failed or was stopped (else it is canceled), so each runs at most once. Return
        the ids of the batches completed."""
        ...

    def batch_inspect(self, batch_id: str) -> BatchInspection:
        """Whether the batch's starter really exists in the store, and when it fires."""
        ...

    # -- checking the store ---------------------------------------------------------------
    def invariants_check(self, now: float, repair: bool) -> list[Finding]:
        """Check the store's invariants (conveyor.doctor.KINDS) and, with ``repair``, fix what
        can be fixed safely, each fix one atomic step. Reads the whole store: a tool for
        operators, not for hot paths."""
        ...

    # -- events and statistics ------------------------------------------------------------
    def events_read(self, after: str | None, limit: int, timeout: float) -> tuple[str, list[JobEvent]]:
        """Job changes published after the cursor ``after``, oldest first, at most ``limit``.

        Every change of a job's status, progress, meta or metrics, and its deletion, is
        published in the same atomic step as the change. With ``after=None`` this returns
        at once the current cursor and no events (a starting point). Otherwise it waits
        up to ``timeout`` seconds for a first event, then returns the events and the
        cursor to pass next (``after`` itself when there were none). A cursor is the
        number of events published up to the last one read, so a reader can tell what it
        missed: only the most recent events are kept (at least EVENTS_KEPT), and a reader
        that falls further behind gets a cursor that moved past the events returned (or
        back, for a store that began again) and must re-read the jobs it follows. The
        events returned are numbered consecutively up to the cursor.
        """
        ...

    def job_snapshot(self, job_id: str) -> tuple[JobRecord | None, str]:
        """The job's record (None if it does not exist) and the event cursor as of the
        same moment: the events after that cursor are exactly the changes made after
        this read, so a follower can tell the events a read already shows from newer
        ones (however late a reader of events delivers them)."""
        ...

    def throughput(self, since: float) -> Throughput:
        """Jobs that ended from ``since`` on (finished, failed, stopped or canceled: each
        move into one of those counts), at one-minute resolution."""
        ...

    # -- workers -------------------------------------------------------------------
    def workers_register(self, worker: WorkerRecord) -> None:
        """Record a worker (replacing a registration with the same name)."""
        ...

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
        """Refresh a worker's registration (its counters too); UNREGISTERED if it was
        reaped meanwhile, SHUTDOWN_REQUESTED once workers_request_shutdown marked it."""
        ...

    def workers_request_shutdown(self, name: str) -> bool:
        """Mark a registered worker to shut down (its next heartbeat says so); False if
        no worker has that name."""
        ...

    def workers_unregister(self, name: str) -> None:
        """Remove a worker's registration."""
        ...

    def workers_list(self) -> list[WorkerRecord]:
        """Every registered worker."""
        ...

    def workers_reap(self, last_seen_before: float) -> list[str]:
        """Remove workers silent since before the given time; return their names."""
        ...

    # -- maintenance -------------------------------------------------------------------
    def maintenance_claim(self, owner: str, now: float, hold_until: float) -> bool:
        """Take (or renew) the store-wide maintenance lock until ``hold_until``.

        True when it was free, had run out, or was already held by ``owner``. The lock
        saves work, not correctness: every maintenance step is atomic on its own.
        """
        ...

    def maintenance_done(self, owner: str, now: float) -> None:
        """Record a completed maintenance pass at ``now``; release the lock if ``owner`` holds it."""
        ...

    def maintenance_last(self) -> float | None:
        """When the last maintenance pass completed, None if none has."""
        ...

    # -- audit log --------------------------------------------------------------------
    def audit_append(self, entry: AuditRecord) -> None:
        """Add an operator action to the audit log, which keeps the latest AUDIT_KEPT
        (at least) and drops older ones as new ones come."""
        ...

    def audit_read(self, before: str | None, limit: int) -> list[AuditRecord]:
        """Up to ``limit`` entries of the audit log, newest first, each with its ``id``;
        with ``before`` (an id), those added before it."""
        ...

    # -- the store itself ------------------------------------------------------------
    def store_maintain(self) -> None:
        """Upkeep of the store itself, run by each worker every poll interval (SQLite:
        checkpoint the write-ahead log, so that enqueue commits never stall on it)."""
        ...

    def store_warnings(self) -> list[str]:
        """Settings of the store that put jobs at risk, for workers to log at start."""
        ...

    def store_serving_since(self, now: float) -> float | None:
        """When the store began serving after it last stopped (a restart, a failover), as
        first noticed, or None for a store that cannot stop apart from its callers
        (SQLite). Workers hold lease recovery back for a lease period after it: workers
        that were alive all along have not renewed yet."""
        ...

    def store_clock_offset(self, clock: Clock) -> ClockOffset | None:
        """How far ``clock`` (this process's) is from the store's own clock, or None for a
        store without a clock apart from this machine's (SQLite) or one whose clock may not
        be read (a Redis ACL user refused TIME: ``store_warnings`` says so). Every process compares
        lease deadlines, due times and heartbeats written by others with its own clock:
        workers warn when theirs is off (conveyor.worker.clock_watch)."""
        ...

    # -- wake-up ---------------------------------------------------------------------
    def wait_for_jobs(
        self,
        queues: Sequence[str],
        timeout: float,
        halt: Halt | None = None,
        wanted: Callable[[], bool] | None = None,
    ) -> None:
        """Block until a job of ``queues`` may have become available, ``timeout`` seconds
        pass, or ``halt`` is set (returning at once if it is set already).

        Every job made ready (enqueued, promoted, released, retried, recovered, or free
        to start because a running job gave up its limit slot) wakes a waiting worker
        of its queue. ``wanted``, asked when the wait took a wake-up, says whether the
        caller will still claim: if not (it filled up or is stopping since it began to
        wait), a backend whose wake-up reaches one worker gives it back for another."""
        ...


def newest(pairs: Iterable[tuple[str, int]], limit: int) -> list[tuple[str, int]]:
    """The ``limit`` (id, seq) pairs with the highest seq, highest first: merges the
    newest of several indexes into one page (Backend.job_ids_newest)."""
    return heapq.nlargest(limit, pairs, key=operator.itemgetter(1))
