"""Shared fixtures: a fresh backend per test, for every backend conveyor has."""

from __future__ import annotations

import compileall
import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import conveyor
from conveyor.backends.base import Backend
from redis_sentinel import SentinelDeployment
from redis_server import RedisServer, delete_namespace

BACKENDS = ["sqlite", "redis"]
SENTINEL = "redis-sentinel"
"""A backend kind more for the tests that ask for it: Redis reached through a Sentinel URL."""


def pytest_configure(config: pytest.Config) -> None:
    """Compile conveyor and the tests' helper modules to bytecode once, before any test
    starts a process. With PYTHONDONTWRITEBYTECODE set, Python caches no bytecode of its
    own, and every worker, job process, CLI run and server the suite starts (hundreds)
    would compile conveyor's source anew: a third of a worker's start-up. Only the
    controller compiles (xdist's workers start after it); the files are written atomically."""
    if not sys.dont_write_bytecode or hasattr(config, "workerinput"):
        return
    compileall.compile_dir(Path(conveyor.__file__).parent, quiet=1)
    compileall.compile_dir(Path(__file__).parent, quiet=1, rx=re.compile(r"(^|/)(test_[^/]*|conftest)\.py$"))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One private redis-server for this test process; tests keep apart by key prefix."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sentinel_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelDeployment]:
    """A primary, its replica and a Sentinel for this test process; tests keep apart by key
    prefix, and follow the primary wherever a failover test moves it."""
    deployment = SentinelDeployment(tmp_path_factory.mktemp("sentinel"))
    try:
        yield deployment.start()
    finally:
        deployment.stop()


@pytest.fixture(params=BACKENDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def url(backend_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL for a fresh, empty store of this kind (a Redis one is deleted after the test)."""
    if backend_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'conveyor.db'}"
        return
    name = f"test-{uuid.uuid4().hex[:12]}"
    if backend_kind == SENTINEL:
        deployment: SentinelDeployment = request.getfixturevalue("sentinel_deployment")
        yield f"{deployment.url}&prefix={name}"
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    yield f"{server.url}?prefix={name}"
    delete_namespace(server.url, name)


@pytest.fixture
def backend(url: str) -> Iterator[Backend]:
    connection = conveyor.connect(url)
    yield connection
    connection.close()
