"""RQ's ``Dependency``: the jobs a job waits for, and whether their failure counts as done."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from conveyor.exceptions import InvalidJobError


@dataclass(frozen=True)
class Dependency:
    """``depends_on=Dependency(jobs=[a, b], allow_failure=True)``: as ``depends_on=[a, b],
    allow_dependency_failures=True``. RQ's ``enqueue_at_front`` is refused, as ``at_front``
    is (use ``priority``)."""

    jobs: Any  # a Job or an id, or an iterable of them (kept as a tuple)
    allow_failure: bool = False
    enqueue_at_front: bool = False

    def __post_init__(self) -> None:
        if self.enqueue_at_front:
            raise InvalidJobError("enqueue_at_front is not supported: use priority= to run a job before others")
        jobs = self.jobs
        listed = tuple(jobs) if isinstance(jobs, Iterable) and not isinstance(jobs, str | bytes) else (jobs,)
        if not listed:
            raise InvalidJobError("a Dependency needs at least one job")
        object.__setattr__(self, "jobs", listed)  # a generator would be empty the second time


def flatten(depends_on: Any) -> tuple[Any, bool]:
    """``depends_on`` without Dependency objects (RQ takes them alone or in a list), and
    whether one of them allows failures."""
    items = depends_on if isinstance(depends_on, list | tuple) else [depends_on]
    if not any(isinstance(item, Dependency) for item in items):
        return depends_on, False
    jobs: list[Any] = []
    for item in items:
        jobs.extend(item.jobs if isinstance(item, Dependency) else [item])
    return jobs, any(isinstance(item, Dependency) and item.allow_failure for item in items)
