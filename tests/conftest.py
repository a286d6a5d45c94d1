"""Shared fixtures: a fresh backend per test, for every backend conveyor has."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import conveyor
from conveyor.backends.base import Backend

BACKENDS = ["sqlite"]


def backend_url(kind: str, tmp_path: Path) -> str:
    """A URL for a fresh, empty store of this kind."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'conveyor.db'}"
    raise ValueError(kind)


@pytest.fixture(params=BACKENDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def url(backend_kind: str, tmp_path: Path) -> str:
    return backend_url(backend_kind, tmp_path)


@pytest.fixture
def backend(url: str) -> Iterator[Backend]:
    connection = conveyor.connect(url)
    yield connection
    connection.close()
