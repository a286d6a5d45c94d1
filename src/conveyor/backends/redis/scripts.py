"""Running the Lua scripts: loaded once, called by SHA on a connection of the calling thread.

Each script is the prelude, then its body as a function whose changes ``publish()``
writes afterwards, whichever way the body returns, so no script can change a job
without publishing it. Calls skip redis-py's connection pool and Script wrapper: every
transition goes through here, and taking a pooled connection and releasing it again
cost about as much as the round trip to a local Redis.
"""

from __future__ import annotations

import hashlib
import os
import threading
from importlib import resources
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from conveyor.backends.base import EVENTS_KEPT
from conveyor.types import JobRecord

from .keys import KeySpace

NAMES = (
    "enqueue", "claim", "settle", "extend", "recover", "cancel", "stop", "requeue", "delete", "update",
    "promote", "expire", "purge", "empty", "heartbeat", "reap", "lock", "unlock",
    "batch_start", "batch_reschedule", "batch_cancel", "batch_complete", "batch_counts", "repair",
)  # fmt: skip
DEFAULT_FAILURE_TTL = JobRecord.__dataclass_fields__["failure_ttl"].default
"""What an absent failure_ttl field means to the scripts (see codec)."""


def script_text(name: str) -> str:
    folder = resources.files("conveyor.backends.redis") / "scripts"
    return (
        f"local EVENTS_KEPT, DEFAULT_FAILURE_TTL = {EVENTS_KEPT}, {DEFAULT_FAILURE_TTL!r}\n"
        + (folder / "prelude.lua").read_text()
        + "\nlocal function main()\n"
        + (folder / f"{name}.lua").read_text()
        + "\nend\nlocal result = main()\npublish()\nreturn result\n"
    )


class Scripts:
    """The scripts of one namespace, on one Redis client's server."""

    def __init__(self, client: Any, keys: KeySpace) -> None:
        self._client = client
        self._keys = keys
        self._texts = {name: script_text(name) for name in NAMES}
        self._shas = {
            name: hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest() for name, text in self._texts.items()
        }
        self._local = threading.local()
        self._opened: list[Any] = []
        self._opened_lock = threading.Lock()

    def run(self, name: str, *args: Any) -> Any:
        """Run a script with the namespace's routing key and key base, then ``args``.
        Raises redis-py's errors (the backend maps them)."""
        connection = self._connection()
        command = ("EVALSHA", self._shas[name], 1, self._keys.seq, self._keys.base, *args)
        try:
            try:
                connection.send_command(*command)
                return connection.read_response()
            except NoScriptError:  # a restarted or flushed Redis: load it, once per server
                self._client.script_load(self._texts[name])
                connection.send_command(*command)
                return connection.read_response()
        except (RedisConnectionError, RedisTimeoutError):
            connection.disconnect()  # reconnects at the next call
            raise

    def _connection(self) -> Any:
        """This thread's connection, checked as the pool checks one it hands out: a reply
        waiting before a request means the server closed it (a restart), so reconnect
        rather than fail a call that never reached the new server."""
        connection = getattr(self._local, "connection", None)
        if connection is None or self._local.pid != os.getpid():
            connection = self._client.connection_pool.make_connection()
            self._local.connection, self._local.pid = connection, os.getpid()
            with self._opened_lock:
                self._opened.append(connection)
        try:
            if connection.can_read():
                raise RedisConnectionError("unexpected data before a request")
        except (RedisConnectionError, RedisTimeoutError, OSError):
            connection.disconnect()
            connection.connect()
        return connection

    def close(self) -> None:
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            connection.disconnect()
