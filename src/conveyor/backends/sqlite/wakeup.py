"""Signals between the processes of one database: waking idle workers within a
millisecond of an enqueue, and announcing when the next scheduled job comes due.

SQLite has no notifications, so each waiting worker binds a Unix datagram socket in
a directory of the database's (signal_places.py: beside the file, shared by every user
who may write it), and an enqueue sends one byte to each socket found there after its
commit. A worker binds its socket before its first claim
and keeps it: a signal sent between a claim and the wait that follows waits in the
socket, and ends that wait at once. A worker that misses a signal (or cannot bind)
still polls on a jittered interval, so a signal is a shortcut, never a requirement.
Each worker's housekeeper binds a second socket (``.due``), to which a write that
scheduled something sends the earliest due time (see Backend.schedule_signals)."""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import threading
import time
import uuid
from pathlib import Path

from conveyor.halt import Halt

from .signal_places import Place, prepare, share_socket, signal_places

BIND_ATTEMPTS = 3
"""Tries to bind in a directory that another process's close removes in between (it
found it empty): else this worker would fall back to the temp dir for good, where
another user's process never signals it."""
REBIND_AFTER = 5.0
"""Seconds before a worker tries again to bind its socket, after it could not: a claim
calls for it every time, and a temp dir that cannot hold one stays so."""
QUEUED_AT_LEAST = 10
"""Datagrams a receiver's socket holds before it may drop more (Linux's default
net.unix.max_dgram_qlen; other systems hold some kilobytes)."""
SETTLED_NS = 100_000_000
"""How old (in ns) the directory's last change must be for a listing of it to be reused
until its mtime changes. File times move in clock ticks (several ms): a socket bound in
the tick of a listing leaves the mtime as it was, and the sender, trusting a listing
that young, would never signal that worker."""


class _Listing:
    """The sockets of one kind last seen in one directory, listed again when it changes."""

    def __init__(self, directory: Path, suffix: str) -> None:
        self.directory = directory
        self.suffix = suffix
        self.paths: list[str] = []
        self._mtime: int | None = None

    def refresh(self) -> list[str]:
        try:
            mtime = self.directory.stat().st_mtime_ns
            if mtime != self._mtime:
                self.paths = [str(p) for p in self.directory.iterdir() if p.suffix == self.suffix]
                self._mtime = mtime if time.time_ns() - mtime > SETTLED_NS else None
        except OSError:  # none there, or not this user's to list
            self.paths = []
            self._mtime = None
        return self.paths


class SignalSockets:
    """Datagram sockets of one kind (named by ``suffix``) in a database's directories: a
    sender signals every one of them; a receiver binds its own on first use."""

    suffix = ".sock"

    def __init__(self, database_path: str) -> None:
        self.database_path = database_path
        self.places = signal_places(database_path)
        self.directory = self.places[0].directory
        """Where a receiver binds if it can."""
        self._listings = [_Listing(place.directory, self.suffix) for place in self.places]
        self._receiver: socket.socket | None = None
        self._receiver_path: Path | None = None
        self._send_socket: socket.socket | None = None
        self._sender_pid = self._receiver_pid = os.getpid()
        self._unbound_until = 0.0  # (monotonic) no new try to bind before then, after one failed

    def _send(self, payload: bytes) -> None:
        """Send ``payload`` to every receiver; never raises."""
        try:
            receivers = [path for listing in self._listings for path in listing.refresh()]
            if not receivers:
                return
            if self._send_socket is None or self._sender_pid != os.getpid():
                self._send_socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._send_socket.setblocking(False)
                self._sender_pid = os.getpid()
            for path in receivers:
                try:
                    self._send_socket.sendto(payload, path)
                except (ConnectionRefusedError, FileNotFoundError):
                    _unlink_quietly(path)  # a worker that died without cleaning up
                except OSError as exc:  # full (it wakes anyway), or another user's we may not signal
                    if exc.errno not in (errno.EAGAIN, errno.ENOBUFS, errno.EACCES, errno.EPERM):
                        raise
        except OSError:
            return

    def _received(self) -> list[bytes]:
        """The datagrams waiting for this receiver (bound now if it is not yet)."""
        receiver = self._ensure_receiver()
        datagrams = []
        if receiver is not None:
            with contextlib.suppress(BlockingIOError):
                while datagram := receiver.recv(64):
                    datagrams.append(datagram)
        return datagrams

    def _ensure_receiver(self) -> socket.socket | None:
        if self._receiver is not None and self._receiver_pid == os.getpid():
            return self._receiver
        if time.monotonic() < self._unbound_until:
            return None
        for place in self.places:
            bound = self._bind(place)
            if bound is not None:
                (receiver, self._receiver_path), self._receiver_pid = bound, os.getpid()
                self._receiver = receiver
                return receiver
        # (no directory that can hold a socket: the poll interval it is, tried again now and then)
        self._unbound_until = time.monotonic() + REBIND_AFTER
        return None

    def _bind(self, place: Place) -> tuple[socket.socket, Path] | None:
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        path = place.directory / f"{os.getpid()}-{uuid.uuid4().hex[:8]}{self.suffix}"
        for attempt in range(BIND_ATTEMPTS):
            try:
                prepare(place, self.database_path)
                receiver.bind(str(path))
                break
            except FileNotFoundError:  # the last worker to leave took the directory away meanwhile
                if attempt + 1 < BIND_ATTEMPTS:
                    continue
                receiver.close()
                return None
            except OSError:
                receiver.close()
                return None
        try:
            share_socket(place, path, self.database_path)
            receiver.setblocking(False)
        except OSError:
            receiver.close()
            _unlink_quietly(str(path))
            return None
        return receiver, path

    def close(self) -> None:
        """Stop receiving and remove this process's socket file (a forked child that
        inherited the parent's leaves it alone)."""
        if self._receiver_pid != os.getpid():  # inherited: the socket file is the parent's
            self._receiver = None
            self._receiver_path = None
        if self._receiver is not None:
            self._receiver.close()
            self._receiver = None
        if self._receiver_path is not None:
            _unlink_quietly(str(self._receiver_path))
            with contextlib.suppress(OSError):  # the last worker of this database tidies up
                self._receiver_path.parent.rmdir()
            self._receiver_path = None
        if self._send_socket is not None:
            self._send_socket.close()
            self._send_socket = None


class Wakeup(SignalSockets):
    """Sender and receiver of "a job may be ready" signals for one database file."""

    def notify(self) -> None:
        """Signal every waiting worker; never raises."""
        self._send(b"!")

    def listen(self) -> None:
        """Receive signals from now on (a worker calls this before it claims)."""
        self._ensure_receiver()

    def wait(self, timeout: float, halt: Halt | None = None) -> None:
        """Block until a signal arrives, ``timeout`` seconds pass or ``halt`` is set."""
        receiver = self._ensure_receiver()
        poll = select.poll()  # (not select(): it refuses descriptors past 1023, which a busy process reaches)
        for watched in (receiver, halt):
            if watched is not None:
                poll.register(watched, select.POLLIN)
        ready = {fd for fd, _ in poll.poll(timeout * 1000)}
        if receiver is not None and receiver.fileno() in ready:
            self._received()


class DueSignals(SignalSockets):
    """Announcements of the earliest due time, from a write that scheduled something to
    every worker's housekeeper (sockets of their own, so they never wake a claim)."""

    suffix = ".due"

    def __init__(self, database_path: str) -> None:
        super().__init__(database_path)
        self._taking = threading.Lock()
        self._taking_pid = os.getpid()

    def announce(self, due_at: float) -> None:
        """Tell every listening worker the store's earliest due time; never raises."""
        self._send(repr(due_at).encode())

    def take(self) -> tuple[float | None, bool]:
        """The earliest time announced since the last call (None: none, or the first call,
        which binds the socket), and whether nothing more was: a socket that held
        QUEUED_AT_LEAST datagrams may have dropped the next ones, sooner times maybe
        (announcements of a burst of writes); never blocks for long. One thread reads at a
        time (the housekeepers of workers sharing a backend): threads draining a full socket
        together would each read fewer than QUEUED_AT_LEAST, and none would know of the
        drops."""
        if self._taking_pid != os.getpid():  # forked: the parent's thread may have held it
            self._taking, self._taking_pid = threading.Lock(), os.getpid()
        with self._taking:
            datagrams = self._received()
        times = []
        for datagram in datagrams:
            with contextlib.suppress(ValueError):  # (not from conveyor: nothing to read)
                times.append(float(datagram))
        return min(times, default=None), len(datagrams) < QUEUED_AT_LEAST


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
