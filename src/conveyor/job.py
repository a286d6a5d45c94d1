"""The Job: a stored call of a function, and what happened to it.

Attributes mirror RQ's Job. A Job object is a view of a stored record: reading an
attribute does not go to the backend; ``refresh()`` (or ``get_status(refresh=True)``)
does. RQ's other names and extras (``get_id``, ``is_finished``, ``to_dict``...) are
Job's too, from conveyor.job_rq; a call's arguments are handled in conveyor.arguments.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from conveyor import dependency, results
from conveyor.arguments import call_arguments, describe, encode_arguments, encode_value
from conveyor.backends.base import Backend
from conveyor.callbacks import Callback
from conveyor.callbacks import encode as encode_callbacks
from conveyor.clock import SYSTEM_CLOCK, Clock, to_datetime
from conveyor.connection import resolve_connection
from conveyor.dependency import Dependency
from conveyor.durations import as_rq_reads, parse_duration
from conveyor.exceptions import InvalidJobError, NoSuchJobError, SerializationError
from conveyor.functions import function_name, resolve_function
from conveyor.ids import is_text, new_job_id, validate_job_id
from conveyor.job_rq import RQJobMethods
from conveyor.options import (
    DEFAULT_FAILURE_TTL,
    DEFAULT_QUEUE,
    DEFAULT_RESULT_TTL,
    DEFAULT_TIMEOUT,
    validate_at_front,
    validate_description,
    validate_priority,
    validate_queue_name,
    validate_timeout,
    validate_ttl,
    validate_unique_key,
    validate_user_id,
)
from conveyor.results import Result
from conveyor.retry import Retry
from conveyor.serializers import Serializer, resolve_serializer, serializer_named
from conveyor.status import JobStatus
from conveyor.types import JobRecord

_RUN_FIELDS = (
    "status", "retry_count", "progress", "metrics", "enqueued_at", "scheduled_for", "started_at", "ended_at",
    "last_heartbeat", "expires_at", "keep_until", "result", "exc_info", "status_reason", "worker_name",
    "lease_token", "lease_expires_at", "stop_requested",
)  # fmt: skip
"""Fields that describe one run of a job rather than the job itself."""

_current_job: ContextVar[Job | None] = ContextVar("conveyor_current_job", default=None)


def __getattr__(name: str) -> Any:
    """RQ keeps ``cancel_job`` and ``requeue_job`` in ``rq.job``; they live in
    ``conveyor.command`` (which builds on this module), and are found here too."""
    if name in ("cancel_job", "requeue_job"):
        from conveyor import command

        return getattr(command, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_current_job(connection: object = None, job_class: object = None) -> Job | None:
    """The job being executed by the calling code, or None outside a job. RQ's
    ``connection`` and ``job_class`` are taken and not needed: the job knows its store."""
    return _current_job.get()


class Job(RQJobMethods):
    """A job stored in a backend. Create one with ``Queue.enqueue`` or ``Job.create``."""

    def __init__(
        self,
        id: str | None = None,
        connection: Backend | None = None,
        serializer: str | Serializer | type | None = None,
        *,
        record: JobRecord | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.connection: Backend = resolve_connection(connection)
        self.clock = clock
        if record is None:
            name, _ = resolve_serializer(serializer)
            record = JobRecord(id=id or new_job_id(), queue=DEFAULT_QUEUE, func_name="", payload=b"", serializer=name)
        self._record = record
        self._decoded: tuple[list[Any], dict[str, Any]] | None = None
        self.meta: dict[str, Any] = self._decode_meta()

    # -- creating ----------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        func: Callable[..., Any] | str,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        connection: Backend | None = None,
        *,
        id: str | None = None,
        timeout: int | float | str | None = None,
        result_ttl: int | float | str | None = DEFAULT_RESULT_TTL,
        ttl: int | float | str | None = None,
        failure_ttl: int | float | str | None = DEFAULT_FAILURE_TTL,
        depends_on: Job | str | Iterable[Job | str] | Dependency | None = None,
        allow_dependency_failures: bool = False,
        description: str | None = None,
        meta: Mapping[str, Any] | None = None,
        origin: str = DEFAULT_QUEUE,
        priority: int = 0,
        retry: Retry | None = None,
        user_id: str | None = None,
        unique_key: str | None = None,
        on_success: Callback | Callable[..., Any] | str | None = None,
        on_failure: Callback | Callable[..., Any] | str | None = None,
        on_stopped: Callback | Callable[..., Any] | str | None = None,
        serializer: str | Serializer | type | None = None,
        status: JobStatus | str | None = None,
        at_front: bool = False,
        clock: Clock = SYSTEM_CLOCK,
    ) -> Job:
        """Build a job without storing it; ``Queue.enqueue_job`` stores it.

        ``args``/``kwargs`` go to the function untouched, so a function may have its
        own ``ttl`` or ``description`` parameters. ``args`` that is not a list or tuple
        is the one positional argument. ``at_front`` (or a ``Dependency`` with
        ``enqueue_at_front=True``): the job goes before the jobs of its priority already
        queued, each time it enters its queue (see ``Queue.enqueue``).
        """
        serializer_name, chosen = resolve_serializer(serializer)
        args, kwargs = call_arguments(args, kwargs)
        if retry is not None and not isinstance(retry, Retry):
            raise InvalidJobError(f"retry must be a conveyor.Retry, got {retry!r}")
        if meta is not None and not isinstance(meta, Mapping):
            raise InvalidJobError(f"meta must be a dict, got {type(meta).__name__}")
        dependencies, allowed, to_front = dependency.flatten(depends_on)  # RQ's Dependency objects
        allow_dependency_failures = allow_dependency_failures or allowed
        now = clock.now()
        record = JobRecord(
            id=validate_job_id(id) if id is not None else new_job_id(),
            queue=validate_queue_name(origin),
            func_name=function_name(func),
            payload=encode_arguments(chosen, serializer_name, args, kwargs),
            serializer=serializer_name,
            status=_initial_status(status),
            priority=validate_priority(priority),
            user_id=validate_user_id(user_id),
            unique_key=validate_unique_key(unique_key),
            timeout=validate_timeout(DEFAULT_TIMEOUT if timeout is None else timeout),
            ttl=validate_ttl(ttl),
            # None is the default, as in RQ (-1 is forever)
            result_ttl=parse_duration(DEFAULT_RESULT_TTL if result_ttl is None else result_ttl, "result_ttl"),
            failure_ttl=parse_duration(DEFAULT_FAILURE_TTL if failure_ttl is None else failure_ttl, "failure_ttl"),
            max_retries=retry.max if retry else 0,
            retry_intervals=tuple(float(i) for i in retry.intervals) if retry else (),
            retry_jitter=retry.jitter if retry else 0.0,
            retry_on=retry.on if retry else (),
            depends_on=_dependency_ids(dependencies),
            allow_dependency_failures=bool(allow_dependency_failures),
            description=validate_description(description),
            meta=encode_value(chosen, serializer_name, dict(meta), "meta") if meta else None,
            created_at=now,
            callbacks=encode_callbacks({"on_success": on_success, "on_failure": on_failure, "on_stopped": on_stopped}),
            at_front=validate_at_front(at_front) or to_front,
        )
        if record.id in record.depends_on:  # an ended job's id, reused: it would wait on itself for ever
            raise InvalidJobError(f"job {record.id} cannot depend on itself")
        job = cls(connection=connection, record=record, clock=clock)
        job._decoded = (args, kwargs)
        return job

    def copy_with_arguments(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Job:
        """A new unsaved job like this one (same function and options) with a new id
        and other arguments; what enqueue_many uses to skip validating each copy."""
        record = JobRecord(*self._field_values)
        args, kwargs = list(args), dict(kwargs)
        record.id = new_job_id()
        record.payload = encode_arguments(self.serializer, record.serializer, args, kwargs)
        record.created_at = self.clock.now()
        job = Job(connection=self.connection, record=record, clock=self.clock)
        job._decoded = (args, kwargs)
        return job

    def reset_for_enqueue(self) -> None:
        """Forget a previous run (status, outcome, times, lease), so the job can be stored
        again as new."""
        fresh = JobRecord(
            id=self._record.id, queue=self._record.queue, func_name=self._record.func_name,
            payload=self._record.payload, serializer=self._record.serializer,
        )  # fmt: skip
        for name in _RUN_FIELDS:
            setattr(self._record, name, getattr(fresh, name))
        self._record.created_at = self.clock.now()

    @functools.cached_property
    def _field_values(self) -> tuple[Any, ...]:
        """This job's record as positional arguments (copy.copy of a slots record is slow)."""
        return tuple(getattr(self._record, field.name) for field in dataclasses.fields(JobRecord))

    @classmethod
    def fetch(cls, id: str, connection: Backend | None = None, serializer: object = None) -> Job:
        """The stored job with this id; raises NoSuchJobError if there is none."""
        backend = resolve_connection(connection)
        (record,) = stored_records(backend, [id])
        if record is None:
            raise NoSuchJobError(id)
        return cls(connection=backend, record=record)

    @classmethod
    def fetch_many(
        cls, job_ids: Sequence[str], connection: Backend | None = None, serializer: object = None
    ) -> list[Job | None]:
        """The stored jobs for these ids in one round trip; None where a job is missing."""
        backend = resolve_connection(connection)
        if isinstance(job_ids, str):
            raise InvalidJobError(f"fetch_many takes a list of job ids, got the string {job_ids!r}")
        return [None if r is None else cls(connection=backend, record=r) for r in stored_records(backend, job_ids)]

    @classmethod
    def exists(cls, job_id: str, connection: Backend | None = None) -> bool:
        backend = resolve_connection(connection)
        return stored_records(backend, [job_id])[0] is not None

    # -- the stored record, as attributes -------------------------------------------------
    @property
    def record(self) -> JobRecord:
        """The plain stored record (for tools that need every field)."""
        return self._record

    @property
    def id(self) -> str:
        return self._record.id

    @property
    def origin(self) -> str:
        return self._record.queue

    @property
    def func_name(self) -> str:
        return self._record.func_name

    @property
    def func(self) -> Callable[..., Any]:
        """The job's function, imported by its name (InvalidJobError if it cannot be)."""
        return resolve_function(self._record.func_name)

    @property
    def args(self) -> tuple[Any, ...]:
        """The positional arguments, a tuple as in RQ (whatever the serializer kept)."""
        return tuple(self._arguments()[0])

    @property
    def kwargs(self) -> dict[str, Any]:
        return self._arguments()[1]

    def _arguments(self) -> tuple[list[Any], dict[str, Any]]:
        if self._decoded is None:
            if not self._record.payload:
                return [], {}
            try:
                args, kwargs = self.serializer.loads(self._record.payload)
            except Exception as exc:
                raise SerializationError(f"cannot decode the arguments of job {self.id}: {exc}") from exc
            self._decoded = (list(args), dict(kwargs))
        return self._decoded

    @property
    def serializer(self) -> Serializer:
        return serializer_named(self._record.serializer)

    @property
    def status(self) -> JobStatus:
        return self._record.status

    def get_status(self, refresh: bool = True) -> JobStatus:
        """The job's status; with ``refresh`` read again from the backend (with the rest of
        the job, but ``meta`` as this object holds it: changes not yet saved stay)."""
        if refresh:
            self._reread(keep_meta=True)
        return self._record.status

    def get_meta(self, refresh: bool = True) -> dict[str, Any]:
        if refresh:
            self.refresh()
        return self.meta

    @property
    def result(self) -> Any:
        """The return value once finished (kept for ``result_ttl``), else None. While this
        object holds none, each call reads the job again, as RQ's does: the job handle
        ``enqueue`` returned shows the result once a worker has stored it."""
        stored = self._record.result
        if stored is None:
            (record,) = self.connection.jobs_get([self.id])
            if record is None or record.result is None:  # gone (RQ's None too), or no result yet
                return None
            self._adopt(record, keep_meta=True)
            stored = record.result
        return self.serializer.loads(stored)

    @property
    def exc_info(self) -> str | None:
        return self._record.exc_info

    @property
    def priority(self) -> int:
        return self._record.priority

    @property
    def user_id(self) -> str | None:
        return self._record.user_id

    @property
    def enqueue_at_front(self) -> bool:
        """RQ's: whether the job goes to the front of its queue (before the jobs of its
        priority already there) each time it enters it: enqueued, due, released by its
        dependencies, retried or requeued (see ``requeue``)."""
        return self._record.at_front

    @property
    def description(self) -> str:
        """The given description, else the call written out, as RQ shows it."""
        if self._record.description is not None:
            return self._record.description
        args, kwargs = self._arguments()
        return describe(self._record.func_name, args, kwargs)

    @property
    def timeout(self) -> int | float:
        """Seconds the job may run, -1 for no limit (durations read back as RQ's)."""
        return as_rq_reads(self._record.timeout)

    @property
    def ttl(self) -> int | float | None:
        """Seconds the job may wait in its queue, None for no limit (as in RQ)."""
        return None if self._record.ttl is None else as_rq_reads(self._record.ttl)

    @property
    def result_ttl(self) -> int | float:
        """Seconds a finished job is kept, -1 for ever."""
        return as_rq_reads(self._record.result_ttl)

    @property
    def failure_ttl(self) -> int | float:
        """Seconds a failed, stopped or canceled job is kept, -1 for ever."""
        return as_rq_reads(self._record.failure_ttl)

    @property
    def retry_count(self) -> int:
        return self._record.retry_count

    @property
    def max_retries(self) -> int:
        return self._record.max_retries

    @property
    def retries_left(self) -> int:
        return max(0, self._record.max_retries - self._record.retry_count)

    @property
    def retry_intervals(self) -> list[int | float]:
        """Seconds before each retry, a list as in RQ (whole seconds as ints)."""
        return [as_rq_reads(seconds) for seconds in self._record.retry_intervals]

    @property
    def retry_on(self) -> list[str]:
        """The exceptions its failed runs are retried on (``Retry(on=...)``), by name;
        empty: any."""
        return list(self._record.retry_on)

    @property
    def dependency_ids(self) -> list[str]:
        return list(self._record.depends_on)

    @property
    def allow_dependency_failures(self) -> bool:
        return self._record.allow_dependency_failures

    @property
    def progress(self) -> float | None:
        return self._record.progress

    @property
    def metrics(self) -> dict[str, Any]:
        return json.loads(self._record.metrics) if self._record.metrics else {}

    @property
    def worker_name(self) -> str | None:
        return self._record.worker_name

    @property
    def batch_id(self) -> str | None:
        return self._record.batch_id

    @property
    def status_reason(self) -> str | None:
        """Why the job ended as it did when that is not obvious: 'expired', 'abandoned'..."""
        return self._record.status_reason

    @property
    def created_at(self) -> datetime:
        return to_datetime(self._record.created_at)  # type: ignore[return-value]

    @property
    def enqueued_at(self) -> datetime | None:
        return to_datetime(self._record.enqueued_at)

    @property
    def scheduled_for(self) -> datetime | None:
        return to_datetime(self._record.scheduled_for)

    @property
    def started_at(self) -> datetime | None:
        return to_datetime(self._record.started_at)

    @property
    def ended_at(self) -> datetime | None:
        return to_datetime(self._record.ended_at)

    @property
    def last_heartbeat(self) -> datetime | None:
        return to_datetime(self._record.last_heartbeat)

    # -- actions ---------------------------------------------------------------------------
    def _stored_as(self, record: JobRecord) -> None:
        """Take the record the backend stored: another job's when a unique_key was held."""
        if record is not self._record:
            self._adopt(record)

    def refresh(self) -> None:
        """Read the job again from the backend, ``meta`` included; NoSuchJobError if it is gone."""
        self._reread(keep_meta=False)

    def _reread(self, keep_meta: bool) -> None:
        (record,) = self.connection.jobs_get([self.id])
        if record is None:
            raise NoSuchJobError(self.id)
        self._adopt(record, keep_meta)

    def _adopt(self, record: JobRecord, keep_meta: bool = False) -> None:
        self._record = record
        self._decoded = None
        if not keep_meta:
            self.meta = self._decode_meta()

    def save_meta(self) -> None:
        """Store ``job.meta`` (for example from inside the running job)."""
        data = encode_value(self.serializer, self._record.serializer, self.meta, "meta")
        if not self.connection.job_update(self.id, self.clock.now(), meta=data):
            raise NoSuchJobError(self.id)
        self._record.meta = data

    def set_progress(self, progress: float, **metrics: Any) -> None:
        """Record progress (0.0 to 1.0) and metrics such as items_processed, total_items."""
        if isinstance(progress, bool) or not isinstance(progress, int | float) or not 0 <= progress <= 1:
            raise InvalidJobError(f"progress must be a number from 0.0 to 1.0, got {progress!r}")
        encoded = None
        if metrics:
            merged = {**self.metrics, **metrics}
            try:
                encoded = json.dumps(merged, separators=(",", ":"), allow_nan=False).encode()
            except (TypeError, ValueError) as exc:
                raise SerializationError(f"metrics must be JSON-serializable: {exc}") from exc
        if not self.connection.job_update(self.id, self.clock.now(), progress=float(progress), metrics=encoded):
            raise NoSuchJobError(self.id)
        self._record.progress = float(progress)
        if encoded is not None:
            self._record.metrics = encoded

    def cancel(self, enqueue_dependents: bool = False) -> None:
        """Cancel the job (a running one is also stopped); it moves to the canceled registry."""
        from conveyor.command import cancel_job

        self._record = cancel_job(self.id, connection=self.connection, enqueue_dependents=enqueue_dependents,
                                  clock=self.clock)._record  # fmt: skip

    def delete(self, delete_dependents: bool = False) -> None:
        """Remove the job from the backend altogether; with ``delete_dependents``, also
        every job that depends on it, directly or through others (as in RQ), in one step."""
        self.connection.job_delete(self.id, with_dependents=delete_dependents)

    def requeue(self, at_front: bool | None = None) -> Job:
        """Put a failed, stopped or canceled job back in its queue: at its front (before
        the jobs of its priority already queued) with ``at_front=True``, at its back with
        False, and, by default, where the job was enqueued to go (``enqueue_at_front``).
        A True or False stays the job's for its later entries (retries) too."""
        from conveyor.command import requeue_job

        self._record = requeue_job(self.id, connection=self.connection, clock=self.clock, at_front=at_front)._record
        return self

    def wait(self, timeout: float) -> Result | None:
        """Wait up to ``timeout`` seconds for the job to end, through its retries and
        snoozes (Celery's ``AsyncResult.get``, without the raise): how its last run ended
        (``Result.Type.SUCCESSFUL``, ``FAILED`` or ``STOPPED``). None if it has not ended
        by then, or if it was canceled or deleted; ``get_status()`` then tells which
        (raising NoSuchJobError for the last). ``latest_result(timeout)`` returns at the
        end of any run instead. It blocks: an ``async def`` job calls it in a thread
        (``await asyncio.to_thread(job.wait, 30)``), or it holds the worker's event loop."""
        return results.latest(self, timeout, final=True)

    def get_position(self) -> int | None:
        """0-based position in its queue while queued, else None."""
        return self.connection.queue_position(self.id)

    # -- helpers ---------------------------------------------------------------------------
    def _decode_meta(self) -> dict[str, Any]:
        if not self._record.meta:
            return {}
        value = self.serializer.loads(self._record.meta)
        return value if isinstance(value, dict) else {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Job) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"Job({self.id!r}, func={self.func_name!r}, status={self._record.status.value!r})"


def _ids(job_ids: Iterable[object]) -> list[str]:
    """Job ids to look up: strings (a list or bytes would fail deep in a backend)."""
    ids = list(job_ids)
    for job_id in ids:
        if not isinstance(job_id, str):
            raise InvalidJobError(f"a job id is a string, got {type(job_id).__name__} {job_id!r:.60}")
    return ids  # type: ignore[return-value]  # each checked above


def stored_records(backend: Backend, job_ids: Iterable[object]) -> list[JobRecord | None]:
    """The stored records of these ids, None where there is none. An id that is not text
    (a lone surrogate: a command line's byte that is not UTF-8) names no job: no job can
    hold one, and a store could not even be asked about it."""
    ids = _ids(job_ids)
    asked = [job_id for job_id in ids if is_text(job_id)]
    if len(asked) == len(ids):
        return backend.jobs_get(ids)
    found = dict(zip(asked, backend.jobs_get(asked) if asked else [], strict=True))
    return [found.get(job_id) for job_id in ids]


def _initial_status(status: JobStatus | str | None) -> JobStatus:
    """RQ lets Job.create take a status; only 'queued' makes sense for a new job here
    (the queue makes it scheduled or deferred)."""
    if status is None or status == JobStatus.QUEUED:
        return JobStatus.QUEUED
    raise InvalidJobError(f"a new job's status is set by conveyor; status={status!r} is not accepted")


def _dependency_ids(depends_on: Job | str | Iterable[Job | str] | None) -> tuple[str, ...]:
    if depends_on is None:
        return ()
    if isinstance(depends_on, Job | str):
        items: list[object] = [depends_on]
    elif isinstance(depends_on, Iterable):
        items = list(depends_on)
    else:
        raise InvalidJobError(f"depends_on must name jobs (a Job, an id, or a list of them), got {depends_on!r}")
    ids = []
    for item in items:
        if isinstance(item, Job):
            ids.append(item.id)
        elif isinstance(item, str) and item and not is_text(item):
            raise NoSuchJobError(item)  # no job holds such an id (and a store could not be asked)
        elif isinstance(item, str) and item:
            ids.append(item)
        else:
            raise InvalidJobError(f"depends_on must name jobs (Job or id), got {item!r}")
    return tuple(dict.fromkeys(ids))
