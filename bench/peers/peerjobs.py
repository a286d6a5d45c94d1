"""What the benchmark's jobs do, for every library: plain functions in an importable module.

Conveyor and RQ enqueue these functions by their import path; the other adapters wrap
them in their library's task decorators (adapters/<name>.py). Worker subprocesses get
``bench/peers`` on ``PYTHONPATH`` and the Redis URL in ``$BENCH_REDIS_URL``.

Completion is counted the same way for every library, in Redis, by the job itself:

* ``done()`` (the "no-op") records its start time as ``bench:last`` (and as
  ``bench:first`` if that is not set yet), then increments ``bench:done``. The runner
  polls the counter; the drain time is ``last - first``.
* ``started(stamp)`` pushes ``"<stamp> <time.time()>"`` onto ``bench:latency``, where
  ``stamp`` is the time taken just before the enqueue call. The runner waits on that list
  with BLPOP.

The writes go over a connection of their own that has said ``CLIENT REPLY OFF``, so a job
sends its commands in one ``sendall`` (a few microseconds) and does not wait for a round
trip. A waited-for INCR costs about one Redis round trip (over 100 us on a small virtual
machine), which would be larger than the whole per-job cost of the fastest library and
would flatten every ratio. Redis runs the commands of one connection in order, and the
counter is written last, so once the runner sees ``bench:done == n`` the times are there.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import urlparse

URL_ENV = "BENCH_REDIS_URL"

DONE_KEY = "bench:done"
FIRST_KEY = "bench:first"
LAST_KEY = "bench:last"
LATENCY_KEY = "bench:latency"


def resp(*parts: str | bytes) -> bytes:
    """One command in the Redis protocol (RESP2 multi-bulk)."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def redis_url() -> str:
    """The benchmark's Redis, as the runner passes it (never a default: not the machine's own Redis)."""
    url = os.environ.get(URL_ENV)
    if not url:
        raise RuntimeError(f"${URL_ENV} is not set: run the workers through bench/peers/run.py")
    return url


class _Recorder:
    """A fire-and-forget Redis connection, one per process, shared by its threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._pid = 0

    def _connect(self) -> socket.socket:
        url = redis_url()
        parsed = urlparse(url)
        if parsed.scheme != "redis" or not parsed.hostname or not parsed.port:
            raise RuntimeError(f"${URL_ENV} must be redis://host:port/db with an explicit port, got {url!r}")
        sock = socket.create_connection((parsed.hostname, parsed.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        hello = resp("CLIENT", "REPLY", "OFF")
        db = (parsed.path or "/0").lstrip("/") or "0"
        if db != "0":
            hello += resp("SELECT", db)
        sock.sendall(hello)
        return sock

    def send(self, make: Callable[[], bytes]) -> None:
        """Send the bytes ``make()`` returns; ``make`` runs under the lock (so times are ordered)."""
        with self._lock:
            if self._sock is None or self._pid != os.getpid():  # first use, or a forked child
                self._sock = self._connect()
                self._pid = os.getpid()
            self._sock.sendall(make())


_recorder = _Recorder()
# The no-op's message, split around its two time values, built once (saves microseconds per job):
# SET bench:first <now> NX; SET bench:last <now>; INCR bench:done.
_FIRST_HEAD = b"*4\r\n" + resp("SET", FIRST_KEY)[4:]
_NX_LAST_HEAD = resp("NX")[4:] + b"*3\r\n" + resp("SET", LAST_KEY)[4:]
_COUNT = resp("INCR", DONE_KEY)


def _done_message() -> bytes:
    now = repr(time.time()).encode()
    value = b"$%d\r\n%s\r\n" % (len(now), now)
    return _FIRST_HEAD + value + _NX_LAST_HEAD + value + _COUNT


def done() -> None:
    """The no-op job: count itself as done (see the module docstring)."""
    _recorder.send(_done_message)


def started(stamp: float) -> None:
    """The latency job: record when it began, next to the stamp taken before its enqueue."""
    now = time.time()
    _recorder.send(lambda: resp("RPUSH", LATENCY_KEY, f"{stamp!r} {now!r}"))
