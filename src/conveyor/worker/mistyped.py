"""Warn of a worker's queue that looks like a typo of another.

A worker whose queue name differs from the enqueuing code's by a letter sits idle beside
queued jobs, and nothing else says why: at start, a queue it serves that holds no job
waiting while a queue of a close name does is named in a warning. Ended jobs do not count:
a new queue 'report' beside an old 'reports' that only keeps results is no typo.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping, Sequence

from conveyor.status import JobStatus

WAITING = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


def queues_with_waiting_jobs(counts: Mapping[str, Mapping[JobStatus, int]]) -> set[str]:
    """The queues of ``counts`` (per queue, per status) that hold jobs still to run."""
    return {queue for queue, by_status in counts.items() if any(by_status.get(status) for status in WAITING)}


def mistyped_queue_warnings(served: Sequence[str], holding_jobs: Collection[str]) -> list[str]:
    """A warning for each queue of ``served`` without jobs waiting whose name is close to
    one of ``holding_jobs`` (the queues that hold jobs waiting) that it does not serve."""
    others = sorted(set(holding_jobs) - set(served))
    warnings = []
    for name in served:
        if name in holding_jobs:
            continue
        close = difflib.get_close_matches(name, others, n=3, cutoff=0.75)
        if close:
            names = " or ".join(repr(other) for other in close)
            warnings.append(
                f"queue {name!r} holds no jobs waiting, but queue {names} does: is the queue name mistyped? "
                "(a worker runs only the jobs of the queues it is given)"
            )
    return warnings
