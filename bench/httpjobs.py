"""The job type the HTTP load benchmark submits (``conveyor serve --import httpjobs``)."""

from __future__ import annotations

from conveyor import job_type


@job_type("bench-noop")
def noop(n: int = 0) -> int:
    """Does nothing: the benchmark measures the API, not the job."""
    return n
