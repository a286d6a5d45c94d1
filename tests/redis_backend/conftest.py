"""A Redis backend on a namespace of its own for each test (tests share one redis-server)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

import conveyor
from conveyor.backends.redis.backend import RedisBackend
from redis_server import RedisServer, delete_namespace


def connect(server: RedisServer) -> RedisBackend:
    connection = conveyor.connect(f"{server.url}?prefix=test-{uuid.uuid4().hex[:12]}")
    assert isinstance(connection, RedisBackend)
    return connection


@pytest.fixture
def backend(redis_server: RedisServer) -> Iterator[RedisBackend]:
    connection = connect(redis_server)
    yield connection
    connection.close()
    delete_namespace(redis_server.url, connection.keys.prefix)
