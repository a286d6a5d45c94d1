"""Query parameters an endpoint does not declare are a 422 naming them, never ignored:
a misspelt filter must not answer the unfiltered list."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from conveyor.backends.base import Backend
from conveyor.status import JobStatus

from .conftest import API, ROOT, settle, start, submit

pytestmark = pytest.mark.anyio

LISTED = ["status", "job_type", "queue", "user", "batch_id", "limit", "cursor", "view"]


def unknown(response: httpx.Response, *names: str) -> dict[str, Any]:
    """The body of ``response``, checked to be the 422 for exactly ``names``."""
    assert response.status_code == 422, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == "ValidationError"
    assert [(field["field"], field["location"], field["type"]) for field in body["fields"]] == [
        (name, "query", "extra_forbidden") for name in names
    ]
    assert all(repr(name) in body["message"] for name in names)
    return body


async def test_a_misspelt_filter_on_a_list_is_refused_naming_it_and_the_accepted_ones(
    client: httpx.AsyncClient,
) -> None:
    await submit(client)
    body = unknown(await client.get(f"{API}/jobs", params={"staus": "failed"}), "staus")
    assert body["accepted_parameters"] == LISTED
    assert body["message"] == f"Unknown query parameter 'staus': this endpoint accepts {', '.join(LISTED)}"


async def test_every_unknown_parameter_is_named_once_beside_known_ones(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{API}/jobs?status=failed&limt=10&staus=failed&limt=20")
    body = unknown(response, "limt", "staus")
    assert body["message"].startswith("Unknown query parameters 'limt', 'staus': ")


async def test_a_parameter_on_a_single_job_endpoint_is_refused(client: httpx.AsyncClient) -> None:
    job_id = await submit(client)
    body = unknown(await client.get(f"{API}/jobs/{job_id}", params={"verbose": "1"}), "verbose")
    assert body["accepted_parameters"] == []
    assert body["message"] == "Unknown query parameter 'verbose': this endpoint accepts no query parameters"


async def test_a_post_with_an_unknown_parameter_is_refused_and_submits_nothing(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{API}/jobs?idempotency_key=k1", json={"job_type": "add", "args": [1, 2]})
    unknown(response, "idempotency_key")
    assert (await client.get(f"{API}/jobs")).json()["data"] == []


async def test_a_cancel_with_an_unknown_parameter_leaves_the_job_as_it_was(client: httpx.AsyncClient) -> None:
    job_id = await submit(client)
    unknown(await client.post(f"{API}/jobs/cancel/{job_id}", params={"force": "true"}), "force")
    assert (await client.get(f"{API}/jobs/status/{job_id}")).json()["status"] == "pending"


async def test_known_parameters_still_filter(client: httpx.AsyncClient, backend: Backend) -> None:
    failed = await submit(client)
    settle(backend, start(backend, failed), JobStatus.FAILED, error="ValueError: boom")
    pending = await submit(client)
    response = await client.get(f"{API}/jobs", params={"status": "failed", "limit": 10, "view": "summary"})
    assert response.status_code == 200, response.text
    assert [job["id"] for job in response.json()["data"]] == [failed]
    response = await client.get(f"{API}/jobs", params={"status": "pending"})
    assert [job["id"] for job in response.json()["data"]] == [pending]


async def test_every_endpoint_refuses_what_its_schema_does_not_list(client: httpx.AsyncClient, app: FastAPI) -> None:
    """Each operation of the OpenAPI schema (health and metrics included) answers an
    undeclared parameter with the 422, listing exactly the query parameters the schema
    gives it."""
    checked = 0
    for path, operations in app.openapi()["paths"].items():
        url = path.replace("{", "").replace("}", "")  # /jobs/job_id: any value; the check comes first
        for method, operation in operations.items():
            declared = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
            response = await client.request(method.upper(), url, params={"bogus": "1"})
            body = unknown(response, "bogus")
            assert body["accepted_parameters"] == declared, (method, path)
            assert "422" in operation["responses"], (method, path)
            checked += 1
    assert checked >= 20
    assert (await client.head("/health", params={"bogus": "1"})).status_code == 422


async def test_the_parameters_are_checked_before_the_key(app: FastAPI) -> None:
    """Like an unknown path or method: what the request asks for, whoever asks."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://conveyor") as anonymous:
        unknown(await anonymous.get(f"{API}/jobs", params={"staus": "failed"}), "staus")
        assert (await anonymous.get(f"{API}/jobs", params={"status": "failed"})).status_code == 401


async def test_the_dashboard_and_the_docs_take_any_parameters(client: httpx.AsyncClient) -> None:
    """Static files and the schema's pages are not the API: a cache-buster there is fine."""
    for path in ("/", "/index.html", "/js/app.js", "/style.css", "/docs", "/openapi.json"):
        response = await client.get(path, params={"v": "2", "_": "1700000000"})
        assert response.status_code == 200, path
    assert (await client.get(f"{API}/nowhere", params={"bogus": "1"}, headers=ROOT)).status_code == 404
