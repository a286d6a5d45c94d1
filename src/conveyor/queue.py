"""The Queue: where jobs are enqueued, RQ's API on any backend."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from datetime import datetime as _datetime  # enqueue_at's parameter is named datetime, as RQ's
from typing import Any, NamedTuple, TypeVar

from conveyor.arguments import call_arguments
from conveyor.backends.base import Backend
from conveyor.clock import SYSTEM_CLOCK, Clock, to_timestamp
from conveyor.command import cancel_job
from conveyor.connection import resolve_connection
from conveyor.durations import LONGEST, parse_duration
from conveyor.exceptions import InvalidJobError, InvalidJobOperation, NoSuchJobError
from conveyor.ids import validate_job_id
from conveyor.job import Job
from conveyor.options import (
    DEFAULT_FAILURE_TTL,
    DEFAULT_QUEUE,
    DEFAULT_RESULT_TTL,
    UNSUPPORTED_OPTIONS,
    custom_class_problem,
    normalize_options,
    refuse_ambiguous_options,
    split_enqueue_kwargs,
    validate_at_front,
    validate_length,
    validate_position,
    validate_queue_name,
)
from conveyor.registry import (
    BaseRegistry,
    CanceledJobRegistry,
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)
from conveyor.rq_absent import RQOnly, no_keys
from conveyor.serializers import Serializer, resolve_serializer
from conveyor.status import JobStatus

R = TypeVar("R", bound=BaseRegistry)
MAX_TEMPLATES = 256
"""Job templates a queue keeps (see Queue._job_like); all are dropped when it fills."""


class EnqueueData(NamedTuple):
    """One job for ``enqueue_many``, built by ``Queue.prepare_data``."""

    func: Callable[..., Any] | str
    args: Sequence[Any]
    kwargs: Mapping[str, Any]
    options: Mapping[str, Any]


def listed(items: Iterable[Any], caller: str) -> list[Any]:
    """The jobs given to ``caller`` as a list; a clear error for what is not a list."""
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Iterable):
        raise InvalidJobError(f"{caller} takes a list of jobs (Queue.prepare_data(...) items), got {_kind(items)}")
    return list(items)


def _kind(value: object) -> str:
    return f"{type(value).__name__} {value!r:.40}"


class Queue:
    """A named queue of jobs on a backend. The arguments come in RQ's order, so
    ``Queue("low", conn, 60)`` gives its jobs 60 s as RQ's does.

    ``is_async=False`` runs each job at once in the calling thread (for tests), with
    the same outcome a worker would record. RQ's ``job_class`` is taken as None or
    conveyor's Job, and refused otherwise.
    """

    job_class = Job
    """RQ's: the class of the jobs it returns (conveyor's, always)."""
    key = no_keys("queue.name")
    from_queue_key = RQOnly("conveyor keeps no RQ keys: use Queue(name, connection=...)")

    def __init__(
        self,
        name: str = DEFAULT_QUEUE,
        connection: Backend | None = None,
        default_timeout: int | float | str | None = None,
        is_async: bool = True,
        serializer: str | Serializer | type | None = None,
        *,
        job_class: type | str | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if hasattr(name, "jobs_enqueue"):  # Queue(conn), a Backend: RQ's first argument is the name too
            raise InvalidJobError("Queue's first argument is the queue's name: pass the store by name, "
                                  "Queue(connection=conn) or Queue('default', conn)")  # fmt: skip
        self.name = validate_queue_name(name)
        if problem := custom_class_problem("job_class", job_class, Job):
            raise InvalidJobError(problem)
        if isinstance(default_timeout, bool):  # conveyor's own order, before it took RQ's
            raise InvalidJobError(
                f"default_timeout must be seconds, got {default_timeout!r}: is_async comes fourth, as in RQ "
                "(Queue(name, connection, default_timeout, is_async)); pass it by name: is_async=False"
            )
        parse_duration(default_timeout, "default_timeout", zero_allowed=False)  # refused here, not at each enqueue
        self.connection = resolve_connection(connection)
        self.is_async = is_async
        self.default_timeout = default_timeout
        self.serializer_name, self.serializer = resolve_serializer(serializer)
        self.clock = clock
        self._templates: dict[object, Job] = {}

    @classmethod
    def all(cls, connection: Backend | None = None) -> list[Queue]:
        """Every queue that holds at least one job."""
        backend = resolve_connection(connection)
        return [cls(name, connection=backend) for name in sorted(backend.counts())]

    # -- enqueueing ------------------------------------------------------------------------
    def enqueue(self, f: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Job:
        """Store a call of ``f`` for a worker to run; returns the job.

        Keyword arguments named like job options (timeout, job_timeout, result_ttl, ttl,
        failure_ttl, description, depends_on, job_id, at_front, meta, retry, priority,
        user_id, allow_dependency_failures) configure the job; pass a function's own
        arguments of those names through ``args=`` and ``kwargs=``.

        ``at_front=True`` (RQ's) puts the job before every job of its priority already in
        the queue, the latest such job first; a higher priority still runs first. The job
        keeps it: it goes to the front whenever it enters the queue (when due, once its
        dependencies are met, when retried).
        """
        return self._store(self._create(f, args, kwargs), "job_id" not in kwargs)

    def enqueue_call(
        self,
        func: Callable[..., Any] | str,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Job:
        """RQ's explicit form: the function's arguments and the job options kept apart."""
        job = self._create(func, (), {"args": args or (), "kwargs": kwargs or {}, **options})
        return self._store(job, "job_id" not in options)

    def enqueue_at(self, datetime: datetime, f: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Job:
        """Enqueue ``f`` to run at ``datetime`` (a naive datetime is local time, as in RQ)."""
        if not isinstance(datetime, _datetime):
            raise InvalidJobError(f"enqueue_at takes a datetime, got {type(datetime).__name__}")
        job = self._create(f, args, kwargs)
        return self._schedule(job, to_timestamp(datetime), "job_id" not in kwargs)

    def enqueue_in(self, time_delta: timedelta, f: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Job:
        """Enqueue ``f`` to run after ``time_delta``."""
        if not isinstance(time_delta, timedelta):
            raise InvalidJobError(f"enqueue_in takes a timedelta, got {type(time_delta).__name__}")
        job = self._create(f, args, kwargs)
        return self._schedule(job, self.clock.now() + time_delta.total_seconds(), "job_id" not in kwargs)

    def _schedule(self, job: Job, at: float, new_id: bool) -> Job:
        if not at <= self.clock.now() + LONGEST:  # NaN too
            raise InvalidJobError("a job can be scheduled at most 100 years ahead")
        if at > self.clock.now():
            job.record.status = JobStatus.SCHEDULED
            job.record.scheduled_for = at
        return self._store(job, new_id)

    @staticmethod
    def prepare_data(
        func: Callable[..., Any] | str,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> EnqueueData:
        """Describe one job for ``enqueue_many`` (options as for ``enqueue``)."""
        positional, keywords = call_arguments(args, kwargs)
        return EnqueueData(func, tuple(positional), keywords, normalize_options(options))

    def enqueue_many(
        self, job_datas: Iterable[EnqueueData], pipeline: object = None, group_id: str | None = None
    ) -> list[Job]:
        """Store many jobs in one atomic step (all or none). RQ's ``pipeline`` (this is one
        step already) and RQ 2's ``group_id`` (see batches) are refused when given."""
        _refuse_pipeline(pipeline)
        if group_id is not None:
            raise InvalidJobError("group_id is not supported: conveyor groups jobs in batches (Batch.create)")
        datas = listed(job_datas, "enqueue_many")
        jobs = self._build_many(datas)
        if not jobs:
            return []
        if not self.is_async:
            return [self.enqueue_job(job) for job in jobs]
        now = self.clock.now()
        for job in jobs:
            stamp_enqueued(job, now)
        new_ids = not any("job_id" in data.options for data in datas)  # each job's id was made here
        stored = self.connection.jobs_enqueue([job.record for job in jobs], now, new_ids)
        for job, record in zip(jobs, stored, strict=True):
            job._stored_as(record)
        return jobs

    def enqueue_job(self, job: Job, pipeline: object = None, at_front: bool = False) -> Job:
        """Store a job built with ``Job.create`` in this queue. A job fetched after it ran
        is stored again as a fresh job (under the same id, which must have ended).
        ``at_front=True`` puts it at the front of the queue (see ``enqueue``). RQ's
        ``pipeline`` is refused when given (enqueue_many stores many jobs in one step)."""
        _refuse_pipeline(pipeline)
        if not isinstance(job, Job):
            raise InvalidJobError(f"enqueue_job takes a Job (from Job.create), got {type(job).__name__}")
        if validate_at_front(at_front):
            job.record.at_front = True
        return self._store(job, False)  # the caller's job: another may hold its id by now

    def _store(self, job: Job, new_id: bool) -> Job:
        """Store a job in this queue; ``new_id``: its id was made by this enqueue call (no
        job holds it, so the store need not look for one). Any other id is checked: a
        ``Job(id)`` of the caller's own reaches here unchecked."""
        if not new_id:
            validate_job_id(job.id)
        if job.record.status not in (JobStatus.QUEUED, JobStatus.SCHEDULED):
            job.reset_for_enqueue()
        if job.record.queue != self.name:
            job.record.queue = self.name
        job.connection = self.connection
        now = self.clock.now()
        stamp_enqueued(job, now)
        if not self.is_async and job.record.status is JobStatus.QUEUED:
            return self._run_now(job, now)
        (stored,) = self.connection.jobs_enqueue([job.record], now, new_id)
        job._stored_as(stored)
        return job

    def _run_now(self, job: Job, now: float) -> Job:
        from conveyor.worker.execution import run_inline

        record = job.record
        record.status = JobStatus.STARTED
        record.worker_name = "inline"
        record.lease_token = secrets.token_hex(8)
        record.lease_expires_at = now + (record.timeout or 3600.0) + 60.0
        record.started_at = now
        (stored,) = self.connection.jobs_enqueue([record], now)
        if stored.status is JobStatus.STARTED:
            self.connection.jobs_settle([run_inline(stored, self.connection, self.clock)], self.clock.now())
        (current,) = self.connection.jobs_get([job.id])
        job._record = current if current is not None else stored  # result_ttl=0 deletes it
        return job

    def _create(self, f: Callable[..., Any] | str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Job:
        """A job from ``enqueue``-style arguments: keywords named like options are options."""
        options, function_kwargs = split_enqueue_kwargs(kwargs)
        explicit_args = options.pop("args", None)
        explicit_kwargs = options.pop("kwargs", None)
        if explicit_args is not None or explicit_kwargs is not None:
            if args or function_kwargs:
                raise InvalidJobError("pass the function's arguments either inline or as args=/kwargs=, not both")
            args, function_kwargs = call_arguments(explicit_args, explicit_kwargs)
            return self._build(f, args, function_kwargs, options)
        refuse_ambiguous_options(f, kwargs)
        return self._job_like(EnqueueData(f, args, function_kwargs, options))

    def _build(
        self, f: Callable[..., Any] | str, args: Sequence[Any], kwargs: Mapping[str, Any], options: dict[str, Any]
    ) -> Job:
        return Job.create(
            f,
            args=args,
            kwargs=kwargs,
            connection=self.connection,
            id=options.pop("job_id", None),
            timeout=options.pop("timeout", self.default_timeout),
            result_ttl=options.pop("result_ttl", DEFAULT_RESULT_TTL),
            ttl=options.pop("ttl", None),
            failure_ttl=options.pop("failure_ttl", DEFAULT_FAILURE_TTL),
            origin=self.name,
            serializer=self.serializer_name,
            clock=self.clock,
            **options,
        )

    def _build_many(self, datas: list[EnqueueData]) -> list[Job]:
        for data in datas:
            if not isinstance(data, EnqueueData):
                raise InvalidJobError(f"enqueue_many takes Queue.prepare_data(...) items, got {type(data).__name__}")
        return [self._job_like(data) for data in datas]

    def _job_like(self, data: EnqueueData) -> Job:
        """A new job for ``data``: a copy, with its own id and arguments, of a template
        built and validated once per function and options. Building a job from scratch
        (validating every option, naming the function) costs more than the rest of an
        enqueue's client side, and programs enqueue a few call shapes over and over."""
        key = _template_key(self, data)
        if key is None:
            return self._build(data.func, data.args, data.kwargs, normalize_options(data.options))
        template = self._templates.get(key)
        if template is None:  # options are checked (and aliases resolved) only here, once per shape
            template = self._build(data.func, data.args, data.kwargs, normalize_options(data.options))
            if len(self._templates) >= MAX_TEMPLATES:
                self._templates.clear()
            self._templates[key] = template
        return template.copy_with_arguments(data.args, data.kwargs)

    # -- reading ----------------------------------------------------------------------------
    @property
    def count(self) -> int:
        """How many jobs wait in the queue (status queued)."""
        return self.connection.jobs_count(self.name, (JobStatus.QUEUED,))

    def __len__(self) -> int:
        return self.count

    def __bool__(self) -> bool:
        return True

    def is_empty(self) -> bool:
        return self.count == 0

    @property
    def job_ids(self) -> list[str]:
        """Ids of the queued jobs (in insertion order)."""
        return self.get_job_ids()

    def get_job_ids(self, offset: int = 0, length: int = -1) -> list[str]:
        """Ids of queued jobs in the order workers take them: ``length`` of them (-1: all)
        from position ``offset``."""
        offset, length = validate_position(offset, "offset"), validate_length(length, "length")
        return self.connection.job_ids(self.name, (JobStatus.QUEUED,), offset=offset, limit=length)

    @property
    def jobs(self) -> list[Job]:
        return self.get_jobs()

    def get_jobs(self, offset: int = 0, length: int = -1) -> list[Job]:
        found = Job.fetch_many(self.get_job_ids(offset, length), connection=self.connection)
        return [job for job in found if job is not None]

    def fetch_job(self, job_id: str) -> Job | None:
        """The job with this id if it belongs to this queue, else None."""
        try:
            job = Job.fetch(job_id, connection=self.connection)
        except NoSuchJobError:
            return None
        return job if job.origin == self.name else None

    def get_job_position(self, job_or_id: Job | str) -> int | None:
        """0-based position of a queued job in this queue (an index count, no scan)."""
        job_id = job_or_id.id if isinstance(job_or_id, Job) else job_or_id
        return self.connection.queue_position(job_id)

    def remove(self, job_or_id: Job | str, pipeline: object = None) -> int:
        """RQ's ``remove``: take a queued job of this queue out of it, so no worker runs it;
        1 if it was there, else 0 (as RQ's). Unlike RQ, which leaves the job stored as
        'queued' in no queue, the job is canceled: it stays readable (status canceled, in
        the canceled registry) until its failure_ttl, and ``job.requeue()`` puts it back;
        ``job.delete()`` deletes it. A worker that took it meanwhile is told to stop it."""
        _refuse_pipeline(pipeline)
        job_id = job_or_id.id if isinstance(job_or_id, Job) else job_or_id
        (record,) = self.connection.jobs_get([job_id])
        if record is None or record.queue != self.name or record.status is not JobStatus.QUEUED:
            return 0
        try:
            cancel_job(job_id, connection=self.connection, clock=self.clock)
        except (NoSuchJobError, InvalidJobOperation):  # deleted or ended since the read: not removed here
            return 0
        return 1

    def empty(self) -> int:
        """Delete every queued job of this queue; return how many."""
        return self.connection.queue_empty(self.name)

    def delete(self, delete_jobs: bool = True) -> None:
        """RQ's ``delete(delete_jobs=True)``: delete the queued jobs (``empty``). A queue
        here is its jobs, so ``delete_jobs=False`` (keep them, drop the queue) is refused."""
        if not delete_jobs:
            raise InvalidJobError(f"queue {self.name!r} is its jobs: delete(delete_jobs=True) or empty() deletes them")
        self.empty()

    # -- pausing ---------------------------------------------------------------------------------
    def pause(self) -> None:
        """Stop every worker of the store from starting this queue's jobs until ``resume()``
        (BullMQ's ``pause``; RQ's ``rq suspend``, for one queue). Jobs still enqueue into
        it; the jobs running go on. It lasts across worker and server restarts."""
        self.connection.queues_pause([self.name], self.clock.now())

    def resume(self) -> None:
        """Let workers start this queue's jobs again; its idle workers wake at once."""
        self.connection.queues_resume([self.name])

    def is_paused(self) -> bool:
        return self.name in self.connection.queues_paused()

    # -- registries ----------------------------------------------------------------------------
    def _registry(self, cls: type[R]) -> R:
        return cls(self.name, connection=self.connection, clock=self.clock)

    @property
    def started_job_registry(self) -> StartedJobRegistry:
        return self._registry(StartedJobRegistry)

    @property
    def finished_job_registry(self) -> FinishedJobRegistry:
        return self._registry(FinishedJobRegistry)

    @property
    def failed_job_registry(self) -> FailedJobRegistry:
        return self._registry(FailedJobRegistry)

    @property
    def canceled_job_registry(self) -> CanceledJobRegistry:
        return self._registry(CanceledJobRegistry)

    @property
    def scheduled_job_registry(self) -> ScheduledJobRegistry:
        return self._registry(ScheduledJobRegistry)

    @property
    def deferred_job_registry(self) -> DeferredJobRegistry:
        return self._registry(DeferredJobRegistry)

    def __repr__(self) -> str:
        return f"Queue({self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Queue) and other.name == self.name and other.connection is self.connection

    def __hash__(self) -> int:
        return hash(self.name)


def _template_key(queue: Queue, data: EnqueueData) -> object:
    """What makes two jobs of this queue alike but for id and arguments; None if
    unhashable (such as meta dicts) or if the job names its own id. The queue's own
    settings are part of it, as a program may change them between enqueues."""
    if "job_id" in data.options:
        return None
    key = (data.func, queue.name, queue.default_timeout, queue.serializer_name, tuple(sorted(data.options.items())))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _refuse_pipeline(pipeline: object) -> None:
    """RQ's ``pipeline=`` argument: taken when None (its default), else refused saying why."""
    if pipeline is not None:
        raise InvalidJobError(f"pipeline is not supported: {UNSUPPORTED_OPTIONS['pipeline']}")


def stamp_enqueued(job: Job, now: float) -> None:
    """Set the times that depend on when the job is stored."""
    record = job.record
    record.enqueued_at = now
    if record.ttl is not None and record.status is JobStatus.QUEUED:
        record.expires_at = now + record.ttl
