"""POST /jobs/cancel/{id} and /jobs/restart/{id}: allowed transitions, 409 otherwise."""

from __future__ import annotations

import time

import httpx
import pytest

from conveyor.backends.base import Backend
from conveyor.job import Job
from conveyor.status import JobStatus
from conveyor.types import Settlement

from .conftest import API, settle, start, submit

pytestmark = pytest.mark.anyio


async def test_pending_and_scheduled_jobs_can_be_cancelled(client: httpx.AsyncClient, backend: Backend) -> None:
    for job_id in (await submit(client), await submit(client, delay_seconds=3600)):
        response = await client.post(f"{API}/jobs/cancel/{job_id}")
        assert response.status_code == 200
        assert response.json() == {"job_id": job_id, "status": "cancelled", "message": "Job cancelled successfully"}
        assert Job.fetch(job_id, connection=backend).status is JobStatus.CANCELED


async def test_cancelling_a_running_job_asks_its_worker_to_stop(client: httpx.AsyncClient, backend: Backend) -> None:
    job_id = await submit(client)
    start(backend, job_id)
    assert (await client.post(f"{API}/jobs/cancel/{job_id}")).status_code == 200
    assert job_id in backend.stop_requests("test-worker")


async def test_cancelling_a_completed_job_is_a_409_with_its_status(client: httpx.AsyncClient, backend: Backend) -> None:
    job_id = await submit(client)
    settle(backend, start(backend, job_id), JobStatus.FINISHED, result=3)
    response = await client.post(f"{API}/jobs/cancel/{job_id}")
    assert response.status_code == 409
    assert response.json() == {
        "error": "JobAlreadyCompletedError",
        "message": "Cannot cancel job that is already completed",
        "job_id": job_id,
        "current_status": "completed",
    }


async def test_failed_and_cancelled_jobs_restart_fresh(client: httpx.AsyncClient, backend: Backend) -> None:
    failed = await submit(client, max_retries=1)
    record = start(backend, failed)
    settle(backend, record, JobStatus.FAILED, error="ValueError: boom")
    cancelled = await submit(client)
    await client.post(f"{API}/jobs/cancel/{cancelled}")
    for job_id in (failed, cancelled):
        response = await client.post(f"{API}/jobs/restart/{job_id}")
        assert response.status_code == 200, response.text
        assert response.json() == {"job_id": job_id, "status": "pending", "message": "Job restarted and re-queued"}
        job = Job.fetch(job_id, connection=backend)
        assert (job.status, job.retry_count, job.exc_info) == (JobStatus.QUEUED, 0, None)


@pytest.mark.parametrize("state", ["pending", "running", "completed"])
async def test_only_failed_or_cancelled_jobs_restart(client: httpx.AsyncClient, backend: Backend, state: str) -> None:
    job_id = await submit(client)
    if state != "pending":
        record = start(backend, job_id)
        if state == "completed":
            settle(backend, record, JobStatus.FINISHED, result=3)
    response = await client.post(f"{API}/jobs/restart/{job_id}")
    assert response.status_code == 409
    body = response.json()
    assert (body["error"], body["job_id"], body["current_status"]) == ("JobNotRestartableError", job_id, state)


async def test_a_restart_refused_because_its_idempotency_key_is_taken_says_so(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    key = {"Idempotency-Key": "order-7"}
    first = await submit(client, headers=key)
    settle(backend, start(backend, first), JobStatus.FAILED, error="ValueError: boom")
    second = await submit(client, headers=key)  # the first has ended: the key makes a new job
    assert second != first
    response = await client.post(f"{API}/jobs/restart/{first}")
    assert response.status_code == 409
    body = response.json()
    assert (body["error"], body["current_status"]) == ("InvalidJobStateError", "failed")
    assert "idempotency key" in body["message"]  # not just "it is failed", which is what restart takes


async def test_actions_on_unknown_jobs_are_404(client: httpx.AsyncClient) -> None:
    for action in ("cancel", "restart"):
        response = await client.post(f"{API}/jobs/{action}/ghost")
        assert response.status_code == 404
        assert response.json()["error"] == "JobNotFoundError"


async def test_ended_jobs_can_be_deleted(client: httpx.AsyncClient, backend: Backend) -> None:
    completed = await submit(client)
    settle(backend, start(backend, completed), JobStatus.FINISHED, result=3)
    failed = await submit(client)
    settle(backend, start(backend, failed), JobStatus.FAILED, error="ValueError: boom")
    cancelled = await submit(client)
    await client.post(f"{API}/jobs/cancel/{cancelled}")
    for job_id in (completed, failed, cancelled):
        response = await client.delete(f"{API}/jobs/{job_id}")
        assert (response.status_code, response.content) == (204, b"")
        assert backend.jobs_get([job_id]) == [None]
        assert (await client.get(f"{API}/jobs/{job_id}")).status_code == 404
    assert (await client.delete(f"{API}/jobs/{completed}")).status_code == 404  # already gone


@pytest.mark.parametrize("state", ["pending", "scheduled", "running"])
async def test_live_jobs_are_not_deleted(client: httpx.AsyncClient, backend: Backend, state: str) -> None:
    job_id = await submit(client, delay_seconds=3600) if state == "scheduled" else await submit(client)
    if state == "running":
        start(backend, job_id)
    response = await client.delete(f"{API}/jobs/{job_id}")
    assert response.status_code == 409
    assert response.json() == {
        "error": "JobNotDeletableError",
        "message": f"Cannot delete job that is {state}: cancel it first, then delete it",
        "job_id": job_id,
        "current_status": state,
    }
    assert backend.jobs_get([job_id])[0] is not None


async def test_a_cancelled_job_its_worker_still_runs_is_deleted_only_once_it_stopped(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    job_id = await submit(client)
    record = start(backend, job_id)
    assert (await client.post(f"{API}/jobs/cancel/{job_id}")).status_code == 200
    response = await client.delete(f"{API}/jobs/{job_id}")
    assert response.status_code == 409
    assert response.json()["error"] == "InvalidJobStateError"
    assert "still stopping it" in response.json()["message"]
    stopped = Settlement(record.id, str(record.lease_token), JobStatus.STOPPED, record.started_at, reason="stopped")
    assert backend.jobs_settle([stopped], time.time()) == [False]  # its worker lets go: it stays cancelled
    assert (await client.delete(f"{API}/jobs/{job_id}")).status_code == 204
