"""Redis URLs: every form the README shows works, and a mistyped one is a clear error
that never shows the password."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import conveyor
import jobfuncs
from conveyor import Queue
from conveyor.exceptions import BackendUnavailableError, ConfigurationError
from redis_server import RedisServer


@pytest.fixture
def socket_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path, options=("--unixsocket", str(tmp_path / "redis.sock"), "--unixsocketperm", "700"))
    yield server.start()
    server.stop()


def test_a_unix_socket_url_reaches_redis(socket_server: RedisServer, tmp_path: Path) -> None:
    backend = conveyor.connect(f"unix://{tmp_path / 'redis.sock'}?db=2&prefix=sock")
    try:
        job = Queue(connection=backend).enqueue(jobfuncs.noop)
        assert backend._redis.connection_pool.connection_kwargs["db"] == 2  # type: ignore[attr-defined]
        assert backend._redis.exists(f"{{sock}}:job:{job.id}")  # type: ignore[attr-defined]
    finally:
        backend.close()


def test_a_database_the_server_does_not_have_is_a_clear_configuration_error(redis_server: RedisServer) -> None:
    url = redis_server.url.rsplit("/", 1)[0] + "/99"
    with pytest.raises(ConfigurationError, match="has no database 99: it has as many as its `databases` setting"):
        conveyor.connect(url)


def test_redis_py_options_pass_through(redis_server: RedisServer) -> None:
    backend = conveyor.connect(f"{redis_server.url}?socket_timeout=7&prefix=opts")
    try:
        assert backend._redis.connection_pool.connection_kwargs["socket_timeout"] == 7  # type: ignore[attr-defined]
    finally:
        backend.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://:s3cret@localhost:notaport/0", "the port in the Redis URL 'redis://:***@localhost:notaport/0'"),
        ("redis://localhost:6379/jobs", "the database in a Redis URL is a number (redis://host:6379/0), got 'jobs'"),
        ("redis://localhost:6379/0?prefix=", "the Redis key prefix '' must be non-empty"),
        ("redis://:s3cret@localhost:6379/0?colour=blue", "invalid Redis URL 'redis://:***@localhost:6379/0?colour"),
        ("redis://:s3cret@[::1/0", "malformed Redis URL 'redis://:***@[::1/0'"),
        ("valkey://:s3cret@localhost:6379/0", "unsupported backend URL 'valkey://:***@localhost:6379/0'"),
        ("unix://tmp/redis.sock", "absolute path (unix:///tmp/redis.sock), got 'tmp' as a host"),
        ("redis://:s3cret@localhost:6379/0?prefix=a&prefix=b", "gives prefix more than once"),
        ("redis://localhost:6379/0?db=1&db=2", "gives db more than once"),
        ("redis://localhost:6379/3?db=1", "names its database twice (in the path and as ?db=)"),
    ],
)
def test_a_mistyped_url_is_a_clear_configuration_error(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        conveyor.connect(url)
    assert message in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_an_unreachable_redis_error_does_not_show_the_password() -> None:
    with pytest.raises(BackendUnavailableError) as raised:
        conveyor.connect("redis://:s3cret@127.0.0.1:1/0")
    assert "redis://:***@127.0.0.1:1/0" in str(raised.value) and "s3cret" not in str(raised.value)
