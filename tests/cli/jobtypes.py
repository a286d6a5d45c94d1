"""Registered job types for the CLI tests (``--import cli.jobtypes``)."""

from __future__ import annotations

from conveyor import job_type


@job_type("cli-test-multiply")
def multiply(x: int, y: int) -> int:
    return x * y
