"""One writer at a time across the processes sharing a database file, each going on
within a fraction of a millisecond of the lock coming free.

SQLite's own wait for its write lock (the busy handler) sleeps between tries: 1, 2, 5,
10 ... 100 ms. With an enqueuing process and a worker taking turns hundreds of times a
second, those sleeps made the latency: a soak at half capacity had a p50 of 15-25 ms and
a p99 of 0.15-0.5 s from enqueue to end. Writers now first take an advisory lock
(flock) on a file beside the database, ``<database>-lock``, trying again after 20 us,
doubling to 0.5 ms: the same soak, p50 2.5-3.5 ms and p99 40-90 ms. A blocking flock
would wake a waiter sooner still, but could not give up at a deadline when the holder
is stopped (a worker suspended with Ctrl-Z mid-transaction). SQLite's locking is still
what keeps writes safe; this lock only orders the writers, so a process that cannot
create or lock the file (a network file system) goes without it, and a writer killed
while holding it loses it with its last file descriptor (a forked child closes its
copy).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
import weakref
from collections.abc import Iterator

from conveyor.exceptions import BackendError

FIRST_WAIT = 0.000_02
LAST_WAIT = 0.000_5
"""Seconds between tries while another process writes: from the first, doubling to the last."""
PATIENT_AFTER, SLOW_WAIT = 0.1, 0.005
"""After this long a wait is not a turn but a long write or a stalled holder: try less often."""


class WriterLock:
    """The advisory lock beside one database file, opened again in a forked child (a
    flock belongs to the open file, which a child shares with its parent)."""

    def __init__(self, database_path: str) -> None:
        self.path = f"{database_path}-lock"
        self._fd: int | None = None
        self._pid: int | None = None
        _ALL.add(self)

    @contextlib.contextmanager
    def held(self, deadline_seconds: float) -> Iterator[None]:
        """Hold the lock for the block; BackendError if another process holds it past the deadline."""
        fd = self._descriptor()
        if fd is not None and not self._acquire(fd, deadline_seconds):
            fd = None
        try:
            yield
        finally:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = self._pid = None

    def __del__(self) -> None:
        # a backend dropped without close() (one opened per web request): SQLite's own
        # files close with their connections, and this one must too, or each such
        # backend kept a descriptor until the process ran out of them. (No contextlib here:
        # at interpreter exit a module's globals may already be None.)
        try:  # noqa: SIM105 (contextlib may be gone at exit)
            self.close()
        except Exception:  # noqa: S110 (a finalizer has no one to tell)
            pass

    def _forget_parents(self) -> None:
        """In a forked child: close the parent's descriptor (this copy only; the parent's
        hold stays), so that a child living on after its parent died does not keep the
        lock held for everyone."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd = self._pid = None

    def _descriptor(self) -> int | None:
        if self._pid != os.getpid():
            self._forget_parents()
            self._pid = os.getpid()
            for mode in (os.O_RDWR, os.O_RDONLY):  # read-only is enough for flock on a local disk
                with contextlib.suppress(OSError):
                    self._fd = os.open(self.path, mode | os.O_CREAT | os.O_CLOEXEC, 0o666)
                    break
        return self._fd

    def _acquire(self, fd: int, deadline_seconds: float) -> bool:
        """Take the lock (False: this file system cannot lock it, and the process goes on
        without, as when the file cannot be created)."""
        began, delay = time.monotonic(), FIRST_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                pass
            except OSError:  # flock emulated by a network file system that refuses it
                self.close()
                self._pid = os.getpid()
                return False
            waited = time.monotonic() - began
            if waited >= deadline_seconds:
                raise BackendError(f"another process held the SQLite database's write lock for {deadline_seconds:g}s")
            time.sleep(delay)
            delay = min(delay * 2, LAST_WAIT if waited < PATIENT_AFTER else SLOW_WAIT)


_ALL: weakref.WeakSet[WriterLock] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for lock in list(_ALL):
        lock._forget_parents()


os.register_at_fork(after_in_child=_after_fork_in_child)
