"""A job-type module that can be imported once per marker file, so that a worker imports
it and its job processes, importing it again, fail to start (until the test removes the
marker)."""

from __future__ import annotations

import os
from pathlib import Path

from conveyor import job_type

_MARKER = Path(os.environ["CONVEYOR_TEST_IMPORT_ONCE"])
if _MARKER.exists():
    raise RuntimeError(f"imported again while {_MARKER} exists")
_MARKER.touch()


@job_type("tests.once")
def once() -> str:
    return "ran"
