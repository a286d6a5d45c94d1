"""Stats, workers, health, metrics, backend inspection, the dashboard and the schema."""

from __future__ import annotations

import time

import httpx
import pytest

from backend_conformance.helpers import claim_ids
from conveyor.backends.base import Backend
from conveyor.status import JobStatus
from conveyor.types import WorkerRecord

from .conftest import API, BOB, ROOT, settle, start, submit

pytestmark = pytest.mark.anyio


def register_worker(backend: Backend, name: str, last_heartbeat: float, jobs: tuple[str, ...] = ()) -> None:
    backend.workers_register(
        WorkerRecord(
            name=name, hostname="host", pid=42, queues=("default",), concurrency=2, state="busy",
            current_job_ids=jobs, started_at=last_heartbeat, last_heartbeat=last_heartbeat,
            jobs_done=5, jobs_failed=2, jobs_stopped=1, working_time=1.5,
        )
    )  # fmt: skip


async def test_stats_count_jobs_and_throughput(client: httpx.AsyncClient, backend: Backend) -> None:
    done, failed, running, _pending = [await submit(client) for _ in range(4)]
    settle(backend, start(backend, done), JobStatus.FINISHED, result=3)
    settle(backend, start(backend, failed), JobStatus.FAILED, error="ValueError: x")
    start(backend, running)
    register_worker(backend, "w1", time.time())
    body = (await client.get(f"{API}/jobs/stats")).json()
    assert {key: body[key] for key in ("pending", "running", "completed", "failed", "workers")} == {
        "pending": 1, "running": 1, "completed": 1, "failed": 1, "workers": 1,
    }  # fmt: skip
    assert body["queue_type"] == backend.kind
    assert body["throughput"] == {"last_minute": 2, "last_hour": 2, "last_day": 2}
    assert body["avg_processing_time_ms"] >= 0


async def test_queue_stats_report_counts_workers_and_health(client: httpx.AsyncClient, backend: Backend) -> None:
    cancelled, _pending = await submit(client), await submit(client, delay_seconds=600)
    await client.post(f"{API}/jobs/cancel/{cancelled}")
    body = (await client.get(f"{API}/jobs/queue/stats")).json()
    assert (body["cancelled_jobs"], body["scheduled_jobs"], body["total_jobs"]) == (1, 1, 2)
    assert (body["active_workers"], body["worker_health_status"]) == (0, "unhealthy")  # a job waits, no worker
    register_worker(backend, "alive", time.time())
    register_worker(backend, "silent", time.time() - 3600)
    body = (await client.get(f"{API}/jobs/queue/stats")).json()
    assert (body["active_workers"], body["worker_health_status"]) == (1, "degraded")
    backend.workers_unregister("silent")
    assert (await client.get(f"{API}/jobs/queue/stats")).json()["worker_health_status"] == "healthy"
    assert body["cpu_usage_percent"] >= 0 and body["memory_usage_mb"] > 0
    assert body["global_max_concurrent_jobs"] is None and body["last_cleanup"] is None
    backend.maintenance_done("someone", 1_700_000_000.0)
    assert (await client.get(f"{API}/jobs/queue/stats")).json()["last_cleanup"] == "2023-11-14T22:13:20Z"


async def test_workers_are_listed_with_their_health(client: httpx.AsyncClient, backend: Backend) -> None:
    mine, theirs = await submit(client), await submit(client, headers=BOB)
    register_worker(backend, "w1", time.time(), jobs=(theirs, mine))
    (worker,) = (await client.get(f"{API}/workers")).json()["data"]
    assert (worker["name"], worker["host"], worker["pid"], worker["queues"]) == ("w1", "host", 42, ["default"])
    assert (worker["state"], worker["current_job_id"], worker["healthy"]) == ("busy", mine, True)
    assert (worker["concurrency"], worker["pool"]) == (2, "threads")
    assert (worker["jobs_done"], worker["jobs_failed"], worker["working_time"]) == (5, 2, 1.5)
    assert worker["jobs_cancelled"] == 1  # of jobs_failed (RQ's count), the ones a stop or a cancel ended
    assert worker["current_job_ids"] == [mine]  # another user's job ids are not shown to a user
    assert worker["last_heartbeat"].endswith("Z")
    (seen_by_admin,) = (await client.get(f"{API}/workers", headers=ROOT)).json()["data"]
    assert seen_by_admin["current_job_ids"] == [theirs, mine]


async def test_an_admin_asks_a_worker_to_shut_down(client: httpx.AsyncClient, backend: Backend) -> None:
    register_worker(backend, "w1", time.time())
    response = await client.post(f"{API}/workers/w1/shutdown")
    assert (response.status_code, response.json()["error"]) == (403, "Forbidden")
    assert backend.workers_list()[0].shutdown_requested is False
    response = await client.post(f"{API}/workers/w1/shutdown", headers=ROOT)
    assert (response.status_code, response.json()) == (202, {"worker": "w1", "shutdown_requested": True})
    (worker,) = (await client.get(f"{API}/workers")).json()["data"]
    assert worker["shutdown_requested"] is True
    response = await client.post(f"{API}/workers/ghost/shutdown", headers=ROOT)
    assert response.status_code == 404
    assert response.json() == {
        "error": "WorkerNotFoundError", "message": "Worker ghost is not registered", "worker": "ghost",
    }  # fmt: skip


async def test_queues_are_listed_with_their_counts_per_status(client: httpx.AsyncClient, backend: Backend) -> None:
    failing = await submit(client, "fail", queue="quiet")
    settle(backend, start(backend, failing, "quiet"), JobStatus.FAILED, error="ValueError: boom")
    await submit(client, queue="busy")
    await submit(client, queue="busy", delay_seconds=3600)
    await submit(client, queue="bobs", headers=BOB)
    zero = {"pending": 0, "scheduled": 0, "running": 0, "completed": 0, "failed": 0, "cancelled": 0}
    zero |= {"paused": False, "paused_at": None}
    mine = [
        {**zero, "queue": "busy", "total": 2, "pending": 1, "scheduled": 1},
        {**zero, "queue": "quiet", "total": 1, "failed": 1},
    ]
    assert (await client.get(f"{API}/queues")).json() == {"data": mine}  # alice's own jobs only
    every = (await client.get(f"{API}/queues", headers=ROOT)).json()["data"]
    assert [row["queue"] for row in every] == ["bobs", "busy", "quiet"]


async def test_an_admin_pauses_and_resumes_a_queue_and_the_listing_shows_it(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    job_id = await submit(client, queue="emails")
    for action in ("pause", "resume"):
        refused = await client.post(f"{API}/queues/emails/{action}")  # a user's key: queues are everyone's
        assert (refused.status_code, refused.json()["error"]) == (403, "Forbidden")
    assert backend.queues_paused() == {}
    paused = await client.post(f"{API}/queues/emails/pause", headers=ROOT)
    assert paused.status_code == 200
    body = paused.json()
    assert (body["queue"], body["paused"], body["paused_at"].endswith("Z")) == ("emails", True, True)
    again = (await client.post(f"{API}/queues/emails/pause", headers=ROOT)).json()
    assert again["paused_at"] == body["paused_at"], "a second pause keeps the first time"
    await client.post(f"{API}/queues/idle/pause", headers=ROOT)  # a queue without jobs, paused ahead
    assert claim_ids(backend, ("emails",)) == [], "no worker starts a paused queue's job"
    rows = {row["queue"]: row for row in (await client.get(f"{API}/queues", headers=ROOT)).json()["data"]}
    assert (rows["emails"]["paused"], rows["emails"]["pending"], rows["idle"]["paused"]) == (True, 1, True)
    mine = (await client.get(f"{API}/queues")).json()["data"]
    assert [(row["queue"], row["paused"]) for row in mine] == [("emails", True)], "a user sees its own queues"
    metrics = (await client.get("/metrics", headers=ROOT)).text
    assert 'conveyor_queue_paused_seconds{queue="emails"}' in metrics
    resumed = (await client.post(f"{API}/queues/emails/resume", headers=ROOT)).json()
    assert resumed == {"queue": "emails", "paused": False, "paused_at": None}
    assert claim_ids(backend, ("emails",)) == [job_id]
    assert backend.queues_paused().keys() == {"idle"}


async def test_pausing_a_queue_of_an_invalid_name_is_a_clear_error(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{API}/queues/{'q' * 201}/pause", headers=ROOT)
    assert response.status_code == 400
    assert "at most 200 characters" in response.json()["message"]


async def test_a_users_stats_count_its_own_jobs(client: httpx.AsyncClient, backend: Backend) -> None:
    await submit(client)
    for _ in range(3):
        await submit(client, headers=BOB)
    start(backend, await submit(client, headers=BOB, queue="other"), "other")
    mine = (await client.get(f"{API}/jobs/stats")).json()
    assert (mine["pending"], mine["running"]) == (1, 0)
    assert (await client.get(f"{API}/jobs/queue/stats")).json()["total_jobs"] == 1
    everyone = (await client.get(f"{API}/jobs/stats", headers=ROOT)).json()
    assert (everyone["pending"], everyone["running"]) == (4, 1)
    queue = (await client.get(f"{API}/jobs/queue/stats", headers=BOB)).json()
    assert (queue["pending_jobs"], queue["running_jobs"], queue["total_jobs"]) == (3, 1, 4)
    assert queue["worker_health_status"] == "unhealthy"  # the store's: jobs wait and no worker runs


async def test_backend_inspection_shows_queue_position_and_lease(client: httpx.AsyncClient, backend: Backend) -> None:
    first, second = await submit(client), await submit(client)
    body = (await client.get(f"{API}/jobs/{second}/backend")).json()
    assert (body["job_id"], body["exists"], body["status"], body["in_queue"], body["queue_position"]) == (
        second, True, "pending", True, 1,
    )  # fmt: skip
    assert body["registries"] and body["note"]
    start(backend, first)
    body = (await client.get(f"{API}/jobs/{first}/backend")).json()
    assert (body["status"], body["in_queue"], body["lease_owner"]) == ("running", False, "test-worker")
    assert body["lease_expires_at"].endswith("Z")


async def test_backend_inspection_tells_a_held_batch_job_from_a_scheduled_one(client: httpx.AsyncClient) -> None:
    timed = await submit(client, delay_seconds=3600)
    body = (await client.get(f"{API}/jobs/{timed}/backend")).json()
    assert (body["status"], body["in_schedule"], body["scheduled_time"] is not None) == ("scheduled", True, True)
    assert body["note"].startswith("Scheduled:")
    made = await client.post(f"{API}/batches", json={"jobs": [{"job_type": "add", "args": [1, 2]}],
                                                     "scheduled_start_time": "2099-01-01T00:00:00Z"})  # fmt: skip
    (held,) = made.json()["job_ids"]
    body = (await client.get(f"{API}/jobs/{held}/backend")).json()  # the same on both stores
    assert (body["status"], body["in_schedule"], body["scheduled_time"]) == ("scheduled", False, None)
    assert "batch" in body["note"]  # not "waits on its dependencies", nor "when its time comes"


async def test_health_reports_the_backend(client: httpx.AsyncClient, backend: Backend) -> None:
    for path in ("/health", f"{API}/health"):
        body = (await client.get(path)).json()
        assert (body["status"], body["backend"], body["backend_reachable"]) == ("ok", backend.kind, True)


async def test_health_answers_head_for_uptime_checkers(live_url: str) -> None:
    async with httpx.AsyncClient(base_url=live_url, timeout=30) as client:
        for path in ("/health", f"{API}/health"):
            response = await client.head(path)
            assert (response.status_code, response.content) == (200, b"")


async def test_metrics_are_prometheus_text(client: httpx.AsyncClient, backend: Backend) -> None:
    await submit(client)
    register_worker(backend, "w1", time.time())
    for path in ("/metrics", f"{API}/metrics"):
        assert (await client.get(path)).status_code == 403, "a user's key: every user's counts are not for it"
        response = await client.get(path, headers=ROOT)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        text = response.text
        assert 'conveyor_jobs{queue="default",status="pending"} 1.0' in text
        assert 'conveyor_workers{healthy="true"} 1.0' in text
        assert 'conveyor_jobs_ended{outcome="finished",window="1h"} 0.0' in text
        assert "conveyor_backend_up 1.0" in text
    assert 'conveyor_http_requests_total{method="POST",route="/api/v1/jobs",status="201"} 1.0' in text


async def test_the_dashboard_is_served_at_the_root(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert "conveyor" in response.text and response.headers["content-type"].startswith("text/html")


async def test_unknown_paths_and_methods_answer_in_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{API}/nothing/here")
    assert (response.status_code, response.json()["error"]) == (404, "NotFound")
    response = await client.delete(f"{API}/jobs")
    assert (response.status_code, response.json()["error"]) == (405, "MethodNotAllowed")
    assert response.headers["allow"] == "GET, POST", "the API's methods, not the dashboard's files'"
    response = await client.head(f"{API}/jobs")
    assert (response.status_code, response.headers["allow"]) == (405, "GET, POST")
    response = await client.put(f"{API}/jobs/some-id")
    assert (response.status_code, response.headers["allow"]) == (405, "DELETE, GET")
    response = await client.options(f"{API}/jobs/stats")  # its own route, not /jobs/{job_id}'s too
    assert (response.status_code, response.headers["allow"]) == (405, "GET")
    response = await client.patch(f"{API}/jobs/status/some-id")
    assert (response.status_code, response.headers["allow"]) == (405, "GET")


async def test_the_openapi_schema_describes_every_route_and_error(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    paths = schema["paths"]
    for path in (
        "/api/v1/jobs", "/api/v1/jobs/{job_id}", "/api/v1/jobs/status/{job_id}", "/api/v1/jobs/status/{job_id}/poll",
        "/api/v1/jobs/status/{job_id}/stream", "/api/v1/jobs/cancel/{job_id}", "/api/v1/jobs/restart/{job_id}",
        "/api/v1/jobs/stats", "/api/v1/jobs/queue/stats", "/api/v1/jobs/{job_id}/backend", "/api/v1/workers",
        "/api/v1/workers/{name}/shutdown", "/api/v1/cron", "/api/v1/health", "/health", "/metrics", "/api/v1/metrics",


        "/api/v1/queues", "/api/v1/queues/{name}/pause", "/api/v1/queues/{name}/resume",
        "/api/v1/health", "/health", "/metrics", "/api/v1/metrics",
    ):  # fmt: skip
        assert path in paths, path
    submit_responses = paths["/api/v1/jobs"]["post"]["responses"]
    assert {"201", "400", "401", "409", "413", "422", "503"} <= set(submit_responses)
    assert "text/event-stream" in paths["/api/v1/jobs/status/{job_id}/stream"]["get"]["responses"]["200"]["content"]
    assert "ValidationErrorBody" in schema["components"]["schemas"]
