"""One backend made when a web app is imported, then used as web servers use it: from
many request threads at once (a threaded WSGI server), and from the processes a forking
server makes of the one that imported it (gunicorn --preload, uwsgi without lazy-apps,
multiprocessing's fork), each child enqueueing while the parent and its siblings do."""

from __future__ import annotations

import gc
import os
import signal
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest

import conveyor
from conveyor import Job, Queue
from conveyor.backends.base import Backend
from waiting import wait_until

THREADS, PER_THREAD = 16, 50
CHILDREN, PER_CHILD = 4, 100


def test_request_threads_share_one_queue(url: str) -> None:
    """Each thread's jobs are stored whole, with their own arguments, none lost or mixed up."""
    queue = Queue(connection=conveyor.connect(url))
    start, errors, enqueued = threading.Barrier(THREADS), [], {}

    def handle_requests(thread: int) -> None:
        start.wait()
        try:
            for n in range(PER_THREAD):
                job = queue.enqueue("jobfuncs.add", thread, n)
                enqueued[job.id] = (thread, n)
                assert Job.fetch(job.id, connection=queue.connection).args == (thread, n)
        except Exception as exc:  # reported below: an assert in a thread would go unseen
            errors.append(exc)

    threads = [threading.Thread(target=handle_requests, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert len(enqueued) == THREADS * PER_THREAD
        jobs = Job.fetch_many(list(enqueued), connection=queue.connection)
        assert {job.id: job.args for job in jobs if job is not None} == enqueued
        assert queue.count == THREADS * PER_THREAD
    finally:
        queue.connection.close()


def fork(child: Callable[[], None], leaving: Callable[[], None] | None = None) -> int:
    """A forked child that runs ``child``, exit status 0 if it returned, then
    ``leaving`` (what a server's worker does as it exits), and ends without running
    the test runner's code copied into it."""
    pid = os.fork()
    if pid:
        return pid
    status = 1
    try:
        child()
        if leaving is not None:
            leaving()
        status = 0
    finally:
        os._exit(status)  # pragma: no cover


def exit_status(pid: int, timeout: float = 60.0) -> int:
    def ended() -> tuple[int, int] | None:
        waited = os.waitpid(pid, os.WNOHANG)
        return waited if waited[0] == pid else None

    try:
        status = wait_until(ended, timeout=timeout, message=f"child {pid} to end")[1]
    except AssertionError:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    return os.waitstatus_to_exitcode(status)


@pytest.mark.parametrize("closing", [True, False], ids=["closing-it", "leaving-it-open"])
def test_forked_children_and_their_parent_share_a_backend_made_before_the_fork(url: str, closing: bool) -> None:
    """Children enqueue at once with the parent's backend, the parent meanwhile and once
    they are gone: every job is stored. A child that exits closing the backend and
    collecting what it dropped (a gunicorn worker's exit: sys.exit, whose finalisation
    closes what the interpreter holds) or leaving it open (os._exit, as multiprocessing's
    children do) leaves the parent's connections, lock file, wake-up sockets and
    Redis sockets working, as another process finds."""
    queue = Queue(connection=conveyor.connect(url))
    queue.enqueue("jobfuncs.add", 0, 0)  # the parent's connection is open at the fork

    def enqueue_in_child() -> None:
        for n in range(PER_CHILD):
            queue.enqueue("jobfuncs.add", os.getpid(), n)

    def close_and_collect() -> None:
        queue.connection.close()
        gc.collect()

    try:
        children = [fork(enqueue_in_child, close_and_collect if closing else None) for _ in range(CHILDREN)]
        for n in range(PER_CHILD):
            queue.enqueue("jobfuncs.add", -1, n)
        assert [exit_status(pid) for pid in children] == [0] * CHILDREN
        for n in range(PER_CHILD):
            queue.enqueue("jobfuncs.add", -2, n)
        expected = 1 + CHILDREN * PER_CHILD + 2 * PER_CHILD
        assert queue.count == expected
        other = conveyor.connect(url)  # another process's view is the file's or the server's, not this one's
        try:
            assert Queue(connection=other).count == expected
        finally:
            other.close()
        if url.startswith("sqlite"):
            with sqlite3.connect(url.removeprefix("sqlite:///")) as check:
                assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        queue.connection.close()


@contextmanager
def writing_in_another_thread(backend: Backend, url: str) -> Iterator[None]:
    """Another thread of this process inside a write for a while (0.5 s), from the
    block's start: a request enqueueing while the process forks."""
    if not url.startswith("sqlite"):
        pytest.skip("a Redis call holds no lock a child could inherit")
    inside, release = threading.Event(), threading.Event()

    def long_write(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE jobs SET priority = priority WHERE 0")
        inside.set()
        release.wait(0.5)

    thread = threading.Thread(target=backend._pool.write, args=(long_write,))  # type: ignore[attr-defined]
    thread.start()
    inside.wait()
    try:
        yield
    finally:
        release.set()
        thread.join()


@contextmanager
def id_source_held(backend: Backend, url: str) -> Iterator[None]:
    """Another thread drawing a job id as the process forks."""
    from conveyor import ids

    with ids._sources._lock:
        yield


@contextmanager
def redis_connections_being_listed(backend: Backend, url: str) -> Iterator[None]:
    """Another thread opening its first Redis connection as the process forks."""
    if url.startswith("sqlite"):
        pytest.skip("Redis only")
    with backend._scripts._opened_lock:  # type: ignore[attr-defined]
        yield


@pytest.mark.parametrize("meanwhile", [writing_in_another_thread, id_source_held, redis_connections_being_listed])
def test_a_child_forked_while_another_thread_enqueues_can_enqueue(
    url: str, meanwhile: Callable[[Backend, str], AbstractContextManager[None]]
) -> None:
    """A fork copies what other threads hold at that moment (a lock, a SQLite
    connection in the middle of its transaction, whose write lock SQLite then takes
    for held in the child for good) without the threads that would let go of it. The
    child must still enqueue at once."""
    backend = conveyor.connect(url)
    queue = Queue(connection=backend)
    queue.enqueue("jobfuncs.add", 0, 0)
    reader, writer = os.pipe()

    def enqueue_in_child() -> None:
        os.close(reader)
        done = threading.Event()

        def enqueue() -> None:
            os.write(writer, queue.enqueue("jobfuncs.add", 1, 1).id.encode())
            done.set()

        threading.Thread(target=enqueue, daemon=True).start()
        if not done.wait(10):
            raise SystemExit("the child's enqueue did not end within 10 s")

    try:
        with meanwhile(backend, url):
            child = fork(enqueue_in_child)
        os.close(writer)
        assert exit_status(child) == 0, "the child enqueued"
        with os.fdopen(reader, "rb") as pipe:
            job_id = pipe.read().decode()
        assert Job.fetch(job_id, connection=backend).args == (1, 1)
        queue.enqueue("jobfuncs.add", 2, 2)  # and the parent goes on
        assert queue.count == 3
    finally:
        backend.close()


def test_a_forked_child_forks_again_at_once(url: str) -> None:
    """What the fork waited for (the parent's writes under way) is free in the child:
    a server's worker that forks in turn (multiprocessing in a request) before using
    the store does not wait for it."""
    backend = conveyor.connect(url)

    def fork_a_grandchild() -> None:
        assert exit_status(fork(lambda: None), timeout=5) == 0

    try:
        Queue(connection=backend).enqueue("jobfuncs.add", 0, 0)
        assert exit_status(fork(fork_a_grandchild), timeout=20) == 0
    finally:
        backend.close()
