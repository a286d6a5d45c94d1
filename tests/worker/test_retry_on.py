"""Retry(on=...): only the exceptions named (and their subclasses) are retried; any
other fails the job at once. Celery's autoretry_for."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

import jobfuncs
from conveyor import Job, JobStatus, JobTimeoutException, Queue, Retry, Worker
from conveyor import retry as retry_module
from conveyor.backends.base import Backend
from conveyor.exceptions import InvalidJobError

PLACES: dict[str, tuple[dict[str, Any], Callable[..., Any]]] = {
    "inline": ({}, jobfuncs.raise_named),
    "processes": ({"pool": "processes"}, jobfuncs.raise_named),
    "async": ({}, jobfuncs.async_raise_named),
}


def run_once(backend: Backend, job: Job, **options: Any) -> Job:
    """One burst: the job runs once (a retry is scheduled an hour away)."""
    Worker([job.origin], connection=backend, **options).work(burst=True)
    job.refresh()
    return job


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize(
    ("raised", "retried"),
    [
        ("ConnectionError", True),  # named
        ("FlakyNetwork", True),  # a subclass of one named
        ("ValueError", False),
        ("Unrelated", False),
    ],
)
def test_only_the_exceptions_named_are_retried(backend: Backend, place: str, raised: str, retried: bool) -> None:
    options, func = PLACES[place]
    queue = Queue(connection=backend)
    job = queue.enqueue(func, raised, retry=Retry(max=3, interval=3600, on=[ConnectionError, TimeoutError]))
    job = run_once(backend, job, **options)
    assert job.exc_info is not None and f"raised {raised}" in job.exc_info
    if retried:
        assert (job.status, job.retry_count, job.retries_left) == (JobStatus.SCHEDULED, 1, 2)
    else:
        assert (job.status, job.retry_count, job.retries_left) == (JobStatus.FAILED, 0, 3)
        assert job in queue.failed_job_registry


def test_names_match_as_the_classes_do_and_are_stored_with_the_job(backend: Backend) -> None:
    queue = Queue(connection=backend)
    retry = Retry(max=2, interval=3600, on=("jobfuncs.FlakyNetwork", "OSError", jobfuncs.Unrelated))
    assert retry.on == ("jobfuncs.FlakyNetwork", "OSError", "jobfuncs.Unrelated")
    jobs = {name: queue.enqueue(jobfuncs.raise_named, name, retry=retry) for name in ("FlakyNetwork", "Unrelated")}
    # a built-in named by its alias (IOError is OSError) covers OSError's subclasses
    jobs["TimeoutError"] = queue.enqueue(
        jobfuncs.raise_named, "TimeoutError", retry=Retry(max=1, interval=3600, on="IOError")
    )
    assert Job.fetch(jobs["FlakyNetwork"].id, connection=backend).retry_on == list(retry.on)
    Worker([queue], connection=backend).work(burst=True)
    for job in jobs.values():
        job.refresh()
        assert job.status is JobStatus.SCHEDULED and job.retry_count == 1, job.func_name
    assert Job.fetch(jobs["TimeoutError"].id, connection=backend).retry_on == ["IOError"]


def test_a_job_without_on_is_retried_on_any_exception(backend: Backend) -> None:
    queue = Queue(connection=backend)
    job = queue.enqueue(jobfuncs.raise_named, "Unrelated", retry=Retry(max=1, interval=3600))
    assert job.retry_on == []
    assert run_once(backend, job).status is JobStatus.SCHEDULED


def test_retry_job_and_fail_job_decide_whatever_on_names(backend: Backend) -> None:
    queue = Queue(connection=backend)
    only = Retry(max=2, interval=3600, on=KeyError)
    asked = queue.enqueue(jobfuncs.retry_in, 3600, retry=only)  # RetryJob from a ValueError
    for_good = queue.enqueue(jobfuncs.fail_for_good, retry=Retry(max=2, on=Exception))
    Worker([queue], connection=backend).work(burst=True)
    asked.refresh(), for_good.refresh()
    assert (asked.status, asked.retry_count) == (JobStatus.SCHEDULED, 1)
    assert (for_good.status, for_good.retry_count) == (JobStatus.FAILED, 0)


def test_a_timeout_is_retried_only_when_named(backend: Backend) -> None:
    queue = Queue(connection=backend)
    named = queue.enqueue(jobfuncs.sleep, 30, timeout=0.2, retry=Retry(1, 3600, on=[JobTimeoutException]))
    other = queue.enqueue(jobfuncs.sleep, 30, timeout=0.2, retry=Retry(1, 3600, on=[ConnectionError]))
    Worker([queue], connection=backend).work(burst=True)
    named.refresh(), other.refresh()
    assert named.retry_on == ["conveyor.exceptions.JobTimeoutException"]
    assert (named.status, named.status_reason) == (JobStatus.SCHEDULED, "timeout")
    assert (other.status, other.status_reason) == (JobStatus.FAILED, "timeout")


def test_a_name_the_worker_cannot_import_matches_nothing_and_says_so(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    retry_module._exception_class.cache_clear()  # (said once per process: the other backend's run said it)
    queue = Queue(connection=backend)
    job = queue.enqueue(
        jobfuncs.raise_named, "ConnectionError", retry=Retry(max=2, on=["nowhere_module.Gone", "jobfuncs.noop"])
    )
    with caplog.at_level(logging.WARNING, logger="conveyor.worker"):
        job = run_once(backend, job)
    assert (job.status, job.retry_count) == (JobStatus.FAILED, 0)
    warnings = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Retry on")]
    assert any("'nowhere_module.Gone': this worker cannot import it" in w for w in warnings), warnings
    assert any("'jobfuncs.noop': not an exception class here" in w for w in warnings), warnings


@pytest.mark.parametrize(
    ("on", "problem"),
    [
        ([], "Retry on must be an exception class, a name or a list of them"),
        ([ValueError, 3], "Retry on takes exception classes or their names, got 3"),
        (int, "Retry on takes exception classes or their names"),
        ("ConnectionEror", "Retry on: 'ConnectionEror' is not a built-in exception; name others with their module"),
        ("requests..Timeout", "Retry on takes exception classes or their names, got 'requests..Timeout'"),
        ("a b", "Retry on takes exception classes or their names"),
        (b"ValueError", "Retry on must be an exception class, a name or a list of them, got b'ValueError'"),
        ([b"ValueError"], "Retry on takes exception classes or their names, got b'ValueError'"),
        ({"ValueError": 1}, "Retry on must be an exception class, a name or a list of them"),
        ("mylib.class.Error", "Retry on takes exception classes or their names, got 'mylib.class.Error'"),
        ("mylib.Error²", "Retry on takes exception classes or their names"),
        ("__main__.ScriptError", "Retry on: '__main__.ScriptError' is in __main__, which a worker cannot import"),
        (
            type("ScriptError", (Exception,), {"__module__": "__main__"}),
            "Retry on: ScriptError is defined in __main__, which a worker cannot import; move it into a module",
        ),
    ],
)
def test_on_that_names_no_exception_is_refused(on: Any, problem: str) -> None:
    with pytest.raises(InvalidJobError, match="^" + problem.replace("(", r"\(").replace(".", r"\.")):
        Retry(max=1, on=on)


def test_a_class_defined_in_a_function_is_refused() -> None:
    class Local(Exception):
        pass

    with pytest.raises(InvalidJobError, match="defined in a function; workers cannot import it"):
        Retry(max=1, on=Local)


def test_repr_shows_on() -> None:
    assert repr(Retry(2, 5, on=KeyError)) == "Retry(max=2, interval=[5], on=['KeyError'])"
    assert repr(Retry(2, 5)) == "Retry(max=2, interval=[5])"


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("retry_on_traps.Lazy", "ModuleNotFoundError: Lazy needs the optional package 'absent_extra'"),
        ("retry_on_exits.Gone", "SystemExit: retry_on_exits: a module is not to be imported"),
    ],
)
def test_a_name_whose_import_raises_anything_matches_nothing_and_the_worker_goes_on(
    backend: Backend, place: str, name: str, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Not only an InvalidJobError: a module's lazy attribute raising ImportError, or a
    module exiting at import, crashed the worker (inline), hung it (async) or killed the
    job's process (which then read as a crash)."""
    retry_module._exception_class.cache_clear()
    options, func = PLACES[place]
    queue = Queue(connection=backend)
    job = queue.enqueue(func, "ConnectionError", retry=Retry(max=2, interval=3600, on=[name, "ConnectionError"]))
    with caplog.at_level(logging.WARNING, logger="conveyor.worker"):
        job = run_once(backend, job, **options)
    assert (job.status, job.retry_count) == (JobStatus.SCHEDULED, 1)  # on the other name, which matched
    assert job.exc_info is not None and "raised ConnectionError" in job.exc_info
    if place != "processes":  # (a job process logs to its own stderr)
        assert any(
            f"Retry on {name!r}: this worker cannot import it ({problem})" in r.getMessage() for r in caplog.records
        )


@pytest.mark.parametrize(
    ("on", "names"),
    [
        ((name for name in ["KeyError", " OSError\n"]), ("KeyError", "OSError")),  # any iterable, a generator too
        (frozenset([KeyError]), ("KeyError",)),
        ((KeyError, "KeyError", "builtins.KeyError"), ("KeyError", "builtins.KeyError")),  # the same name once
        ("mylib.Ünïcode.Fehlerklasse", ("mylib.Ünïcode.Fehlerklasse",)),  # Python's identifiers, not only ASCII
        (jobfuncs.Outer.Inner, ("jobfuncs.Outer.Inner",)),
    ],
)
def test_on_takes_any_iterable_of_classes_or_python_names(on: Any, names: tuple[str, ...]) -> None:
    assert Retry(max=1, on=on).on == names


def test_a_nested_class_is_imported_by_its_qualified_name(backend: Backend) -> None:
    queue = Queue(connection=backend)
    job = queue.enqueue(jobfuncs.raise_named, "Outer.Inner", retry=Retry(max=1, interval=3600, on=jobfuncs.Outer.Inner))
    assert run_once(backend, job).status is JobStatus.SCHEDULED
