"""RQ's Worker options that conveyor has no setting for: taken at RQ's defaults (which
change nothing), refused when set otherwise, saying what conveyor does instead."""

from __future__ import annotations

from conveyor.exceptions import ConfigurationError
from conveyor.job import Job
from conveyor.options import DEFAULT_RESULT_TTL, custom_class_problem
from conveyor.queue import Queue

RQ_JOB_MONITORING_INTERVAL = 30
"""RQ's default, in seconds."""


def refuse_rq_options(
    default_result_ttl: float | None,
    job_monitoring_interval: float | None,
    disable_default_exception_handler: bool,
    job_class: object,
    queue_class: object,
) -> None:
    """Raise ConfigurationError for an RQ worker option set to something conveyor would
    not do: ignoring it would change what the RQ code asked for."""
    problems = [
        custom_class_problem("job_class", job_class, Job),
        custom_class_problem("queue_class", queue_class, Queue),
    ]
    if default_result_ttl not in (None, DEFAULT_RESULT_TTL):
        problems.append(
            f"default_result_ttl={default_result_ttl!r} is not supported: a job's result_ttl is set when it is "
            f"enqueued ({DEFAULT_RESULT_TTL:g} s unless given); pass result_ttl= to enqueue (or to @job)"
        )
    if job_monitoring_interval not in (None, RQ_JOB_MONITORING_INTERVAL):
        problems.append(
            f"job_monitoring_interval={job_monitoring_interval!r} is not supported: a worker heartbeats its jobs "
            "every third of lease_ttl; pass lease_ttl= (lease_ttl=90 heartbeats every 30 s)"
        )
    if disable_default_exception_handler:
        problems.append(
            "disable_default_exception_handler=True is not supported: a failed job is always in its queue's "
            "FailedJobRegistry (a registry is a view of job statuses); give jobs a shorter failure_ttl to keep "
            "fewer (exception_handlers run either way)"
        )
    found = [problem for problem in problems if problem]
    if found:
        raise ConfigurationError("; ".join(found))
