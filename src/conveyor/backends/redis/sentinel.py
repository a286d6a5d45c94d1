"""Redis Sentinel: a URL naming Sentinels and a service instead of one Redis, and the
client that asks them where the service's primary is.

``redis+sentinel://[user:password@]host1:26379,host2:26379/mymaster/0?sentinel_password=...``
(``rediss+sentinel://`` for TLS to the Sentinels and the data nodes). The user and password
are the data nodes' (as in a ``redis://`` URL), ``sentinel_username``/``sentinel_password``
the Sentinels'; every other option is redis-py's, read by redis-py's own URL parser.

Discovery is redis-py's (``redis.sentinel``): every connection of the client, the pooled
ones, the ones scripts.py makes of its own, blocking reads and pub/sub alike, asks the
Sentinels for the primary each time it connects, and a connection answered READONLY
(its node was demoted) is closed as lost, so the call fails as an outage and the next
one connects to the new primary. switch_watch.py has every connection leave the old
primary as soon as a Sentinel announces the new one, instead of at its demotion.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

import redis
from redis.backoff import NoBackoff
from redis.connection import parse_url
from redis.exceptions import RedisError
from redis.retry import Retry
from redis.sentinel import MasterNotFoundError, Sentinel, SentinelConnectionPool, SentinelManagedConnection

from conveyor.exceptions import ConfigurationError
from conveyor.urls import SENTINEL_SCHEMES, masked_url

log = logging.getLogger("conveyor.backends.redis")

DEFAULT_PORT = 26379
_SENTINEL_OPTIONS = ("sentinel_username", "sentinel_password")
_SENTINEL_TIMEOUT = 5.0
"""Seconds a Sentinel has to answer: they are asked one after another, so one that hangs
delays finding the primary by this much, not by the data nodes' longer socket timeout."""
_TLS_OPTIONS = re.compile(r"ssl_.*")
"""The data nodes' TLS options, which the Sentinels' connections share (one CA, one client
certificate for the whole deployment)."""


def is_sentinel_url(url: str) -> bool:
    return url.split(":", 1)[0].lower() in SENTINEL_SCHEMES


@dataclass(frozen=True)
class SentinelURL:
    """What a Sentinel URL names: the Sentinels, the service, and the options of each side."""

    sentinels: list[tuple[str, int]]
    service: str
    node_options: dict[str, Any]  # the data nodes' (redis-py's keyword arguments)
    sentinel_options: dict[str, Any]


def parse(url: str) -> SentinelURL:
    """Read a Sentinel URL; a malformed one is a ConfigurationError naming it (masked)."""
    shown = masked_url(url)
    scheme, _, rest = url.partition("://")
    if "#" in rest:
        raise ConfigurationError(f"the Redis Sentinel URL {shown!r} holds a '#': percent-encode it (%23)")
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, _, hosts = netloc.rpartition("@")
    parts = [unquote(part) for part in path.split("/")] if path else []
    if not parts or not parts[0]:
        raise ConfigurationError(
            f"the Redis Sentinel URL {shown!r} names no service: "
            "redis+sentinel://host1:26379,host2:26379/SERVICE/0 (the name in `sentinel monitor` of sentinel.conf)"
        )
    if len(parts) > 2 or (len(parts) == 2 and not re.fullmatch(r"\d*", parts[1])):
        raise ConfigurationError(
            f"the Redis Sentinel URL {shown!r} has a path of /SERVICE or /SERVICE/DB (a database number), got /{path}"
        )
    options = parse_qsl(query, keep_blank_values=True)
    if len(parts) == 2 and parts[1] and any(key == "db" for key, _ in options):
        raise ConfigurationError(f"the Redis URL {shown!r} names its database twice (in the path and as ?db=)")
    sentinel_options: dict[str, Any] = {
        key.removeprefix("sentinel_"): value for key, value in options if key in _SENTINEL_OPTIONS
    }
    node_query = urlencode([(key, value) for key, value in options if key not in _SENTINEL_OPTIONS])
    node_scheme = "rediss" if scheme.lower().startswith("rediss") else "redis"
    db = parts[1] if len(parts) == 2 else ""
    node_url = f"{node_scheme}://{userinfo}{'@' if userinfo else ''}/{db}?{node_query}"
    # no host: redis-py reads the user info, the database and the options only
    node_options: dict[str, Any] = parse_url(node_url)  # type: ignore[no-untyped-call]
    node_options.pop("connection_class", None)  # (SSLConnection for rediss: sentinel_client's caller names one)
    if node_scheme == "rediss":
        sentinel_options["ssl"] = True
        sentinel_options.update((key, value) for key, value in node_options.items() if _TLS_OPTIONS.fullmatch(key))
    return SentinelURL(_addresses(hosts, shown), parts[0], node_options, sentinel_options)


def _addresses(hosts: str, shown: str) -> list[tuple[str, int]]:
    """The Sentinels' ``host[:port]`` list (an IPv6 host in brackets), each port 26379 unless given."""
    addresses = []
    for item in hosts.split(","):
        found = re.fullmatch(r"(\[[^\]]+\]|[^:\[\]]+)(?::(\d{1,5}))?", item)
        if not found or not 0 < int(found.group(2) or DEFAULT_PORT) < 65536:
            raise ConfigurationError(
                f"the Redis Sentinel URL {shown!r} names its Sentinels as host:port separated by commas "
                f"(redis+sentinel://host1:26379,host2:26379/SERVICE){_shown_item(item, shown)}"
            )
        addresses.append((found.group(1).strip("[]"), int(found.group(2) or DEFAULT_PORT)))
    return addresses


def _shown_item(item: str, shown: str) -> str:
    """The malformed item, unless the URL holds user info: a password's unencoded '/' ends
    the host list early, so the item may be a piece of it."""
    if "@" in shown:
        return "; percent-encode a password's '/', '?' or '#'"
    return f", got {item!r}"


def sentinel_client(url: str, connection_class: type[SentinelManagedConnection], **defaults: Any) -> redis.Redis:
    """A client of the service's primary, wherever the Sentinels say it is: ``defaults``
    are the data nodes' options the URL does not set."""
    address = parse(url)
    sentinels = FollowingSentinel(
        address.sentinels,
        masked_url(url),
        sentinel_kwargs={
            "socket_connect_timeout": defaults.get("socket_connect_timeout"),
            "socket_timeout": _SENTINEL_TIMEOUT,
            "retry": Retry(NoBackoff(), 0),  # the next Sentinel is the retry (redis-py's default waits seconds)
            **address.sentinel_options,
        },
    )
    options = {**defaults, **address.node_options}
    pool = SentinelConnectionPool(  # type: ignore[no-untyped-call]
        address.service, sentinels, connection_class=connection_class, **options
    )
    client = redis.Redis(connection_pool=pool)
    client.auto_close_connection_pool = True  # (as from_url's: closing the client closes its connections)
    return client


def close_sentinels(client: Any) -> None:
    """Close the connections to the Sentinels of a client sentinel_client made (if it is one)."""
    manager = getattr(client.connection_pool, "sentinel_manager", None)
    for sentinel in getattr(manager, "sentinels", ()):
        sentinel.close()


class FollowingSentinel(Sentinel):
    """redis-py's Sentinel client, which says when the primary it finds is another than
    before (a failover), and why none was found."""

    def __init__(self, sentinels: list[tuple[str, int]], shown_url: str, **kwargs: Any) -> None:
        super().__init__(sentinels, **kwargs)  # type: ignore[no-untyped-call]
        self._shown_url = shown_url
        self._primary: tuple[str, int] | None = None
        self._lock = threading.Lock()

    def discover_master(self, service_name: str) -> Any:
        try:
            primary = super().discover_master(service_name)  # type: ignore[no-untyped-call]
        except MasterNotFoundError:
            raise MasterNotFoundError(self._why_none(service_name)) from None
        self._found(service_name, primary)
        return primary

    def announced(self, service_name: str, primary: tuple[str, int], sentinel: redis.Redis) -> None:
        """A Sentinel announced a new primary (see switch_watch.py): it is asked first from
        now on, since the others may not know yet."""
        with self._lock:  # (a swap, as redis-py's discover_master makes: the list stays whole)
            if sentinel in self.sentinels:
                found = self.sentinels.index(sentinel)
                self.sentinels[0], self.sentinels[found] = self.sentinels[found], self.sentinels[0]
        self._found(service_name, primary)

    def _found(self, service_name: str, primary: Any) -> None:
        """Log where the primary is the first time, and when it moved (once per move,
        whether a connection asked or a Sentinel announced it first)."""
        with self._lock:
            before, self._primary = self._primary, (str(primary[0]), int(primary[1]))
        if before is None:
            log.info("Redis Sentinel: the primary of %r is %s:%s", service_name, *primary)
        elif before != self._primary:
            log.warning("Redis Sentinel: the primary of %r moved from %s:%s to %s:%s (a failover); following it",
                        service_name, *before, *primary)  # fmt: skip

    def _why_none(self, service_name: str) -> str:
        """Why no Sentinel gave a primary: none answered, none knows the service, or the
        service's primary is down (a failover under way)."""
        known: set[str] = set()
        errors = []
        for sentinel in self.sentinels:
            where = "{host}:{port}".format_map(sentinel.connection_pool.connection_kwargs)
            try:
                known.update(str(name) for name in sentinel.sentinel_masters())
            except RedisError as exc:
                errors.append(f"{where}: {exc}")
        if len(errors) == len(self.sentinels):
            return f"no Sentinel of {self._shown_url} answered ({'; '.join(errors)})"
        if service_name not in known:
            names = ", ".join(repr(name) for name in sorted(known)) or "none"
            return (
                f"the Sentinels of {self._shown_url} monitor no service named {service_name!r} (they monitor: "
                f"{names}): check the service name in the URL"
            )
        return (
            f"the Sentinels of {self._shown_url} have no primary for {service_name!r} now (it is down, or a "
            "failover is under way)"
        )
