"""``connect(url)``: pick the backend by URL scheme, importing it only when used."""

from __future__ import annotations

import functools
import os
import re
from typing import cast
from urllib.parse import parse_qs, unquote, urlencode, urlparse

from conveyor.backends.base import Backend
from conveyor.backends.readonly import ReadOnlyBackend
from conveyor.exceptions import ConfigurationError
from conveyor.extras import install_command
from conveyor.urls import SENTINEL_SCHEMES, masked_url

DEFAULT_URL = "sqlite:///./conveyor.db"
_SYNCHRONOUS = {"OFF", "NORMAL", "FULL", "EXTRA"}


def connect(url: str | None = None, *, read_only: bool = False) -> Backend:
    """Open the backend at ``url``, else ``$CONVEYOR_URL``, else ``./conveyor.db``.

    ``read_only=True`` opens it without writing: every write is refused
    (ReadOnlyStoreError), and a SQLite file is opened read-only, neither created nor
    migrated, so a file the user may only read can be inspected.

    ``sqlite:///relative.db`` and ``sqlite:////absolute/path.db`` open a SQLite file
    (its name percent-encoded where it holds ``%``, ``?`` or ``#``: ``%25``, ``%3F``, ``%23``);
    ``?synchronous=FULL`` makes every commit durable against power loss (the default,
    NORMAL, is durable against crashes of the process).
    """
    if url is None:
        url = os.environ.get("CONVEYOR_URL") or DEFAULT_URL
    if not isinstance(url, str) or not url:
        raise ConfigurationError(f"a backend URL is a non-empty string such as sqlite:///conveyor.db, got {url!r}")
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        backend = _connect_sqlite(url, read_only)
    elif scheme in ("redis", "rediss", "unix", *SENTINEL_SCHEMES):
        backend = _connect_redis(url)
    else:
        sentinel = "sentinel" in scheme and " (Redis Sentinel: redis+sentinel://host1:26379,host2:26379/SERVICE/db)"
        raise ConfigurationError(
            f"unsupported backend URL {masked_url(url)!r}: use sqlite:///path/to/file.db or "
            f"redis://host:port/db{sentinel or ''}"
        )
    return cast(Backend, ReadOnlyBackend(backend)) if read_only else backend


def _connect_redis(url: str) -> Backend:
    """``redis://host:port/db``, ``rediss://`` (TLS), ``unix:///path.sock`` or
    ``redis+sentinel://host1:26379,host2:26379/service/db`` (see backends/redis/sentinel.py); ``?prefix=name``
    keeps several conveyor namespaces apart on one Redis (default ``conveyor``); other
    options go to redis-py (``?socket_timeout=5``)."""
    try:
        from conveyor.backends.redis import RedisBackend
    except ImportError as exc:
        raise ConfigurationError(
            f"the Redis backend needs the redis extra: {install_command('redis')} ({exc})"
        ) from exc
    shown = masked_url(url)
    try:
        parsed = urlparse(url)
    except ValueError as exc:  # such as an unclosed [ of an IPv6 address
        raise ConfigurationError(f"malformed Redis URL {shown!r}: {exc}") from None
    query = parse_qs(parsed.query, keep_blank_values=True)
    repeated = sorted(key for key, values in query.items() if len(values) > 1)
    if repeated:
        raise ConfigurationError(f"the Redis URL {shown!r} gives {', '.join(repeated)} more than once")
    prefix = query.pop("prefix", ["conveyor"])[-1]
    if not prefix or any(ch in prefix for ch in "{}"):
        raise ConfigurationError(f"the Redis key prefix {prefix!r} must be non-empty and without braces")
    if parsed.scheme == "unix" and parsed.netloc:
        raise ConfigurationError(
            f"a unix:// URL names the socket's absolute path (unix:///{parsed.netloc}{parsed.path}), "
            f"got {parsed.netloc!r} as a host in {shown!r}"
        )
    if parsed.scheme not in ("unix", *SENTINEL_SCHEMES):  # (a Sentinel URL: read by the backend)
        try:
            parsed.port  # noqa: B018  (raises on a port that is not a number)
        except ValueError:
            raise ConfigurationError(f"the port in the Redis URL {shown!r} is not a port number (0-65535)") from None
        if not re.fullmatch(r"/?|/\d+", parsed.path):
            raise ConfigurationError(
                f"the database in a Redis URL is a number (redis://host:6379/0), got {parsed.path[1:]!r} in {shown!r}"
            )
        if parsed.path.strip("/") and "db" in query:
            raise ConfigurationError(f"the Redis URL {shown!r} names its database twice (in the path and as ?db=)")
    remaining = urlencode([(key, value) for key, values in query.items() for value in values])
    base = url.split("?", 1)[0]  # not urlunparse: it writes unix:///path as unix:/path
    try:
        return RedisBackend(f"{base}?{remaining}" if remaining else base, prefix=prefix)
    except (TypeError, ValueError) as exc:  # an option redis-py does not know, or a value it cannot read
        raise ConfigurationError(f"invalid Redis URL {shown!r}: {exc}") from None


def _connect_sqlite(url: str, read_only: bool) -> Backend:
    from conveyor.backends.sqlite import SQLiteBackend

    parsed = urlparse(url)
    if not url.lower().startswith("sqlite:///"):
        raise ConfigurationError(
            f"malformed SQLite URL {url!r}: use sqlite:///relative/path.db or sqlite:////absolute/path.db"
        )
    if "#" in url:  # the rest would be dropped as a fragment: another file, silently
        raise ConfigurationError(f"the SQLite URL {url!r} holds a '#': write it as %23 in the file's name")
    path = unquote(parsed.path[1:] if parsed.path.startswith("/") else parsed.path)
    if not path:
        raise ConfigurationError(f"the SQLite URL {url!r} names no file")
    if path.endswith("/"):
        raise ConfigurationError(f"the SQLite URL {url!r} names a directory, not a file")
    options = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
    synchronous = options.pop("synchronous", "NORMAL").upper()
    if synchronous not in _SYNCHRONOUS:
        raise ConfigurationError(f"synchronous must be one of {sorted(_SYNCHRONOUS)}, got {synchronous!r}")
    if options:
        raise ConfigurationError(f"unknown SQLite URL options: {', '.join(sorted(options))}")
    return SQLiteBackend(path, synchronous=synchronous, url=url, read_only=read_only)


@functools.cache
def default_connection() -> Backend:
    """A process-wide backend from ``$CONVEYOR_URL``, for calls made without ``connection=``.

    RQ lets ``cancel_job(id)`` and ``Worker([queue])`` omit the connection; this is
    what they use.
    """
    return connect()


def resolve_connection(connection: object) -> Backend:
    """The backend a ``connection=`` argument names: itself, or the default for None. A
    URL or a redis-py client (what RQ takes) is a clear error, not a later AttributeError."""
    if connection is None:
        return default_connection()
    if hasattr(connection, "jobs_enqueue"):  # duck-typed: Backend is a Protocol, and this is on every Job
        return cast(Backend, connection)
    if isinstance(connection, str):
        hint = f"conveyor.connect({masked_url(connection)!r})"
    elif "redis" in type(connection).__module__:
        hint = "conveyor.connect('redis://host:6379/0')"
    else:
        hint = "conveyor.connect(url)"
    kind = type(connection).__name__
    raise ConfigurationError(f"connection takes a conveyor backend, got {kind}: open one with {hint}")
