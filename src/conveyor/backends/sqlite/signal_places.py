"""Where the processes of one database file find each other's signal sockets, and who
may use them.

Every process that may write the database must be able to wake its workers, whichever
user runs it: a web app running as www-data enqueues, workers running as another user
of the same group run the jobs. So the sockets live beside the database, in
``<database>-wake/``, which takes the database file's sharing as SQLite's own ``-wal``
and ``-shm`` do: the classes of users (group, others) that may write the file may bind
and signal there, the directory and the sockets belong to the file's group (set-group-ID,
so every socket bound in it does), and a process running as root gives them to the
file's owner. A directory private to each user (the temp dir's, as before) would let a
user signal only their own workers: the others waited out their poll interval.

The per-user directory under the temp dir stays as the fallback for a receiver that
cannot bind beside the database (a path too long for a socket, a directory it may not
write, a file system without sockets); senders signal both.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from pathlib import Path
from typing import NamedTuple

SOCKET_PATH_MAX = 103
"""Longest socket path, in bytes, every platform binds (macOS: 104 with the final NUL; Linux 108)."""
SOCKET_NAME_ROOM = 32
"""Bytes kept for ``/<pid>-<8 hex>.<suffix>`` after the directory."""


class Place(NamedTuple):
    """A directory that may hold the database's sockets, and whether it is shared by
    every user who may write the database (else private to this user)."""

    directory: Path
    shared: bool


def signal_places(database_path: str) -> tuple[Place, ...]:
    """Where to look for the database's sockets, in the order a receiver tries to bind:
    beside the database when a socket path there fits, then the user's own directory
    under the temp dir. Links are resolved, as SQLite resolves them for its ``-wal``: a
    process that opens the database through a link and one that opens its real path
    meet in one place."""
    path = os.path.realpath(database_path)
    digest = hashlib.blake2b(path.encode(), digest_size=8).hexdigest()
    private = Place(Path(tempfile.gettempdir()) / f"conveyor-wake-{os.getuid()}-{digest}", shared=False)
    beside = Path(f"{path}-wake")
    if len(os.fsencode(beside)) + SOCKET_NAME_ROOM > SOCKET_PATH_MAX:
        return (private,)
    return (Place(beside, shared=True), private)


def prepare(place: Place, database_path: str) -> None:
    """Make the place's directory if it is not there: shared as the database file is, or
    private. OSError when it cannot be made."""
    if not place.shared:
        place.directory.mkdir(mode=0o700, exist_ok=True)
        return
    try:
        place.directory.mkdir(mode=0o700)
    except FileExistsError:
        return  # made by another process, shared as it should be (or not this user's to change)
    found = _database(database_path)
    if found is None:
        return
    # through the directory made, not its path: whoever may write the database's directory
    # may put a link to any file there meanwhile, and a root process would give it away
    made = os.open(place.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        if os.fstat(made).st_uid != os.geteuid():
            raise PermissionError(f"{place.directory} was replaced by another user's directory")
        with contextlib.suppress(OSError):  # (a group this user is not in: that group's processes fall back)
            os.chown(made, _owner(found), found.st_gid)
        os.chmod(made, stat.S_IRWXU | _for_writers(found.st_mode, 0o7, stat.S_ISGID))
    finally:
        os.close(made)


def share_socket(place: Place, path: Path, database_path: str) -> None:
    """Let the users who may write the database signal the socket just bound at ``path``
    in ``place`` (sending to a Unix socket takes write permission on its file)."""
    found = _database(database_path) if place.shared else None
    if found is None:
        return
    # never through a link: another user who may write the directory may have put one
    # in the socket's place, to a file of this user's (or, for root, anyone's)
    with contextlib.suppress(OSError):
        os.chown(path, _owner(found), found.st_gid, follow_symlinks=False)
    _chmod_not_a_link(path, stat.S_IRUSR | stat.S_IWUSR | _for_writers(found.st_mode, 0o6))


def _chmod_not_a_link(path: Path, mode: int) -> None:
    """chmod ``path`` itself; OSError if it is a symbolic link (which Linux cannot chmod)."""
    try:
        os.chmod(path, mode, follow_symlinks=False)
    except NotImplementedError:  # Linux: the path is a link (or the C library is older than 2.32)
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise PermissionError(f"{path} is a symbolic link, not this process's socket") from None
        os.chmod(path, mode)


def _database(database_path: str) -> os.stat_result | None:
    try:
        return os.stat(database_path)
    except OSError:
        return None


def _owner(found: os.stat_result) -> int:
    """The database's owner for root (as SQLite gives it the -wal and -shm root makes);
    -1, unchanged, for anyone else (who cannot give a file away)."""
    return found.st_uid if os.geteuid() == 0 else -1


def _for_writers(mode: int, bits: int, group_extra: int = 0) -> int:
    """``bits`` (one octal digit) for the group and for others, for each that may write
    the file of ``mode``; ``group_extra`` too when the group may."""
    granted = 0
    if mode & stat.S_IWGRP:
        granted |= bits << 3 | group_extra
    if mode & stat.S_IWOTH:
        granted |= bits
    return granted
