"""Bodies over the limit (413, declared or streamed) and a store that is down (503)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from conveyor.server import Settings, create_app
from redis_server import RedisServer

from .conftest import API

pytestmark = pytest.mark.anyio


@pytest.fixture
def small_app(backend: object) -> Iterator[FastAPI]:
    app = create_app(backend, Settings(max_body_bytes=1000))  # type: ignore[arg-type]
    yield app
    app.state.conveyor.hub.stop()


async def test_a_declared_body_over_the_limit_is_413(small_app: FastAPI) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=small_app), base_url="http://c") as client:
        response = await client.post(f"{API}/jobs", json={"job_type": "add", "args": ["x" * 2000]})
        assert response.status_code == 413
        assert response.json()["error"] == "PayloadTooLarge"
        response = await client.post(f"{API}/jobs", json={"job_type": "add", "args": [1, 2]})
        assert response.status_code == 201


async def test_a_streamed_body_over_the_limit_is_413(small_app: FastAPI) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"job_type": "add", "args": ["'
        for _ in range(10):
            yield b"x" * 200
        yield b'"]}'

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=small_app), base_url="http://c") as client:
        response = await client.post(f"{API}/jobs", content=chunks(), headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert response.json()["error"] == "PayloadTooLarge"


async def test_a_store_that_is_down_is_503_never_500(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path).start()
    app = create_app(redis.url, Settings())
    redis.stop()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as client:
            for method, path in (
                ("GET", f"{API}/jobs"), ("GET", f"{API}/jobs/x"), ("POST", f"{API}/jobs/cancel/x"),
                ("GET", f"{API}/jobs/stats"), ("GET", f"{API}/jobs/status/x/poll"),
                ("GET", f"{API}/jobs/status/x/stream"),
            ):  # fmt: skip
                response = await client.request(method, path)
                assert response.status_code == 503, (path, response.text)
                assert response.json()["error"] == "BackendUnavailable"
            response = await client.post(f"{API}/jobs", json={"job_type": "add", "args": [1, 2]})
            assert response.status_code == 503
            health = await client.get("/health")
            assert (health.status_code, health.json()["backend_reachable"]) == (503, False)
            metrics = await client.get("/metrics")
            assert metrics.status_code == 200 and "conveyor_backend_up 0.0" in metrics.text
    finally:
        app.state.conveyor.hub.stop()
