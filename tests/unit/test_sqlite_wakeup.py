"""SQLite's wake-up signals: a datagram to each waiting worker's socket."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.backends.sqlite import wakeup
from conveyor.backends.sqlite.signal_places import Place, prepare, share_socket, signal_places
from conveyor.backends.sqlite.wakeup import Wakeup

NOBODY = 65534
SHARING_GROUP = 4242
"""A group of the database file that user nobody is given for the test (setpriv --groups)."""
SETPRIV = shutil.which("setpriv")


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path, so that a socket path beside a database in it fits
    (pytest's tmp_path is too long for one: the sockets would go to the temp dir)."""
    directory = Path(tempfile.mkdtemp(prefix="cv-"))
    yield directory
    shutil.rmtree(directory)


def waits_for_a_signal(receiver: Wakeup) -> threading.Thread:
    waiting = threading.Thread(target=receiver.wait, args=(30,), daemon=True)
    waiting.start()
    return waiting


def assert_signalled(sender: Wakeup, receiver: Wakeup, who: str) -> None:
    """The sender's notify wakes the receiver's wait (within a few seconds)."""
    waiting = waits_for_a_signal(receiver)
    sender.notify()
    waiting.join(4)
    assert not waiting.is_alive(), f"{who} was not signalled"


def test_a_worker_that_listens_just_after_a_sender_listed_the_sockets_is_signalled(tmp_path: Path) -> None:
    # file times move in clock ticks: the second socket, bound in the tick of the
    # sender's listing, may leave the directory's mtime as the listing saw it
    path = str(tmp_path / "conveyor.db")
    sender, first, second = Wakeup(path), Wakeup(path), Wakeup(path)
    try:
        first.listen()
        sender.notify()  # lists the directory: the first worker's socket
        second.listen()
        sender.notify()
        waiting = threading.Thread(target=second.wait, args=(30,), daemon=True)
        waiting.start()
        waiting.join(4)
        assert not waiting.is_alive(), "the second worker was not signalled"
    finally:
        for wakeup in (sender, first, second):
            wakeup.close()


def test_a_worker_that_cannot_bind_its_socket_tries_again_now_and_then_not_at_every_claim(short_dir: Path) -> None:
    wakeup = Wakeup(str(short_dir / "conveyor.db"))
    blockers = [place.directory for place in wakeup.places]
    assert len(blockers) == 2, "beside the database, then the temp dir"
    for blocker in blockers:  # places that cannot hold it
        blocker.write_text("a file where the socket directory should be")
    try:
        wakeup.listen()
        assert wakeup._receiver is None
        for blocker in blockers:  # fixed, but within REBIND_AFTER of the failure: not tried again
            blocker.unlink()
        wakeup.listen()
        assert wakeup._receiver is None
        wakeup._unbound_until = 0.0  # as if REBIND_AFTER seconds had passed
        wakeup.listen()
        assert wakeup._receiver is not None, "bound once tried again"
    finally:
        wakeup.close()


def test_a_worker_that_cannot_bind_beside_the_database_binds_in_the_temp_dir_and_is_signalled(short_dir: Path) -> None:
    path = str(short_dir / "conveyor.db")
    sender, receiver = Wakeup(path), Wakeup(path)
    beside, private = receiver.places
    beside.directory.write_text("a file where the socket directory should be")
    try:
        receiver.listen()
        assert receiver._receiver_path is not None and receiver._receiver_path.parent == private.directory
        assert_signalled(sender, receiver, "the worker bound in the temp dir")
    finally:
        for wakeup in (sender, receiver):
            wakeup.close()
        beside.directory.unlink()


def test_a_process_that_opens_the_database_through_a_link_wakes_workers_that_opened_its_real_path(
    short_dir: Path,
) -> None:
    real = short_dir / "real" / "conveyor.db"
    real.parent.mkdir()
    (short_dir / "link").mkdir()
    linked = short_dir / "link" / "conveyor.db"
    linked.symlink_to(real)
    sender, receiver = Wakeup(str(linked)), Wakeup(str(real))
    try:
        receiver.listen()
        assert [place.directory for place in sender.places] == [place.directory for place in receiver.places]
        assert_signalled(sender, receiver, "the worker on the real path")
    finally:
        for wakeup in (sender, receiver):
            wakeup.close()


def test_the_sockets_beside_the_database_are_shared_as_the_database_file_is(short_dir: Path) -> None:
    database = short_dir / "conveyor.db"
    database.touch()
    os.chown(database, -1, os.getgid())
    database.chmod(0o664)  # the group may write it
    receiver = Wakeup(str(database))
    try:
        receiver.listen()
        socket_path = receiver._receiver_path
        assert socket_path is not None and socket_path.parent == Path(f"{database}-wake")
        directory_mode = socket_path.parent.stat().st_mode
        assert stat.S_IMODE(directory_mode) & 0o070 == 0o070, "the group may bind and signal there"
        assert directory_mode & stat.S_ISGID, "sockets bound there belong to the database's group"
        assert stat.S_IMODE(socket_path.stat().st_mode) & 0o060 == 0o060, "the group may signal the socket"
        assert stat.S_IMODE(directory_mode) & 0o007 == 0, "others may not: they may not write the file"
    finally:
        receiver.close()
    assert not Path(f"{database}-wake").exists(), "the last worker of the database tidies up"


def test_a_private_database_gets_a_private_socket_directory(short_dir: Path) -> None:
    database = short_dir / "conveyor.db"
    database.touch()
    database.chmod(0o644)
    receiver = Wakeup(str(database))
    try:
        receiver.listen()
        assert receiver._receiver_path is not None
        assert stat.S_IMODE(receiver._receiver_path.parent.stat().st_mode) == 0o700
    finally:
        receiver.close()


@pytest.mark.skipif(os.geteuid() != 0 or SETPRIV is None, reason="needs root and setpriv to run as another user")
def test_a_process_of_another_user_who_may_write_the_database_wakes_its_workers(short_dir: Path) -> None:
    # a web app running as one user enqueues, a worker running as another runs the jobs;
    # they share the file through its group. Each user's sockets went to a temp directory
    # of their own, where the other never looked: the worker waited out its poll interval.
    short_dir.chmod(0o775)
    os.chown(short_dir, 0, SHARING_GROUP)
    database = short_dir / "conveyor.db"
    database.touch()
    os.chown(database, 0, SHARING_GROUP)
    database.chmod(0o664)
    receiver = Wakeup(str(database))  # a worker running as root
    try:
        receiver.listen()
        waiting = waits_for_a_signal(receiver)
        notify = f"from conveyor.backends.sqlite.wakeup import Wakeup; Wakeup({str(database)!r}).notify()"
        sent = subprocess.run(
            [SETPRIV, f"--reuid={NOBODY}", f"--regid={NOBODY}", f"--groups={SHARING_GROUP}", sys.executable, "-c",
             notify],
            check=False, capture_output=True, text=True, timeout=60,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )  # fmt: skip
        if sent.returncode != 0 and "ModuleNotFoundError" in sent.stderr:
            pytest.skip(f"user nobody cannot import this checkout: {sent.stderr.strip().splitlines()[-1:]}")
        assert sent.returncode == 0, sent.stderr
        waiting.join(4)
        assert not waiting.is_alive(), "the worker was not signalled by the other user's process"
    finally:
        receiver.close()


def shared_database(directory: Path) -> Path:
    """A database file its group may write, so its sockets' directory is shared."""
    database = directory / "conveyor.db"
    database.touch()
    os.chown(database, -1, os.getgid())
    database.chmod(0o664)
    return database


def test_sharing_a_socket_never_changes_the_file_a_link_in_its_place_points_to(short_dir: Path) -> None:
    # another user who may write the socket directory may put a link where a worker just
    # bound its socket, before the worker shares it: chmod (and, as root, chown) followed it
    database = shared_database(short_dir)
    place = signal_places(str(database))[0]
    place.directory.mkdir()
    secret = short_dir / "secret"
    secret.touch()
    secret.chmod(0o600)
    link = place.directory / "123-0badf00d.sock"
    link.symlink_to(secret)
    with contextlib.suppress(OSError):  # (refused on Linux; macOS changes the link itself)
        share_socket(place, link, str(database))
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600, "the linked file was shared"


def test_sharing_the_socket_directory_never_changes_a_directory_a_link_in_its_place_points_to(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # whoever may write the database's directory may swap the socket directory just made
    # for a link before it is shared: chmod (and, as root, chown) followed it
    database = shared_database(short_dir)
    place = signal_places(str(database))[0]
    private = short_dir / "private"
    private.mkdir(mode=0o700)
    make_directory = os.mkdir

    def made_then_swapped(path: str | os.PathLike[str], mode: int = 0o777) -> None:
        make_directory(path, mode)
        os.rmdir(path)
        os.symlink(private, path)

    monkeypatch.setattr(os, "mkdir", made_then_swapped)
    with pytest.raises(OSError):
        prepare(place, str(database))
    monkeypatch.undo()
    assert stat.S_IMODE(private.stat().st_mode) == 0o700, "the linked directory was shared"


def test_a_worker_binds_beside_the_database_though_the_last_worker_leaving_removed_the_directory_meanwhile(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the last worker to close removes the empty directory: a worker that found it there
    # then failed to bind in it, and fell back to the temp dir for as long as it ran,
    # where another user's process never signals it
    database = shared_database(short_dir)
    receiver = Wakeup(str(database))
    beside = receiver.places[0].directory
    leaving = [True]

    def prepared_then_removed(place: Place, database_path: str) -> None:
        prepare(place, database_path)
        if place.shared and leaving:
            leaving.pop()
            place.directory.rmdir()  # (what the leaving worker's close does, found empty)

    monkeypatch.setattr(wakeup, "prepare", prepared_then_removed)
    try:
        receiver.listen()
        assert receiver._receiver_path is not None and receiver._receiver_path.parent == beside
    finally:
        receiver.close()
