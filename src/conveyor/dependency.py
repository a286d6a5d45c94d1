"""RQ's ``Dependency``: the jobs a job waits for, and whether their failure counts as done."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from conveyor.exceptions import InvalidJobError


@dataclass(frozen=True)
class Dependency:
    """``depends_on=Dependency(jobs=[a, b], allow_failure=True)``: as ``depends_on=[a, b],
    allow_dependency_failures=True``. ``enqueue_at_front=True``, as in RQ, puts the job at
    the front of its queue once its dependencies are met (as ``at_front=True`` does)."""

    jobs: Any  # a Job or an id, or an iterable of them (kept as a tuple)
    allow_failure: bool = False
    enqueue_at_front: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.enqueue_at_front, bool):
            raise InvalidJobError(f"enqueue_at_front must be True or False, got {self.enqueue_at_front!r}")
        jobs = self.jobs
        listed = tuple(jobs) if isinstance(jobs, Iterable) and not isinstance(jobs, str | bytes) else (jobs,)
        if not listed:
            raise InvalidJobError("a Dependency needs at least one job")
        object.__setattr__(self, "jobs", listed)  # a generator would be empty the second time


def flatten(depends_on: Any) -> tuple[Any, bool, bool]:
    """``depends_on`` without Dependency objects (RQ takes them alone or in a list), whether
    one of them allows failures, and whether one asks for the front of the queue."""
    items = depends_on if isinstance(depends_on, list | tuple) else [depends_on]
    if not any(isinstance(item, Dependency) for item in items):
        return depends_on, False, False
    jobs: list[Any] = []
    for item in items:
        jobs.extend(item.jobs if isinstance(item, Dependency) else [item])
    given = [item for item in items if isinstance(item, Dependency)]
    return jobs, any(item.allow_failure for item in given), any(item.enqueue_at_front for item in given)
