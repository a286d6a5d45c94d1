"""What a worker holds: each claimed job, how it runs, and how to interrupt it.

A job runs in one of three places, and each needs its own way to be interrupted:
- ``inline``: a sync job on the worker's main thread (concurrency 1, the fast path).
  A signal (SIGALRM) sent to the main thread raises the interrupt inside the job,
  even in ``time.sleep`` or a blocking socket call.
- ``thread``: a sync job in the worker's thread pool (concurrency > 1). The interrupt
  is raised asynchronously in that thread; it lands at the job's next Python
  bytecode, so a long C call delays it.
- ``process``: a sync job in a child process (``pool="processes"``), interrupted by a
  signal to the child, which raises it inside the job; a child that ignores it is killed.
- ``task``: an ``async def`` job on the event loop, interrupted by cancelling its task.
A job in the worker's own process that does not end within the grace period after an
interrupt is beyond reach from inside it; the worker then settles it and exits (see
Worker).

Once the job's function has ended, its callbacks (conveyor.callbacks) run in the same
place, each with a clock and an interrupt of its own (``enter_callback``); from then on
the job's ``outcome`` is known, and whatever ends a callback early settles that.
"""

from __future__ import annotations

import asyncio
import ctypes
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from conveyor.exceptions import JobInterrupted, JobStopRequested
from conveyor.types import JobRecord, Settlement

if TYPE_CHECKING:
    from .job_processes import JobProcess


class ShutdownInterrupt(JobInterrupted):
    """The worker is stopping: the job goes back to its queue, not counted as a retry."""


INTERRUPT_SIGNAL = signal.SIGALRM
STOP_MESSAGE = "Stopped by a stop command or cancel"


@dataclass(eq=False)
class Running:
    """One job claimed by this worker, from claim to settle."""

    record: JobRecord
    kind: str = "pending"  # pending (claimed, not started), inline, thread, process or task
    started_at: float | None = None  # clock time, for the record
    started_mono: float | None = None  # monotonic time, for the timeout
    thread_id: int | None = None
    process: JobProcess | None = None
    task: asyncio.Task[Any] | None = None
    interrupt: type[JobInterrupted] | None = None
    interrupt_message: str = ""
    interrupted_mono: float | None = None
    lease_lost: bool = False
    done: bool = False
    abandon_requested: bool = False  # the housekeeper found it ignoring its interrupt
    abandoned: bool = False  # left to its thread; settled just before the process exits
    given_back: bool = False  # claimed ahead, then given back unrun (see give_back)
    starting: bool = False  # the worker is starting it: no longer given back
    outcome: Settlement | None = None  # once its function has ended and a callback runs
    callback: str | None = None  # the callback running (on_success, ...)
    callback_timeout: float = 0.0
    claimed_mono: float = field(default_factory=time.monotonic)
    lease_until: float | None = None  # clock time its lease was last renewed to (None: the claim's)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _interrupted: threading.Event | None = None  # see ``interrupted``

    @property
    def interrupted(self) -> threading.Event:
        """Set while an interrupt is pending, for a thread to wait on. Made when first
        asked for: an Event costs more than the rest of a Running, and few jobs need one."""
        with self.lock:
            if self._interrupted is None:
                self._interrupted = threading.Event()
                if self.interrupt is not None:
                    self._interrupted.set()
            return self._interrupted

    @property
    def deadline(self) -> float | None:
        """Monotonic time at which the job's timeout (or its running callback's) expires."""
        timeout = self.record.timeout if self.callback is None else self.callback_timeout
        if self.started_mono is None or timeout is None:
            return None
        return self.started_mono + timeout

    def timeout_message(self) -> str:
        return timeout_message(self.record, self.callback, self.callback_timeout)

    def begin(self, kind: str) -> bool:
        """Mark the job as running in ``kind``; False if an interrupt came first. A job
        for a child process gets its timeout once a child takes it (start_in_process):
        waiting for a child to start is not the job's time."""
        with self.lock:
            self.kind = kind
            self.started_mono = None if kind == "process" else time.monotonic()
            return self.interrupt is None

    def give_back(self) -> bool:
        """Mark a job that waits to be started as given back, so it never starts here;
        False once the worker is starting it (or it ended, or was interrupted)."""
        with self.lock:
            if self.starting or self.kind != "pending" or self.done or self.interrupt is not None:
                return False
            self.given_back = self.done = True
            return True

    def lease_lapsed(self, now: float) -> bool:
        """Whether its lease has run out, as far as this worker knows: recovery may then
        have given the job to another worker."""
        until = self.record.lease_expires_at if self.lease_until is None else self.lease_until
        return until is not None and now >= until

    def start(self) -> bool:
        """The worker starts it now (its arguments may take a while to decode): no longer
        to be given back. False if it was given back already."""
        with self.lock:
            self.starting = not self.given_back
            return self.starting

    def enter_callback(self, event: str, timeout: float, outcome: Settlement) -> bool:
        """A callback starts, the job's function having ended with ``outcome``: with a
        clock of its own, and room for an interrupt of its own (one that came for the
        function is void now). On a thread, an interrupt is raised in the calling one.
        False, and the callback is skipped, past the worker's shutdown deadline."""
        with self.lock:
            self.outcome = outcome
            if self.interrupt is ShutdownInterrupt:
                return False
            self.interrupt, self.interrupt_message, self.interrupted_mono = None, "", None
            if self._interrupted is not None:
                self._interrupted.clear()
            self.callback, self.callback_timeout = event, timeout
            self.started_mono = time.monotonic()
            if self.kind == "thread":
                self.thread_id = threading.get_ident()
            return True

    def leave_callback(self) -> None:
        """The callback returned (or raised): its clock stops, and an interrupt pending for
        its thread is withdrawn, so that none lands in the worker's code around it."""
        with self.lock:
            self.started_mono = None
            if self.kind == "thread":
                if self.thread_id is not None:
                    _set_thread_exception(self.thread_id, None)
                self.thread_id = None

    def attach(self, task: asyncio.Task[Any]) -> None:
        """Record the task running the job, so an interrupt can cancel it (at once if one
        arrived since ``begin``)."""
        with self.lock:
            self.task = task
            pending = self.kind == "task" and self.interrupt is not None
        if pending:
            task.cancel()

    def request_interrupt(
        self, reason: type[JobInterrupted], message: str, loop: asyncio.AbstractEventLoop | None
    ) -> None:
        """Ask the job to end by raising ``reason`` inside it; safe from any thread. A stop
        command or cancel no longer reaches a job whose callbacks run: it has ended."""
        with self.lock:
            if self.done or self.interrupt is not None or (self.callback is not None and reason is JobStopRequested):
                return
            self.interrupt = reason
            self.interrupt_message = message
            self.interrupted_mono = time.monotonic()
            if self._interrupted is not None:
                self._interrupted.set()
            kind, task = self.kind, self.task
            if kind == "thread" and self.thread_id is not None:  # under the lock: see leave_thread
                _set_thread_exception(self.thread_id, reason)
            elif kind == "process" and self.process is not None:  # under the lock: see leave_process
                self.process.interrupt(reason)
        if kind == "inline":
            signal.pthread_kill(threading.main_thread().ident or 0, INTERRUPT_SIGNAL)
        elif kind == "task" and task is not None and loop is not None:
            loop.call_soon_threadsafe(task.cancel)

    def interrupt_error(self) -> JobInterrupted:
        """The exception that describes why the job was interrupted."""
        reason = self.interrupt or JobStopRequested
        return reason(self.interrupt_message or reason.__name__)

    def described(self, landed: BaseException) -> BaseException:
        """The interrupt that ``landed`` (raised in a thread it comes without words), as
        interrupt_error says it, with the traceback of where it landed; ``landed`` itself
        when none was asked for (the job's code raised it)."""
        if self.interrupt is None:
            return landed
        return self.interrupt_error().with_traceback(landed.__traceback__)

    def enter_thread(self) -> None:
        """Called by the pool thread about to run the job; raises if already interrupted."""
        with self.lock:
            if self.interrupt is not None:
                raise self.interrupt_error()
            self.thread_id = threading.get_ident()

    def leave_thread(self) -> None:
        """Called by the pool thread when the job returned: no interrupt may reach the
        thread's next job, so a pending one is withdrawn under the same lock."""
        with self.lock:
            if self.thread_id is not None:
                _set_thread_exception(self.thread_id, None)
            self.thread_id = None

    def enter_process(self, process: JobProcess) -> None:
        """Called by the thread about to hand the job to ``process`` (maybe still
        starting); raises if already interrupted. From here interrupts reach the child."""
        with self.lock:
            if self.interrupt is not None:
                raise self.interrupt_error()
            self.process = process

    def start_in_process(self) -> None:
        """The child is ready and gets the job now: its timeout starts; raises if an
        interrupt came while the child started."""
        with self.lock:
            if self.interrupt is not None:
                raise self.interrupt_error()
            self.started_mono = time.monotonic()

    def leave_process(self) -> None:
        """Called when the child answered (or died): later interrupts must not reach the
        child's next job."""
        with self.lock:
            self.process = None

    def kill_process(self) -> bool:
        """Kill the child running the job (it ignored its interrupt); False if none is."""
        with self.lock:
            if self.process is None:
                return False
            self.process.kill()
            return True


def _set_thread_exception(thread_id: int, exception: type[BaseException] | None) -> None:
    """Raise ``exception`` in the thread at its next bytecode (None withdraws a pending one)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), None if exception is None else ctypes.py_object(exception)
    )


def timeout_message(record: JobRecord, callback: str | None, callback_timeout: float) -> str:
    """What a timeout says: the job's, or that of the callback running."""
    if callback is not None:
        return f"The {callback} callback exceeded its timeout of {callback_timeout:g}s"
    return f"Job exceeded its timeout of {record.timeout:g}s"
