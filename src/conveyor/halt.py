"""A worker's stop, in a form a blocking wait for jobs can watch.

An idle worker blocks in the store's wait for a new job (a select on the wake-up
socket on SQLite, a BLPOP on Redis) for up to ``poll_interval``. A stop (SIGTERM,
SIGINT, the shutdown command) sets the worker's Halt, and the wait watches it too, so
the worker stops at once instead of when the wait ends.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import select
import threading
from collections.abc import Callable

log = logging.getLogger("conveyor.worker")


class Halt:
    """Set once, when its worker stops; waits watch it through a pipe (``fileno``)."""

    def __init__(self) -> None:
        self.token = secrets.token_hex(8)
        """Names what a store keeps for this halt (the Redis halt key)."""
        self._pid = os.getpid()
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self._set = False
        self._closed = False
        self._actions: dict[str, Callable[[], None]] = {}
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None

    def set(self) -> None:
        """Make every wait watching this halt return. Safe in a signal handler: a flag
        and a one-byte write to a pipe, no lock (the handler may have interrupted a
        thread holding it) and no call to the store."""
        if self._set or os.getpid() != self._pid:  # a forked child (a job's) shares the pipe, not the worker
            return
        self._set = True
        with contextlib.suppress(OSError):  # (non-blocking: a byte is already there)
            os.write(self._write, b"!")

    def is_set(self) -> bool:
        return self._set

    def wait(self, seconds: float | None = None) -> None:
        """Sleep ``seconds`` (None: until set), or less if the halt is set meanwhile,
        from any thread (a signal handler may set it)."""
        if self._set:
            return
        poll = select.poll()  # (not select(): it refuses descriptors past 1023)
        poll.register(self._read, select.POLLIN)
        poll.poll(None if seconds is None else seconds * 1000)

    def fileno(self) -> int:
        """A descriptor that is readable once the halt is set, and stays so."""
        return self._read

    def when_set(self, name: str, action: Callable[[], None]) -> None:
        """Run ``action`` once set (at once if it is), on a thread of the halt's own: for a
        wait that only a call to the store can end (a blocking pop on Redis), a call a
        signal handler must not make. One action per ``name``: a wait registers its own
        each time it blocks."""
        with self._lock:
            if self._closed or name in self._actions:
                return
            self._actions[name] = action
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._watch, name="conveyor-halt", daemon=True)
                self._watcher.start()

    def _watch(self) -> None:
        self.wait()
        if not self._set:  # closed unset: the worker stopped without a halt
            return
        with self._lock:
            actions = list(self._actions.values())
        for action in actions:
            try:
                action()
            except Exception as exc:  # (the store is down): the wait ends with its timeout, as without a halt
                log.warning("could not end the worker's wait for jobs at its stop (%s): it ends within its "
                            "poll interval", exc)  # fmt: skip

    def close(self) -> None:
        """Let the watcher thread end, once the worker no longer waits (not waiting for
        it: a push to a store that does not answer must not hold the worker's exit).
        The pipe stays open until the halt is collected: a thread may still set it."""
        if os.getpid() != self._pid:
            return
        with self._lock:
            self._closed = True
        with contextlib.suppress(OSError):
            os.write(self._write, b"!")

    def __del__(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # (AttributeError: __init__ failed)
            os.close(self._write)
            os.close(self._read)


def halted(halt: Halt | None) -> bool:
    """Whether a wait given ``halt`` (or none) must not block: its worker is stopping."""
    return halt is not None and halt.is_set()
