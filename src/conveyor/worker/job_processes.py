"""Sync jobs in child processes (``Worker(pool="processes")``): killable, and apart.

A job stuck in a C call cannot be ended from inside its process, and one that crashes
(a segfault in an extension, the kernel's OOM killer) takes its process with it. Run
in a child process, such a job is ended by killing the child: a timeout or stop is
hard, the worker goes on, and a crash fails that one job instead of the worker.

Each child is a fresh interpreter (not a fork of the worker, whose threads and
connections a fork would copy half-way) that runs one job at a time, for as many jobs
as it lives: it starts once, not per job. It gets the worker's import path, ``--import``
modules and job types, opens the store itself (for ``get_current_job()`` and saving
meta), runs each job it is sent and answers with the job's Settlement. An interrupt is
a signal whose number says which: the child raises it inside the job, and ignores it
between jobs. Each child leads its own process group, so a Ctrl-C at the terminal
reaches the worker alone (which decides what its jobs do), and killing the child kills
the processes its job started too; it ignores SIGINT and SIGTERM all the same (a
service manager may signal every process of the service). It dies with the worker: the
kernel kills it when the thread that started it ends, and the worker's job threads
live until the worker ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from types import FrameType
from typing import Any

from conveyor.backends.base import Backend
from conveyor.clock import SYSTEM_CLOCK
from conveyor.exceptions import InvalidJobError, JobInterrupted, JobStopRequested, JobTimeoutException
from conveyor.functions import import_modules, imported_entries, job_type, registered_job_types, resolve_function
from conveyor.types import JobRecord, Settlement

from . import callbacks, execution, outcomes
from .memory import peak_rss_mb
from .running import STOP_MESSAGE, Running, ShutdownInterrupt, timeout_message

log = logging.getLogger("conveyor.worker")

INTERRUPT_SIGNALS: dict[type[JobInterrupted], signal.Signals] = {
    JobTimeoutException: signal.SIGALRM,
    JobStopRequested: signal.SIGUSR1,
    ShutdownInterrupt: signal.SIGUSR2,
}
"""The signal that raises each interrupt inside a child's job."""

_CALLBACK, _LEFT = "callback", "left"
"""The first item of a child's message asking to start a callback, or saying it ended
(see _Child.enter_callback and leave_callback)."""
_CHILD_CODE = "from conveyor.worker.job_processes import child_main; child_main()"
_PR_SET_PDEATHSIG = 1
START_TIMEOUT = 60.0
"""Seconds a child may take to import and connect before it counts as failed."""
RESTART_DELAYS = (1.0, 30.0)
"""After a child failed to start, seconds before the next try: doubling from one to the other."""


class JobProcessDied(Exception):
    """The child process running a job ended before it answered."""


class JobProcessUnavailable(Exception):
    """No child process could take the job: one failed to start (in its imports or
    connecting), or had ended before it got the job. Not the job's doing."""


class JobProcess:
    """One child process, running the jobs it is sent one at a time.

    It is started at once and gets its settings over its pipe (a URL's password would
    show in ``ps`` on its command line); ``wait_ready`` waits for it to be set up.
    """

    def __init__(self, url: str, exception_handlers: tuple[str, ...] = ()) -> None:
        ours, theirs = socket.socketpair()
        with theirs:
            # Its own process group, so that killing it kills the processes its job started.
            self._process = subprocess.Popen(
                [sys.executable, "-c", _CHILD_CODE, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                start_new_session=True,
            )
        self._connection = Connection(ours.detach())
        self._lock = threading.Lock()  # a job's thread sends the job, the housekeeper interrupts
        self._killed = False
        self._interrupted_starting = False
        self._ready = False
        self.started_mono = time.monotonic()
        self.jobs_run = 0
        self.peak_mb = 0.0  # its peak resident memory, as of its last answer
        job_types = {name: f"{f.__module__}.{f.__qualname__}" for name, f in registered_job_types().items()}
        with contextlib.suppress(OSError):  # a child already gone: wait_ready says how
            self._connection.send(
                {
                    "url": url,
                    "parent": os.getpid(),
                    "path": sys.path,
                    "imports": imported_entries(),
                    "job_types": job_types,
                    "exception_handlers": exception_handlers,
                }
            )

    @property
    def pid(self) -> int:
        return self._process.pid

    def wait_ready(self) -> None:
        """Wait until the child has imported and connected; raises JobProcessUnavailable
        when it failed, or was killed (an interrupt or a stop reaches it meanwhile)."""
        if self._ready:
            return
        try:
            if not self._connection.poll(START_TIMEOUT):
                self.kill()
                self._process.wait()
                raise JobProcessUnavailable(f"a job process did not start within {START_TIMEOUT:g}s")
            self._connection.recv()
        except (EOFError, OSError):
            raise JobProcessUnavailable(f"a job process could not start: {self._death().lower()}") from None
        self._ready = True

    def run(self, record: JobRecord, started_at: float, place: Running) -> Settlement | None:
        """Run the job in the child and wait: its Settlement, or None when an interrupt
        ended it. Before each of the job's callbacks the child asks ``place`` whether to
        run it (and so the worker knows the job's outcome), and tells it when the
        callback ended. Raises JobProcessUnavailable when the child had ended before it
        got the job, JobProcessDied when it ended while running it."""
        try:
            with self._lock:
                self._connection.send((record, started_at))
        except OSError:
            raise JobProcessUnavailable(f"the job process had ended: {self._death().lower()}") from None
        try:
            while (message := self._connection.recv())[0] in (_CALLBACK, _LEFT):
                if message[0] == _LEFT:
                    place.leave_callback()
                    continue
                _, event, timeout, outcome = message
                go_on = place.enter_callback(event, timeout, outcome)
                with self._lock:
                    self._connection.send(go_on)
            answer: Settlement | None
            answer, self.peak_mb = message
        except (EOFError, OSError):
            raise JobProcessDied(f"{self._death()} while it ran the job") from None
        self.jobs_run += 1
        return answer

    def interrupt(self, reason: type[JobInterrupted]) -> None:
        """Raise ``reason`` inside the running job; a child still starting is killed."""
        if not self._ready:
            self._interrupted_starting = True
            self.kill()
            return
        with self._lock, contextlib.suppress(ProcessLookupError):
            self._process.send_signal(INTERRUPT_SIGNALS.get(reason, signal.SIGUSR1))

    def kill(self) -> None:
        """End the child at once, whatever its job is doing, with the processes its job
        started (its process group); it is never used again."""
        self._killed = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)

    def alive(self) -> bool:
        return not self._killed and self._process.poll() is None

    @property
    def interrupted_starting(self) -> bool:
        """Whether it was killed while it started, for an interrupt (not a failed start)."""
        return self._interrupted_starting

    def close(self) -> None:
        """Let an idle child end (it exits when its pipe closes); kill one that lingers."""
        self._connection.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            self._process.wait()

    def _death(self) -> str:
        try:
            status = self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "The job's process stopped answering"
        if status < 0:
            name = signal.Signals(-status).name
            hint = " (out of memory?)" if -status == signal.SIGKILL else ""
            return f"The job's process was killed by {name}{hint}"
        return f"The job's process exited with status {status}"


class ProcessPool:
    """Child processes for sync jobs: started when first needed, kept while they work.

    After a child fails to start, the next start waits (RESTART_DELAYS), so that a
    broken setup does not spin; ``failed_starts`` counts failures in a row, children
    started together (several free slots) counting once. A child that has run
    ``max_jobs`` jobs, or whose peak memory passed ``max_memory`` MB, ends after its job
    and the next job gets a fresh one (jobs that leak, as Celery's per-child limits).
    """

    def __init__(
        self,
        url: str,
        max_jobs: int | None = None,
        max_memory: float | None = None,
        exception_handlers: tuple[str, ...] = (),
    ) -> None:
        self._url = url
        self._exception_handlers = exception_handlers
        self._max_jobs = max_jobs
        self._max_memory = max_memory
        self._idle: list[JobProcess] = []
        self._lock = threading.Lock()
        self._closed = False
        self.failed_starts = 0
        self._next_start = 0.0  # monotonic
        self._last_failure = 0.0  # monotonic

    def run(self, running: Running, stopping: Callable[[], bool], now: Callable[[], float]) -> Settlement:
        """Run the job in a child and return its settlement; raises the job's interrupt
        when one ended it (or its child was killed for ignoring one), and
        JobProcessUnavailable when no child could take it. While the worker is
        ``stopping``, a job no child has taken yet goes back at once."""
        self._wait_for_a_start(running, stopping)
        if running.interrupt is not None:
            raise running.interrupt_error()
        if stopping():
            return outcomes.released(running.record)
        process = self.acquire()
        try:
            running.enter_process(process)
            try:
                self.ready(process)
                if stopping():
                    return outcomes.released(running.record)
                running.start_in_process()
                settlement = process.run(running.record, running.started_at or 0.0, running)
            finally:
                running.leave_process()
        except (JobProcessUnavailable, JobProcessDied) as exc:
            if running.interrupt is not None:
                raise running.interrupt_error() from None
            if isinstance(exc, JobProcessUnavailable):
                raise
            if running.outcome is not None:  # its function had ended: it keeps that outcome
                log.error("job %s: its %s callback was cut short: %s", running.record.id, running.callback, exc)
                return running.outcome
            return outcomes.failed(running.record, running.started_at, str(exc), now())
        finally:
            self.release(process)
        if settlement is None:
            raise running.interrupt_error()
        return settlement

    def _wait_for_a_start(self, running: Running, stopping: Callable[[], bool]) -> None:
        """Wait out the back-off after a failed start, cut short by an interrupt or a stop."""
        with self._lock:
            delay = 0.0 if self._idle else self._next_start - time.monotonic()
        deadline = time.monotonic() + delay
        while delay > 0 and not stopping() and not running.interrupted.wait(min(0.1, delay)):
            delay = deadline - time.monotonic()

    def acquire(self) -> JobProcess:
        """An idle child, or a new one (maybe still starting: see ``ready``)."""
        with self._lock:
            while self._idle:
                process = self._idle.pop()
                if process.alive():
                    return process
        return JobProcess(self._url, self._exception_handlers)

    def ready(self, process: JobProcess) -> None:
        """Wait for ``process`` to be set up, keeping count of failed starts (a child
        killed while it started, for an interrupt, did not fail)."""
        try:
            process.wait_ready()
        except JobProcessUnavailable:
            if process.interrupted_starting:
                raise
            with self._lock:
                if process.started_mono >= self._last_failure:  # not one of a round already counted
                    first, last = RESTART_DELAYS
                    self._next_start = time.monotonic() + min(last, first * 2**self.failed_starts)
                    self.failed_starts += 1
                self._last_failure = time.monotonic()
            raise
        with self._lock:
            self.failed_starts = 0

    def release(self, process: JobProcess) -> None:
        """Take back a child whose job ended; one that died (or was killed), or is spent,
        is dropped."""
        spent = self._spent(process)
        with self._lock:
            if not self._closed and process.alive() and not spent:
                self._idle.append(process)
                return
        if spent:
            log.info("job process %d recycled after %d jobs (peak memory %.0f MB)", process.pid, process.jobs_run,
                     process.peak_mb)  # fmt: skip
        process.close()

    def _spent(self, process: JobProcess) -> bool:
        return (self._max_jobs is not None and process.jobs_run >= self._max_jobs) or (
            self._max_memory is not None and process.peak_mb > self._max_memory
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for process in idle:
            process.close()


# -- the child's side -----------------------------------------------------------------------------
class _Child:
    """The child's state: whether a job (or one of its callbacks) is running, so an
    interrupt lands only in one."""

    def __init__(self, connection: Connection, exception_handlers: tuple[str, ...]) -> None:
        self.connection = connection
        self.exception_handlers = exception_handlers
        self.in_job = False
        self.record: JobRecord | None = None
        self.callback: tuple[str, float] | None = None  # the callback running: event, timeout

    def start(self, record: JobRecord) -> None:
        self.record, self.callback, self.in_job = record, None, True

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        """Raise the interrupt the signal stands for, in the words the worker would use."""
        if not self.in_job or self.record is None:
            return  # meant for a job that has just ended
        self.in_job = False
        reason = next(r for r, s in INTERRUPT_SIGNALS.items() if s == signum)
        if reason is JobTimeoutException:
            raise reason(timeout_message(self.record, *(self.callback or (None, 0.0))))
        raise reason(STOP_MESSAGE if reason is JobStopRequested else reason.__name__)

    def enter_callback(self, event: str, timeout: float, outcome: Settlement) -> bool:
        """Ask the worker to start a callback's clock (see Running.enter_callback); from
        its answer until the callback ends, interrupts land in it."""
        self.connection.send((_CALLBACK, event, timeout, outcome))
        if not self.connection.recv():
            return False
        self.callback, self.in_job = (event, timeout), True
        return True

    def leave_callback(self) -> None:
        """The callback ended: a signal from here on finds nothing to interrupt, and the
        worker hears of it, to stop the callback's clock."""
        self.in_job, self.callback = False, None
        self.connection.send((_LEFT,))

    def described(self, landed: BaseException) -> BaseException:
        return landed  # on_signal gave it its words


def child_main() -> None:
    """A child's life: set up as its worker is, then run jobs until the pipe closes.
    A module or job type that does not import here is reported and left out (its jobs
    fail saying so), rather than failing every job."""
    pipe = int(sys.argv[1])
    os.set_inheritable(pipe, False)  # a process the job starts must not keep the worker waiting on it
    connection = Connection(pipe)
    config = connection.recv()
    _die_with_parent(config["parent"])
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _ignore)  # not SIG_IGN, which the job's own subprocesses would inherit
    sys.path[:] = config["path"]
    for entry in config["imports"]:
        _set_up(import_modules, [entry])
    for name, path in config["job_types"].items():
        _set_up(_register, name, path)
    from conveyor.connection import connect

    backend = connect(config["url"])
    child = _Child(connection, tuple(config["exception_handlers"]))
    for signum in INTERRUPT_SIGNALS.values():
        signal.signal(signum, child.on_signal)
    connection.send("ready")
    while True:
        try:
            record, started_at = connection.recv()
        except EOFError:
            return
        connection.send((_run(child, record, started_at, backend), peak_rss_mb()))


def _ignore(signum: int, frame: FrameType | None) -> None:
    """A signal the worker, not its child, answers (SIGINT, SIGTERM)."""


def _set_up(step: Callable[..., None], *args: Any) -> None:
    try:
        step(*args)
    except Exception as exc:
        log.warning("job process %d: %s", os.getpid(), exc)


def _register(name: str, path: str) -> None:
    try:
        job_type(name)(resolve_function(path))
    except InvalidJobError as exc:
        raise InvalidJobError(f"job type {name!r} ({path}) is left out: {exc}") from None


def _run(child: _Child, record: JobRecord, started_at: float, backend: Backend) -> Settlement | None:
    """Run one job, then its callbacks; an interrupt lands from the moment the job
    arrives (finding its function may import for a while) until its outcome is known,
    then in each callback. None when an interrupt ended it and the worker, which knows
    which interrupt it sent, settles it."""
    clock = SYSTEM_CLOCK
    child.start(record)
    prepared: execution.PreparedJob | None = None
    value: Any = None
    error: BaseException | None = None
    try:
        try:
            found = execution.prepare(record, backend, clock)
            if isinstance(found, str):
                return outcomes.failed(record, started_at, found, clock.now())
            prepared = found
            value = execution.call_sync(prepared)
        finally:
            child.in_job = False
    except JobInterrupted as interrupt:
        if prepared is None or isinstance(interrupt, ShutdownInterrupt):
            return None
        error = interrupt
        settlement = outcomes.raised(record, started_at, error, clock.now())
        if not callbacks.wanted(record, settlement, child.exception_handlers):
            return None
    except execution.JOB_ERRORS as exc:
        error = exc
        settlement = outcomes.raised(record, started_at, exc, clock.now())
    else:
        settlement = execution.success(prepared, started_at, value, clock.now())
    if prepared is None or not callbacks.wanted(record, settlement, child.exception_handlers):
        return settlement
    try:
        try:
            return callbacks.run(prepared.job, settlement, value, error, child, child.exception_handlers)
        finally:
            child.in_job = False
    except JobInterrupted:  # it landed between callbacks: the worker settles the outcome it was told
        return None


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this child when its worker dies (Linux), so that no job runs
    on unsupervised while another worker recovers it; elsewhere the child ends when its
    pipe closes, after the job."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the worker died before the request took hold
        os._exit(1)
