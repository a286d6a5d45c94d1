"""The job of the chaos harness (bench/chaos.py): it leaves marks of each run it makes.

Every run appends a start mark, then an end mark (also when it is interrupted: a stop,
a cancel, a timeout), to one log file shared by every worker. A run is keyed by the
job's id and an attempt id made afresh per run, so the harness can tell runs of the
same job apart and see whether two overlapped; the marks carry the system-wide
monotonic clock (comparable across processes on one machine), the user, the job type
and the pid, so the harness also counts each user's (and the heavy type's) runs at once
and knows which runs a kill -9 cut short (they have no end mark). Lines are short and written with O_APPEND in one
write each, so concurrent writers never interleave them.

An interrupt reaches a job run in a thread as an exception raised wherever the thread
is, in a ``finally`` block too: a worker thawed after its lease ran out ends its run
as the run ends on its own, and the interrupt could land in the end mark, leaving the
run without one (taken for a run still going). So the end mark is written again then.
"""

from __future__ import annotations

import os
import time
import uuid

from conveyor import SnoozeJob, get_current_job


def _mark(log: str, kind: str, job_id: str, attempt: str, user: str, job_type: str) -> None:
    line = f"{kind} {job_id} {attempt} {user} {job_type} {os.getpid()} {time.monotonic():.6f}\n"
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def work(log: str, user: str, seconds: float, snooze: float | None = None) -> str:
    """Run for ``seconds`` in short sleeps (so interrupts land soon), marking start and end;
    with ``snooze``, the first run snoozes for that long instead (SnoozeJob)."""
    return _run(log, user, seconds, "work", snooze)


def heavy(log: str, user: str, seconds: float, snooze: float | None = None) -> str:
    """The same run as ``work``, of a job type the harness limits (``--per-type``)."""
    return _run(log, user, seconds, "heavy", snooze)


def _run(log: str, user: str, seconds: float, job_type: str, snooze: float | None) -> str:
    job = get_current_job()
    job_id = job.id if job is not None else "-"
    attempt = uuid.uuid4().hex[:12]
    outcome = "raised"
    try:
        _mark(log, "start", job_id, attempt, user, job_type)
        if snooze is not None and job is not None and not job.meta.get("snoozed"):
            job.meta["snoozed"] = True
            job.save_meta()
            raise SnoozeJob(snooze)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(min(0.02, max(0.0, deadline - time.monotonic())))
        outcome = "done"
        return attempt
    finally:
        try:
            _mark(log, "end-" + outcome, job_id, attempt, user, job_type)
        except BaseException:  # an interrupt landed in it (a second mark of the same end is harmless)
            _mark(log, "end-" + outcome, job_id, attempt, user, job_type)
            raise
