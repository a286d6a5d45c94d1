"""An API on a store opened read-only: reads answer, writes are a clear 403, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

import conveyor
from conveyor.server import Settings, create_app

from .conftest import ALICE, API, submit

pytestmark = pytest.mark.anyio


@pytest.fixture
async def reader(url: str, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(conveyor.connect(url, read_only=True), settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://conveyor", headers=ALICE
    ) as http:
        yield http
    app.state.conveyor.hub.stop()


async def test_reads_answer_and_writes_are_refused(client: httpx.AsyncClient, reader: httpx.AsyncClient) -> None:
    job_id = await submit(client)
    assert (await reader.get(f"{API}/jobs/{job_id}")).json()["status"] == "pending"
    for method, path, body in [
        ("POST", "/jobs", {"job_type": "add", "args": [1, 2]}),
        ("POST", f"/jobs/cancel/{job_id}", None),
    ]:
        response = await reader.request(method, f"{API}{path}", json=body)
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "ReadOnlyStore" and "read-only" in response.json()["message"]
    assert (await client.get(f"{API}/jobs/{job_id}")).json()["status"] == "pending"
