"""The Redis backend's connection: opening and checking it, and every call made on it.

Every call goes through ``_call``, which turns redis-py's errors into conveyor's (see
errors.py) and follows a Redis Cluster node's MOVED; ``_run`` calls one of conveyor's
functions (scripts.py). The other parts of the backend are mixins of this class.
"""

from __future__ import annotations

import functools
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

import redis
from redis.exceptions import AuthenticationError, NoPermissionError, ReadOnlyError, RedisError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.sentinel import SentinelManagedConnection

from conveyor.exceptions import BackendError, BackendUnavailableError, ConfigurationError
from conveyor.urls import masked_url

from .errors import conveyor_error, moved, refused_for_now
from .keys import KeySpace
from .scripts import Scripts
from .sentinel import close_sentinels, is_sentinel_url, sentinel_client
from .switch_watch import SwitchWatch, interrupt

T = TypeVar("T")
log = logging.getLogger("conveyor.backends.redis")
# A Redis that stops answering (paused, swapping, a network partition) shows up as an error
# after this many seconds; blocking reads wait in slices well inside it.
SOCKET_TIMEOUT = 15.0
_LONGEST_BLOCK = 5.0
# About fifty times what storing (or changing) a job costs an idle Redis, so that a Redis
# sharing a busy machine still answers in time: a script over 20,000 jobs gets 10 s more
# to be answered, one over a million 500 s. (Ten times was not enough: on a machine with
# four busy processes per core, starting a batch of 20,000 jobs outlasted it.)
_SECONDS_PER_JOB = 0.0005


def optional_arg(value: object) -> bytes | str:
    """An optional script argument: '' for None, else '=' and the value."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return b"=" + value
    return "=" + (repr(value) if isinstance(value, float) else str(value))


class _HandshakeTimedSSLConnection(redis.SSLConnection):
    """A TLS connection whose handshake gives up after the connect timeout.

    redis-py runs the handshake under the socket timeout (the read timeout, longer), so
    ``rediss://`` pointed at a plain Redis port waited that long to fail.
    """

    def _connect(self) -> Any:
        read_timeout = self.socket_timeout
        self.socket_timeout = self.socket_connect_timeout
        try:
            sock = super()._connect()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
        except TimeoutError:
            raise RedisConnectionError(
                f"no TLS connection to {self.host}:{self.port} within {self.socket_connect_timeout} s"
                " (does that port serve TLS? rediss:// needs Redis's tls-port)"
            ) from None
        finally:
            self.socket_timeout = read_timeout
        sock.settimeout(read_timeout)
        return sock


class _SentinelTLSConnection(SentinelManagedConnection, _HandshakeTimedSSLConnection):
    """A TLS connection to the primary the Sentinels name (rediss+sentinel://)."""


def _client(url: str, **options: Any) -> Any:
    """A redis-py client of the URL's Redis, or of the primary its Sentinels name (see sentinel.py)."""
    tls = url.lower().startswith("rediss")
    if not url.startswith("unix:"):
        options["socket_keepalive"] = True
    if is_sentinel_url(url):
        return sentinel_client(url, _SentinelTLSConnection if tls else SentinelManagedConnection, **options)
    if tls:
        options["connection_class"] = _HandshakeTimedSSLConnection
    return redis.Redis.from_url(url, **options)


class RedisConnection:
    """A client of one Redis, for one conveyor namespace: the base of RedisBackend."""

    def __init__(self, url: str, *, prefix: str = "conveyor") -> None:
        # what connect() opens again (a job's child process does): with the prefix
        self.url = url if prefix == "conveyor" else f"{url}{'&' if '?' in url else '?'}{urlencode({'prefix': prefix})}"
        self.keys = KeySpace(prefix)
        # Any: redis-py types its sync client's replies as sync-or-async unions.
        self._redis: Any = _client(
            url, socket_connect_timeout=5, socket_timeout=SOCKET_TIMEOUT, health_check_interval=30
        )
        options = self._redis.connection_pool.connection_kwargs
        if options.get("decode_responses") or str(options.get("protocol") or 2) != "2":
            raise ConfigurationError(
                f"the Redis URL {masked_url(url)!r} changes how Redis's replies are read (decode_responses, "
                "protocol): conveyor reads them as bytes over RESP2, its default; drop those options"
            )
        for name in ("socket_timeout", "socket_connect_timeout"):
            if options.get(name) is not None and not options[name] > 0:  # 0: a non-blocking socket, not "none"
                raise ConfigurationError(
                    f"{name} in the Redis URL {masked_url(url)!r} must be a positive number of seconds, "
                    f"got {options[name]!r}"
                )
        self._block_slice = _block_slice(options.get("socket_timeout"))
        self._scripts = Scripts(self._redis, self.keys)
        self._following = threading.Lock()
        # the URL's node (Redis Cluster: see _follow); none when the Sentinels say where to go
        self._seed = None if is_sentinel_url(url) else _node(options)
        try:
            self._call(self._redis.ping)  # fail at connect() when Redis cannot be reached
        except BackendError as exc:
            if "DB index is out of range" in str(exc):
                db = self._redis.connection_pool.connection_kwargs.get("db")
                raise ConfigurationError(
                    f"Redis at {masked_url(url)} has no database {db}: it has as many as its `databases` "
                    "setting says (16 by default), numbered from 0"
                ) from None
            raise
        self._switch_watch: SwitchWatch | None = None
        self._stop_watch: Callable[[], Any] = lambda: None
        if is_sentinel_url(url):  # (started once connected: a failed connect() leaves no thread behind)
            pool = self._redis.connection_pool
            switched = weakref.WeakMethod(self._primary_switched)  # the watch must not keep this alive

            def follow(primary: tuple[str, int]) -> None:
                method = switched()
                if method is not None:
                    method(primary)

            self._switch_watch = watch = SwitchWatch(pool.sentinel_manager, pool.service_name, follow)
            # a backend dropped without close() (one per request) ends its thread and subscription
            self._stop_watch = weakref.finalize(self, watch.close)
            self._stop_watch.atexit = False

    def close(self) -> None:
        self._stop_watch()
        self._scripts.close()
        self._redis.close()
        close_sentinels(self._redis)

    def _call(self, operation: Callable[[], T], *, followed: bool = False) -> T:
        try:
            return operation()
        except RedisTimeoutError as exc:  # sent, maybe carried out, unanswered
            raise BackendUnavailableError(
                f"Redis at {masked_url(self.url)} cannot be reached: no answer ({exc}); "
                "a write sent just before may still take effect"
            ) from exc
        except AuthenticationError as exc:  # a ConnectionError: retried, a rotated password may come back
            raise BackendUnavailableError(
                f"Redis at {masked_url(self.url)} refused the credentials ({exc}): check the user and password "
                "of the URL"
            ) from exc
        except RedisConnectionError as exc:
            seed = self._seed
            if seed is not None and _node(self._redis.connection_pool.connection_kwargs) != seed:
                self._follow(*seed)  # a followed cluster node failed: the next call asks the URL's node again
            raise BackendUnavailableError(f"Redis at {masked_url(self.url)} cannot be reached: {exc}") from exc
        except ReadOnlyError as exc:  # (never through Sentinels: their connections take it for a lost one)
            raise BackendError(
                f"Redis at {masked_url(self.url)} is a read-only replica ({exc}): point conveyor at the primary"
            ) from exc
        except ResponseError as exc:
            where = moved(exc)
            if where and not followed and self._seed is not None:  # refused, not run: resend to the slot's node
                self._follow(where.group(2), int(where.group(3)), where.group(1))
                return self._call(operation, followed=True)
            refusal = refused_for_now(exc)
            if refusal:  # refused before running, for a while: an outage to wait out, as a lost connection
                raise BackendUnavailableError(
                    f"Redis at {masked_url(self.url)} refuses this for now ({refusal}...): nothing was "
                    "written; try again"
                ) from exc
            if "SELECT is not allowed in cluster mode" in str(exc):
                raise ConfigurationError(
                    f"Redis at {masked_url(self.url)} is a Redis Cluster node: use database 0 (a cluster has no other)"
                ) from exc
            if not (isinstance(exc, NoPermissionError) or "The user executing the script can't" in str(exc)):
                raise conveyor_error(exc) from exc
            raise BackendError(
                f"Redis at {masked_url(self.url)} refused this to the URL's ACL user ({exc}): conveyor's user needs "
                f"the keys ~{self.keys.base}* and the commands the README lists under 'Redis ACL' (FUNCTION LOAD "
                "included, unless another user loaded conveyor's functions)"
            ) from exc
        except RedisError as exc:
            raise BackendError(f"Redis error: {exc}") from exc

    def _follow(self, host: str, port: int, slot: str | None = None) -> None:
        """Talk to ``host:port`` from now on: a Redis Cluster node answered that it is the one
        serving the namespace's slot (every key of a namespace shares it, so one node serves
        them all), or (no ``slot``) the node the URL names, after the one followed failed
        (a failover: the URL's node tells where the slot went). Connections made before
        reconnect there as they are next used."""
        pool = self._redis.connection_pool
        with self._following:
            if _node(pool.connection_kwargs) != (host, port):
                if slot is not None:
                    log.warning("Redis Cluster: slot %s of namespace %s is served by %s:%d now; following it",
                                slot, self.keys.prefix, host, port)  # fmt: skip
                pool.connection_kwargs.update(host=host, port=port)
            for connection in self._connections():
                connection.host, connection.port = host, port
            pool.disconnect(inuse_connections=False)  # idle ones reconnect there; busy ones on their MOVED
        self._scripts.disconnect_own()

    def _primary_switched(self, primary: tuple[str, int]) -> None:
        """The Sentinels announced a new primary: every connection to another node is
        interrupted, so that it reconnects (asking the Sentinels) at its next use, and a
        call under way there (a blocking read, a write the old primary's demotion would
        drop) ends as an outage, which its caller retries."""
        for connection in self._connections():
            if connection._sock is not None and (str(connection.host), int(connection.port)) != primary:
                interrupt(connection)

    def _connections(self) -> list[Any]:
        """Every connection of the client: the pool's, idle and in use, and scripts.py's."""
        pool = self._redis.connection_pool
        with pool._lock:
            pooled = [*pool._available_connections, *pool._in_use_connections]
        return [*pooled, *self._scripts.opened()]

    def _run(self, name: str, *args: Any, jobs: int = 0) -> Any:
        """Run a script; one that changes ``jobs`` jobs gets that much longer to answer."""
        return self._call(functools.partial(self._scripts.run, name, *args, patience=jobs * _SECONDS_PER_JOB))


def _node(options: dict[str, Any]) -> tuple[str, int]:
    """The host and port connections go to ('', 0) for a Unix socket."""
    return str(options.get("host") or ""), int(options.get("port") or 0)


def _block_slice(socket_timeout: float | None) -> float:
    """The longest a blocking read may wait: a third of the socket timeout (a URL may set
    its own), so that its reply always comes before the timeout calls Redis unreachable."""
    if socket_timeout is None:  # no timeout: any wait is safe
        return _LONGEST_BLOCK
    return max(0.01, min(_LONGEST_BLOCK, socket_timeout / 3))
