"""Job functions for the dashboard tests, importable by worker subprocesses
(``dashboard.jobs``: the tests directory is on their PYTHONPATH)."""

from __future__ import annotations

import time
from pathlib import Path

from conveyor import get_current_job

LONGEST_WAIT = 60.0


def hold(release: str, progress: float = 0.5, advance: str = "") -> str:
    """Report ``progress``, then wait until the file ``release`` exists (at most a minute).

    When the file ``advance`` appears meanwhile, report 0.8 (a progress bar that moves).
    """
    job = get_current_job()
    assert job is not None
    job.set_progress(progress, items_processed=int(progress * 10), total_items=10)
    deadline = time.monotonic() + LONGEST_WAIT
    advanced = False
    while not Path(release).exists():
        if advance and not advanced and Path(advance).exists():
            job.set_progress(0.8, items_processed=8, total_items=10)
            advanced = True
        if time.monotonic() > deadline:
            raise TimeoutError(f"{release} never appeared")
        time.sleep(0.02)
    return "released"
