"""Plain records that cross the backend contract.

Backends store and move these; they never see callables or serializers. Times are
float seconds since the epoch (UTC); payloads, results and meta are opaque bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import cast

from conveyor.exceptions import ConfigurationError
from conveyor.rates import Rate, RateSpec, parse_rate
from conveyor.status import BatchStatus, JobStatus


@dataclass(slots=True)
class JobRecord:
    """Everything stored about one job."""

    id: str
    queue: str
    func_name: str
    payload: bytes
    serializer: str = "json"
    status: JobStatus = JobStatus.QUEUED
    priority: int = 0
    user_id: str | None = None
    timeout: float | None = 180.0
    ttl: float | None = None
    result_ttl: float | None = 500.0
    failure_ttl: float | None = 365 * 24 * 3600.0
    max_retries: int = 0
    retry_intervals: tuple[float, ...] = ()
    retry_jitter: float = 0.0
    retry_count: int = 0
    depends_on: tuple[str, ...] = ()
    allow_dependency_failures: bool = False
    description: str | None = None
    meta: bytes | None = None
    progress: float | None = None
    metrics: bytes | None = None
    created_at: float = 0.0
    enqueued_at: float | None = None
    scheduled_for: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    last_heartbeat: float | None = None
    expires_at: float | None = None
    keep_until: float | None = None
    result: bytes | None = None
    exc_info: str | None = None
    status_reason: str | None = None
    worker_name: str | None = None
    lease_token: str | None = None
    lease_expires_at: float | None = None
    stop_requested: bool = False
    batch_id: str | None = None
    unique_key: str | None = None
    callbacks: str | None = None  # JSON {"on_success": import path, ...}: see conveyor.callbacks
    at_front: bool = False
    """RQ's ``enqueue_at_front``: each time the job enters its queue (enqueued, due, its
    dependencies met, retried, requeued) it goes before every job of its priority
    already there, the latest such job first; a job released unrun keeps its place."""
    retry_on: tuple[str, ...] = ()
    """``Retry(on=...)``: the exceptions (retry.exception_names) its failed runs are
    retried on; empty: any."""


@dataclass(slots=True, frozen=True)
class JobSummaryRecord:
    """What a listing shows of a job, without its large values (payload, result, meta,
    metrics): a store reads only these fields for it (Backend.jobs_summaries). Each field
    is JobRecord's, with its default; of a long ``exc_info`` only its end (see
    Backend.jobs_summaries), which holds the error a listing shows."""

    id: str
    queue: str
    func_name: str
    status: JobStatus = JobStatus.QUEUED
    priority: int = 0
    user_id: str | None = None
    max_retries: int = 0
    retry_count: int = 0
    progress: float | None = None
    created_at: float = 0.0
    started_at: float | None = None
    ended_at: float | None = None
    exc_info: str | None = None
    worker_name: str | None = None
    batch_id: str | None = None


RELEASED = "released"
"""The reason of a Settlement that gives a job back unrun (or interrupted by a shutdown):
it goes back to its place in its queue, not counted as a retry."""

SNOOZED = "snoozed"
"""The reason of a Settlement for a job that asked to run again later (SnoozeJob): not a
failure, not counted as a retry."""


@dataclass(slots=True, frozen=True)
class Settlement:
    """The outcome of one claimed job, applied only if the lease still holds.

    ``status`` is FINISHED, FAILED or STOPPED for a terminal outcome, QUEUED or
    SCHEDULED to run the job again (a retry when ``count_retry``, a release
    otherwise). ``delete`` drops the record at once (result_ttl=0).
    """

    job_id: str
    lease_token: str
    status: JobStatus
    started_at: float | None = None
    result: bytes | None = None
    exc_info: str | None = None
    reason: str | None = None
    keep_until: float | None = None
    scheduled_for: float | None = None
    count_retry: bool = False
    delete: bool = False


@dataclass(slots=True, frozen=True)
class Recovery:
    """What lease recovery did to one job whose worker stopped renewing it."""

    job_id: str
    status: JobStatus
    worker_name: str | None


@dataclass(slots=True)
class WorkerRecord:
    """A registered worker, as shown by `conveyor info` and the REST API."""

    name: str
    hostname: str
    pid: int
    queues: tuple[str, ...]
    concurrency: int
    state: str = "starting"
    current_job_ids: tuple[str, ...] = ()
    started_at: float = 0.0
    last_heartbeat: float = 0.0
    jobs_done: int = 0  # every job it ended
    jobs_failed: int = 0  # of those, the ones that failed or were stopped (each run to be retried too)
    jobs_stopped: int = 0  # of the failed ones, those a stop or a cancel ended (not a failure of the job)
    working_time: float = 0.0  # seconds spent running them
    version: str = ""
    pool: str = "threads"  # where its sync jobs run: threads (its own process) or processes
    shutdown_requested: bool = False  # told to stop from outside (send_shutdown_command)


@dataclass(slots=True)
class CronEntryRecord:
    """A periodic job as the scheduler running it published it (Backend.cron_publish),
    so that operators see what is scheduled; ``last_tick`` is read with it (the last tick
    enqueued for it, None before its first), never published."""

    name: str
    schedule_kind: str  # 'interval' or 'cron'
    schedule: str  # as registered: the seconds or duration of interval=, or the cron= expression
    timezone: str  # the zone cron= is read in ('UTC' unless given; interval ticks are UTC seconds)
    queue: str
    job_type: str  # the function (or job type) each tick enqueues
    scheduler: str  # the name of the scheduler that published it last
    hostname: str
    pid: int
    last_seen: float  # when that scheduler published it last (it does so every minute)
    last_tick: float | None = None


class HeartbeatReply(Enum):
    """The store's answer to a worker's heartbeat: the one moment every worker, idle or
    busy, hears from the store, so it carries what an operator asked of the worker."""

    RECORDED = "recorded"
    UNREGISTERED = "unregistered"  # reaped meanwhile (a long pause): register again
    SHUTDOWN_REQUESTED = "shutdown_requested"  # recorded; stop as after a SIGTERM

    @classmethod
    def of(cls, registered: bool, shutdown_requested: bool) -> HeartbeatReply:
        if not registered:
            return cls.UNREGISTERED
        return cls.SHUTDOWN_REQUESTED if shutdown_requested else cls.RECORDED


@dataclass(slots=True, frozen=True)
class JobEvent:
    """One change to one job, published by the backend in the same atomic step.

    ``status`` is the job's new status, or None when something else changed
    (progress, meta, metrics) or the job was deleted: readers re-read the job.
    """

    job_id: str
    status: JobStatus | None


@dataclass(slots=True, frozen=True)
class AuditRecord:
    """One operator action on the store (conveyor.audit): who did what to what, when.

    ``id`` is the store's, in the order entries were added (empty before one is stored):
    the cursor of Backend.audit_read."""

    at: float
    actor: str
    """The REST key's user id, or ``user@host`` of a command line."""
    role: str | None
    """The REST key's role (``admin``, ``user``); None from a command line."""
    via: str
    """``rest`` or ``cli``."""
    action: str
    """What was done: ``job.cancel``, ``queue.pause``, ... (see conveyor.audit)."""
    target: str
    """The job id, batch id, queue or worker name it was done to; empty for the store."""
    detail: str = ""
    """What else tells the action apart, as text: the new start time, the count of jobs."""
    id: str = ""


@dataclass(slots=True, frozen=True)
class Throughput:
    """Jobs that ended in a time window, from per-minute counters (never a scan)."""

    finished: int
    failed: int
    runtime_total: float
    """Seconds the finished and failed jobs ran, start to end, summed (for the average)."""
    cancelled: int = 0
    """Jobs that ended STOPPED or CANCELED (REST's "cancelled"), run or not."""

    @property
    def ended(self) -> int:
        """Every job that ended in the window, however it ended."""
        return self.finished + self.failed + self.cancelled


@dataclass(slots=True, frozen=True)
class JobInspection:
    """What the backend itself holds for one job id, for debugging (REST ``/backend``).

    ``locations`` names every structure that holds the id besides its record: Redis
    keys, or SQLite partial indexes. A job in more, or fewer, places than its status
    implies shows an inconsistency.
    """

    job_id: str
    exists: bool
    status: JobStatus | None = None
    in_queue: bool = False
    queue_position: int | None = None
    in_schedule: bool = False
    scheduled_time: float | None = None
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    locations: tuple[str, ...] = ()


@dataclass(slots=True, frozen=True)
class Limits:
    """Most jobs running at once across every worker of a store (None or absent: no limit),
    and most jobs started per period (rates).

    Enforced inside the claim: a job over a limit stays queued, never fails. Jobs
    without a ``user_id`` are held only by the global, queue and job-type limits.
    """

    global_max: int | None = None
    per_user_max: int | None = None
    per_queue: Mapping[str, int] = field(default_factory=dict)
    per_job_type: Mapping[str, int] = field(default_factory=dict)
    """By function name: the import path, or the name given to @job_type."""
    per_queue_rate: Mapping[str, RateSpec] = field(default_factory=dict)
    """Most jobs of a queue started in any window of the period, across every worker:
    ``{"emails": "100/m"}`` (see conveyor.rates; kept as Rate values: queue_rates)."""
    per_job_type_rate: Mapping[str, RateSpec] = field(default_factory=dict)
    """The same, by job type (function name, as ``per_job_type``)."""
    per_user_rate: RateSpec | None = None
    """Most jobs of each user started in any window of the period, across every worker:
    one rate applied to every ``user_id`` apart, as ``per_user_max`` is one count
    (``"10/s"``; kept as a Rate: user_rate). Jobs without a user are not held by it."""

    def __post_init__(self) -> None:
        """Refuse a limit no job could run under (0, a negative or not a whole number):
        a worker given one would claim nothing and leave every job queued, saying nothing."""
        named = {"global_max": self.global_max, "per_user_max": self.per_user_max}
        if self.per_user_rate is not None:
            object.__setattr__(self, "per_user_rate", parse_rate(self.per_user_rate, "Limits per_user_rate"))
        for kind in ("per_queue", "per_job_type", "per_queue_rate", "per_job_type_rate"):
            mapping = getattr(self, kind)
            if not isinstance(mapping, Mapping) or not all(isinstance(name, str) and name for name in mapping):
                raise ConfigurationError(f"Limits {kind} must map names to counts, got {mapping!r}")
            if kind.endswith("_rate"):
                rates = {name: parse_rate(rate, f"Limits {kind}[{name!r}]") for name, rate in mapping.items()}
                object.__setattr__(self, kind, rates)
            else:
                named.update((f"{kind}[{name!r}]", count) for name, count in mapping.items())
        for what, count in named.items():
            if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
                raise ConfigurationError(f"Limits {what} must be a whole number of jobs, 1 or more, got {count!r}")

    @property
    def caps(self) -> bool:
        """Whether any concurrency limit is set (the claim then counts the running jobs)."""
        return bool(self.global_max is not None or self.per_user_max is not None or self.per_queue or self.per_job_type)

    @property
    def rates(self) -> bool:
        """Whether any rate is set."""
        return bool(self.per_queue_rate or self.per_job_type_rate or self.per_user_rate is not None)

    @property
    def queue_rates(self) -> Mapping[str, Rate]:
        """``per_queue_rate``, every rate a Rate (as __post_init__ made them)."""
        return cast("Mapping[str, Rate]", self.per_queue_rate)

    @property
    def job_type_rates(self) -> Mapping[str, Rate]:
        """``per_job_type_rate``, every rate a Rate."""
        return cast("Mapping[str, Rate]", self.per_job_type_rate)

    @property
    def user_rate(self) -> Rate | None:
        """``per_user_rate`` as a Rate (as __post_init__ made it), None when unset."""
        return cast("Rate | None", self.per_user_rate)

    def __bool__(self) -> bool:
        return self.caps or self.rates


@dataclass(slots=True)
class BatchRecord:
    """A group of jobs that starts together, at once or at ``scheduled_start``.

    Until it starts, its jobs wait SCHEDULED with no time of their own: the batch's one
    starter entry releases them all in one step. The callback jobs (``on_complete_job``,
    ``on_failure_job``) wait DEFERRED until every job of the batch has ended; then
    on_complete is queued, and on_failure too if a job failed or was stopped (else it
    is canceled), each exactly once. ``scheduled_start`` stays once the batch has
    started (``started_at``) or been canceled: the time it was set to start.
    """

    id: str
    total: int
    created_at: float
    status: BatchStatus = BatchStatus.RUNNING
    name: str | None = None
    user_id: str | None = None
    scheduled_start: float | None = None
    started_at: float | None = None
    completed_at: float | None = None
    on_complete_job: str | None = None
    on_failure_job: str | None = None


@dataclass(slots=True, frozen=True)
class BatchInspection:
    """What the backend holds for a batch's start (REST ``/batches/{id}/backend``)."""

    batch_id: str
    exists: bool
    status: BatchStatus | None = None
    starter_exists: bool = False
    starter_time: float | None = None
    held_jobs: int = 0
    """Jobs still waiting for the starter."""


@dataclass(slots=True, frozen=True)
class ClockOffset:
    """How far a process's clock is from its store's, as ``Backend.store_clock_offset``
    measured it: ``offset`` seconds ahead (behind when negative), give or take
    ``uncertainty`` (half the round trip of the best sample: when in it the store read
    its clock is not known)."""

    offset: float
    uncertainty: float


@dataclass(slots=True, frozen=True)
class Finding:
    """One broken invariant of the store, found by ``Backend.invariants_check``.

    ``kind`` names the invariant (see conveyor.doctor.KINDS); ``subject`` is the job id,
    batch id or key concerned; ``repaired`` says whether the check fixed it.
    """

    kind: str
    subject: str
    detail: str
    repaired: bool = False
