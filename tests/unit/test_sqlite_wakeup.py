"""SQLite's wake-up signals: a datagram to each waiting worker's socket."""

from __future__ import annotations

import threading
from pathlib import Path

from conveyor.backends.sqlite.wakeup import Wakeup


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


def test_a_worker_that_cannot_bind_its_socket_tries_again_now_and_then_not_at_every_claim(tmp_path: Path) -> None:
    wakeup = Wakeup(str(tmp_path / "conveyor.db"))
    blocker = wakeup.directory
    blocker.write_text("a file where the socket directory should be")  # a temp dir that cannot hold it
    try:
        wakeup.listen()
        assert wakeup._receiver is None
        blocker.unlink()  # fixed, but within REBIND_AFTER of the failure: not tried again
        wakeup.listen()
        assert wakeup._receiver is None
        wakeup._unbound_until = 0.0  # as if REBIND_AFTER seconds had passed
        wakeup.listen()
        assert wakeup._receiver is not None, "bound once tried again"
    finally:
        wakeup.close()
