"""Running one job's function: find it, decode its arguments, call it, encode the result.

Shared by the worker and by ``Queue(is_async=False)``; both turn the outcome into a
Settlement with conveyor.worker.outcomes.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import Any

from conveyor.arguments import unencodable
from conveyor.backends.base import Backend
from conveyor.clock import Clock
from conveyor.exceptions import InvalidJobError, SerializationError
from conveyor.functions import resolve_function
from conveyor.job import Job, _current_job
from conveyor.serializers import serializer_named
from conveyor.types import JobRecord, Settlement

from . import callbacks, outcomes

JOB_ERRORS = (Exception, SystemExit, KeyboardInterrupt)
"""What a job's function (or callback) raising fails the job with, in a worker: a job
that calls sys.exit() fails alone rather than ending the worker (which stops on
signals, never on an exception from a job), and is not given back to run again."""


class PreparedJob:
    """A claimed job with its function found and arguments decoded."""

    __slots__ = ("args", "func", "is_async", "job", "kwargs")

    def __init__(self, job: Job, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> None:
        self.job = job
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.is_async = _is_async(func)


_NULL_JSON = b"null"


@functools.lru_cache(maxsize=1024)
def _is_async(func: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(func)


def prepare(record: JobRecord, backend: Backend, clock: Clock) -> PreparedJob | str:
    """The job ready to call, or the error text explaining why there is no job to call.

    A function that cannot be found, or arguments that cannot be decoded, give a call
    that raises why: the job then fails as any job that raises (its ``on_failure``, the
    worker's exception handlers, its retries), as in RQ, where finding the function is
    part of the run."""
    try:
        job = Job(connection=backend, record=record, clock=clock)
    except Exception as exc:  # meta the serializer cannot read (pickle of a class gone since)
        return f"SerializationError: cannot decode the meta of job {record.id}: {type(exc).__name__}: {exc}"
    try:
        func = resolve_function(record.func_name)
    except InvalidJobError as exc:
        return PreparedJob(job, _raise, [InvalidJobError(f"cannot find job function {record.func_name!r}: {exc}")], {})
    try:
        args, kwargs = serializer_named(record.serializer).loads(record.payload)
    except Exception as exc:
        reason = f"cannot decode the arguments of job {record.id}: {type(exc).__name__}: {exc}"
        return PreparedJob(job, _raise, [SerializationError(reason)], {})
    return PreparedJob(job, func, args, kwargs)


def _raise(error: Exception) -> None:
    """The call of a job that has nothing to call: it raises why."""
    raise error


def call_sync(prepared: PreparedJob) -> Any:
    """Call the function with the job as the current job; drives a coroutine to its end."""
    token = _current_job.set(prepared.job)
    try:
        result = prepared.func(*prepared.args, **prepared.kwargs)
        if result is not None and inspect.isawaitable(result):  # (None: no ABC check)
            result = asyncio.run(_await(result))
        return result
    finally:
        _current_job.reset(token)


async def _await(awaitable: Any) -> Any:
    return await awaitable


async def call_async(prepared: PreparedJob) -> Any:
    """Await an ``async def`` job with the job as the current job."""
    _current_job.set(prepared.job)  # this task's own context
    return await prepared.func(*prepared.args, **prepared.kwargs)


def success(prepared: PreparedJob, started_at: float, value: Any, now: float) -> Settlement:
    """Settle a job that returned ``value``; a result the serializer refuses fails it, not
    retried: another run would repeat the function's effects to return the same kind of value."""
    record = prepared.job.record
    try:
        encoded = (
            _NULL_JSON
            if value is None and record.serializer == "json"
            else serializer_named(record.serializer).dumps(value)
        )
    except Exception as exc:
        text = f"SerializationError: the result ({type(value).__name__}) {unencodable(record.serializer, exc)}"
        return outcomes.failed(record, started_at, text, now, reason="error", retriable=False)
    return outcomes.finished(record, started_at, encoded, now)


def run_inline(record: JobRecord, backend: Backend, clock: Clock) -> Settlement:
    """Run a job to its end in the calling thread, then its callbacks (for
    Queue(is_async=False): no time limits there)."""
    started_at = clock.now()
    prepared = prepare(record, backend, clock)
    if isinstance(prepared, str):
        return outcomes.failed(record, started_at, prepared, clock.now(), reason="error")
    value: Any = None
    error: Exception | None = None
    try:
        value = call_sync(prepared)
    except Exception as exc:
        settlement, error = outcomes.raised(record, started_at, exc, clock.now()), exc
    else:
        settlement = success(prepared, started_at, value, clock.now())
    if record.callbacks is None:
        return settlement
    return callbacks.run(prepared.job, settlement, value, error, callbacks.UNTIMED)
