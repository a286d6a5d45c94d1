"""Warn of a worker's queue that looks like a typo of another.

A worker whose queue name differs from the enqueuing code's by a letter sits idle beside
queued jobs, and nothing else says why: at start, a queue it serves that holds no job
while a queue of a close name does is named in a warning.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Sequence


def mistyped_queue_warnings(served: Sequence[str], holding_jobs: Collection[str]) -> list[str]:
    """A warning for each queue of ``served`` without jobs whose name is close to one of
    ``holding_jobs`` (the queues that hold jobs) that it does not serve."""
    others = sorted(set(holding_jobs) - set(served))
    warnings = []
    for name in served:
        if name in holding_jobs:
            continue
        close = difflib.get_close_matches(name, others, n=3, cutoff=0.75)
        if close:
            names = " or ".join(repr(other) for other in close)
            warnings.append(
                f"queue {name!r} holds no jobs, but queue {names} does: is the queue name mistyped? "
                "(a worker runs only the jobs of the queues it is given)"
            )
    return warnings
