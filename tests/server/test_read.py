"""GET /jobs/{id}, /jobs/status/{id} and the list with its filters and cursor."""

from __future__ import annotations

import re

import httpx
import pytest

from conveyor.backends.base import Backend
from conveyor.job import Job
from conveyor.server import listing
from conveyor.status import JobStatus

from .conftest import API, BOB, ROOT, settle, start, submit

pytestmark = pytest.mark.anyio

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


async def test_a_finished_job_shows_its_input_result_and_timing(client: httpx.AsyncClient, backend: Backend) -> None:
    job_id = await submit(client, meta={"k": 1}, priority=3)
    record = start(backend, job_id)
    Job.fetch(job_id, connection=backend).set_progress(1.0, items_processed=4, total_items=4)
    settle(backend, record, JobStatus.FINISHED, result={"sum": 3})
    body = (await client.get(f"{API}/jobs/{job_id}")).json()
    assert body["id"] == job_id
    assert (body["job_type"], body["status"], body["priority"], body["queue"]) == ("add", "completed", 3, "default")
    assert body["input"] == {"args": [1, 2], "kwargs": {}}
    assert (body["result"], body["error"], body["progress"]) == ({"sum": 3}, None, 1.0)
    assert body["metrics"] == {"items_processed": 4, "total_items": 4}
    assert (body["user_id"], body["worker_id"], body["meta"], body["depends_on"]) == (
        "alice",
        "test-worker",
        {"k": 1},
        [],
    )
    assert (body["retry_count"], body["max_retries"], body["retry_on"], body["batch_id"]) == (0, 0, [], None)
    for field in ("created_at", "started_at", "completed_at"):
        assert ISO_Z.match(body[field]), body[field]
    assert isinstance(body["duration_ms"], int) and body["duration_ms"] >= 0


async def test_a_failed_job_shows_the_last_line_of_its_traceback(client: httpx.AsyncClient, backend: Backend) -> None:
    job_id = await submit(client)
    traceback = 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: disk full\n'
    settle(backend, start(backend, job_id), JobStatus.FAILED, error=traceback)
    status = (await client.get(f"{API}/jobs/status/{job_id}")).json()
    assert (status["status"], status["error"]) == ("failed", "ValueError: disk full")
    page = (await client.get(f"{API}/jobs/{job_id}")).json()
    assert (page["error"], page["traceback"]) == ("ValueError: disk full", traceback)  # the whole of it on its page
    (listed,) = (await client.get(f"{API}/jobs", params={"status": "failed"})).json()["data"]
    assert listed["error"] == "ValueError: disk full" and "traceback" not in listed  # lists stay small


async def test_the_status_view_has_the_documented_shape(client: httpx.AsyncClient, backend: Backend) -> None:
    job_id = await submit(client)
    start(backend, job_id)
    Job.fetch(job_id, connection=backend).set_progress(0.5, items_processed=5, total_items=10)
    body = (await client.get(f"{API}/jobs/status/{job_id}")).json()
    assert set(body) == {
        "job_id", "job_type", "status", "progress", "created_at", "started_at", "completed_at", "error", "user_id",
        "metrics",
    }  # fmt: skip
    assert (body["status"], body["progress"], body["completed_at"]) == ("running", 0.5, None)
    assert body["metrics"]["items_processed"] == 5 and body["metrics"]["total_items"] == 10
    assert body["metrics"]["execution_time_seconds"] >= 0


async def test_unknown_ids_are_404_with_the_job_id(client: httpx.AsyncClient) -> None:
    for path in ("jobs/nope", "jobs/status/nope", "jobs/nope/backend", "jobs/status/nope/poll"):
        response = await client.get(f"{API}/{path}")
        assert response.status_code == 404, path
        assert response.json() == {"error": "JobNotFoundError", "message": "Job nope not found", "job_id": "nope"}


async def test_the_list_is_newest_first_with_counts(client: httpx.AsyncClient, backend: Backend) -> None:
    ids = [await submit(client) for _ in range(3)]
    start(backend, ids[0])
    body = (await client.get(f"{API}/jobs", headers=ROOT)).json()
    assert [job["id"] for job in body["data"]] == ids[::-1]
    assert (body["total"], body["pending_count"], body["running_count"], body["next_cursor"]) == (3, 2, 1, None)


async def test_an_empty_list_counts_zero_not_unknown(client: httpx.AsyncClient) -> None:
    empty = {"data": [], "total": 0, "pending_count": 0, "running_count": 0, "next_cursor": None}
    assert (await client.get(f"{API}/jobs")).json() == empty
    await submit(client)
    assert (await client.get(f"{API}/jobs", headers=BOB)).json() == empty  # bob has no jobs


async def test_pages_follow_the_cursor_and_ignore_newer_jobs(client: httpx.AsyncClient) -> None:
    ids = [await submit(client) for _ in range(5)]
    first = (await client.get(f"{API}/jobs", params={"limit": 2}, headers=ROOT)).json()
    assert [job["id"] for job in first["data"]] == [ids[4], ids[3]]
    await submit(client)  # a newer job does not shift the pages after the first
    second = (await client.get(f"{API}/jobs", params={"limit": 2, "cursor": first["next_cursor"]}, headers=ROOT)).json()
    assert [job["id"] for job in second["data"]] == [ids[2], ids[1]]
    third = (await client.get(f"{API}/jobs", params={"limit": 2, "cursor": second["next_cursor"]}, headers=ROOT)).json()
    assert ([job["id"] for job in third["data"]], third["next_cursor"]) == ([ids[0]], None)


async def test_a_cursor_is_tied_to_its_filters(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await submit(client)
    cursor = (await client.get(f"{API}/jobs", params={"limit": 1}, headers=ROOT)).json()["next_cursor"]
    response = await client.get(f"{API}/jobs", params={"limit": 1, "cursor": cursor, "status": "failed"}, headers=ROOT)
    assert response.status_code == 400
    assert response.json()["fields"][0]["field"] == "cursor"
    assert (await client.get(f"{API}/jobs", params={"cursor": "garbage!"})).status_code == 400


async def test_filters_by_status_queue_and_job_type(client: httpx.AsyncClient, backend: Backend) -> None:
    added = await submit(client)
    failing = await submit(client, "fail", queue="other")
    settle(backend, start(backend, failing, "other"), JobStatus.FAILED, error="ValueError: boom")

    async def ids(**params: object) -> list[str]:
        return [job["id"] for job in (await client.get(f"{API}/jobs", params=params, headers=ROOT)).json()["data"]]

    assert await ids(status="failed") == [failing]
    assert await ids(status="pending") == [added]
    assert await ids(queue="other") == [failing]
    assert await ids(job_type="add") == [added]
    assert await ids(job_type="add", status="failed") == []
    assert await ids(status=["pending", "failed"]) == [failing, added], "any of the statuses repeated"
    either = (await client.get(f"{API}/jobs", params={"status": ["pending", "failed"]}, headers=ROOT)).json()
    assert either["total"] == 2
    by_type = (await client.get(f"{API}/jobs", params={"job_type": "add"}, headers=ROOT)).json()
    assert by_type["total"] is None  # a job type cannot be counted from counters


async def test_users_list_only_their_jobs_and_admins_may_filter_by_user(client: httpx.AsyncClient) -> None:
    alices = [await submit(client) for _ in range(3)]
    bobs = await submit(client, headers=BOB)

    async def ids(headers: dict[str, str], **params: object) -> list[str]:
        response = await client.get(f"{API}/jobs", params=params, headers=headers)
        return [job["id"] for job in response.json()["data"]]

    assert await ids({}) == alices[::-1]
    assert await ids(BOB) == [bobs]
    assert await ids(BOB, user="alice") == []
    assert await ids(ROOT, user="bob") == [bobs]
    assert len(await ids(ROOT)) == 4
    page = (await client.get(f"{API}/jobs", params={"limit": 2})).json()
    assert [job["id"] for job in page["data"]] == alices[:0:-1]
    rest = (await client.get(f"{API}/jobs", params={"limit": 2, "cursor": page["next_cursor"]})).json()
    assert [job["id"] for job in rest["data"]] == [alices[0]]


async def test_a_users_list_reads_only_that_users_jobs_and_counts_them(
    client: httpx.AsyncClient, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listing, "SCAN_BUDGET", 2)  # a scan through everyone's jobs would find none of hers
    monkeypatch.setattr(listing, "SCAN_CHUNK", 2)
    alices = [await submit(client) for _ in range(3)]
    for _ in range(6):
        await submit(client, headers=BOB)
    start(backend, alices[0])
    page = (await client.get(f"{API}/jobs", params={"limit": 2})).json()
    assert [job["id"] for job in page["data"]] == alices[:0:-1]
    assert (page["total"], page["pending_count"], page["running_count"]) == (3, 2, 1)
    rest = (await client.get(f"{API}/jobs", params={"limit": 2, "cursor": page["next_cursor"]})).json()
    assert ([job["id"] for job in rest["data"]], rest["next_cursor"]) == ([alices[0]], None)
    running = (await client.get(f"{API}/jobs", params={"status": "running"})).json()
    assert ([job["id"] for job in running["data"]], running["total"]) == ([alices[0]], 1)
    bobs = (await client.get(f"{API}/jobs", params={"user": "bob", "limit": 100}, headers=ROOT)).json()
    assert (len(bobs["data"]), bobs["total"], bobs["pending_count"]) == (6, 6, 6)


async def test_a_filtered_page_holding_the_last_matches_has_no_next_cursor(client: httpx.AsyncClient) -> None:
    adds = [await submit(client) for _ in range(2)]
    await submit(client, "fail")  # the newest job, not a match

    async def page(**params: object) -> tuple[list[str], str | None]:
        body = (await client.get(f"{API}/jobs", params={"job_type": "add", **params}, headers=ROOT)).json()
        return [job["id"] for job in body["data"]], body["next_cursor"]

    assert await page(limit=2) == (adds[::-1], None)
    first, cursor = await page(limit=1)
    assert first == [adds[1]] and cursor is not None, "one more match: a next page"
    assert await page(limit=1, cursor=cursor) == ([adds[0]], None)


@pytest.mark.parametrize("params", [{}, {"job_type": "add"}])
async def test_a_page_of_big_jobs_stops_at_its_byte_budget_and_goes_on_at_the_next(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    """A thousand jobs of a mebibyte each, in one page, took gigabytes of the server's
    memory to answer: a page holds at most PAGE_BYTES of stored values (beyond its first job)."""
    big = "y" * (2**20 - 1_000)
    ids = [await submit(client, args=[big, i]) for i in range(10)]  # 10 MiB: past one page's budget
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        following = {"cursor": cursor} if cursor else {}
        body = (await client.get(f"{API}/jobs", params={**params, "limit": 100, **following})).json()
        if cursor is None:
            assert 0 < len(body["data"]) < 10 and body["next_cursor"] is not None
        seen += [job["id"] for job in body["data"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1] and pages >= 2


@pytest.mark.parametrize(
    ("listing", "params"),
    [("jobs", {"limit": 0}), ("jobs", {"limit": 1001}), ("jobs", {"status": "finished"}), ("jobs", {"limit": "x"}),
     ("batches", {"limit": 0}),
     # user="": no user has that id (Redis listed the jobs of no user for it, SQLite none)
     ("jobs", {"user": ""}), ("batches", {"user": ""})],
)  # fmt: skip
async def test_bad_list_parameters_are_422(client: httpx.AsyncClient, listing: str, params: dict[str, object]) -> None:
    response = await client.get(f"{API}/{listing}", params=params, headers=ROOT)
    assert response.status_code == 422
    assert response.json()["fields"][0]["location"] == "query"
