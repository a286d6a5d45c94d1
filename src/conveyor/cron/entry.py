"""One periodic job (a cron entry): what to enqueue, on which queue, on which schedule.

Everything about an entry is checked when it is registered, by building its job once,
so that a mistake in a cron config stops ``conveyor cron`` at start, naming the entry,
rather than surfacing at the first tick, hours later.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from conveyor.arguments import call_arguments, check_call
from conveyor.backends.base import Backend
from conveyor.clock import SYSTEM_CLOCK, Clock
from conveyor.exceptions import InvalidJobError
from conveyor.functions import function_name, resolve_function
from conveyor.job import Job
from conveyor.options import DEFAULT_QUEUE, DEFAULT_RESULT_TTL, name_problem, normalize_options, validate_queue_name

from .schedule import Schedule, schedule_of

NOT_PER_TICK = {
    "job_id": "each tick makes a new job, which cannot all have one id; give the entry a name= instead",
    "depends_on": "a tick's job has no job to wait for; enqueue the follow-up from the job itself",
}
"""Job options a periodic job cannot take, and why."""


class CronJob:
    """A registered periodic job; ``conveyor.cron.register`` makes them (RQ's CronJob)."""

    def __init__(
        self,
        func: Callable[..., Any] | str,
        queue_name: str,
        args: Sequence[Any] | None,
        kwargs: Mapping[str, Any] | None,
        schedule: Schedule,
        options: Mapping[str, Any],
        name: str,
    ) -> None:
        self.func = func
        self.func_name = function_name(func)
        self.queue_name = validate_queue_name(queue_name)
        positional, keywords = call_arguments(args, kwargs)  # args='daily' is one argument, as for enqueue
        self.args = tuple(positional)
        self.kwargs = keywords
        self.schedule = schedule
        self.options = dict(options)
        self.name = name or self.func_name
        if problem := name_problem(self.name):
            raise InvalidJobError(f"cron job name {problem}")
        # a path no worker could import, or arguments the function cannot take, are refused
        # now rather than failing the job of every tick
        check_call(resolve_function(func) if isinstance(func, str) else func, self.func_name, positional, keywords)
        self.job(SYSTEM_CLOCK)  # every option, argument and the function checked once

    def job(self, clock: Clock, connection: Backend | None = None) -> Job:
        """A new job of this entry, built but not stored."""
        return Job.create(self.func, args=self.args, kwargs=self.kwargs, connection=connection,
                          origin=self.queue_name, clock=clock, **self.options)  # fmt: skip

    def describe(self) -> str:
        """The entry as the scheduler logs it."""
        return f"{self.name!r}: {self.func_name} on queue {self.queue_name!r}, {self.schedule.describe()}"

    def __repr__(self) -> str:
        return f"CronJob({self.describe()})"


def cron_job(
    func: Callable[..., Any] | str,
    queue_name: str = DEFAULT_QUEUE,
    args: Sequence[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    interval: int | str | None = None,
    cron: str | None = None,
    job_timeout: int | float | str | None = None,
    result_ttl: int | float | str | None = DEFAULT_RESULT_TTL,
    ttl: int | float | str | None = None,
    failure_ttl: int | float | str | None = None,
    meta: Mapping[str, Any] | None = None,
    name: str = "",
    timezone: str | None = None,
    **options: Any,
) -> CronJob:
    """A periodic job: ``func`` (a function, an import path or a job type's name) to be
    enqueued on ``queue_name`` every ``interval`` seconds or at the times of ``cron`` (5
    fields, read in UTC unless ``timezone`` names a zone), with RQ's job options, then any
    other keyword arguments ``Queue.enqueue`` takes as job options (priority, retry,
    unique_key...). ``name`` (default: the function's name) identifies the entry in the
    store, which records the last tick it enqueued; each entry needs its own.

    Raises InvalidJobError (a ValueError) for a schedule, function or option that cannot be."""
    given = {"result_ttl": result_ttl, **options}
    for option, value in (("job_timeout", job_timeout), ("ttl", ttl), ("failure_ttl", failure_ttl), ("meta", meta)):
        if value is not None:
            given[option] = value
    normalized = normalize_options(given)  # RQ's options conveyor lacks (webhooks...) are refused saying why
    for option, why in NOT_PER_TICK.items():
        if normalized.get(option) is not None:
            raise InvalidJobError(f"{option} is not taken by a cron job: {why}")
        normalized.pop(option, None)
    return CronJob(func, queue_name, args, kwargs, schedule_of(interval, cron, timezone), normalized, name)
