"""Request and response bodies of the REST API (SPEC section 3), as pydantic models.

They are the OpenAPI schema too: every bound here (limits, timeouts, sizes) is what
the API accepts, and every response a route gives is one of these shapes.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from conveyor.durations import LONGEST, parse_duration
from conveyor.exceptions import InvalidJobError
from conveyor.ids import JOB_ID_MAX_LENGTH, JOB_ID_RULE, job_id_problem
from conveyor.options import PRIORITY_LIMIT
from conveyor.retry import exception_names
from conveyor.server import json_values

RestStatus = Literal["pending", "scheduled", "running", "completed", "failed", "cancelled"]

DAY = 86_400.0
YEAR = 366 * DAY
MAX_TIMEOUT = 7 * DAY
MAX_RETRIES = 100
MAX_LIST = 100
"""Longest lists accepted in a submission (retry intervals, dependencies)."""


def _one_line() -> str:
    """A pattern for text on one line: no control characters, no space at either end."""
    bad = r"\x00-\x1f\x7f"
    return rf"^[^{bad}\s]([^{bad}]*[^{bad}\s])?$"


Name = Annotated[str, Field(min_length=1, max_length=200, pattern=_one_line())]


def _job_id(job_id: str) -> str:
    problem = job_id_problem(job_id)
    if problem is not None:
        raise ValueError(f"{problem} ({JOB_ID_RULE})")
    return job_id


JobId = Annotated[str, Field(min_length=1, max_length=JOB_ID_MAX_LENGTH), AfterValidator(_job_id)]
"""A job id as conveyor.ids's rule has it, the library's and the CLI's: one rule for all."""
Seconds = Annotated[float, Field(ge=0, le=YEAR)]


def _text_not_number(value: Any) -> Any:
    """Refuse a number, or text of one: pydantic would read either as a Unix time."""
    if isinstance(value, int | float) or (isinstance(value, str) and _is_number(value)):
        raise ValueError("a time is ISO 8601 text with a zone, such as 2030-01-01T09:00:00Z, not a number")
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _within_a_century(moment: datetime) -> datetime:
    if moment.timestamp() > time.time() + LONGEST:
        raise ValueError("a start can be scheduled at most 100 years ahead")
    return moment


StartTime = Annotated[AwareDatetime, BeforeValidator(_text_not_number), AfterValidator(_within_a_century)]
"""When a job or batch starts: ISO 8601 text with a zone, at most 100 years ahead."""


class Body(BaseModel):
    """Request bodies: unknown fields, NaN and infinities are errors, not ignored."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class SubmitJob(Body):
    """A job to run: a registered job type, its arguments and its options.

    The job's owner is the API key's user; the body cannot name one.
    """

    job_type: Name = Field(description="A job type registered with @conveyor.job_type.")
    args: list[Any] = Field(default_factory=list, description="Positional arguments (JSON values).")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments (JSON values).")
    queue: Name = "default"
    priority: int = Field(0, ge=-PRIORITY_LIMIT, le=PRIORITY_LIMIT, description="Higher runs first.")
    scheduled_at: StartTime | None = Field(None, description="Run at this time (ISO 8601 with a zone).")
    delay_seconds: Seconds | None = Field(None, description='Run after this many seconds (or text like "10m").')
    max_retries: int = Field(0, ge=0, le=MAX_RETRIES)
    retry_intervals: list[Annotated[float, Field(ge=0, le=DAY)]] = Field(
        default_factory=list, max_length=MAX_LIST, description="Seconds before each retry; the last one repeats."
    )
    retry_on: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list,
        max_length=MAX_LIST,
        description="Retry only on these exceptions (and their subclasses): built-ins by name ("
        '"ConnectionError"), others with their module ("requests.exceptions.Timeout"); empty: on any.',
    )
    timeout: Literal[-1] | Annotated[float, Field(gt=0, le=MAX_TIMEOUT)] | None = Field(
        None, description='Seconds the job may run (default 180), or text like "5m" or "1h"; -1 for no limit.'
    )
    ttl: Annotated[float, Field(gt=0, le=YEAR)] | None = Field(
        None, description='Seconds (or text like "2h") the job may wait in its queue before it is discarded.'
    )
    result_ttl: Literal[-1] | Seconds | None = Field(
        None,
        description='Seconds (or text like "1d") the result is kept (default 500); 0 deletes the job at once, '
        "-1 keeps it.",
    )
    depends_on: list[JobId] = Field(default_factory=list, max_length=MAX_LIST)
    meta: dict[str, Any] = Field(default_factory=dict)
    job_id: JobId | None = Field(
        None,
        description=f"Your own id for the job (default: a time-ordered UUID); {JOB_ID_RULE}.",
    )
    idempotency_key: Name | None = Field(
        None,
        description="While a job of yours submitted with this key has not ended, submitting the key again "
        "returns that job (200) instead of creating another. Also accepted as the Idempotency-Key header.",
    )

    @field_validator("timeout", "ttl", "result_ttl", "delay_seconds", mode="before")
    @classmethod
    def _seconds_from_text(cls, value: Any) -> Any:
        """A duration may also be text, as in the Python API: '90', '90s', '5m', '1h', '2d'
        ('-1': no limit, where -1 is allowed); the bounds then apply to its seconds."""
        if not isinstance(value, str):  # a boolean goes on to _no_booleans
            return value
        try:
            seconds = parse_duration(value, "the duration")
        except InvalidJobError as exc:
            raise ValueError(str(exc)) from None
        return -1 if seconds is None else seconds

    @field_validator(
        "priority", "max_retries", "retry_intervals", "timeout", "ttl", "result_ttl", "delay_seconds", mode="before"
    )
    @classmethod
    def _no_booleans(cls, value: Any) -> Any:
        """JSON's true is no number (pydantic would take it for 1)."""
        if isinstance(value, bool) or (isinstance(value, list) and any(isinstance(v, bool) for v in value)):
            raise ValueError("a boolean is not a number")
        return value

    @field_validator("retry_on")
    @classmethod
    def _exception_names(cls, value: list[str]) -> list[str]:
        try:
            return list(exception_names(value)) if value else []
        except InvalidJobError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("args", "kwargs", "meta")
    @classmethod
    def _showable(cls, value: Any) -> Any:
        """Refuse what the API could not send back: such a job would break every page showing it."""
        problem = json_values.problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _one_start_time(self) -> SubmitJob:
        if self.scheduled_at is not None and self.delay_seconds is not None:
            raise ValueError("give scheduled_at or delay_seconds, not both")
        if self.retry_intervals and not self.max_retries:
            raise ValueError("retry_intervals needs max_retries >= 1")
        if self.retry_on and not self.max_retries:
            raise ValueError("retry_on needs max_retries >= 1")
        return self


class Submitted(BaseModel):
    job_id: str
    status: RestStatus


class JobInput(BaseModel):
    args: list[Any]
    kwargs: dict[str, Any]


class JobDetail(BaseModel):
    """Everything about one job. ``input``, ``result`` and ``meta`` are shown for jobs
    stored with the JSON serializer only (others hold Python pickles)."""

    id: str
    job_type: str
    status: RestStatus
    priority: int
    retry_count: int
    max_retries: int
    retry_on: list[str] = Field(
        description="The exceptions its failed runs are retried on (and their subclasses); empty: any."
    )
    input: JobInput | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    duration_ms: int | None
    result: Any
    error: str | None
    progress: float | None
    metrics: dict[str, Any]
    user_id: str | None
    worker_id: str | None
    queue: str
    depends_on: list[str]
    meta: dict[str, Any]
    batch_id: str | None


class JobPage(JobDetail):
    """One job as ``GET /jobs/{id}`` shows it: the detail and the whole traceback of its
    last failure (lists carry only ``error``, its last line, to stay small)."""

    traceback: str | None


class JobSummary(BaseModel):
    """A job as ``GET /jobs?view=summary`` lists it: the detail without its large values
    (``input``, ``result``, ``meta``, ``metrics``, ``depends_on``, ``retry_on``); ``error`` as there, read
    from the traceback's last 8 KiB."""

    id: str
    job_type: str
    status: RestStatus
    priority: int
    retry_count: int
    max_retries: int
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    duration_ms: int | None
    error: str | None
    progress: float | None
    user_id: str | None
    worker_id: str | None
    queue: str
    batch_id: str | None


ListView = Literal["full", "summary"]
"""What a job listing shows of each job: everything (JobDetail), or a JobSummary."""
_Item = TypeVar("_Item", JobDetail, JobSummary)


class _Listing(BaseModel, Generic[_Item]):
    """A page of jobs, newest first: JobList, JobSummaryList."""

    data: list[_Item]
    total: int | None
    pending_count: int | None
    running_count: int | None
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last one.")


class JobList(_Listing[JobDetail]):
    """One page, newest first. ``total`` counts the jobs the status, queue and user filters
    match; ``pending_count`` and ``running_count`` the pending and running jobs of the queue
    and user filters whatever the status filter (how much waits and runs there). All three
    are null when a filter (job type) cannot be counted without a scan."""


class JobSummaryList(_Listing[JobSummary]):
    """One page of ``GET /jobs?view=summary``: as JobList, each job a JobSummary."""


class StatusMetrics(BaseModel):
    execution_time_seconds: float | None
    items_processed: int | None
    total_items: int | None


class JobStatusView(BaseModel):
    job_id: str
    job_type: str
    status: RestStatus
    progress: float | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    error: str | None
    user_id: str | None
    metrics: StatusMetrics


class PollResult(JobStatusView):
    changed: bool = Field(description="Whether the status differs from current_status.")


class ActionResult(BaseModel):
    job_id: str
    status: RestStatus
    message: str


class StartRate(BaseModel):
    """A rate limit: at most ``count`` jobs started in any ``period_seconds``."""

    count: int
    period_seconds: float


class QueueStats(BaseModel):
    """System-wide counts and health. The limits are those the server is configured
    with (the workers' environment variables), null when unset, the rates by queue
    and job type ({} when none) and the rate of each user (null when none);
    last_cleanup is the end of the last maintenance pass, null if none has run."""

    pending_jobs: int
    running_jobs: int
    scheduled_jobs: int
    completed_jobs: int
    failed_jobs: int
    cancelled_jobs: int
    total_jobs: int
    queue_type: str
    active_workers: int
    cpu_usage_percent: float
    memory_usage_mb: float
    global_max_concurrent_jobs: int | None
    per_user_max_concurrent_jobs: int | None
    queue_rates: dict[str, StartRate] = Field(default_factory=dict)
    job_type_rates: dict[str, StartRate] = Field(default_factory=dict)
    user_rate: StartRate | None = None
    worker_health_status: Literal["healthy", "degraded", "unhealthy"] = Field(
        description="healthy: every worker heartbeats; degraded: a silent worker beside healthy ones, or no "
        "worker while nothing waits; unhealthy: no healthy worker while jobs wait or run."
    )
    last_cleanup: datetime | None


class Throughput(BaseModel):
    last_minute: int
    last_hour: int
    last_day: int


class Stats(BaseModel):
    """Counts now, and jobs ended (completed, failed or cancelled) per window from per-minute
    counters; the mean run time is of the jobs that completed or failed in the last hour."""

    pending: int
    running: int
    completed: int
    failed: int
    workers: int
    queue_type: str
    avg_processing_time_ms: float | None = Field(description="Mean run time of the jobs ended in the last hour.")
    throughput: Throughput


class BackendView(BaseModel):
    job_id: str
    status: RestStatus | None
    exists: bool
    in_queue: bool
    queue_position: int | None
    in_schedule: bool
    scheduled_time: datetime | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    registries: list[str]
    note: str


class WorkerView(BaseModel):
    name: str
    host: str
    pid: int
    queues: list[str]
    state: str
    current_job_id: str | None
    current_job_ids: list[str]
    concurrency: int
    pool: str = Field(description="Where its sync jobs run: threads (in the worker) or processes (child processes).")
    jobs_done: int = Field(description="Jobs it ended, however they ended.")
    jobs_failed: int = Field(
        description="Of those, the ones that failed or were stopped or cancelled (a run to be retried too), as RQ's "
        "failed_job_count."
    )
    jobs_cancelled: int = Field(
        description="Of jobs_failed, the ones a stop or a cancel ended: jobs_failed - jobs_cancelled failed by "
        "themselves.",
    )
    working_time: float = Field(description="Seconds it spent running jobs.")
    started_at: datetime | None
    last_heartbeat: datetime | None
    healthy: bool
    shutdown_requested: bool = Field(description="Asked to shut down (POST .../shutdown); it exits once its jobs end.")


class WorkerList(BaseModel):
    data: list[WorkerView]


class CronEntryView(BaseModel):
    name: str = Field(description="The entry's name (cron.register's name=, default the function's).")
    schedule: str = Field(description="As registered: the cron= expression, or interval= (seconds, or '10m').")
    schedule_kind: str = Field(description="cron or interval.")
    timezone: str = Field(description="The zone a cron expression is read in (UTC unless given).")
    queue: str
    job_type: str = Field(description="The function or job type each run enqueues.")
    last_tick: datetime | None = Field(description="The last run enqueued (its due time); null before the first.")
    next_tick: datetime | None = Field(
        description="The next run's due time, computed as the scheduler does; null for a schedule this server "
        "cannot read (a time zone its system lacks)."
    )
    scheduler: str = Field(description="The scheduler that published the entry last (conveyor cron).")
    host: str
    pid: int
    last_seen: datetime = Field(description="When that scheduler published it last (it does every minute).")
    stale: bool = Field(
        description="No scheduler published it for five minutes: none runs it (stopped, or its config dropped it); "
        "it is removed after a week."
    )


class CronList(BaseModel):
    data: list[CronEntryView]


class ShutdownRequested(BaseModel):
    worker: str
    shutdown_requested: bool = True


class StatusCounts(BaseModel):
    """Jobs per REST status (of a queue, of a batch)."""

    pending: int
    scheduled: int
    running: int
    completed: int
    failed: int
    cancelled: int


class QueueCounts(StatusCounts):
    """One queue's jobs per REST status, from the store's counters."""

    queue: str
    total: int
    paused: bool = Field(False, description="Whether workers are kept from starting its jobs (POST .../pause).")
    paused_at: datetime | None = Field(None, description="Since when it is paused; null when it is not.")


class AuditEntry(BaseModel):
    """One operator action (conveyor.audit), as the audit log keeps it."""

    id: str
    at: datetime
    actor: str = Field(description="The key's user id ('(no key)' on a server without keys), or user@host of a CLI.")
    role: str | None = Field(description="The key's role; null from the command line.")
    via: str = Field(description="rest, or cli.")
    action: str = Field(description="job.cancel, job.restart, queue.pause, worker.shutdown, ...")
    target: str = Field(description="The job or batch id, queue or worker name; empty for the whole store.")
    detail: str


class AuditList(BaseModel):
    """The audit log, newest first (the latest 10,000 actions are kept)."""

    data: list[AuditEntry]
    next_cursor: str | None


class QueuePause(BaseModel):
    """A queue's pause, as a pause or resume left it."""

    queue: str
    paused: bool
    paused_at: datetime | None


class QueueList(BaseModel):
    """Every queue holding jobs (the caller's, for a user), by name."""

    data: list[QueueCounts]


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    backend: str
    backend_reachable: bool
    version: str


class FieldError(BaseModel):
    field: str
    location: str
    message: str
    type: str


class ErrorBody(BaseModel):
    """Every error: a name, a sentence, and context fields depending on the error."""

    model_config = ConfigDict(extra="allow")

    error: str
    message: str


class JobErrorBody(ErrorBody):
    job_id: str
    current_status: str | None = None


class WorkerErrorBody(ErrorBody):
    worker: str


class ValidationErrorBody(ErrorBody):
    fields: list[FieldError]
    known_job_types: list[str] | None = None
    accepted_parameters: list[str] | None = None
    """The query parameters the endpoint takes, when it was sent one it does not."""
