"""The SQLite file as users meet it: damaged, or locked by another process."""

from __future__ import annotations

import _thread
import contextlib
import gc
import os
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import conveyor
from backend_conformance import corruption
from conveyor.backends.base import Backend
from conveyor.exceptions import BackendError, BackendUnavailableError, ConfigurationError
from conveyor.testing import make_job
from waiting import wait_until

NOW = 1_000_000.0


def test_a_damaged_file_fails_operations_with_a_backend_error_saying_so(tmp_path: Path) -> None:
    path = tmp_path / "damaged.db"
    backend = conveyor.connect(f"sqlite:///{path}")
    job = make_job(backend)
    backend.close()
    corruption.damage_sqlite_table(path, "jobs")
    backend = conveyor.connect(f"sqlite:///{path}")  # the schema and version are intact
    try:
        # a BackendError, which workers wait out and the CLI reports in one line; it was a
        # bare sqlite3.DatabaseError, which crashed the worker and `conveyor doctor`
        with pytest.raises(BackendError, match="malformed.*restore it from a backup"):
            backend.jobs_claim(["default"], "w", 1, "token", NOW + 60, NOW)
        with pytest.raises(BackendError, match="malformed"):
            backend.jobs_get([job.id])
    finally:
        backend.close()


def test_an_up_to_date_database_opens_and_reads_while_another_process_holds_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    url = f"sqlite:///{path}"
    backend = conveyor.connect(url)
    make_job(backend)
    backend.close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # as an sqlite3 shell would, for a long time
    holder.execute("INSERT INTO marks (name, at) VALUES ('held', 0)")
    opened: list[Backend] = []
    counted: list[int] = []

    def open_and_count() -> None:
        reader = conveyor.connect(url)
        opened.append(reader)
        counted.append(reader.jobs_count("default", [conveyor.JobStatus.QUEUED]))

    thread = threading.Thread(target=open_and_count, daemon=True)
    thread.start()
    try:
        # opening wrote the schema version again, so it waited for the lock (up to a minute)
        assert wait_until(lambda: counted, timeout=10, message="a count while the lock is held") == [1]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        thread.join(timeout=70)
        for reader in opened:
            reader.close()


def test_a_relative_path_keeps_naming_the_same_file_after_the_process_changes_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    backend = conveyor.connect("sqlite:///jobs.db")
    try:
        make_job(backend)
        (tmp_path / "elsewhere").mkdir()
        monkeypatch.chdir(tmp_path / "elsewhere")  # a job, a library, a daemonizing step
        counted: list[int] = []
        thread = threading.Thread(target=lambda: counted.append(backend.jobs_count(None, [conveyor.JobStatus.QUEUED])))
        thread.start()  # a thread's first use opens its own connection
        thread.join()
        assert counted == [1]
        assert not (tmp_path / "elsewhere" / "jobs.db").exists()
    finally:
        backend.close()


def _descriptors_of(path: Path) -> int:
    """This process's open file descriptors on ``path`` (one per connection)."""
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if _target(fd) == str(path))


def _target(link: Path) -> str | None:
    with contextlib.suppress(OSError):  # a descriptor closed since the listing
        return os.readlink(link)
    return None


def test_the_connection_of_a_thread_that_ended_is_closed(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    backend = conveyor.connect(f"sqlite:///{path}")
    try:
        make_job(backend)
        for _ in range(20):  # a server's pool threads, ending when idle and started again
            thread = threading.Thread(target=backend.jobs_count, args=(None, [conveyor.JobStatus.QUEUED]))
            thread.start()
            thread.join()
        # this thread's, the last pool thread's, and one SQLite keeps from a connection
        # closed while another holds a lock (for the next open): each kept its own (21)
        assert _descriptors_of(path) <= 3
        assert backend.jobs_count(None, [conveyor.JobStatus.QUEUED]) == 1
    finally:
        backend.close()
    assert _descriptors_of(path) == 0


def test_connections_of_threads_started_outside_threading_are_closed_with_the_backend(tmp_path: Path) -> None:
    """Such a thread stands as a _DummyThread, alive for ever, that the next one reusing
    its ident is given too: each thread's connection is still closed at close()."""
    path = tmp_path / "jobs.db"
    backend = conveyor.connect(f"sqlite:///{path}")
    try:
        for _ in range(20):  # (C libraries' threads, _thread's)
            done = threading.Event()
            _thread.start_new_thread(lambda: (backend.jobs_count(None, [conveyor.JobStatus.QUEUED]), done.set()), ())
            done.wait()
    finally:
        backend.close()
    assert _descriptors_of(path) == 0


def test_a_backend_dropped_without_close_leaves_no_file_open(tmp_path: Path) -> None:
    """A web app that connects in each request and never closes (as RQ's Redis() is
    used) must not run out of file descriptors: each backend's lock file stayed open."""
    path = tmp_path / "jobs.db"
    conveyor.connect(f"sqlite:///{path}").close()
    for _ in range(20):
        conveyor.Queue(connection=conveyor.connect(f"sqlite:///{path}")).enqueue("jobfuncs.add", 1, 2)

    def left_open() -> list[str]:  # the file, -wal, -shm, -lock
        gc.collect()
        opened = [target for fd in Path("/proc/self/fd").iterdir() if (target := _target(fd)) is not None]
        return [target for target in opened if target.startswith(str(path))]

    # (a background thread of a dropped backend, mid-check of its file, holds it a moment longer)
    wait_until(lambda: left_open() == [], timeout=10, message="the dropped backends' files to close")


def test_a_database_deleted_and_made_again_while_open_is_followed(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    url = f"sqlite:///{path}"
    running = conveyor.connect(url)  # a worker, say, that goes on running
    try:
        make_job(running)
        for suffix in ("", "-wal", "-shm", "-lock"):  # `rm jobs.db*` to start afresh
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        fresh = conveyor.connect(url)
        try:
            make_job(fresh)
            make_job(fresh)
            # it went on with the deleted file, unseen: none of these jobs would ever run
            wait_until(lambda: running.jobs_count(None, [conveyor.JobStatus.QUEUED]) == 2, timeout=10)
            make_job(running)
            assert fresh.jobs_count(None, [conveyor.JobStatus.QUEUED]) == 3
        finally:
            fresh.close()
    finally:
        running.close()


def test_a_database_replaced_by_a_file_that_is_not_one_is_a_store_failure_until_it_is_back(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    url = f"sqlite:///{path}"
    running = conveyor.connect(url)
    try:
        make_job(running)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.write_text("not a database\n" * 100)

        def refused() -> bool:
            try:
                running.jobs_count(None, [conveyor.JobStatus.QUEUED])
            except BackendUnavailableError as exc:  # what a worker waits out; not a ConfigurationError
                assert "not a usable SQLite database" in str(exc)
                return True
            return False

        wait_until(refused, timeout=10)
        if Path("/proc/self/fd").is_dir():  # each failed attempt closed what it opened
            descriptors = len(os.listdir("/proc/self/fd"))
            for _ in range(20):
                assert refused()
            assert len(os.listdir("/proc/self/fd")) == descriptors
        path.unlink()
        assert running.jobs_count(None, [conveyor.JobStatus.QUEUED]) == 0  # made again, empty
        make_job(running)  # and the failed attempt left no closed connection behind
    finally:
        running.close()


@pytest.mark.parametrize(
    ("name", "written"),
    [("jobs #1.db", "jobs %231.db"), ("100%.db", "100%25.db"), ("what?.db", "what%3F.db"), ("é ü.db", "é ü.db")],
)
def test_a_file_name_with_special_characters_is_written_percent_encoded(
    tmp_path: Path, name: str, written: str
) -> None:
    backend = conveyor.connect(f"sqlite:///{tmp_path}/{written}")
    backend.close()
    assert [p.name for p in tmp_path.glob("*.db")] == [name]


@pytest.mark.parametrize(
    ("url", "says"),
    [("sqlite:///jobs#1.db", "write it as %23"), ("sqlite:///some/dir/", "names a directory")],
)
def test_a_sqlite_url_that_would_open_another_file_is_refused(
    url: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # jobs#1.db opened jobs (the rest taken as a URL fragment); some/dir/ made a file "dir"
    with pytest.raises(ConfigurationError, match=says):
        conveyor.connect(url)


def test_the_doctor_reports_a_damaged_file(tmp_path: Path) -> None:
    path = tmp_path / "damaged.db"
    backend = conveyor.connect(f"sqlite:///{path}")
    make_job(backend)
    backend.close()
    corruption.damage_sqlite_table(path, "jobs")
    backend = conveyor.connect(f"sqlite:///{path}")
    try:
        for repair in (False, True):
            # the store was "sound": the doctor's queries read the indexes and counters only
            (found,) = backend.invariants_check(NOW, repair)
            assert (found.kind, found.repaired) == ("damaged_file", False)
            assert ".recover" in found.detail
    finally:
        backend.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB file system of its own (tmpfs: needs root), unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], check=False).returncode
    ):
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def _fill(disk: Path) -> None:
    with (disk / "filler").open("wb", buffering=0) as filler, contextlib.suppress(OSError):  # ENOSPC
        while True:
            filler.write(bytes(65536))


def test_on_a_full_disk_a_database_says_so_or_opens_and_reads(small_disk: Path) -> None:
    url = f"sqlite:///{small_disk / 'jobs.db'}"
    backend = conveyor.connect(url)
    make_job(backend)
    backend.close()  # the last connection: -wal and -shm go
    _fill(small_disk)
    try:
        reader = conveyor.connect(url)
    except BackendUnavailableError as exc:  # SQLite could not make the -shm: "disk I/O error", no more
        assert "the disk holding it is full" in str(exc)
        return
    try:  # a database opened already up to date is only read (no schema version written)
        assert reader.jobs_count(None, [conveyor.JobStatus.QUEUED]) == 1
    finally:
        reader.close()


def test_a_database_that_becomes_read_only_fails_writes_as_a_store_failure_until_it_is_writable(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.db"
    backend = conveyor.connect(f"sqlite:///{path}")
    immutable = False
    try:
        make_job(backend)
        # root writes through permission bits, not through the immutable attribute
        immutable = subprocess.run(["chattr", "+i", str(path)], check=False, capture_output=True).returncode == 0
        if not immutable:
            pytest.skip("chattr +i is not available here")
        with ThreadPoolExecutor(max_workers=1) as thread:  # a thread opening its connection now
            with pytest.raises(BackendError, match="read-only"):  # a ConfigurationError stopped the worker
                thread.submit(make_job, backend).result()
            subprocess.run(["chattr", "-i", str(path)], check=True)
            immutable = False
            thread.submit(make_job, backend).result()  # opened again, writable: not read-only for ever
        assert backend.jobs_count(None, [conveyor.JobStatus.QUEUED]) == 2
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        backend.close()
