"""/api/v1/batches: create (all or nothing), list, detail, start, reschedule, cancel, backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from conveyor.backends.base import Backend
from conveyor.job import Job
from conveyor.status import JobStatus

from .conftest import API, BOB, ROOT, settle, start

pytestmark = pytest.mark.anyio

LATER = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)


def spec(count: int = 3, **fields: object) -> dict[str, object]:
    return {"name": "campaign", "jobs": [{"job_type": "add", "args": [i, 1]} for i in range(count)], **fields}


async def create(client: httpx.AsyncClient, **fields: object) -> dict:
    response = await client.post(f"{API}/batches", json=spec(**fields))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_create_a_scheduled_batch_and_see_its_detail(client: httpx.AsyncClient, backend: Backend) -> None:
    made = await create(client, scheduled_start_time=LATER.isoformat())
    assert made["status"] == "scheduled" and len(made["job_ids"]) == 3
    assert Job.fetch(made["job_ids"][0], connection=backend).get_status() is JobStatus.SCHEDULED
    detail = (await client.get(f"{API}/batches/{made['batch_id']}")).json()
    assert detail["counts"] == {"pending": 0, "scheduled": 3, "running": 0, "completed": 0, "failed": 0,
                                "cancelled": 0}  # fmt: skip
    assert (detail["total"], detail["progress"], detail["user_id"]) == (3, 0.0, "alice")
    assert detail["scheduled_start_time"].startswith(LATER.strftime("%Y-%m-%dT%H:%M:%S"))
    backend_view = (await client.get(f"{API}/batches/{made['batch_id']}/backend")).json()
    assert backend_view["database_status"] == "scheduled"
    info = backend_view["backend_job_info"]
    assert (info["in_defer_queue"], info["job_metadata_exists"], info["held_jobs"]) == (True, True, 3)


async def test_start_reschedule_and_cancel(client: httpx.AsyncClient) -> None:
    made = await create(client, scheduled_start_time=LATER.isoformat())
    url = f"{API}/batches/{made['batch_id']}"
    later = (LATER + timedelta(days=1)).isoformat()
    moved = await client.post(f"{url}/reschedule", json={"scheduled_start_time": later})
    assert moved.status_code == 200 and moved.json()["scheduled_start_time"].startswith(later[:19])
    past = await client.post(f"{url}/reschedule", json={"scheduled_start_time": "2001-01-01T00:00:00Z"})
    assert past.status_code == 400 and past.json()["error"] == "ValidationError"
    started = await client.post(f"{url}/start")
    assert started.json()["status"] == "running" and started.json()["counts"]["pending"] == 3
    again = await client.post(f"{url}/start")
    assert again.status_code == 409
    assert again.json()["error"] == "BatchAlreadyStartedError" and again.json()["current_status"] == "running"
    assert (await client.post(f"{url}/reschedule", json={"scheduled_start_time": later})).status_code == 409
    cancelled = await client.post(f"{url}/cancel")
    assert cancelled.json() == {"batch_id": made["batch_id"], "status": "cancelled",
                                "scheduled_job_cancelled": False, "cancelled_jobs": 3}  # fmt: skip
    twice = await client.post(f"{url}/cancel")
    assert (twice.status_code, twice.json()["error"]) == (409, "BatchAlreadyCancelledError")
    assert twice.json()["message"].endswith("it is already cancelled")  # the API's word, as current_status


async def test_cancel_a_scheduled_batch_removes_its_start(client: httpx.AsyncClient) -> None:
    made = await create(client, scheduled_start_time=LATER.isoformat())
    cancelled = (await client.post(f"{API}/batches/{made['batch_id']}/cancel")).json()
    assert (cancelled["scheduled_job_cancelled"], cancelled["cancelled_jobs"]) == (True, 3)
    info = (await client.get(f"{API}/batches/{made['batch_id']}/backend")).json()["backend_job_info"]
    assert info["in_defer_queue"] is False


async def test_users_see_only_their_batches(client: httpx.AsyncClient) -> None:
    mine = await create(client)
    assert (await client.get(f"{API}/batches/{mine['batch_id']}", headers=BOB)).status_code == 404
    assert (await client.post(f"{API}/batches/{mine['batch_id']}/cancel", headers=BOB)).status_code == 404
    assert (await client.get(f"{API}/batches", headers=BOB)).json()["data"] == []
    listed = (await client.get(f"{API}/batches", headers=ROOT, params={"user": "alice"})).json()["data"]
    assert [b["batch_id"] for b in listed] == [mine["batch_id"]]
    # a user naming another user lists nothing, as GET /jobs?user= does (not its own batches)
    assert (await client.get(f"{API}/batches", params={"user": "bob"})).json() == {"data": [], "next_cursor": None}
    assert len((await client.get(f"{API}/batches", params={"user": "alice"})).json()["data"]) == 1


async def test_listing_pages_newest_first(client: httpx.AsyncClient) -> None:
    ids = [(await create(client, jobs=[{"job_type": "add", "args": [1, 1]}]))["batch_id"] for _ in range(3)]
    first = (await client.get(f"{API}/batches", params={"limit": 2})).json()
    assert [b["batch_id"] for b in first["data"]] == ids[::-1][:2]
    rest = (await client.get(f"{API}/batches", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert [b["batch_id"] for b in rest["data"]] == [ids[0]] and rest["next_cursor"] is None
    for cursor in ("bad", "0", ids[1], first["next_cursor"] + "x"):  # a raw id is not a cursor either
        refused = await client.get(f"{API}/batches", params={"cursor": cursor})
        assert refused.status_code == 400, cursor
        assert refused.json()["fields"][0]["field"] == "cursor"
    other = await client.get(f"{API}/batches", headers=ROOT, params={"cursor": first["next_cursor"]})
    assert other.status_code == 400  # made for alice's listing, not for an admin's of everyone's


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"jobs": []}, 422, "jobs"),
        ({"jobs": [{"job_type": "add"}, {"job_type": "nope"}]}, 400, "jobs.1.job_type"),
        ({"jobs": [{"job_type": "add", "delay_seconds": 5}]}, 400, "jobs.0.delay_seconds"),
        ({"jobs": [{"job_type": "add", "idempotency_key": "k"}]}, 400, "jobs.0.idempotency_key"),
        ({"jobs": [{"job_type": "add"}], "on_complete": "nope"}, 400, "on_complete"),
        # add(x, y) cannot be called with the batch id alone: it would only fail once every job ended
        ({"jobs": [{"job_type": "add", "args": [1, 2]}], "on_failure": "add"}, 400, "on_failure: it is called with"),
        ({"jobs": [{"job_type": "add"}], "colour": "red"}, 422, "colour"),
        ({"jobs": [{"job_type": "add"}], "scheduled_start_time": "9999-12-31T23:00:00-05:00"}, 422, "100 years"),
    ],
)
async def test_a_bad_batch_creates_nothing(
    client: httpx.AsyncClient, backend: Backend, body: dict, status: int, fragment: str
) -> None:
    response = await client.post(f"{API}/batches", json=body)
    assert response.status_code == status, response.text
    assert fragment in response.text
    assert backend.counts() == {}
    assert (await client.get(f"{API}/batches")).json()["data"] == []


async def test_unknown_batch_is_a_404(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{API}/batches/nope")
    assert response.status_code == 404
    assert response.json() == {"error": "BatchNotFoundError", "message": "Batch nope not found", "batch_id": "nope"}


async def test_the_batch_size_limit_is_configurable(backend: Backend) -> None:
    from conveyor.server import Settings, create_app

    app = create_app(backend, Settings(max_batch_jobs=2))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://conveyor") as http:
        response = await http.post(f"{API}/batches", json=spec(3))
        assert response.status_code == 400
        assert response.json()["message"] == "A batch may hold at most 2 jobs, got 3"
        assert (await http.post(f"{API}/batches", json=spec(2))).status_code == 201
    app.state.conveyor.hub.stop()


async def test_cancelling_a_batch_whose_jobs_just_ended_completes_it(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    made = await create(client, count=2, on_complete="fail")
    for job_id in made["job_ids"]:  # both end before any maintenance pass completes the batch
        settle(backend, start(backend, job_id), JobStatus.FINISHED, result=1)
    refused = await client.post(f"{API}/batches/{made['batch_id']}/cancel")
    assert refused.status_code == 409
    assert (refused.json()["error"], refused.json()["current_status"]) == ("BatchAlreadyCompletedError", "completed")
    detail = (await client.get(f"{API}/batches/{made['batch_id']}")).json()
    assert (detail["status"], detail["counts"]["completed"]) == ("completed", 2)
    assert [record.func_name for record in backend.jobs_get(backend.job_ids(None, [JobStatus.QUEUED]))] == ["fail"]


async def test_a_batchs_jobs_listed_last_given_first_filtered_and_paged(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    made = await create(client, count=4)
    await create(client, count=2)  # another batch's jobs stay out
    ids = made["job_ids"]
    failed = start(backend, ids[0])
    settle(backend, failed, JobStatus.FAILED, error="boom")
    listed = (await client.get(f"{API}/jobs", params={"batch_id": made["batch_id"]})).json()
    assert [job["id"] for job in listed["data"]] == ids[::-1]
    assert {job["batch_id"] for job in listed["data"]} == {made["batch_id"]}
    assert (listed["total"], listed["pending_count"], listed["running_count"]) == (4, 3, 0)
    only_failed = (await client.get(f"{API}/jobs", params={"batch_id": made["batch_id"], "status": "failed"})).json()
    assert [job["id"] for job in only_failed["data"]] == [ids[0]] and only_failed["total"] == 1
    first = (await client.get(f"{API}/jobs", params={"batch_id": made["batch_id"], "limit": 3})).json()
    following = {"batch_id": made["batch_id"], "limit": 3, "cursor": first["next_cursor"]}
    rest = await client.get(f"{API}/jobs", params=following)
    assert [job["id"] for job in first["data"] + rest.json()["data"]] == ids[::-1]
    assert rest.json()["next_cursor"] is None
    other = await client.get(f"{API}/jobs", params={"batch_id": "b" * 10, "cursor": first["next_cursor"]})
    assert other.status_code == 404  # no such batch; a cursor is bound to its batch besides
    assert (await client.get(f"{API}/jobs", params={"batch_id": made["batch_id"]}, headers=BOB)).status_code == 404
    admin = (await client.get(f"{API}/jobs", params={"batch_id": made["batch_id"]}, headers=ROOT)).json()
    assert len(admin["data"]) == 4
    by_queue = (await client.get(f"{API}/jobs", params={"batch_id": made["batch_id"], "queue": "nope"})).json()
    assert (by_queue["data"], by_queue["total"]) == ([], None)
    bobs = (await client.get(f"{API}/jobs", params={"batch_id": made["batch_id"], "user": "bob"}, headers=ROOT)).json()
    assert (bobs["data"], bobs["total"]) == ([], None)  # not the batch's user: its counts do not say
    none_running = await client.get(f"{API}/jobs", params={"batch_id": made["batch_id"], "status": "running"})
    assert none_running.json() == {"data": [], "total": 0, "pending_count": 3, "running_count": 0, "next_cursor": None}


async def test_a_job_restarted_before_its_batch_starts_waits_for_the_batch(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    made = await create(client, count=2, scheduled_start_time=LATER.isoformat())
    held, other = made["job_ids"]
    assert (await client.post(f"{API}/jobs/cancel/{held}")).status_code == 200
    restarted = await client.post(f"{API}/jobs/restart/{held}")
    assert restarted.status_code == 200
    assert restarted.json()["status"] == "scheduled"  # held again: it did not jump ahead of its batch
    assert backend.job_ids("default", [JobStatus.QUEUED]) == []
    detail = (await client.get(f"{API}/batches/{made['batch_id']}")).json()
    assert (detail["status"], detail["counts"]["scheduled"]) == ("scheduled", 2)
    assert (await client.get(f"{API}/batches/{made['batch_id']}/backend")).json()["backend_job_info"]["held_jobs"] == 2
    started = await client.post(f"{API}/batches/{made['batch_id']}/start")
    assert started.json()["counts"]["pending"] == 2
    assert sorted(backend.job_ids("default", [JobStatus.QUEUED])) == sorted([held, other])
    settle(backend, start(backend, held), JobStatus.FAILED, error="boom")  # it kept its place in the batch
    again = await client.post(f"{API}/jobs/restart/{held}")  # once started, a restart queues
    assert again.json() == {"job_id": held, "status": "pending", "message": "Job restarted and re-queued"}


async def test_a_batchs_progress_counts_its_deleted_jobs_as_ended(client: httpx.AsyncClient, backend: Backend) -> None:
    """Results expire (500 s by default) and ended jobs may be deleted: the progress of a
    batch must not fall back as they go (a completed batch showed 0.5, then 0.0)."""
    made = await create(client, count=2)
    first, second = made["job_ids"]
    settle(backend, start(backend, first), JobStatus.FINISHED, result=1)
    assert (await client.delete(f"{API}/jobs/{first}")).status_code == 204
    detail = (await client.get(f"{API}/batches/{made['batch_id']}")).json()
    assert (detail["status"], detail["progress"], detail["counts"]["pending"]) == ("running", 0.5, 1)
    settle(backend, start(backend, second), JobStatus.FINISHED, result=1)
    assert (await client.get(f"{API}/batches/{made['batch_id']}")).json()["progress"] == 1.0
