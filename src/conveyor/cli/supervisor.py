"""``conveyor worker --supervise``: keep a worker process running, fresh when it asks.

The supervisor runs the worker as a child process in its own process group (so a
Ctrl-C in the terminal reaches the child once, through the supervisor) and starts a
new one when the child exits to recycle itself (``--max-jobs``/``--max-memory``
reached: EXIT_RECYCLE) or after abandoning a job that ignored its interrupt
(EXIT_JOB_UNRESPONSIVE). SIGTERM and SIGINT are passed on to the child, and the
supervisor then exits with the child's status (128 + the signal, when one killed it).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

from conveyor.worker.stopping import EXIT_JOB_UNRESPONSIVE

log = logging.getLogger("conveyor.cli")

EXIT_RECYCLE = 4
"""Exit status of a supervised worker that stopped to be replaced by a fresh process."""

SUPERVISED_ENV = "CONVEYOR_SUPERVISED"
"""Set in the child's environment: its recycling exits with EXIT_RECYCLE."""

RESTART_PAUSE = 1.0
"""Seconds between a quick crash and the next start, so a crash loop does not spin."""


def exit_status(returncode: int) -> int:
    """The child's status as a shell reports it: 128 + the signal that killed it (137
    for SIGKILL) rather than Popen's negative number, which sys.exit would turn into
    256 minus the signal (247), a status no supervisor or operator reads as a kill."""
    return 128 - returncode if returncode < 0 else returncode


def supervise(worker_args: Sequence[str], config: str | None = None) -> int:
    """Run ``conveyor worker <worker_args>`` until it exits for good; its exit status.
    A ``--config`` file given before ``worker`` reaches the child as $CONVEYOR_CONFIG."""
    child: subprocess.Popen[bytes] | None = None
    stopping = False

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    previous = {signum: signal.signal(signum, forward) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            started = time.monotonic()
            child = subprocess.Popen(
                [sys.executable, "-m", "conveyor", "worker", *worker_args],
                env={**os.environ, SUPERVISED_ENV: "1", **({"CONVEYOR_CONFIG": config} if config else {})},
                process_group=0,
            )
            status = exit_status(child.wait())
            if stopping or status not in (EXIT_RECYCLE, EXIT_JOB_UNRESPONSIVE):
                return status
            reason = "recycled itself" if status == EXIT_RECYCLE else "abandoned a job that ignored its interrupt"
            log.info("worker process %d %s; starting a new one", child.pid, reason)
            if time.monotonic() - started < RESTART_PAUSE and status == EXIT_JOB_UNRESPONSIVE:
                time.sleep(RESTART_PAUSE)
            if stopping:
                return status
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
