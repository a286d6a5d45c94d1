"""The audit log over REST: the actions taken with a key are recorded under its user and
role, and only an admin reads them, newest first, a page at a time."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from conveyor.backends.base import Backend
from conveyor.status import JobStatus

from .conftest import API, ROOT, settle, start, submit

pytestmark = pytest.mark.anyio


async def audit(client: httpx.AsyncClient, **query: object) -> dict:
    response = await client.get(f"{API}/audit", params=query, headers=ROOT)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_each_action_is_recorded_with_the_keys_user_and_role(
    client: httpx.AsyncClient, backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="conveyor.audit")
    cancelled = await submit(client)  # alice's key (a user)
    assert (await client.post(f"{API}/jobs/cancel/{cancelled}")).status_code == 200
    assert (await client.post(f"{API}/jobs/restart/{cancelled}")).status_code == 200
    failed = await submit(client, queue="other")
    settle(backend, start(backend, failed, "other"), JobStatus.FAILED, error="ValueError: boom")
    assert (await client.delete(f"{API}/jobs/{failed}")).status_code == 204
    later = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    made = await client.post(f"{API}/batches", json={"jobs": [{"job_type": "add", "args": [1, 2]}],
                                                     "scheduled_start_time": "2099-01-01T00:00:00Z"})  # fmt: skip
    batch_id = made.json()["batch_id"]
    reschedule = {"scheduled_start_time": later.isoformat()}
    assert (await client.post(f"{API}/batches/{batch_id}/reschedule", json=reschedule)).status_code == 200
    assert (await client.post(f"{API}/batches/{batch_id}/cancel")).status_code == 200
    assert (await client.post(f"{API}/queues/emails/pause", headers=ROOT)).status_code == 200
    assert (await client.post(f"{API}/queues/emails/resume", headers=ROOT)).status_code == 200
    assert (await client.post(f"{API}/queues/emails/resume", headers=ROOT)).status_code == 200  # not paused: no action
    assert (await client.post(f"{API}/queues/emails/pause")).status_code == 403  # refused: not recorded

    entries = (await audit(client))["data"]
    seen = [(e["action"], e["target"], e["actor"], e["role"], e["via"]) for e in reversed(entries)]
    assert seen == [
        ("job.cancel", cancelled, "alice", "user", "rest"),
        ("job.restart", cancelled, "alice", "user", "rest"),
        ("job.delete", failed, "alice", "user", "rest"),
        ("batch.reschedule", batch_id, "alice", "user", "rest"),
        ("batch.cancel", batch_id, "alice", "user", "rest"),
        ("queue.pause", "emails", "root", "admin", "rest"),
        ("queue.resume", "emails", "root", "admin", "rest"),
    ]
    details = {e["action"]: e["detail"] for e in entries}
    assert details["batch.reschedule"] == f"starts at {later.isoformat()}"
    assert details["batch.cancel"] == "1 jobs cancelled"
    assert entries[0]["at"].endswith("Z") and entries[0]["id"]
    logged = [r.getMessage() for r in caplog.records if r.name == "conveyor.audit"]
    assert f"job.cancel by alice via rest: {cancelled}" in logged, "the logger has each action too"


async def test_only_an_admin_reads_the_log_a_page_at_a_time(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        assert (await client.post(f"{API}/queues/q/pause", headers=ROOT)).status_code == 200
    refused = await client.get(f"{API}/audit")
    assert (refused.status_code, refused.json()["error"]) == (403, "Forbidden")
    first = await audit(client, limit=2)
    assert len(first["data"]) == 2 and first["next_cursor"]
    rest = await audit(client, limit=2, cursor=first["next_cursor"])
    assert len(rest["data"]) == 1 and rest["next_cursor"] is None
    ids = [e["id"] for e in first["data"] + rest["data"]]
    assert len(set(ids)) == 3
    bad = await client.get(f"{API}/audit", params={"cursor": "nonsense"}, headers=ROOT)
    assert bad.status_code == 400
