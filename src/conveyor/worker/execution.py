"""Running one job's function: find it, decode its arguments, call it, encode the result.

Shared by the worker and by ``Queue(is_async=False)``; both turn the outcome into a
Settlement with conveyor.worker.outcomes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import threading
import traceback
from collections.abc import Callable
from typing import Any

from conveyor import callbacks
from conveyor.backends.base import Backend
from conveyor.clock import Clock
from conveyor.exceptions import InvalidJobError, JobInterrupted, JobStopRequested, JobTimeoutException
from conveyor.functions import resolve_function
from conveyor.job import Job, _current_job
from conveyor.serializers import serializer_named
from conveyor.types import JobRecord, Settlement

from . import outcomes
from .running import Running, ShutdownInterrupt


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
    """The job ready to call, or the error text explaining why it cannot run."""
    try:
        func = resolve_function(record.func_name)
    except InvalidJobError as exc:
        return f"InvalidJobError: cannot find job function {record.func_name!r}: {exc}"
    try:
        args, kwargs = serializer_named(record.serializer).loads(record.payload)
    except Exception as exc:
        return f"SerializationError: cannot decode the arguments of job {record.id}: {type(exc).__name__}: {exc}"
    try:
        job = Job(connection=backend, record=record, clock=clock)
    except Exception as exc:  # meta the serializer cannot read (pickle of a class gone since)
        return f"SerializationError: cannot decode the meta of job {record.id}: {type(exc).__name__}: {exc}"
    return PreparedJob(job, func, args, kwargs)


def call_sync(prepared: PreparedJob) -> Any:
    """Call the function with the job as the current job (driving a coroutine to its
    end), then its callbacks (see conveyor.callbacks), in the same place."""
    token = _current_job.set(prepared.job)
    try:
        try:
            result = prepared.func(*prepared.args, **prepared.kwargs)
            if inspect.isawaitable(result):
                result = asyncio.run(_await(result))
        except (Exception, JobInterrupted) as error:
            if _ended(error):
                callbacks.after_failure(prepared.job, error)
            raise
        try:
            callbacks.after_success(prepared.job, result)
        except ShutdownInterrupt:
            pass  # the job ran to its end: it finishes; only its callback was cut short
        except (Exception, JobInterrupted) as error:  # on_success failed, or a stop or timeout landed in it
            callbacks.after_failure(prepared.job, error)
            raise
        return result
    finally:
        _current_job.reset(token)


def _ended(error: BaseException) -> bool:
    """Whether the job ended with ``error`` (a job given back at shutdown has not)."""
    return not isinstance(error, ShutdownInterrupt)


async def _await(awaitable: Any) -> Any:
    return await awaitable


async def call_async(prepared: PreparedJob, running: Running) -> Any:
    """Await an ``async def`` job with the job as the current job, then its callbacks,
    on a thread beside the loop (see _in_thread). A cancellation is an interrupt if
    ``running`` has one, else the job's own."""
    _current_job.set(prepared.job)  # this task's own context
    job = prepared.job
    try:
        result = await prepared.func(*prepared.args, **prepared.kwargs)
    except (Exception, JobInterrupted, asyncio.CancelledError) as error:
        why = (running.pending_interrupt() or error) if isinstance(error, asyncio.CancelledError) else error
        if _ended(why):
            await _in_thread(running, callbacks.after_failure, job, why)
        raise
    if not job.record.callbacks:
        return result
    try:
        await _in_thread(running, callbacks.after_success, job, result)
    except asyncio.CancelledError:  # a stop, timeout or shutdown landed in on_success
        interrupt = running.pending_interrupt()
        if isinstance(interrupt, ShutdownInterrupt):
            return result  # the job ran to its end: it finishes
        await _in_thread(running, callbacks.after_failure, job, interrupt or JobStopRequested())
        raise
    except Exception as error:
        await _in_thread(running, callbacks.after_failure, job, error)
        raise
    return result


async def _in_thread(running: Running, callback: Callable[..., None], *args: Any) -> None:
    """Run a callback on a daemon thread of its own, so that the loop stays free and a
    callback still running at shutdown does not hold the worker (asyncio.to_thread's
    threads are waited for when the loop closes). Meanwhile a job that ignores its
    interrupt is left to that thread, as a thread-pool job would be, rather than taken
    for one that holds the loop."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def settle(error: BaseException | None) -> None:
        if not done.done():
            done.set_result(None) if error is None else done.set_exception(error)

    def run() -> None:
        error: BaseException | None = None
        try:
            callback(*args)
        except BaseException as exc:  # handed to the awaiting task
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
            loop.call_soon_threadsafe(settle, error)

    running.in_callback_thread = True
    try:
        threading.Thread(target=run, name=f"conveyor-callback-{running.record.id}", daemon=True).start()
        await done
    finally:
        running.in_callback_thread = False


def success(prepared: PreparedJob, started_at: float, value: Any, now: float) -> Settlement:
    """Settle a job that returned ``value``; a result the serializer refuses fails it."""
    record = prepared.job.record
    try:
        encoded = (
            _NULL_JSON
            if value is None and record.serializer == "json"
            else serializer_named(record.serializer).dumps(value)
        )
    except Exception as exc:
        text = (
            f"SerializationError: the result ({type(value).__name__}) cannot be encoded by the "
            f"{record.serializer} serializer: {exc}"
        )
        return outcomes.failed(record, started_at, text, now, reason="error")
    return outcomes.finished(record, started_at, encoded, now)


def failure(record: JobRecord, started_at: float | None, error: BaseException, now: float) -> Settlement:
    """Settle a job that raised ``error`` (a stop command ends it as stopped)."""
    text = "".join(traceback.format_exception(error))
    if isinstance(error, JobStopRequested):
        return outcomes.stopped(record, started_at, text, now)
    reason = "timeout" if isinstance(error, JobTimeoutException) else "error"
    return outcomes.failed(record, started_at, text, now, reason=reason)


def run_inline(record: JobRecord, backend: Backend, clock: Clock) -> Settlement:
    """Run a job to its end in the calling thread (for Queue(is_async=False))."""
    started_at = clock.now()
    prepared = prepare(record, backend, clock)
    if isinstance(prepared, str):
        return outcomes.failed(record, started_at, prepared, clock.now(), reason="error")
    try:
        value = call_sync(prepared)
    except Exception as exc:
        return failure(record, started_at, exc, clock.now())
    return success(prepared, started_at, value, clock.now())
