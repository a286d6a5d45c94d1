"""The part of Job's API that is there for RQ code: RQ's other names for what Job has
(``get_id``, ``return_value``, ``is_finished``...), its callbacks and dependencies as RQ
reads them, ``perform``, ``get_ttl`` and ``to_dict``. ``Job`` inherits these methods;
they live here so that conveyor.job keeps to the job itself."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from conveyor import results
from conveyor.arguments import describe
from conveyor.callbacks import stored_function, stored_timeout
from conveyor.clock import to_datetime
from conveyor.durations import as_rq_reads
from conveyor.results import Result
from conveyor.rq_absent import RQOnly, no_keys
from conveyor.serializers import typed_form
from conveyor.status import JobStatus

if TYPE_CHECKING:
    from conveyor.backends.base import Backend
    from conveyor.job import Job
    from conveyor.serializers import Serializer
    from conveyor.types import JobRecord


class RQJobMethods:
    """RQ's Job methods and properties that conveyor's Job takes on as they are."""

    key = no_keys("job.id")
    set_status = RQOnly("a job's status changes only through what happens to it (cancel, requeue, a worker)")

    if TYPE_CHECKING:  # what Job provides
        _record: JobRecord
        connection: Backend
        meta: dict[str, Any]

        @property
        def id(self) -> str: ...
        @property
        def serializer(self) -> Serializer: ...
        @property
        def result(self) -> Any: ...
        @property
        def func(self) -> Callable[..., Any]: ...
        @property
        def ttl(self) -> int | float | None: ...
        @property
        def result_ttl(self) -> int | float: ...
        @property
        def description(self) -> str: ...
        def _arguments(self) -> tuple[list[Any], dict[str, Any]]: ...
        def get_status(self, refresh: bool = True) -> JobStatus: ...
        def refresh(self) -> None: ...
        def save_meta(self) -> None: ...

    def get_id(self) -> str:
        return self._record.id

    def get_call_string(self) -> str:
        """The call as text, ``add(1, y=2)`` (RQ's; shortened past 200 characters)."""
        return describe(self._record.func_name, *self._arguments())

    def return_value(self, refresh: bool = False) -> Any:
        """``result``; with ``refresh`` read again even when this object holds one."""
        if refresh:
            self.refresh()
        return self.result

    def latest_result(self, timeout: float = 0) -> Result | None:
        """How the latest run ended (RQ's results API); with ``timeout``, wait up to that
        many seconds for a run to end. None before one has, or once the job is gone."""
        return results.latest(self._job, timeout)

    def results(self) -> list[Result]:
        """Every outcome kept: conveyor keeps the latest only (RQ keeps a stream)."""
        latest = self.latest_result()
        return [] if latest is None else [latest]

    def save(self) -> None:
        """RQ's ``job.meta[...] = ...; job.save()``: ``meta`` is the part of a stored job
        its code may change, so this is ``save_meta()``. A job not yet enqueued is
        stored by ``Queue.enqueue_job``, not here (NoSuchJobError)."""
        self.save_meta()

    def get_ttl(self, default_ttl: int | None = None) -> int | float | None:
        """RQ's: the job's ``ttl``, else ``default_ttl``."""
        return default_ttl if self.ttl is None else self.ttl

    def get_result_ttl(self, default_ttl: int | None = None) -> int | float:
        """RQ's: the job's ``result_ttl``, which conveyor always has (500 s unless given),
        so ``default_ttl`` is never needed."""
        return self.result_ttl

    # -- callbacks ----------------------------------------------------------------------------
    @property
    def success_callback(self) -> Callable[..., Any] | None:
        """The on_success function (None without one), as RQ's attribute."""
        return stored_function(self._record.callbacks, "on_success")

    @property
    def failure_callback(self) -> Callable[..., Any] | None:
        return stored_function(self._record.callbacks, "on_failure")

    @property
    def stopped_callback(self) -> Callable[..., Any] | None:
        return stored_function(self._record.callbacks, "on_stopped")

    @property
    def success_callback_timeout(self) -> int | float:
        """Seconds on_success may run (RQ's; the default, 60, without a callback)."""
        return as_rq_reads(stored_timeout(self._record.callbacks, "on_success"))

    @property
    def failure_callback_timeout(self) -> int | float:
        return as_rq_reads(stored_timeout(self._record.callbacks, "on_failure"))

    @property
    def stopped_callback_timeout(self) -> int | float:
        return as_rq_reads(stored_timeout(self._record.callbacks, "on_stopped"))

    # -- dependencies ---------------------------------------------------------------------------
    @property
    def depends_on(self) -> list[str]:
        """The ids of the jobs this one waits for (``dependency_ids``)."""
        return list(self._record.depends_on)

    @property
    def dependent_ids(self) -> list[str]:
        """Ids of the stored jobs that depend on this one, sorted (RQ's, read from the
        store). Unlike RQ's, a job stays listed once this one's end has released it."""
        return self.connection.job_dependents(self.id)

    @property
    def dependency(self) -> Job | None:
        """The first job this one depends on, as RQ's; None without one or once it is gone."""
        if not self._record.depends_on:
            return None
        (first,) = type(self._job).fetch_many(self._record.depends_on[:1], connection=self.connection)
        return first

    def fetch_dependencies(self) -> list[Job]:
        """The jobs this one depends on that are still stored (RQ's, in one read)."""
        if not self._record.depends_on:
            return []
        found = type(self._job).fetch_many(self._record.depends_on, connection=self.connection)
        return [job for job in found if job is not None]

    # -- running and reading --------------------------------------------------------------------
    def perform(self) -> Any:
        """Call the job's function here and now, with this job as ``get_current_job()``,
        and return what it returns (an ``async def`` one is run to its end); its errors
        reach you. As RQ's, for tests and debugging: nothing is stored (the job keeps its
        status, and ``job.result`` what a worker stored). ``Queue(is_async=False)`` runs a
        job here with the outcome a worker would record."""
        from conveyor.worker.execution import PreparedJob, call_sync

        args, kwargs = self._arguments()
        return call_sync(PreparedJob(self._job, self.func, list(args), dict(kwargs)))

    # Each reads the status again, as RQ's do (``while not job.is_finished`` must end).
    is_queued = property(lambda self: self.get_status() is JobStatus.QUEUED)
    is_deferred = property(lambda self: self.get_status() is JobStatus.DEFERRED)
    is_scheduled = property(lambda self: self.get_status() is JobStatus.SCHEDULED)
    is_started = property(lambda self: self.get_status() is JobStatus.STARTED)
    is_finished = property(lambda self: self.get_status() is JobStatus.FINISHED)
    is_failed = property(lambda self: self.get_status() is JobStatus.FAILED)
    is_stopped = property(lambda self: self.get_status() is JobStatus.STOPPED)
    is_canceled = property(lambda self: self.get_status() is JobStatus.CANCELED)

    def to_dict(self, include_meta: bool = True, include_result: bool = True) -> dict[str, Any]:
        """The job as this object holds it, as a dict ``json.dumps`` takes: its attributes
        by their names, times as ISO 8601 UTC text ending in ``Z`` (None when unset), the
        status as its value (``"finished"``), durations as the attributes read them
        (``timeout`` -1 for none). ``args``, ``kwargs``, ``meta`` and ``result`` are
        decoded, tuples as lists and what JSON cannot carry as its ``repr``. Unlike
        RQ's, this is not the stored form (that is the backend's own): it is for logs,
        APIs and tests. ``include_meta=False`` leaves out ``meta``, ``include_result=False``
        ``result`` and ``exc_info``, as in RQ. Reads nothing from the store."""
        record = self._record
        args, kwargs = self._arguments()
        data: dict[str, Any] = {
            "id": record.id,
            "origin": record.queue,
            "func_name": record.func_name,
            "args": _json_safe(args),
            "kwargs": _json_safe(kwargs),
            "description": self.description,
            "status": record.status.value,
            "status_reason": record.status_reason,
            "priority": record.priority,
            "user_id": record.user_id,
            "timeout": as_rq_reads(record.timeout),
            "ttl": self.ttl,
            "result_ttl": self.result_ttl,
            "failure_ttl": as_rq_reads(record.failure_ttl),
            "retry_count": record.retry_count,
            "max_retries": record.max_retries,
            "retry_intervals": [as_rq_reads(seconds) for seconds in record.retry_intervals],
            "retry_on": list(record.retry_on),
            "depends_on": list(record.depends_on),
            "allow_dependency_failures": record.allow_dependency_failures,
            "batch_id": record.batch_id,
            "worker_name": record.worker_name,
            "progress": record.progress,
            "metrics": json.loads(record.metrics) if record.metrics else {},
            "serializer": record.serializer,
        }
        for name in ("created_at", "enqueued_at", "scheduled_for", "started_at", "ended_at", "last_heartbeat"):
            moment = to_datetime(getattr(record, name))
            data[name] = None if moment is None else moment.isoformat().replace("+00:00", "Z")
        if include_meta:
            data["meta"] = _json_safe(self.meta)
        if include_result:
            stored = record.result
            data["result"] = None if stored is None else _json_safe(self.serializer.loads(stored))
            data["exc_info"] = record.exc_info
        return data

    @property
    def _job(self) -> Job:
        return self  # type: ignore[return-value]  # only Job inherits these methods


def _json_safe(value: Any) -> Any:
    """``value`` as JSON reads it back: tuples as lists, a datetime, date, time, UUID or Decimal in its
    stored form (as the REST API shows it), and in place of what JSON cannot carry (a
    set, an object) its ``repr``."""
    try:
        return json.loads(json.dumps(value, default=_stored_form_or_repr))
    except (TypeError, ValueError, RecursionError):  # keys that are no strings, nesting too deep
        return repr(value)


def _stored_form_or_repr(value: Any) -> Any:
    try:
        return typed_form(value)
    except TypeError:
        return repr(value)
