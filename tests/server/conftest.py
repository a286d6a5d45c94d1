"""Fixtures for the REST tests: an app on each backend, clients per API key, a live
uvicorn server for streaming, and helpers that move jobs through their lifecycle
with the backend's own transitions (no worker needed)."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from conveyor.backends.base import Backend
from conveyor.cli.serving import bind, make_server, url_of
from conveyor.server import Settings, create_app
from conveyor.server.auth import keys_from_env
from conveyor.status import JobStatus
from conveyor.types import JobRecord, Settlement
from server import jobtypes  # noqa: F401  (registers the job types)
from waiting import wait_until

KEYS = "alice-key:alice:user,bob-key:bob:user,root-key:root:admin"
ALICE = {"Authorization": "Bearer alice-key"}
BOB = {"Authorization": "Bearer bob-key"}
ROOT = {"Authorization": "Bearer root-key"}
API = "/api/v1"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings() -> Settings:
    return Settings(api_keys=keys_from_env(KEYS), sse_heartbeat_seconds=0.2, event_wait_seconds=0.2)


@pytest.fixture
def app(backend: Backend, settings: Settings) -> Iterator[FastAPI]:
    application = create_app(backend, settings)
    yield application
    application.state.conveyor.hub.stop()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP against the ASGI app, as alice unless a test passes other headers."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://conveyor", headers=ALICE) as http:
        yield http


@contextmanager
def running(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port, on a thread; yields its URL."""
    sock = bind("127.0.0.1", 0)
    server = make_server(app, log_level="warning")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, message="uvicorn to start")
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def live_url(app: FastAPI) -> Iterator[str]:
    with running(app) as url:
        yield url


async def submit(
    client: httpx.AsyncClient, job_type: str = "add", headers: dict[str, str] | None = None, **fields: Any
) -> str:
    fields.setdefault("args", [1, 2] if job_type == "add" else [])
    response = await client.post(f"{API}/jobs", json={"job_type": job_type, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["job_id"])


def start(backend: Backend, job_id: str, queue: str = "default") -> JobRecord:
    """Claim the next job of ``queue`` as a worker would; it must be ``job_id``."""
    now = time.time()
    (claimed,) = backend.jobs_claim([queue], "test-worker", 1, secrets.token_hex(8), now + 60, now)
    assert claimed.id == job_id, "the job to start must be the next one of its queue"
    return claimed


def settle(
    backend: Backend, record: JobRecord, status: JobStatus, result: Any = None, error: str | None = None
) -> None:
    now = time.time()
    settlement = Settlement(
        job_id=record.id,
        lease_token=str(record.lease_token),
        status=status,
        started_at=record.started_at,
        result=json.dumps(result).encode() if status is JobStatus.FINISHED else None,
        exc_info=error,
        reason=None if status is JobStatus.FINISHED else "error",
        keep_until=now + 600,
    )
    assert backend.jobs_settle([settlement], now) == [True]


async def until(condition: Callable[[], object], timeout: float = 20.0, message: str = "condition") -> None:
    """wait_until for async tests: checks ``condition`` without blocking the event loop."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(0.01)


async def sse(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The events of an SSE response: {"event", "id", "data"} dicts, and {"comment"} for
    comment lines such as heartbeats."""
    event: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if line.startswith(":"):
            yield {"comment": line[1:].strip()}
        elif line:
            name, _, value = line.partition(": ")
            event[name] = json.loads(value) if name == "data" else value
        elif event:
            yield event
            event = {}
