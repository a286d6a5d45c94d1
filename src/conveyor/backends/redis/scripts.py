"""Running the Lua code: one function library, loaded once, its functions called by name
on a connection of the calling thread.

Every transition is a function of one library (Redis 7 functions): the prelude's
helpers are defined once, when the library is loaded, instead of at every call as an
EVALSHA script's would be, which cost an enqueue about a seventh of its Redis time and
left garbage for Lua's collector. Each function resets the per-call state, runs its
body, then ``publish()`` writes what the body noted, whichever way the body returns,
so no function can change a job without publishing it. The library's name carries a
hash of its text, so servers shared by several conveyor versions hold each version's
library side by side. Calls skip redis-py's connection pool and Script wrapper: every
transition goes through here, and taking a pooled connection and releasing it again
cost about as much as the round trip to a local Redis.
"""

from __future__ import annotations

import hashlib
import os
import select
import threading
import weakref
from importlib import resources
from typing import Any, ClassVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from conveyor.backends import held
from conveyor.backends.base import EVENTS_KEPT
from conveyor.exceptions import BackendError
from conveyor.rates import START_LOG_MARGIN
from conveyor.types import RELEASED, JobRecord

from .keys import LEASES_PIN, WAKE_TOKENS_KEPT, KeySpace

NAMES = (
    "enqueue", "claim", "settle", "extend", "recover", "cancel", "stop", "requeue", "delete", "update",
    "promote", "expire", "purge", "empty", "heartbeat", "reap", "lock", "unlock",
    "batch_start", "batch_reschedule", "batch_cancel", "batch_complete", "batch_counts", "repair", "newest",
    "summaries", "serving", "shutdown", "register", "time", "cron_reap", "pause",
)  # fmt: skip
FLAGS = {
    **dict.fromkeys(("batch_counts", "newest", "summaries", "time"), "no-writes"),
    **dict.fromkeys(
        ("purge", "delete", "empty", "reap", "lock", "unlock", "extend", "heartbeat", "register", "serving",
         "shutdown", "cron_reap", "pause"),
        "allow-oom",
    ),
}  # fmt: skip
"""What Redis may run when it is out of memory (used memory over maxmemory, noeviction),
where it refuses every other function before it runs: the reads (``no-writes``, so a
listing or a batch's counts still answer), what frees memory (``allow-oom``: deleting
jobs, queues, workers and periodic jobs no scheduler runs, and the maintenance lock that retention takes first), what
keeps running jobs alive (lease renewals and worker heartbeats), registers a worker (one
started on a full store runs retention, which frees it) or stops workers: small values
rewritten in place. Without them a full Redis could never purge its way back, and the
jobs running meanwhile would lose their leases and run again once it had."""
DEFAULT_FAILURE_TTL = JobRecord.__dataclass_fields__["failure_ttl"].default
"""What an absent failure_ttl field means to the functions (see codec)."""


def library_text() -> tuple[str, str]:
    """The library's name and its source: the prelude, then each body as a registered
    function named ``<library>_<body>``."""
    folder = resources.files("conveyor.backends.redis") / "scripts"
    code = (
        f"local EVENTS_KEPT, DEFAULT_FAILURE_TTL, RELEASED = {EVENTS_KEPT}, {DEFAULT_FAILURE_TTL!r}, {RELEASED!r}\n"
        f"local LEASES_PIN, WAKE_TOKENS_KEPT = '\\001{LEASES_PIN[1:]}', {WAKE_TOKENS_KEPT}\n"
        f"local HELD_GLOBAL, HELD_QUEUE, HELD_USER, HELD_TYPE = {held.GLOBAL!r}, {held.QUEUE!r}, {held.USER!r}, "
        f"{held.JOB_TYPE!r}\nlocal HELD_QUEUE_RATE, HELD_TYPE_RATE, HELD_USER_RATE = {held.QUEUE_RATE!r}, "
        f"{held.JOB_TYPE_RATE!r}, {held.USER_RATE!r}\nlocal HELD_READ_PAST, START_LOG_MARGIN = {held.READ_PAST}, "
        f"{START_LOG_MARGIN!r}\n" + (folder / "prelude.lua").read_text()
    )
    for name in NAMES:
        code += f"\nlocal function {name}_body()\n" + (folder / f"{name}.lua").read_text() + "\nend\n"
    digest = hashlib.sha1(code.encode(), usedforsecurity=False).hexdigest()[:16]
    library = f"conveyor_{digest}"
    for name in NAMES:
        flags = f"flags = {{'{FLAGS[name]}'}}, " if name in FLAGS else ""
        code += (
            f"redis.register_function{{function_name = '{library}_{name}', {flags}callback = "
            f"function(keys, args)\n    begin(keys, args)\n    local result = {name}_body()\n    publish()\n"
            "    return result\nend}\n"
        )
    return library, f"#!lua name={library}\n{code}"


class _Forks:
    """How many forks this process descends from: a child must not use its parent's
    sockets. (Counted at fork rather than comparing os.getpid, a system call, at every
    call.)"""

    seen = 0
    scripts: ClassVar[weakref.WeakSet[Scripts]] = weakref.WeakSet()

    @classmethod
    def count(cls) -> None:
        cls.seen += 1
        for scripts in list(cls.scripts):
            # another thread of the parent may have held it at the fork (opening its
            # first connection), and would never let go of the child's copy
            scripts._opened_lock = threading.Lock()


os.register_at_fork(after_in_child=_Forks.count)


def _is_missing_function(error: BaseException) -> bool:
    """Whether a call failed for want of the library, which is then loaded; a server
    without functions at all (before Redis 7) gets a clear error instead."""
    if isinstance(error, ResponseError) and "unknown command" in str(error).lower():
        raise BackendError("conveyor needs Redis 7.0 or newer: this server has no functions (FCALL)") from error
    return isinstance(error, ResponseError) and "Function not found" in str(error)


class Scripts:
    """The functions of one namespace, on one Redis client's server."""

    def __init__(self, client: Any, keys: KeySpace) -> None:
        self._client = client
        self._keys = keys
        self._library, self._text = library_text()
        self._local = threading.local()
        # weak: a thread's connection goes (redis-py disconnects it) when the thread ends; a
        # worker starts a thread for each async job's callbacks, and job code may start its own
        self._opened: weakref.WeakSet[Any] = weakref.WeakSet()
        self._opened_lock = threading.Lock()
        _Forks.scripts.add(self)

    def _command(self, name: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return ("FCALL", f"{self._library}_{name}", 1, self._keys.seq, self._keys.base, *args)

    def _load(self) -> None:
        """Load the library (a new or restarted Redis without persistence lacks it)."""
        self._client.execute_command("FUNCTION", "LOAD", "REPLACE", self._text)

    def run(self, name: str, *args: Any, patience: float = 0.0) -> Any:
        """Run a function with the namespace's routing key and key base, then ``args``.
        ``patience`` seconds are added to the socket timeout for this call (one storing a
        million jobs runs for seconds). Raises redis-py's errors (the backend maps them)."""
        connection = self._connection()
        command = self._command(name, args)
        if patience:
            connection._sock.settimeout(connection.socket_timeout + patience)
        try:
            try:
                connection.send_command(*command)
                return connection.read_response()
            except ResponseError as error:
                if not _is_missing_function(error):
                    raise
                self._load()
                connection.send_command(*command)
                return connection.read_response()
        except (RedisConnectionError, RedisTimeoutError):
            connection.disconnect()  # reconnects at the next call
            raise
        finally:
            if patience and connection._sock is not None:
                connection._sock.settimeout(connection.socket_timeout)

    def run_after(self, command: tuple[Any, ...], name: str, *args: Any) -> Any:
        """Send ``command`` (a blocking pop) and the function call together, so that Redis
        runs the function the moment the command returns; the command's reply is dropped."""
        connection = self._connection()
        script = self._command(name, args)
        replies: list[Any] = []
        try:
            connection.send_packed_command(connection.pack_commands([command, script]))
            for _ in range(2):  # both replies, errors included, so that none is left unread
                try:
                    replies.append(connection.read_response())
                except ResponseError as error:
                    replies.append(error)
        except (RedisConnectionError, RedisTimeoutError):
            connection.disconnect()
            raise
        if _is_missing_function(replies[1]):
            return self.run(name, *args)
        if isinstance(replies[1], ResponseError):
            raise replies[1]
        return replies[1]

    def _connection(self) -> Any:
        """This thread's connection, checked as the pool checks one it hands out: a reply
        waiting before a request means the server closed it (a restart), so reconnect
        rather than fail a call that never reached the new server. The check is one
        poll of the socket (redis-py's can_read costs three system calls); a forked
        child opens connections of its own."""
        local = self._local
        if getattr(local, "forks", None) != _Forks.seen:
            local.connection = self._client.connection_pool.make_connection()
            local.forks, local.socket = _Forks.seen, None
            with self._opened_lock:
                self._opened.add(local.connection)
        connection = local.connection
        if connection._sock is not None and connection._sock is local.socket and local.poll.poll(0):
            connection.disconnect()  # readable before a request: closed by the server
        if connection._sock is None:
            connection.connect()
        if connection._sock is not local.socket:
            local.socket, local.poll = connection._sock, select.poll()
            local.poll.register(local.socket, select.POLLIN)
        return connection

    def opened(self) -> list[Any]:
        """The connections of every thread (for a move to another Redis Cluster node)."""
        with self._opened_lock:
            return list(self._opened)

    def disconnect_own(self) -> None:
        """Close this thread's connection: it connects afresh at its next call."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.disconnect()

    def close(self) -> None:
        with self._opened_lock:
            opened, self._opened = list(self._opened), weakref.WeakSet()
        for connection in opened:
            connection.disconnect()
