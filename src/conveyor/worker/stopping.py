"""How a Worker stops: on request or signal, and when a job ignores its interrupt.

A first SIGTERM or SIGINT (or ``request_stop``) stops the claims and lets running jobs
finish within ``shutdown_timeout``; a second interrupts them and gives them back. A job
that ignores its interrupt past ``interrupt_grace`` is abandoned: its child process
killed, or left to its thread while the worker exits, or, when it holds the loop, the
process ends at once (see ``Stopping.abandon``).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from types import FrameType
from typing import Any

from conveyor import maintenance

from . import outcomes
from .parts import WorkerPart
from .running import INTERRUPT_SIGNAL, Running, ShutdownInterrupt

log = logging.getLogger("conveyor.worker")

EXIT_JOB_UNRESPONSIVE = 3
"""Exit status when a job ignored its interrupt and the worker had to end itself."""


class Stopping(WorkerPart):
    """The part of a Worker that stops it, interrupts its jobs and handles its signals."""

    interrupt_grace: float
    shutdown_timeout: float
    stop_deadline: float | None

    def request_stop(self) -> None:
        """Stop taking jobs and exit once running ones end, interrupting (and giving back)
        those still running after ``shutdown_timeout``: what the first SIGTERM does."""
        if not self._stopping:
            self.stop_deadline = time.monotonic() + self.shutdown_timeout
        self._stopping = True
        if self._halt is not None:  # an idle worker's wait for jobs ends at once
            self._halt.set()
        self.wake_claims()  # (the halt may have ended the loop already: an idle worker sees the stop and exits)

    def interrupt_all(self, message: str) -> None:
        """Interrupt every held job; each goes back to its queue, not counted as a retry."""
        for running in self.held():
            running.request_interrupt(ShutdownInterrupt, message, self.loop)

    def abandon(self, unresponsive: Running) -> None:
        """A job ignored its interrupt past the grace period (called by the housekeeper).

        One in a child process is ended by killing the child, and settled as its
        interrupt says when the thread waiting for the child sees it die. Nothing inside
        the worker's own process can end a job stuck in a C call. One in the thread
        pool is left to its thread, its lease still held (so no other worker runs it
        meanwhile), while the worker stops as on SIGTERM: its other jobs finish (within
        shutdown_timeout); then the stuck job gets the outcome of its interrupt and the
        process exits with EXIT_JOB_UNRESPONSIVE, ending the thread, for its supervisor
        to start a fresh one. One that holds the event loop or the main thread leaves no
        way to wait for the others: the process ends at once.
        """
        if unresponsive.kind == "process":
            if unresponsive.kill_process() and not unresponsive.abandon_requested:
                unresponsive.abandon_requested = True
                log.error("job %s ignored its interrupt for %gs: its process is killed", unresponsive.record.id,
                          self.interrupt_grace)  # fmt: skip
            return
        if unresponsive.kind != "thread" or self.loop is None or self.loop.is_closed():
            self.abandon_process(unresponsive)
            return
        with unresponsive.lock:
            if unresponsive.abandon_requested:
                return
            unresponsive.abandon_requested = True
        log.error("job %s ignored its interrupt for %gs: it is left to its thread; the worker stops taking "
                  "jobs and exits once the others end", unresponsive.record.id, self.interrupt_grace)  # fmt: skip
        self.loop.call_soon_threadsafe(self._mark_abandoned, unresponsive)

    def _mark_abandoned(self, unresponsive: Running) -> None:
        """On the loop (where jobs are settled, so never halfway through one): stop."""
        if unresponsive.done:  # it ended after all, just before
            return
        unresponsive.abandoned = True
        if unresponsive.task is not None:  # stop waiting for its thread (at concurrency 1, _start does)
            unresponsive.task.cancel()
        self.request_stop()

    def abandon_process(self, unresponsive: Running) -> None:
        """End the process at once: settle the unresponsive job, give the others back."""
        log.error("job %s ignored its interrupt for %gs; the worker exits", unresponsive.record.id,
                  self.interrupt_grace)  # fmt: skip
        now = self.clock.now()
        settlements = self.holdings.unrecorded
        for running in self.held():
            if running.done and not running.given_back:
                continue
            if running is unresponsive:
                settlements.append(self._interrupted(running))
            else:
                settlements.append(outcomes.released(running.record))
        try:
            self.backend.jobs_settle(settlements, now)
            maintenance.release_lock(self.backend, self.name, now)
            self.backend.workers_unregister(self.name)
        finally:
            os._exit(EXIT_JOB_UNRESPONSIVE)

    def _install_signal_handlers(self) -> Any:
        self._on_main_thread = threading.current_thread() is threading.main_thread()
        if not self._on_main_thread:  # no signals here: sync jobs go to the thread pool instead
            return lambda: None
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, INTERRUPT_SIGNAL)}

        def on_stop_signal(signum: int, frame: FrameType | None) -> None:
            if self._stopping:
                log.warning("second stop signal: interrupting running jobs and giving them back")
                self.interrupt_all("The worker was stopped")
                self._raise_in_inline()
            else:
                log.info("stop signal: finishing running jobs (up to %gs), taking no new ones; a second stop "
                         "signal (Ctrl-C again) interrupts them and gives them back to their queues",
                         self.shutdown_timeout)  # fmt: skip
                self.request_stop()

        def on_interrupt_signal(signum: int, frame: FrameType | None) -> None:
            self._raise_in_inline()

        signal.signal(signal.SIGTERM, on_stop_signal)
        signal.signal(signal.SIGINT, on_stop_signal)
        signal.signal(INTERRUPT_SIGNAL, on_interrupt_signal)

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    def _raise_in_inline(self) -> None:
        """Raise the pending interrupt in the inline job, if one is running on this thread.

        One interrupt per job: clearing ``_inline`` first means a second signal can
        never raise into the worker's own code once the job's frame is left.
        """
        running = self._inline
        if running is not None and running.interrupt is not None:
            self._inline = None
            raise running.interrupt_error()
