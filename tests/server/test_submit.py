"""POST /jobs: registered job types only, options through the library, bad input refused."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from conveyor.backends.base import Backend
from conveyor.job import Job
from conveyor.queue import Queue
from conveyor.status import JobStatus

from .conftest import ALICE, API, BOB, ROOT, settle, start, submit

pytestmark = pytest.mark.anyio


async def test_a_submitted_job_is_stored_with_its_options_and_the_keys_user(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    body = {
        "job_type": "add", "args": [2], "kwargs": {"y": 3}, "queue": "high", "priority": 5, "max_retries": 2,
        "retry_intervals": [1, 5], "retry_on": ["ConnectionError", "requests.exceptions.Timeout"], "timeout": 30,
        "ttl": 60, "result_ttl": -1, "meta": {"source": "api"}, "job_id": "my-own-id",
    }  # fmt: skip
    response = await client.post(f"{API}/jobs", json=body)
    assert response.status_code == 201, response.text
    assert response.json() == {"job_id": "my-own-id", "status": "pending"}
    assert response.headers["location"] == f"{API}/jobs/my-own-id"
    job = Job.fetch("my-own-id", connection=backend)
    assert (job.func_name, job.args, job.kwargs, job.origin, job.priority) == ("add", (2,), {"y": 3}, "high", 5)
    assert (job.max_retries, job.retry_intervals, job.timeout, job.ttl, job.result_ttl) == (2, [1, 5], 30, 60, -1)
    assert (job.meta, job.user_id) == ({"source": "api"}, "alice")
    assert job.retry_on == ["ConnectionError", "requests.exceptions.Timeout"]
    shown = (await client.get(f"{API}/jobs/my-own-id")).json()  # why a failure with retries left was not retried
    assert (shown["max_retries"], shown["retry_on"]) == (2, ["ConnectionError", "requests.exceptions.Timeout"])


async def test_a_job_can_be_scheduled_by_time_or_delay(client: httpx.AsyncClient, backend: Backend) -> None:
    at = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)  # exact as a float timestamp
    response = await client.post(
        f"{API}/jobs", json={"job_type": "add", "args": [1, 2], "scheduled_at": at.isoformat()}
    )
    assert response.json()["status"] == "scheduled"
    assert Job.fetch(response.json()["job_id"], connection=backend).scheduled_for == at
    response = await client.post(f"{API}/jobs", json={"job_type": "add", "args": [1, 2], "delay_seconds": 90})
    scheduled_for = Job.fetch(response.json()["job_id"], connection=backend).scheduled_for
    assert scheduled_for is not None and abs(scheduled_for.timestamp() - (time.time() + 90)) < 30


async def test_dependencies_defer_a_job_and_must_be_the_callers_own(client: httpx.AsyncClient) -> None:
    parent = await submit(client)
    response = await client.post(f"{API}/jobs", json={"job_type": "add", "args": [1, 2], "depends_on": [parent]})
    assert response.json()["status"] == "pending"
    for missing in ("no-such-job", parent):
        headers = BOB if missing == parent else ALICE  # bob cannot depend on alice's job
        response = await client.post(
            f"{API}/jobs", json={"job_type": "add", "args": [1, 2], "depends_on": [missing]}, headers=headers
        )
        assert response.status_code == 400
        assert response.json()["fields"][0]["field"] == "depends_on"


async def test_an_unknown_job_type_is_refused_with_the_known_ones(client: httpx.AsyncClient, backend: Backend) -> None:
    response = await client.post(f"{API}/jobs", json={"job_type": "os.system", "args": ["true"]})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "ValidationError"
    assert {"add", "fail", "steps"} <= set(body["known_job_types"])
    assert "os.system" not in body["known_job_types"]
    assert backend.counts() == {}


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"args": [1, 2, 3]}, "args", "too many positional arguments (it takes (x, y))"),
        ({"args": [1]}, "args", "missing a required argument: 'y' (it takes (x, y))"),
        ({"args": [1, 2], "kwargs": {"z": 2}}, "kwargs", "got an unexpected keyword argument 'z' (it takes (x, y))"),
        ({"args": [1, 2], "kwargs": {"x": 3}}, "kwargs", "multiple values for argument 'x'"),
    ],
)
async def test_arguments_the_job_type_cannot_take_are_refused_before_storing(
    client: httpx.AsyncClient, backend: Backend, fields: dict[str, object], field: str, reason: str
) -> None:
    # they were stored, and the job failed in the worker with a TypeError
    response = await client.post(f"{API}/jobs", json={"job_type": "add", **fields})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["message"].startswith("The arguments do not fit job type 'add': ")
    assert (body["fields"][0]["field"], body["fields"][0]["location"]) == (field, "body")
    assert reason in body["fields"][0]["message"]
    batch = {"jobs": [{"job_type": "add", "args": [1, 2]}, {"job_type": "add", **fields}]}
    response = await client.post(f"{API}/batches", json=batch)
    assert response.status_code == 400, response.text
    assert response.json()["fields"][0]["field"] == f"jobs.1.{field}"
    assert backend.counts() == {}


async def test_durations_may_be_text_as_in_the_python_api(client: httpx.AsyncClient, backend: Backend) -> None:
    fields = {"timeout": "1h", "ttl": "2h", "result_ttl": "1d", "delay_seconds": "10m"}
    response = await client.post(f"{API}/jobs", json={"job_type": "add", "args": [1, 2], **fields})
    assert response.status_code == 201, response.text
    (record,) = backend.jobs_get([response.json()["job_id"]])
    assert record is not None
    assert (record.timeout, record.ttl, record.result_ttl) == (3600, 7200, 86400)
    assert record.scheduled_for is not None and record.scheduled_for - record.created_at == pytest.approx(600, abs=5)
    forever = await client.post(
        f"{API}/jobs", json={"job_type": "add", "args": [1, 2], "timeout": "-1", "result_ttl": "-1"}
    )
    (record,) = backend.jobs_get([forever.json()["job_id"]])
    assert record is not None and (record.timeout, record.result_ttl) == (None, None)


@pytest.mark.parametrize(
    ("fields", "offending"),
    [
        ({"user_id": "mallory"}, "user_id"),
        ({"timeout": -5}, "timeout"),
        ({"timeout": 10**9}, "timeout"),
        ({"priority": 2**40}, "priority"),
        ({"max_retries": -1}, "max_retries"),
        ({"retry_intervals": [1], "max_retries": 0}, "body"),
        ({"delay_seconds": 10, "scheduled_at": "2030-01-01T00:00:00Z"}, "body"),
        ({"scheduled_at": "2030-01-01T00:00:00"}, "scheduled_at"),
        ({"args": {"not": "a list"}}, "args"),
        ({"queue": " padded "}, "queue"),
        ({"queue": "q\u0000z"}, "queue"),
        ({"queue": "tab\there"}, "queue"),
        ({"depends_on": ["x"] * 101}, "depends_on"),
        ({"timeout": "soon"}, "timeout"),
        ({"timeout": "8d"}, "timeout"),
        ({"ttl": "-1"}, "ttl"),
        ({"priority": True}, "priority"),
        ({"max_retries": True}, "max_retries"),
        ({"timeout": True}, "timeout"),
        ({"delay_seconds": False}, "delay_seconds"),
        ({"retry_intervals": [True], "max_retries": 1}, "retry_intervals"),
        ({"retry_on": ["ConnectionError"], "max_retries": 0}, "body"),
        ({"retry_on": ["ConnectionEror"], "max_retries": 1}, "retry_on"),
        ({"retry_on": ["requests..Timeout"], "max_retries": 1}, "retry_on"),
        ({"retry_on": [3], "max_retries": 1}, "retry_on.0"),
        ({"retry_on": "ConnectionError", "max_retries": 1}, "retry_on"),
        ({"scheduled_at": 1}, "scheduled_at"),
        ({"scheduled_at": "1900000000"}, "scheduled_at"),
        ({"scheduled_at": "1.9e9"}, "scheduled_at"),
        ({"scheduled_at": "9999-12-31T23:59:59Z"}, "scheduled_at"),
    ],
)
async def test_bad_fields_are_422_naming_them(
    client: httpx.AsyncClient, backend: Backend, fields: dict[str, object], offending: str
) -> None:
    response = await client.post(f"{API}/jobs", json={"job_type": "add", "args": [1, 2], **fields})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "ValidationError"
    assert offending in [field["field"] for field in body["fields"]]
    assert backend.counts() == {}


async def test_malformed_json_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{API}/jobs", content=b'{"job_type": ', headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"] == "ValidationError"
    assert "not valid JSON" in response.json()["message"]


async def test_reusing_a_live_job_id_is_a_409(client: httpx.AsyncClient) -> None:
    await submit(client, job_id="twice")
    response = await client.post(f"{API}/jobs", json={"job_type": "add", "args": [1, 2], "job_id": "twice"})
    assert response.status_code == 409
    assert response.json()["error"] == "JobIdInUseError"
    assert response.json()["current_status"] == "pending"
    assert response.json()["message"] == "Job id 'twice' is already used by a pending job"  # the API's word


async def test_reusing_the_id_of_a_running_job_says_running(client: httpx.AsyncClient, backend: Backend) -> None:
    start(backend, await submit(client, job_id="busy"))
    response = await client.post(f"{API}/jobs", json={"job_type": "add", "args": [1, 2], "job_id": "busy"})
    assert (response.status_code, response.json()["current_status"]) == (409, "running")
    assert response.json()["message"] == "Job id 'busy' is already used by a running job"


async def test_another_users_job_id_cannot_be_taken_over(client: httpx.AsyncClient, backend: Backend) -> None:
    job_id = await submit(client, job_id="alices")
    Job.fetch(job_id, connection=backend).cancel()
    response = await client.post(
        f"{API}/jobs", json={"job_type": "add", "args": [1, 2], "job_id": "alices"}, headers=BOB
    )
    assert response.status_code == 409
    assert Job.fetch(job_id, connection=backend).user_id == "alice"
    assert Job.fetch(job_id, connection=backend).status is JobStatus.CANCELED


async def test_admins_submit_jobs_under_their_own_user(client: httpx.AsyncClient, backend: Backend) -> None:
    response = await client.post(f"{API}/jobs", json={"job_type": "add", "args": [1, 2]}, headers=ROOT)
    assert Job.fetch(response.json()["job_id"], connection=backend).user_id == "root"


async def test_an_idempotency_key_returns_the_live_job_instead_of_a_second_one(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    body = {"job_type": "add", "args": [1, 2]}
    first = await client.post(f"{API}/jobs", json=body, headers={**ALICE, "Idempotency-Key": "order-7"})
    assert first.status_code == 201
    again = await client.post(f"{API}/jobs", json={**body, "idempotency_key": "order-7"})
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["job_id"] == first.json()["job_id"]
    other_user = await client.post(f"{API}/jobs", json=body, headers={**BOB, "Idempotency-Key": "order-7"})
    assert other_user.status_code == 201 and other_user.json()["job_id"] != first.json()["job_id"]
    assert backend.jobs_count(None, [JobStatus.QUEUED]) == 2
    await client.post(f"{API}/jobs/cancel/{first.json()['job_id']}")  # ended: the key is free again
    fresh = await client.post(f"{API}/jobs", json=body, headers={**ALICE, "Idempotency-Key": "order-7"})
    assert fresh.status_code == 201 and fresh.json()["job_id"] != first.json()["job_id"]


async def test_idempotency_keys_in_header_and_body_must_agree(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"{API}/jobs",
        json={"job_type": "add", "args": [1, 2], "idempotency_key": "a"},
        headers={**ALICE, "Idempotency-Key": "b"},
    )
    assert response.status_code == 400 and response.json()["fields"][0]["field"] == "idempotency_key"


async def test_a_bad_header_is_named_in_the_422(client: httpx.AsyncClient) -> None:
    """Header names hold dashes, which pydantic's union tags also do: the name is kept."""
    job_id = await submit(client)
    for method, path, header in [
        ("POST", "/jobs", "Idempotency-Key"),
        ("GET", f"/jobs/status/{job_id}/stream", "Last-Event-ID"),
    ]:
        response = await client.request(
            method, f"{API}{path}", json={"job_type": "add", "args": [1, 2]}, headers={**ALICE, header: "k" * 201}
        )
        assert response.status_code == 422, response.text
        assert response.json()["message"] == f"Invalid request: {header.lower()}"
        assert response.json()["fields"][0]["field"] == header.lower()


JSON = {"content-type": "application/json"}
TOO_DEEP = "[" * 150 + "]" * 150


@pytest.mark.parametrize(
    ("content", "offending", "says"),
    [
        ('{"job_type": "add", "args": ["\\ud800"]}', "args", "lone UTF-16 surrogate"),
        ('{"job_type": "add", "kwargs": {"\\udc00": 1}}', "kwargs", "lone UTF-16 surrogate"),
        ('{"job_type": "add", "meta": {"k": ["\\ud83d"]}}', "meta", "lone UTF-16 surrogate"),
        ('{"job_type": "add", "args": ' + TOO_DEEP + "}", "args", "deeper than 100 levels"),
        ('{"job_type": "add", "job_id": "a/b"}', "job_id", "it holds a '/' (a job id is 1 to 200 characters"),
        ('{"job_type": "add", "job_id": ".."}', "job_id", "it is reserved (a job id is"),
        ('{"job_type": "add", "job_id": "stats"}', "job_id", "it is reserved (a job id is"),
        ('{"job_type": "add", "job_id": " a"}', "job_id", "spaces at its ends (a job id is"),
        ('{"job_type": "add", "depends_on": ["."]}', "depends_on.0", "it is reserved (a job id is"),
        ('{"job_type": "add", "args": [NaN, 1]}', "args", "NaN or an infinity"),
        ('{"job_type": "add", "kwargs": {"x": 1e400}}', "kwargs", "NaN or an infinity"),
        ('{"job_type": "add", "meta": {"x": -Infinity}}', "meta", "NaN or an infinity"),
    ],
)
async def test_values_the_api_could_not_show_back_are_refused(
    client: httpx.AsyncClient, backend: Backend, content: str, offending: str, says: str
) -> None:
    response = await client.post(f"{API}/jobs", content=content.encode(), headers=JSON)
    assert response.status_code == 422, response.text
    (field,) = response.json()["fields"]
    assert field["field"] == offending and says in field["message"]
    assert backend.counts() == {}


async def test_any_unicode_id_and_paired_surrogates_are_fine(client: httpx.AsyncClient) -> None:
    content = '{"job_type": "add", "args": ["\\ud83d\\ude00", 1], "job_id": "\u4e2d\u6587"}'
    response = await client.post(f"{API}/jobs", content=content.encode(), headers=JSON)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"{API}/jobs/%E4%B8%AD%E6%96%87"  # headers are Latin-1
    job = (await client.get(response.headers["location"])).json()
    assert (job["id"], job["input"]["args"]) == ("\u4e2d\u6587", ["\U0001f600", 1])


async def test_stored_values_the_api_cannot_send_are_shown_repaired(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    deep: list[object] = []
    for _ in range(150):
        deep = [deep]
    job = Queue(connection=backend).enqueue_call("add", args=["\ud800", deep], user_id="alice", meta={"m": deep})
    shown = (await client.get(f"{API}/jobs/{job.id}")).json()
    assert shown["input"]["args"][0] == "\ufffd"
    level, depth = shown["input"]["args"][1], 0
    while isinstance(level, list):
        level, depth = level[0], depth + 1
    assert level == "(nested deeper than 100 levels: not shown)" and 95 < depth < 100
    assert shown["meta"]["m"] == deep  # deep, but within what a response can carry: as stored
    deeper: list[object] = []
    for _ in range(300):
        deeper = [deeper]
    job.meta["m"] = deeper
    job.save_meta()
    cut = (await client.get(f"{API}/jobs/{job.id}")).json()["meta"]["m"]
    assert cut != deeper and json.dumps(cut).count("[") < 100
    listed = (await client.get(f"{API}/jobs")).json()["data"]
    assert [item["id"] for item in listed] == [job.id]


@pytest.mark.parametrize(
    "content",
    [b'{"job_type": "add", "args": ["\xff"]}', b'{"job_type": "add", "args": [' + b"9" * 5000 + b"]}",
     b'{"job_type": "add", "args": ' + b"[" * 3000 + b"]" * 3000 + b"}"],
    ids=["not-utf-8", "huge-number", "too-deep-to-parse"],
)  # fmt: skip
async def test_a_body_that_cannot_be_read_as_json_is_a_400_naming_the_body(
    client: httpx.AsyncClient, backend: Backend, content: bytes
) -> None:
    response = await client.post(f"{API}/jobs", content=content, headers=JSON)
    assert response.status_code == 400
    assert response.json()["error"] == "ValidationError"
    assert [field["field"] for field in response.json()["fields"]] == ["body"]
    assert backend.counts() == {}


async def test_a_body_not_sent_as_json_is_a_415_that_says_so(client: httpx.AsyncClient) -> None:
    form = await client.post(f"{API}/jobs", data={"job_type": "add"})
    assert (form.status_code, form.json()["error"]) == (415, "UnsupportedMediaType")
    assert "Content-Type: application/json (got application/x-www-form-urlencoded)" in form.json()["message"]
    bare = await client.post(f"{API}/jobs", content=b'{"job_type": "add"}')
    assert bare.status_code == 415 and "(got none)" in bare.json()["message"]


async def test_reusing_an_id_may_not_make_a_job_wait_on_itself(client: httpx.AsyncClient, backend: Backend) -> None:
    """The id of an ended job may be reused; with a depends_on that leads back to it, the
    new job would wait on itself for ever (Redis took it so; SQLite answered a 404)."""
    first = await submit(client, job_id="first")
    settle(backend, start(backend, first), JobStatus.FAILED, error="boom")
    waiting = await submit(client, job_id="waiting", depends_on=["first"])  # deferred: first failed
    for depends_on in (["first"], ["waiting"]):
        body = {"job_type": "add", "args": [1, 2], "job_id": "first", "depends_on": depends_on}
        response = await client.post(f"{API}/jobs", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["fields"][0] == {
            "field": "depends_on", "location": "body", "message": "a dependency cycle", "type": "cycle"
        }  # fmt: skip
    assert Job.fetch(first, connection=backend).get_status() is JobStatus.FAILED  # left as it was
    assert Job.fetch(waiting, connection=backend).get_status() is JobStatus.DEFERRED


async def test_a_batch_job_with_an_id_breaking_the_rule_is_a_422_naming_it(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    body = {"jobs": [{"job_type": "add", "args": [1, 2]}, {"job_type": "add", "job_id": "a/b"}]}
    response = await client.post(f"{API}/batches", json=body)
    assert response.status_code == 422, response.text
    (field,) = response.json()["fields"]
    assert field["field"] == "jobs.1.job_id" and "a job id is 1 to 200 characters" in field["message"]
    assert backend.counts() == {}


@pytest.mark.parametrize("path", ["%20a", "a%20", "x" * 300, "a%00b", "a%0Ab"])
async def test_reading_an_id_breaking_the_rule_is_a_404(client: httpx.AsyncClient, path: str) -> None:
    await submit(client)
    for url in (f"{API}/jobs/{path}", f"{API}/jobs/{path}/backend", f"{API}/jobs/status/{path}"):
        response = await client.get(url)
        assert response.status_code == 404, (url, response.text)
        assert response.json()["error"] == "JobNotFoundError"


async def test_a_typed_value_in_celerys_json_form_reaches_the_job_as_itself(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    at = {"__type__": "datetime", "__value__": "2030-01-01T09:00:00+00:00"}
    price = {"__type__": "decimal", "__value__": "19.90"}
    body = {"job_type": "add", "args": [at], "kwargs": {"y": price}, "meta": {"since": at}}
    response = await client.post(f"{API}/jobs", json=body)
    assert response.status_code == 201, response.text
    job = Job.fetch(response.json()["job_id"], connection=backend)
    assert job.args == (datetime(2030, 1, 1, 9, tzinfo=UTC),) and job.kwargs == {"y": Decimal("19.90")}
    assert job.meta == {"since": datetime(2030, 1, 1, 9, tzinfo=UTC)}
    shown = (await client.get(f"{API}/jobs/{job.id}")).json()
    assert (shown["input"], shown["meta"]) == ({"args": [at], "kwargs": {"y": price}}, {"since": at})
