"""The writer lock that orders SQLite writers across processes (sqlite/writelock.py)."""

from __future__ import annotations

import errno
import multiprocessing
import os
import signal
import threading
from multiprocessing import synchronize
from pathlib import Path

import pytest

import conveyor
import jobfuncs
from conveyor import Queue
from conveyor.backends.sqlite import writelock
from conveyor.backends.sqlite.writelock import WriterLock
from conveyor.exceptions import BackendError
from waiting import wait_until

fork = multiprocessing.get_context("fork")


def _hold(database: str, held: synchronize.Event, release: synchronize.Event) -> None:
    with WriterLock(database).held(60):
        held.set()
        release.wait(60)


def _try_to_hold(database: str, deadline: float) -> str:
    return _try(WriterLock(database), deadline)


def test_a_write_waits_for_the_process_holding_the_lock_then_goes_on(tmp_path: Path) -> None:
    database = str(tmp_path / "jobs.db")
    queue = Queue(connection=conveyor.connect(f"sqlite:///{database}"))
    held, release = fork.Event(), fork.Event()
    holder = fork.Process(target=_hold, args=(database, held, release))
    holder.start()
    try:
        assert held.wait(30)
        enqueued: list[str] = []
        writer = threading.Thread(target=lambda: enqueued.append(queue.enqueue(jobfuncs.noop).id))
        writer.start()
        writer.join(0.3)
        assert writer.is_alive() and not enqueued, "the write waits while another process holds the lock"
        release.set()
        writer.join(30)
        assert len(enqueued) == 1 and queue.count == 1
    finally:
        release.set()
        holder.join(30)


def test_a_writer_gives_up_at_its_deadline_with_a_clear_error(tmp_path: Path) -> None:
    database = str(tmp_path / "jobs.db")
    held, release = fork.Event(), fork.Event()
    holder = fork.Process(target=_hold, args=(database, held, release))
    holder.start()
    try:
        assert held.wait(30)
        assert _try_to_hold(database, 0.2) == "another process held the SQLite database's write lock for 0.2s"
    finally:
        release.set()
        holder.join(30)
    assert _try_to_hold(database, 0.2) == "held", "free again once the holder let go"


def test_a_forked_child_does_not_share_its_parents_hold(tmp_path: Path) -> None:
    lock = WriterLock(str(tmp_path / "jobs.db"))
    results = fork.SimpleQueue()
    with lock.held(60):
        # the child inherits this very object, holding: it must open the file again
        child = fork.Process(target=lambda: results.put(_try(lock)))
        child.start()
        child.join(30)
    assert results.get() == "another process held the SQLite database's write lock for 0.2s"


def _try(lock: WriterLock, deadline: float = 0.2) -> str:
    try:
        with lock.held(deadline):
            return "held"
    except BackendError as exc:
        return str(exc)


def test_a_lock_file_that_cannot_be_created_leaves_ordering_to_sqlite(tmp_path: Path) -> None:
    lock = WriterLock(str(tmp_path / "missing-directory" / "jobs.db"))
    with lock.held(0.2):
        pass
    assert not (tmp_path / "missing-directory").exists()


def _hold_then_fork_a_sleeper(database: str, held: synchronize.Event, sleeper_pid: multiprocessing.SimpleQueue) -> None:
    lock = WriterLock(database)
    with lock.held(60):
        sleeper = fork.Process(target=threading.Event().wait, args=(120,))  # never touches the lock
        sleeper.start()
        sleeper_pid.put(sleeper.pid)
        held.set()
        threading.Event().wait(120)  # until SIGKILLed, holding


def test_a_holder_killed_with_a_forked_child_alive_lets_the_lock_go(tmp_path: Path) -> None:
    database = str(tmp_path / "jobs.db")
    held, sleeper_pid = fork.Event(), fork.SimpleQueue()
    holder = fork.Process(target=_hold_then_fork_a_sleeper, args=(database, held, sleeper_pid))
    holder.start()
    assert held.wait(30)
    sleeper = sleeper_pid.get()
    try:
        assert _try_to_hold(database, 0.2).startswith("another process held")
        holder.kill()
        # not join(): the sleeper holds the sentinel pipe it inherited, so join would wait it out
        wait_until(lambda: holder.exitcode is not None, message="the holder to die")
        assert _try_to_hold(database, 30) == "held", "the child's inherited copy was closed at the fork"
    finally:
        os.kill(sleeper, signal.SIGKILL)


def test_a_file_system_that_cannot_lock_leaves_ordering_to_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def refuse(fd: int, operation: int) -> None:
        calls.append(operation)
        raise OSError(errno.ENOLCK, "No locks available")  # what an NFS mount without lockd answers

    lock = WriterLock(str(tmp_path / "jobs.db"))
    monkeypatch.setattr(writelock.fcntl, "flock", refuse)
    for _ in range(3):
        with lock.held(0.2):
            pass
    assert len(calls) == 1, "tried once, then the process goes without"
