"""GET /jobs?view=summary: the list without each job's large values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from conveyor.backends.base import SUMMARY_EXC_INFO_LIMIT, Backend
from conveyor.job import Job
from conveyor.server import listing
from conveyor.status import JobStatus
from conveyor.testing import make_job
from conveyor.types import JobSummaryRecord

from .conftest import API, BOB, ROOT, settle, start, submit

pytestmark = pytest.mark.anyio

SUMMARY_KEYS = {
    "id", "job_type", "status", "priority", "retry_count", "max_retries", "created_at", "started_at",
    "completed_at", "duration_ms", "error", "progress", "user_id", "worker_id", "queue", "batch_id",
}  # fmt: skip
LARGE_KEYS = {"input", "result", "meta", "metrics", "depends_on", "retry_on"}


async def page(client: httpx.AsyncClient, headers: dict[str, str] | None = None, **params: Any) -> dict[str, Any]:
    response = await client.get(f"{API}/jobs", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_summary_is_the_full_listing_without_its_large_values(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    done = await submit(client, args=[1, 2], meta={"note": "n" * 1000}, priority=4)
    failed = await submit(client, "fail", queue="other")
    waiting = await submit(client, depends_on=[failed])
    record = start(backend, done)
    Job.fetch(done, connection=backend).set_progress(1.0, items_processed=2, total_items=2)
    settle(backend, record, JobStatus.FINISHED, result={"sum": 3})
    settle(backend, start(backend, failed, "other"), JobStatus.FAILED, error="Traceback ...\nValueError: boom\n")

    full = await page(client)
    summary = await page(client, view="summary")
    assert {key: value for key, value in full.items() if key != "data"} == {
        key: value for key, value in summary.items() if key != "data"
    }
    assert [job["id"] for job in summary["data"]] == [waiting, failed, done]
    for whole, short in zip(full["data"], summary["data"], strict=True):
        assert set(short) == SUMMARY_KEYS and set(whole) == SUMMARY_KEYS | LARGE_KEYS
        assert short == {key: whole[key] for key in SUMMARY_KEYS}
    assert summary["data"][1]["error"] == "ValueError: boom"
    assert (summary["data"][2]["status"], summary["data"][2]["progress"]) == ("completed", 1.0)
    assert full == await page(client, view="full")  # the default, as it was


async def test_a_long_traceback_gives_the_summary_the_same_error(client: httpx.AsyncClient, backend: Backend) -> None:
    job_id = await submit(client, "fail")
    traceback = "Traceback ...\n" + "  frame\n" * SUMMARY_EXC_INFO_LIMIT + "ValueError: deep\n"
    settle(backend, start(backend, job_id), JobStatus.FAILED, error=traceback)
    (listed,) = (await page(client, view="summary"))["data"]
    assert (listed["status"], listed["error"]) == ("failed", "ValueError: deep")
    assert (await client.get(f"{API}/jobs/{job_id}")).json()["error"] == "ValueError: deep"


@pytest.mark.parametrize("view", ["bogus", "", "SUMMARY", "summary,full"])
async def test_an_unknown_view_is_422_naming_the_parameter(client: httpx.AsyncClient, view: str) -> None:
    response = await client.get(f"{API}/jobs", params={"view": view})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "ValidationError" and "view" in body["message"]
    (field,) = body["fields"]
    assert (field["field"], field["location"]) == ("view", "query")
    assert "'full' or 'summary'" in field["message"]


@pytest.mark.parametrize("params", [{}, {"job_type": "add"}, {"status": "pending"}])
async def test_summary_pages_follow_the_cursor_as_full_ones_do(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    ids = [await submit(client) for _ in range(5)]
    await submit(client, "fail")  # the newest; not an "add"
    seen, cursor = [], None
    while True:
        body = await page(client, **params, view="summary", limit=2, **({"cursor": cursor} if cursor else {}))
        assert len(body["data"]) <= 2
        seen += [job["id"] for job in body["data"] if job["job_type"] == "add"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]
    first = await page(client, **params, limit=2)  # a cursor is the listing's, whatever the view
    rest = await page(client, **params, limit=2, view="summary", cursor=first["next_cursor"])
    full_rest = await page(client, **params, limit=2, cursor=first["next_cursor"])
    assert [job["id"] for job in rest["data"]] == [job["id"] for job in full_rest["data"]]


async def test_a_users_summary_lists_only_that_users_jobs(client: httpx.AsyncClient) -> None:
    alices = [await submit(client) for _ in range(3)]
    bobs = await submit(client, headers=BOB)

    async def ids(headers: dict[str, str] | None = None, **params: Any) -> list[str]:
        return [job["id"] for job in (await page(client, headers, view="summary", **params))["data"]]

    assert await ids() == alices[::-1]
    assert await ids(BOB) == [bobs]
    assert await ids(BOB, user="alice") == []
    assert await ids(ROOT, user="bob") == [bobs]
    assert len(await ids(ROOT)) == 4
    assert (await page(client, BOB, view="summary"))["total"] == 1


@pytest.mark.parametrize("params", [{}, {"job_type": "add"}])
async def test_a_summary_page_of_big_jobs_is_not_cut_by_their_inputs(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    """The full view cuts such a page short (see test_read); a summary carries none of it."""
    big = "y" * (2**20 - 1_000)
    ids = [await submit(client, args=[big, i]) for i in range(10)]  # 10 MiB of input
    response = await client.get(f"{API}/jobs", params={**params, "view": "summary", "limit": 100})
    body = response.json()
    assert ([job["id"] for job in body["data"]], body["next_cursor"]) == (ids[::-1], None)
    assert len(response.content) < 10_000


async def test_a_page_of_summaries_is_read_in_one_call_to_the_store(
    client: httpx.AsyncClient, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One round trip on Redis, one statement on SQLite, however long the page."""
    ids = [make_job(backend, user_id="alice").id for _ in range(listing.READ_CHUNK + 50)]
    reads: list[int] = []
    summaries = backend.jobs_summaries

    def counted(job_ids: Sequence[str]) -> list[JobSummaryRecord | None]:
        reads.append(len(job_ids))
        return summaries(job_ids)

    monkeypatch.setattr(backend, "jobs_summaries", counted)
    body = await page(client, view="summary", limit=1000)
    assert ([job["id"] for job in body["data"]], reads) == (ids[::-1], [len(ids)])


@pytest.mark.parametrize("params", [{}, {"job_type": "fail"}])
async def test_the_page_budget_counts_the_tracebacks_summaries_carry(
    client: httpx.AsyncClient, backend: Backend, monkeypatch: pytest.MonkeyPatch, params: dict[str, str]
) -> None:
    monkeypatch.setattr(listing, "PAGE_BYTES", 2_500)
    ids = [await submit(client, "fail") for _ in range(4)]
    for job_id in ids:
        settle(backend, start(backend, job_id), JobStatus.FAILED, error="T" * 999 + "\n")  # 1,000 each
    first = await page(client, **params, view="summary")
    assert [job["id"] for job in first["data"]] == ids[:1:-1] and first["next_cursor"] is not None
    rest = await page(client, **params, view="summary", cursor=first["next_cursor"])
    assert ([job["id"] for job in rest["data"]], rest["next_cursor"]) == (ids[1::-1], None)


def test_a_page_of_summaries_never_reaches_the_page_budget() -> None:
    """The longest traceback a summary carries, times the most jobs a page holds."""
    assert listing.MAX_LIMIT * SUMMARY_EXC_INFO_LIMIT <= listing.PAGE_BYTES
