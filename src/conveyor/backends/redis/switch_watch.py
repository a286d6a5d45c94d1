"""Following a failover the moment it happens: a thread that hears the Sentinels announce
a new primary (their ``+switch-master`` channel) and has the client's connections leave
the old one at once.

Without it, connections made before a failover go on talking to the old primary until
Sentinel demotes it (some 10 s later, or when it comes back after a crash), and the
writes they make there meanwhile are lost at the demotion. redis-py (up to 8.1 at least)
asks the Sentinels only when a connection connects, and listens to no announcement.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import weakref
from collections.abc import Callable
from typing import Any

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from .sentinel import FollowingSentinel

log = logging.getLogger("conveyor.backends.redis")

CHANNEL = "+switch-master"
THREAD_NAME = "conveyor-sentinel-watch"
_QUIET = 10.0
"""Seconds without a word from the Sentinel before asking it for one (a PING): a
subscription whose Sentinel vanished behind a partition would otherwise wait forever."""
_RETRY_FIRST, _RETRY_LAST = 0.5, 30.0
"""Seconds before subscribing again once no Sentinel would take the subscription:
doubling from the first to the last."""

Address = tuple[str, int]


def interrupt(connection: Any) -> None:
    """End whatever the connection is doing as a lost connection, from any thread.

    Shutting the socket down (not closing it: the thread using it closes it) makes a read
    in progress, or the next one, find the connection closed, which redis-py raises as
    its ConnectionError and conveyor as an outage; the pool's and scripts.py's checks of
    an idle connection find it closed and reconnect, asking the Sentinels again. (A TLS
    socket is shut down below TLS: its reader sees the end of the stream, never a
    half-read record.) A connection a parent process made is left alone: its socket is
    the parent's too, and the parent's own watch follows its switches."""
    sock = connection._sock
    if sock is not None and connection.pid == os.getpid():
        with contextlib.suppress(OSError):  # (closed meanwhile by its thread)
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


class SwitchWatch:
    """One client's subscription to its Sentinels' announcements of a new primary of its
    service, in a daemon thread: ``switched`` gets the new primary's address.

    The thread listens to one Sentinel at a time, the next when one fails (waiting 0.5 s
    doubling to 30 s once none would take it). Each time a Sentinel confirms the
    subscription, the primary is asked for once: a switch announced while no one was
    listening is followed too. A forked child gets a thread of its own (see _forked)."""

    def __init__(self, sentinels: FollowingSentinel, service: str, switched: Callable[[Address], None]) -> None:
        self._sentinels = sentinels
        self._service = service
        self._switched = switched
        self._start()
        _WATCHES.add(self)

    def _start(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()  # (the connection listening, which close() interrupts)
        self._listening: Any = None
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        self._thread.start()

    def _forked(self) -> None:
        """In a forked child: the thread did not come along, and what the parent's held at
        the fork stays held (its lock while it connected, its Event's while it waited), so
        the child watches anew with its own; the socket it listened on is the parent's
        too, closed here without shutting it down (redis-py's disconnect in a child)."""
        if self._stop.is_set():
            return
        if self._listening is not None:
            self._listening.disconnect()
        self._start()

    def close(self) -> None:
        _WATCHES.discard(self)
        self._stop.set()
        with self._lock:
            if self._listening is not None:
                interrupt(self._listening)
        if threading.current_thread() is not self._thread:  # (a backend collected on this thread closes it)
            self._thread.join(timeout=10)

    def _run(self) -> None:
        delay, warned, crashed = _RETRY_FIRST, False, False
        while not self._stop.is_set():
            failures = []
            for sentinel in list(self._sentinels.sentinels):
                try:
                    failure = self._listen(sentinel)
                except Exception as exc:  # a bug, or a redis-py release changed what the watch relies on
                    if not crashed:  # (logged whole once: the round repeats it every 30 s at most)
                        log.exception("Redis Sentinel: the watch for a new primary failed; it starts over")
                        crashed = True
                    failure = f"{type(exc).__name__}: {exc}"
                if failure is None or self._stop.is_set():
                    break  # it listened, then lost the Sentinel: a new round, from the first
                failures.append(failure)
            if failures and len(failures) == len(self._sentinels.sentinels):
                if not warned:
                    log.warning(
                        "Redis Sentinel: no Sentinel takes a subscription to %s (%s); until one does, a failover is "
                        "followed when the old primary's connections fail", CHANNEL, "; ".join(failures),
                    )  # fmt: skip
                    warned = True
                self._stop.wait(delay)
                delay = min(delay * 2, _RETRY_LAST)
            else:
                delay, warned = _RETRY_FIRST, False
                self._stop.wait(_RETRY_FIRST)  # (a Sentinel that takes it and drops it at once is not hammered)

    def _listen(self, sentinel: redis.Redis) -> str | None:
        """Subscribe to one Sentinel and follow what it announces, until it or the watch
        stops: why the subscription could not be made, or None if it was."""
        pool = sentinel.connection_pool
        connection = pool.connection_class(**pool.connection_kwargs)  # (its own: not one of the pool's)
        where = "{host}:{port}".format_map(pool.connection_kwargs)
        confirmed = False
        try:
            with self._lock:  # (connected under it: close() then finds a socket to interrupt)
                if self._stop.is_set():
                    return None
                self._listening = connection
                connection.send_command("SUBSCRIBE", CHANNEL)
            asked = False
            while not self._stop.is_set():
                if not connection.can_read(timeout=_QUIET):
                    if asked:
                        raise RedisConnectionError(f"no answer from the Sentinel at {where} in {_QUIET} s")
                    connection.send_command("PING")
                    asked = True
                    continue
                reply = connection.read_response(push_request=True)  # (hiredis takes it for a push)
                asked = False
                kind = reply[0] if isinstance(reply, list) else reply  # (a Sentinel answers PING with PONG)
                if kind == b"subscribe":
                    confirmed = True
                    self._catch_up()
                elif kind == b"message":
                    self._heard(reply[2], sentinel)
        except RedisError as exc:
            if not confirmed:
                return f"{where}: {exc}"
        finally:
            with self._lock:
                self._listening = None
            connection.disconnect()
        return None

    def _catch_up(self) -> None:
        """Follow a switch made while no Sentinel was listened to (none found: a failover
        under way, which its announcement will tell)."""
        try:
            primary = self._sentinels.discover_master(self._service)
        except RedisError:
            return
        self._switched(_address(primary))

    def _heard(self, announcement: bytes, sentinel: redis.Redis) -> None:
        """``<service> <old ip> <old port> <new ip> <new port>``: another service's is not ours."""
        fields = announcement.decode(errors="replace").split()
        if len(fields) == 5 and fields[0] == self._service:
            primary = _address((fields[3], fields[4]))
            self._sentinels.announced(self._service, primary, sentinel)
            self._switched(primary)


def _address(primary: Any) -> Address:
    return str(primary[0]), int(primary[1])


_WATCHES: weakref.WeakSet[SwitchWatch] = weakref.WeakSet()
"""The process's watches not closed, for a forked child to start again."""


def _after_fork_in_child() -> None:
    for watch in list(_WATCHES):
        watch._forked()


os.register_at_fork(after_in_child=_after_fork_in_child)
