"""Opening SQLite files safely and retrying when another process holds the lock.

One connection per thread and process: sqlite3 connections must not cross threads,
and must not survive a fork. A thread's connection is closed once the thread has ended
(when the next thread opens one), so a server whose pool threads come and go keeps as
many connections as it has threads. Writes take the lock up front (BEGIN IMMEDIATE) so a
transaction never fails half-way on an upgrade to a write lock.

SQLiteConnection, the pool and the wake-up signal one backend holds, is the base of the
backend's parts: each is a mixin of it, and writes through its ``_write``.
"""

from __future__ import annotations

import logging
import os
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from conveyor.exceptions import BackendError, BackendUnavailableError, ConfigurationError

from . import schema
from .changes import Changes
from .rows import earliest_due
from .wakeup import DueSignals, Wakeup
from .writelock import WriterLock

T = TypeVar("T")

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5_000
"""How long SQLite itself waits for a lock before reporting busy."""

WAL_AUTOCHECKPOINT_PAGES = 16_000
"""A commit that finds the WAL this long (about 64 MB) checkpoints it itself. Workers
checkpoint it every second (store_maintain) long before that, so commits do not stall
on a checkpoint; this bound only matters when no worker runs."""

FILE_CHECK_SECONDS = 1.0
"""How often a thread checks that the path still names the file its connection has open."""

BUSY_RETRY_SECONDS = 60.0
"""How long conveyor keeps retrying a busy database (with backoff) before giving up."""


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class ConnectionPool:
    """Per-thread connections to one database file, opened and migrated lazily.

    ``read_only``: opened with ``mode=ro``, never created nor migrated, so that a file
    the user may only read can be read. Where SQLite cannot make the -shm file a WAL
    database needs for that (a read-only directory), it is opened ``immutable=1``:
    SQLite then takes the file as unchanging, and does not see what writers still hold
    in the -wal file, or write after it opened.
    """

    def __init__(self, path: str, synchronous: str = "NORMAL", read_only: bool = False) -> None:
        # absolute now: connections open later (a new thread, a forked child) must open
        # this file even if the process has changed its working directory since
        self.path = path if path == ":memory:" else os.path.abspath(path)
        self.synchronous = synchronous
        self.read_only = read_only
        self._local = threading.local()
        self._all: dict[threading.Thread, sqlite3.Connection] = {}  # each thread's connection
        self._lock = threading.Lock()
        self._writing = threading.Lock()
        self._writer_lock = WriterLock(self.path)
        self._opened = False
        self._lock_stale = False
        self._pid = os.getpid()
        self._held_for_fork = False
        self._check_location()
        _POOLS.add(self)

    def _check_location(self) -> None:
        if self.path == ":memory:":
            raise ConfigurationError("an in-memory SQLite database cannot be shared with workers; use a file")
        file = Path(self.path)
        directory = file.parent
        try:
            if not directory.is_dir():
                raise ConfigurationError(f"cannot open {self.path}: directory {directory} does not exist")
            if self.read_only and not file.exists():
                raise ConfigurationError(
                    f"cannot open {self.path} read-only: it does not exist (check the URL; a read-only open "
                    "creates nothing)"
                )
            if file.exists():
                if not file.is_file():
                    raise ConfigurationError(f"cannot open {self.path}: not a regular file")
                if self.read_only and not os.access(file, os.R_OK):
                    raise ConfigurationError(f"cannot open {self.path}: the file is not readable")
                if not self.read_only and not os.access(file, os.R_OK | os.W_OK):
                    raise ConfigurationError(f"cannot open {self.path}: the file is not writable")
            elif not os.access(directory, os.W_OK | os.X_OK):
                raise ConfigurationError(f"cannot create {self.path}: directory {directory} is not writable")
        except OSError as exc:  # a name too long, a loop of links...
            raise ConfigurationError(f"cannot open {self.path}: {exc.strerror or exc}") from None

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (and again after a fork)."""
        if os.getpid() != self._pid:  # forked: the parent's connections (and locks) are not ours
            self._pid = os.getpid()
            self._local = threading.local()
            self._all = {}
            self._lock = threading.Lock()
            self._writing = threading.Lock()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and time.monotonic() >= self._local.check_at and self._replaced():
            # The file at the path was deleted or replaced (a restore from a backup, a
            # `rm conveyor.db` to start afresh) since this connection opened it: the
            # connection still reads and writes the old one, unseen by every process
            # that opens the path now. Follow the path, as they do.
            logger.warning("the SQLite database %s was deleted or replaced while open: opening it again", self.path)
            self._discard(conn)
            conn = None
            self._lock_stale = True
        if conn is None:
            conn = self._open_again() if self._opened else self._open()
            self._opened = True
            self._local.conn = conn
            self._local.file = self._file()
            self._local.check_at = time.monotonic() + FILE_CHECK_SECONDS
            with self._lock:
                self._close_ended_threads()
                self._keep(threading.current_thread(), conn)
        return conn

    def _keep(self, thread: threading.Thread, conn: sqlite3.Connection) -> None:
        """Hold ``conn`` as ``thread``'s (holding ``_lock``), closing the one held for it
        already: that was an ended thread's, one started outside ``threading`` whose
        ident this one reuses, and so its stand-in Thread (a _DummyThread, alive for
        ever), which left alone would stay open past close()."""
        reused = self._all.get(thread)
        if reused is not None:
            reused.close()
        self._all[thread] = conn

    def _close_ended_threads(self) -> None:
        """Close the connections of threads that have ended (holding ``_lock``). Kept,
        each held two file descriptors and its page cache for the life of the process:
        a server's pool threads end when idle and the next burst's threads open their
        own, so ``conveyor serve`` kept one connection more per burst of requests."""
        for thread in [thread for thread in self._all if not thread.is_alive()]:
            self._all.pop(thread).close()

    def _discard(self, conn: sqlite3.Connection) -> None:
        """Close this thread's connection; the next use opens another."""
        thread = threading.current_thread()
        with self._lock:
            if self._all.get(thread) is conn:  # not if close() ran meanwhile
                del self._all[thread]
        conn.close()
        self._local.conn = None

    def _open_again(self) -> sqlite3.Connection:
        """Open the file for another thread, or again: it opened at connect(), so what
        fails now (the file replaced by one that is not a database, its directory made
        read-only) is the store failing, which workers wait out, not a setting to fix."""
        try:
            return self._open()
        except ConfigurationError as exc:
            raise BackendUnavailableError(str(exc)) from exc

    def _replaced(self) -> bool:
        self._local.check_at = time.monotonic() + FILE_CHECK_SECONDS
        return bool(self._local.file != self._file())

    def _file(self) -> tuple[int, int] | None:
        """Which file the path names now (device and inode), None if none."""
        try:
            found = os.stat(self.path)
        except OSError:
            return None
        return found.st_dev, found.st_ino

    def _open(self) -> sqlite3.Connection:
        opened: list[sqlite3.Connection] = []
        try:
            return self._connect(opened)
        except BaseException:
            for conn in opened:  # not left open by a failed attempt: a worker tries again and again
                conn.close()
            raise

    def _connect(self, opened: list[sqlite3.Connection]) -> sqlite3.Connection:
        if self.read_only:
            return self._connect_read_only(opened)
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
            )
            opened.append(conn)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            retry_busy(lambda: conn.execute("PRAGMA journal_mode = WAL"), raw_errors=True)
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
            conn.execute("PRAGMA foreign_keys = OFF")
            conn.execute("PRAGMA temp_store = MEMORY")
            # on every open: it only reads the version of a database already up to date,
            # and the file may not be the one first opened (deleted and made again)
            retry_busy(lambda: schema.migrate(conn), raw_errors=True)
        except sqlite3.OperationalError as exc:
            if "unable to open" in str(exc) or "readonly" in str(exc):
                raise ConfigurationError(
                    f"cannot open SQLite database {self.path}: {exc} (is its directory writable?)"
                ) from exc
            raise BackendUnavailableError(f"cannot open SQLite database {self.path}: {exc}{self._full_hint()}") from exc
        except sqlite3.DatabaseError as exc:
            raise ConfigurationError(f"{self.path} is not a usable SQLite database: {exc}{damage_hint(exc)}") from exc
        return conn

    def _connect_read_only(self, opened: list[sqlite3.Connection]) -> sqlite3.Connection:
        uri = f"file:{quote(self.path)}?mode=ro"
        try:
            try:
                conn = self._open_uri(uri, opened)
            except sqlite3.OperationalError as exc:
                if not _cannot_make_shared_memory(exc):  # locked, I/O: immutable would read torn pages
                    raise
                logger.warning("%s: opening it immutable, as read-only failed (%s)", self.path, exc)
                conn = self._open_uri(f"{uri}&immutable=1", opened)
            version = schema.current_version(conn)
        except sqlite3.DatabaseError as exc:
            raise ConfigurationError(f"cannot read SQLite database {self.path}: {exc}{damage_hint(exc)}") from exc
        if version < schema.SCHEMA_VERSION:
            raise ConfigurationError(
                f"{self.path} holds schema version {version}, older than this conveyor's "
                f"({schema.SCHEMA_VERSION}), and a read-only open does not migrate it: open it once "
                "read-write (any command that writes, or a worker)"
            )
        return conn

    def _open_uri(self, uri: str, opened: list[sqlite3.Connection]) -> sqlite3.Connection:
        """A read-only connection, read once so that a file it cannot use fails here."""
        conn = sqlite3.connect(
            uri, uri=True, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
        opened.append(conn)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        retry_busy(lambda: conn.execute("SELECT count(*) FROM sqlite_master").fetchone(), raw_errors=True)
        return conn

    def _full_hint(self) -> str:
        """Why opening failed when the disk is full: SQLite says only "disk I/O error"
        (it could not grow the -shm file beside the database)."""
        try:
            stats = os.statvfs(os.path.dirname(self.path))
        except OSError:
            return ""
        return " (the disk holding it is full)" if stats.f_bavail == 0 else ""

    def close(self) -> None:
        """Close every connection this process opened (none inherited across a fork)."""
        if os.getpid() != self._pid:
            return
        with self._lock:
            for conn in self._all.values():
                conn.close()
            self._all = {}
        self._local = threading.local()
        self._writer_lock.close()

    def read(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read-only operation, retrying while the database is busy."""
        conn = self.connection()
        return retry_busy(lambda: operation(conn))

    def write(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``operation`` in one BEGIN IMMEDIATE transaction, retried while busy.

        The operation must be safe to run again from the start: it is, because a busy
        error leaves nothing committed.
        """
        conn = self.connection()

        def attempt() -> T:
            with transaction(conn):
                return operation(conn)

        # Threads of one process take turns here, processes at the writer lock, rather
        # than in SQLite's busy handler, whose retries sleep: under contention that
        # sleeping made the tail latency.
        with self._writing:
            if self._lock_stale:  # the lock file may have gone with the database: open it again too
                self._lock_stale = False
                self._writer_lock.close()
            with self._writer_lock.held(BUSY_RETRY_SECONDS):
                try:
                    return retry_busy(attempt)
                except BackendError as exc:
                    if "read-only" in str(exc):  # SQLite opened it read-only: open it again next time
                        self._discard(conn)
                    raise


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def damage_hint(exc: sqlite3.DatabaseError) -> str:
    """What to do about an error that says the file is damaged ("" for any other)."""
    if "malformed" in str(exc).lower():
        return (
            " (the database file is damaged: stop every process using it and restore it from a backup, "
            "or salvage what it holds with the sqlite3 shell's .recover)"
        )
    return ""


def retry_busy(operation: Callable[[], T], deadline_seconds: float = BUSY_RETRY_SECONDS, raw_errors: bool = False) -> T:
    """Call ``operation``; while SQLite reports a lock, back off and call it again.

    Other SQLite errors become conveyor's, unless ``raw_errors`` (opening a file tells
    them apart itself: a file that is not a database is a ConfigurationError there).
    """
    deadline = time.monotonic() + deadline_seconds
    delay = 0.005
    while True:
        try:
            return operation()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                if raw_errors:
                    raise
                if "readonly" in str(exc).lower() or "read-only" in str(exc).lower():
                    # a BackendError, which workers wait out: it opened writable (connect()
                    # refuses a file it cannot write), so its permissions or file changed since
                    raise BackendError(f"the SQLite database became read-only: {exc}") from exc
                raise BackendError(f"SQLite error: {exc}") from exc
            if time.monotonic() >= deadline:
                raise BackendError(f"the SQLite database stayed locked for {deadline_seconds:.0f}s: {exc}") from exc
        except sqlite3.DataError as exc:  # a value past SQLite's length limit (1 GB): nothing written
            raise BackendError(f"SQLite refused a value: {exc}") from exc
        except sqlite3.DatabaseError as exc:  # a damaged file ("database disk image is malformed")
            if raw_errors:
                raise
            raise BackendError(f"SQLite error: {exc}{damage_hint(exc)}") from exc
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 0.5)


def _cannot_make_shared_memory(exc: sqlite3.OperationalError) -> bool:
    """Whether a read-only open failed for want of a -shm file it cannot make (a read-only
    directory): the one failure an immutable open, which ignores the WAL and takes no
    locks, may stand in for. Not "database is locked" or an I/O error."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY)


_POOLS: weakref.WeakSet[ConnectionPool] = weakref.WeakSet()


def _before_fork() -> None:
    """Let no write of this process be under way as it forks. A child gets a copy of
    each connection in the state its thread left it, and of SQLite's own record of the
    locks this process holds, but not the thread that would let go: a connection copied
    in the middle of its transaction held the write lock for good in the child's eyes,
    so every write the child tried waited a minute for it (holding the writer lock
    meanwhile, every other process's writes too) and failed. A request thread
    enqueueing while another forks (multiprocessing, a server forking after an import
    that started threads) did just that. The fork waits for the writes under way; a
    write is short, except one waiting for a stalled writer, which gives up in time."""
    for pool in list(_POOLS):
        pool._held_for_fork = pool._writing.acquire(timeout=BUSY_RETRY_SECONDS)


def _after_fork_in_parent() -> None:
    for pool in list(_POOLS):
        if pool._held_for_fork:
            pool._held_for_fork = False
            pool._writing.release()


def _after_fork_in_child() -> None:
    """The child's copies of the mutexes the fork waited for are held (by the thread
    that forked, now the child's only one): free, or the child's own next fork, or
    write, would wait for them in vain."""
    for pool in list(_POOLS):
        pool._writing = threading.Lock()
        pool._held_for_fork = False


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)


class SQLiteConnection:
    """One SQLite file as the backend holds it: its connections and its signals to other
    processes (new jobs, the next due time)."""

    def __init__(
        self, path: str, *, synchronous: str = "NORMAL", url: str | None = None, read_only: bool = False
    ) -> None:
        self.path = path
        self.url = url or f"sqlite:///{path}"
        self._pool = ConnectionPool(path, synchronous, read_only)
        self._wakeup = Wakeup(path)
        self._due_signals = DueSignals(path)
        self._pool.connection()  # open and migrate now, so errors surface at connect()

    def close(self) -> None:
        self._wakeup.close()
        self._due_signals.close()
        self._pool.close()

    def _write(self, operation: Callable[[sqlite3.Connection, Changes], T]) -> T:
        """One write transaction that publishes, in the same commit, the changes it noted;
        after it, one that freed a limit slot a held job waits for wakes the idle workers,
        and one that put a job or batch start on a time announces the earliest due time."""
        wake = False
        due: list[float | None] = []

        def write(conn: sqlite3.Connection) -> T:
            nonlocal wake
            due.clear()  # (a try that failed, tried again)
            changes = Changes()
            result = operation(conn, changes)
            wake = changes.flush(conn)
            if changes.scheduling:
                due[:] = [earliest_due(conn)]
            return result

        result = self._pool.write(write)
        if wake:
            self._wakeup.notify()
        if due and due[0] is not None:
            self._due_signals.announce(due[0])
        return result
