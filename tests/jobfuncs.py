"""Job functions for the tests. Module-level, so worker subprocesses can import them
(the tests directory is on PYTHONPATH for them)."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from conveyor import FailJob, RetryJob, SnoozeJob, cancel_job, get_current_job, job_type


def noop() -> None:
    pass


def add(x: int, y: int) -> int:
    return x + y


async def async_add(x: int, y: int) -> int:
    await asyncio.sleep(0)
    return x + y


def fail(message: str = "boom") -> None:
    raise ValueError(message)


def _snoozed_before(delay: float) -> str:
    """Snooze the first run for ``delay`` seconds (marked in meta); later runs return."""
    job = get_current_job()
    assert job is not None
    if not job.meta.get("snoozed"):
        job.meta["snoozed"] = True
        job.save_meta()
        raise SnoozeJob(delay)
    return "done"


def snooze_once(delay: float) -> str:
    return _snoozed_before(delay)


async def async_snooze_once(delay: float) -> str:
    await asyncio.sleep(0)
    return _snoozed_before(delay)


def retry_in(delay: float | None) -> None:
    try:
        raise ValueError("rate limited")
    except ValueError as exc:
        raise RetryJob(delay) from exc


def fail_for_good() -> None:
    raise FailJob("bad input")


class FlakyNetwork(ConnectionError):
    """A library's own error, a subclass of a built-in one (Retry(on=...) tests)."""


class Unrelated(Exception):
    pass


class Outer:
    class Inner(Exception):
        """An exception class nested in a class (Retry(on=...) tests)."""


def raise_named(name: str) -> None:
    """Raise the exception class named: a built-in, or one of this module's (Outer.Inner too)."""
    import builtins

    found = getattr(builtins, name, None)
    if found is None:
        head, *rest = name.split(".")
        found = globals()[head]
        for attribute in rest:
            found = getattr(found, attribute)
    raise found(f"raised {name}")


async def async_raise_named(name: str) -> None:
    await asyncio.sleep(0)
    raise_named(name)


class Arithmetic:
    """A module-level class whose classmethod is a job function, as RQ runs them."""

    @classmethod
    def triple(cls, x: int) -> int:
        return 3 * x


def large_result(size: int) -> str:
    return "x" * size


def fail_at_length(size: int) -> None:
    """Raise an error whose message is ``size`` characters long."""
    raise ValueError("x" * size)


def leave_a_thread_running(release: str) -> None:
    """Start a (non-daemon) thread that runs on after the job, until ``release`` exists,
    and an exit handler (as an error reporter's flush) that writes ``<release>.atexit``."""
    atexit.register(Path(release + ".atexit").write_text, "ran")

    def linger() -> None:
        deadline = time.monotonic() + 120
        while not Path(release).exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    threading.Thread(target=linger, name="left-by-the-job").start()


def hold_the_gil(seconds: float) -> None:
    """Once its worker has reported it running (its housekeeper has seen it), keep the
    GIL for ``seconds``, as C code that never lets go of it does (a backtracking regex):
    a busy loop, with the interpreter told not to hand the GIL over meanwhile (a regex
    of a fixed length would take 0.4 s on one machine and 1.5 s on another)."""
    job = get_current_job()
    assert job is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if any(job.id in w.current_job_ids for w in job.connection.workers_list()):
            break
        time.sleep(0.01)
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(seconds + 10)
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass
    finally:
        sys.setswitchinterval(switch_interval)


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


async def async_sleep(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


def busy_loop(seconds: float) -> None:
    """Hold the CPU (and the GIL) in pure Python."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def record_run(ledger: str, tag: str, release: str = "") -> str:
    """Append this execution to a ledger file (one line per run); with ``release``, then
    run until the test creates that file (60 s at most): held for as long as the test
    needs, however slow the machine, where a sleep of a guessed length may end early."""
    job = get_current_job()
    with Path(ledger).open("a") as f:
        f.write(f"{tag} {job.id if job else '-'} {os.getpid()}\n")
    if release:
        _hold_until(release)
    return tag


def fail_first_run(release: str) -> str:
    """Fail the first run; a retry waits for ``release`` to exist, then returns "ok"."""
    job = get_current_job()
    if job is None or job.retry_count == 0:
        raise ValueError("the first run fails")
    _hold_until(release)
    return "ok"


def record_then_fail(ledger: str, tag: str) -> None:
    """record_run, then fail: each run (a retry, a requeue) leaves a line."""
    record_run(ledger, tag)
    raise RuntimeError(f"{tag} fails")


def _mark_started(marker: str) -> None:
    """Create ``marker`` holding this process's pid, whole at once: a test that sees the
    file reads the pid (written in place, it could be seen empty)."""
    partial = f"{marker}.{os.getpid()}.partial"
    Path(partial).write_text(str(os.getpid()))
    os.replace(partial, marker)


def _hold_until(release: str) -> None:
    deadline = time.monotonic() + 60
    while not Path(release).exists() and time.monotonic() < deadline:
        time.sleep(0.005)


def touch_then_sleep(marker: str, seconds: float) -> None:
    """Create ``marker`` when started (tests wait on it), then sleep."""
    _mark_started(marker)
    time.sleep(seconds)


def use_current_job(value: int) -> dict[str, object]:
    job = get_current_job()
    assert job is not None
    job.meta["handled_by"] = "test"
    job.save_meta()
    job.set_progress(0.5, items_processed=50, total_items=100)
    return {"id": job.id, "value": value}


def unserializable_result() -> object:
    return {1, 2, 3}


def ignore_interrupts(seconds: float) -> None:
    """Swallow every interrupt, like a C call that never checks for signals."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with contextlib.suppress(BaseException):  # the point of this job
            time.sleep(max(0.0, end - time.monotonic()))


def crash_process() -> None:
    """Kill the worker process running this job (a poison job)."""
    os._exit(9)


@job_type("tests.extraction")
def extraction(document: str) -> dict[str, str]:
    """A registered job type, submitted by its name."""
    return {"extracted": document}


def cancel_other(job_id: str, linger: float = 0.0) -> None:
    """Cancel another job (one the worker may have claimed but not started yet), then
    stay busy for ``linger`` seconds."""
    job = get_current_job()
    assert job is not None
    cancel_job(job_id, connection=job.connection)
    time.sleep(linger)


async def async_cancel_other(job_id: str, linger: float = 0.0) -> None:
    job = get_current_job()
    assert job is not None
    cancel_job(job_id, connection=job.connection)
    await asyncio.sleep(linger)


async def async_meet(directory: str, count: int) -> bool:
    """Mark this job started in ``directory``, then wait (20 s at most) until ``count``
    jobs have: whether they all ran at the same time."""
    job = get_current_job()
    (Path(directory) / (job.id if job else str(os.getpid()))).touch()
    deadline = time.monotonic() + 20
    while len(list(Path(directory).iterdir())) < count:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True


async def raise_cancelled() -> None:
    """An async job whose own code raises CancelledError (nobody asked it to stop)."""
    raise asyncio.CancelledError("the job's own")


async def async_touch_then_sleep(marker: str, seconds: float) -> None:
    _mark_started(marker)
    await asyncio.sleep(seconds)


def hold_until_released(marker: str, release: str) -> str:
    """Create ``marker`` when started, then run until the test creates ``release``."""
    _mark_started(marker)
    _hold_until(release)
    return marker


def echo(value: object) -> object:
    """Return the one argument (batch callbacks get the batch id)."""
    return value


# Callbacks (conveyor.callbacks): each notes its call in the file named by the job's
# meta["ledger"], with the pid of the process it ran in.
def _note(job: object, line: str) -> None:
    with Path(job.meta["ledger"]).open("a") as f:  # type: ignore[attr-defined]
        f.write(f"{line} {os.getpid()}\n")


def note_success(job: object, connection: object, result: object) -> None:
    _note(job, f"success {job.id} {result!r} {type(connection).__name__}")  # type: ignore[attr-defined]


def note_failure(job: object, connection: object, exc_type: type, exc_value: BaseException, tb: object) -> None:
    _note(job, f"failure {job.id} {exc_type.__name__} {exc_value} {tb is not None}")  # type: ignore[attr-defined]


def note_stopped(job: object, connection: object) -> None:
    _note(job, f"stopped {job.id}")  # type: ignore[attr-defined]


def broken_callback(job: object, connection: object, *args: object) -> None:
    raise RuntimeError("the callback broke")


def snoozing_callback(job: object, connection: object, *args: object) -> None:
    raise SnoozeJob(600)


async def async_callback(job: object, connection: object, result: object) -> None:
    pass


def hold_in_callback(job: object, connection: object, *args: object) -> None:
    """A callback that notes its start, then runs (in short sleeps, so interrupts land)
    until the file named by meta["release"] exists."""
    _note(job, "callback started")
    deadline = time.monotonic() + 30
    while not Path(job.meta["release"]).exists() and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.005)
    _note(job, "callback ended")


def stubborn_callback(job: object, connection: object, *args: object) -> None:
    """A callback that notes its start, then swallows every interrupt for 60 s (like a C
    call that never checks for signals)."""
    _note(job, "callback started")
    ignore_interrupts(60)


def crash_in_callback(job: object, connection: object, *args: object) -> None:
    """A callback that kills the process it runs in."""
    os._exit(9)


def slow_callback(job: object, connection: object, *args: object) -> None:
    """A callback that takes a second, then notes it ended."""
    time.sleep(1.0)
    _note(job, "slow callback ended")


def shell(command: str) -> int:
    """Run ``command`` with os.system, which waits in C: an interrupt cannot end it."""
    return os.system(command)


def terminate_a_subprocess() -> int | None:
    """Start a subprocess and end it with SIGTERM: its exit status, or None if it ignored it."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    process.terminate()
    try:
        return process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None


def exiting_callback(job: object, connection: object, *args: object) -> None:
    """A callback that raises SystemExit (a BaseException, not an Exception)."""
    raise SystemExit(3)


def exit_job(status: int = 5) -> None:
    """A job that calls sys.exit()."""
    raise SystemExit(status)


def raise_timeout_callback(job: object, connection: object, *args: object) -> None:
    """A callback that raises the timeout exception itself (no timeout passed)."""
    from conveyor.exceptions import JobTimeoutException

    raise JobTimeoutException("raised by the callback")


# Worker exception handlers (RQ's): note their call in the job's meta["ledger"].
def handler_a(job: object, exc_type: type, exc_value: BaseException, tb: object) -> None:
    _note(job, f"handler-a {job.id} {exc_type.__name__} {exc_value} {tb is not None}")  # type: ignore[attr-defined]


def handler_stopping_the_chain(job: object, exc_type: type, exc_value: BaseException, tb: object) -> bool:
    _note(job, f"handler-stop {job.id}")  # type: ignore[attr-defined]
    return False


def handler_b(job: object, exc_type: type, exc_value: BaseException, tb: object) -> None:
    _note(job, f"handler-b {job.id}")  # type: ignore[attr-defined]


def broken_handler(job: object, exc_type: type, exc_value: BaseException, tb: object) -> None:
    raise RuntimeError("the handler broke")


async def async_fail(message: str = "boom") -> None:
    await asyncio.sleep(0)
    raise ValueError(message)


def ctrl_c_handler(job: object, exc_type: type, exc_value: BaseException, tb: object) -> None:
    raise KeyboardInterrupt


def handler_returning_zero(job: object, exc_type: type, exc_value: BaseException, tb: object) -> int:
    _note(job, f"handler-zero {job.id}")  # type: ignore[attr-defined]
    return 0


async def async_handler(job: object, exc_type: type, exc_value: BaseException, tb: object) -> None:
    pass


def fetch(url: str, timeout: float = 10) -> list[object]:
    """A function with a parameter named like a job option."""
    return [url, timeout]


def keywords(**kwargs: object) -> dict[str, object]:
    return kwargs


def stamp_meta(value: object) -> object:
    """Save ``value`` in the job's meta from inside the job, and return what meta holds then."""
    job = get_current_job()
    assert job is not None
    job.meta["seen"] = value
    job.save_meta()
    return job.meta["seen"]


async def async_stamp_meta(value: object) -> object:
    await asyncio.sleep(0)
    return stamp_meta(value)


async def async_wait_for_another(timeout: float) -> object:
    """Enqueue an async job to this job's queue and wait for its end the way the README
    says an async job must: job.wait in a thread (called here, it would hold the loop the
    other job needs)."""
    from conveyor import Queue

    job = get_current_job()
    assert job is not None
    other = Queue(job.origin, connection=job.connection).enqueue(async_add, 1, 2)
    outcome = await asyncio.to_thread(other.wait, timeout)
    return None if outcome is None else outcome.return_value


def record_time(ledger: str) -> float:
    """Append the time this execution began to a ledger file (one line per run)."""
    began = time.time()
    with Path(ledger).open("a") as f:
        f.write(f"{began!r}\n")
    return began
