"""RQ's ``Dependency``: the jobs a job waits for, and whether their failure counts as done."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from conveyor.exceptions import InvalidJobError


@dataclass(frozen=True)
class Dependency:
    """``depends_on=Dependency(jobs=[a, b], allow_failure=True)``: as ``depends_on=[a, b],
    allow_dependency_failures=True``. RQ's ``enqueue_at_front`` is refused, as ``at_front``
    is (use ``priority``)."""

    jobs: Sequence[Any] | Any
    allow_failure: bool = False
    enqueue_at_front: bool = False

    def __post_init__(self) -> None:
        if self.enqueue_at_front:
            raise InvalidJobError("enqueue_at_front is not supported: use priority= to run a job before others")
        if isinstance(self.jobs, Sequence) and not isinstance(self.jobs, str) and not self.jobs:
            raise InvalidJobError("a Dependency needs at least one job")
