"""Long-poll and Server-Sent Events, woken by the backend's job events.

SSE is read from a real uvicorn server (httpx's ASGI transport buffers whole
responses); each step of a job is made only after the stream has shown the previous
one, so the order is deterministic.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from conveyor.backends.base import Backend
from conveyor.cli.serving import bind, make_server, url_of
from conveyor.exceptions import BackendUnavailableError
from conveyor.job import Job
from conveyor.server.errors import STORE_DOWN
from conveyor.status import JobStatus
from conveyor.types import Settlement

from .conftest import ALICE, API, BOB, settle, sse, start, submit, until

pytestmark = pytest.mark.anyio


def followers(app: FastAPI) -> int:
    return int(app.state.conveyor.hub.followers)


async def test_a_poll_answers_at_once_when_the_status_already_differs(client: httpx.AsyncClient) -> None:
    job_id = await submit(client)
    began = time.monotonic()
    response = await client.get(f"{API}/jobs/status/{job_id}/poll", params={"current_status": "running", "timeout": 60})
    assert time.monotonic() - began < 30
    assert (response.json()["status"], response.json()["changed"]) == ("pending", True)


async def test_a_poll_waits_out_its_timeout_when_nothing_changes(client: httpx.AsyncClient) -> None:
    job_id = await submit(client)
    began = time.monotonic()
    params = {"current_status": "pending", "timeout": 0.3}
    response = await client.get(f"{API}/jobs/status/{job_id}/poll", params=params)
    assert time.monotonic() - began >= 0.25  # the event loop may wake a timer up to its clock resolution early
    assert (response.json()["status"], response.json()["changed"]) == ("pending", False)


async def test_a_poll_answers_when_the_job_changes(client: httpx.AsyncClient, app: FastAPI, backend: Backend) -> None:
    job_id = await submit(client)
    url = f"{API}/jobs/status/{job_id}/poll"
    poll = asyncio.create_task(client.get(url, params={"current_status": "pending", "timeout": 60}))
    await until(lambda: followers(app) == 1, message="the poll to subscribe")
    assert not poll.done()
    await asyncio.to_thread(start, backend, job_id)
    response = await asyncio.wait_for(poll, 30)
    assert (response.json()["status"], response.json()["changed"]) == ("running", True)
    assert followers(app) == 0


async def test_a_poll_whose_client_gave_up_stops_following_the_job(live_url: str, app: FastAPI) -> None:
    """A client whose own timeout is shorter than the poll's (a common setup) must not
    leave the poll following the job until the poll's timeout, up to 300 s."""
    async with httpx.AsyncClient(base_url=live_url, headers=ALICE, timeout=30) as client:
        job_id = await submit(client)
    url = f"{API}/jobs/status/{job_id}/poll"
    async with httpx.AsyncClient(base_url=live_url, headers=ALICE) as impatient:
        with pytest.raises(httpx.ReadTimeout):  # gives up after 0.5 s; the poll waits up to 300 s
            await impatient.get(url, params={"current_status": "pending", "timeout": 300}, timeout=0.5)
    await until(lambda: followers(app) == 0, timeout=10, message="the abandoned poll to end")


async def test_a_poll_whose_store_goes_away_meanwhile_is_a_503_not_an_unchanged_status(
    client: httpx.AsyncClient, app: FastAPI, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = await submit(client)
    url = f"{API}/jobs/status/{job_id}/poll"
    poll = asyncio.create_task(client.get(url, params={"current_status": "pending", "timeout": 0.5}))
    await until(lambda: followers(app) == 1, message="the poll to subscribe")

    def gone(job_ids: object) -> list[None]:
        raise BackendUnavailableError("the store went away")

    monkeypatch.setattr(backend, "jobs_get", gone)
    response = await asyncio.wait_for(poll, 30)
    assert (response.status_code, response.json()["error"]) == (503, "BackendUnavailable")
    assert response.json()["message"] == STORE_DOWN, "the details (the store's address) are for the log"


@pytest.mark.parametrize(
    ("params", "says"),
    [({"timeout": 301}, "less than or equal to 300"), ({"timeout": -1}, "greater than or equal to 0"),
     ({"timeout": "nan"}, "finite number"), ({"current_status": "finished"}, "Input should be")],
)  # fmt: skip
async def test_bad_poll_parameters_are_422(client: httpx.AsyncClient, params: dict[str, object], says: str) -> None:
    job_id = await submit(client)
    response = await client.get(f"{API}/jobs/status/{job_id}/poll", params=params)
    assert response.status_code == 422
    assert says in response.json()["fields"][0]["message"]


async def test_a_stream_shows_each_change_then_completes_and_ends(live_url: str, backend: Backend) -> None:
    async with httpx.AsyncClient(base_url=live_url, headers=ALICE, timeout=30) as client:
        job_id = await submit(client)
        async with client.stream("GET", f"{API}/jobs/status/{job_id}/stream") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = sse(response).__aiter__()
            seen = []

            async def next_event() -> dict[str, object]:
                while True:
                    event = await anext(events)
                    if "comment" not in event:
                        seen.append(event)
                        return event

            assert (await next_event())["data"] == {"job_id": job_id, "status": "pending", "progress": None}
            record = await asyncio.to_thread(start, backend, job_id)
            assert (await next_event())["data"] == {"job_id": job_id, "status": "running", "progress": None}
            await asyncio.to_thread(Job.fetch(job_id, connection=backend).set_progress, 0.5)
            assert (await next_event())["data"] == {"job_id": job_id, "status": "running", "progress": 0.5}
            await asyncio.to_thread(settle, backend, record, JobStatus.FINISHED, {"answer": 42})
            final = await next_event()
            assert final["event"] == "job_complete"
            assert final["data"] == {"job_id": job_id, "status": "completed", "result": {"answer": 42}}
            assert [event["event"] for event in seen] == ["job_update"] * 3 + ["job_complete"]
            assert [event["id"] for event in seen] == ["pending:", "running:", "running:0.5", "completed:0.5"]
            with pytest.raises(StopAsyncIteration):
                await next_event()


@contextlib.asynccontextmanager
async def followed_job(live_url: str) -> AsyncIterator[tuple[str, AsyncIterator[dict[str, Any]]]]:
    """A new job of alice's, and the events of a stream following it."""
    async with httpx.AsyncClient(base_url=live_url, headers=ALICE, timeout=30) as client:
        job_id = await submit(client)
        async with client.stream("GET", f"{API}/jobs/status/{job_id}/stream") as response:
            yield job_id, sse(response).__aiter__()


async def test_a_stream_says_when_the_store_is_down_then_shows_the_state_again_once_it_is_back(
    live_url: str, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with followed_job(live_url) as (job_id, events):

        async def next_event() -> dict[str, object]:
            while "comment" in (event := await anext(events)):
                pass
            return event

        assert (await next_event())["data"] == {"job_id": job_id, "status": "pending", "progress": None}

        def gone(*args: object) -> None:
            raise BackendUnavailableError("the store went away")

        monkeypatch.setattr(backend, "events_read", gone)  # what the server's event reader calls
        monkeypatch.setattr(backend, "job_snapshot", gone)  # and the stream's own read
        outage = await next_event()
        assert outage["event"] == "store_unavailable"
        assert outage["data"] == {"error": "BackendUnavailable", "message": STORE_DOWN, "job_id": job_id}
        monkeypatch.undo()
        back = await next_event()  # the current state again, although it did not change
        assert (back["event"], back["data"]) == (
            "job_update",
            {"job_id": job_id, "status": "pending", "progress": None},
        )
        await asyncio.to_thread(start, backend, job_id)
        assert (await next_event())["data"] == {"job_id": job_id, "status": "running", "progress": None}


async def test_a_stream_keeps_its_heartbeats_while_a_read_of_the_store_hangs(
    live_url: str, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with followed_job(live_url) as (job_id, events):
        assert (await anext(events))["data"]["status"] == "pending"
        entered, answered = threading.Event(), threading.Event()
        snapshot = backend.job_snapshot

        def hanging(job_id: str) -> object:  # a store that does not answer (not one that refuses)
            entered.set()
            answered.wait(30)
            return snapshot(job_id)

        monkeypatch.setattr(backend, "job_snapshot", hanging)
        await asyncio.to_thread(start, backend, job_id)  # an event: the stream reads, and the read hangs
        await asyncio.to_thread(entered.wait, 30)
        for _ in range(5):  # heartbeats every 0.2 s meanwhile (more than the few sent before the read)
            event = await anext(events)
            assert "comment" in event, event
        answered.set()
        while "comment" in (event := await anext(events)):
            pass
        assert event["data"] == {"job_id": job_id, "status": "running", "progress": None}


async def test_a_status_passed_through_between_two_reads_still_gets_its_update(live_url: str, backend: Backend) -> None:
    async with httpx.AsyncClient(base_url=live_url, headers=ALICE, timeout=30) as client:
        job_id = await submit(client)
        async with client.stream("GET", f"{API}/jobs/status/{job_id}/stream") as response:
            events = sse(response).__aiter__()
            first = await anext(events)
            assert first["data"]["status"] == "pending"
            # started and finished at once: the stream may read the job only once it has ended
            await asyncio.to_thread(lambda: settle(backend, start(backend, job_id), JobStatus.FINISHED, 7))
            rest = [event async for event in events if "comment" not in event]
    assert [(event["event"], event["data"]["status"]) for event in rest] == [
        ("job_update", "running"),
        ("job_complete", "completed"),
    ]
    assert rest[0]["data"] == {"job_id": job_id, "status": "running", "progress": None}


async def test_a_job_deleted_as_it_ends_still_gets_its_job_complete(live_url: str, backend: Backend) -> None:
    """result_ttl=0 deletes the job as it finishes: the stream says it completed (its
    result is gone), not that it was not found."""
    async with httpx.AsyncClient(base_url=live_url, headers=ALICE, timeout=30) as client:
        job_id = await submit(client, result_ttl=0)
        async with client.stream("GET", f"{API}/jobs/status/{job_id}/stream") as response:
            events = sse(response).__aiter__()
            assert (await anext(events))["data"]["status"] == "pending"

            def run_and_delete() -> None:
                record = start(backend, job_id)
                now = time.time()
                done = Settlement(job_id, str(record.lease_token), JobStatus.FINISHED, record.started_at,
                                  result=b"3", delete=True)  # fmt: skip
                assert backend.jobs_settle([done], now) == [True]

            await asyncio.to_thread(run_and_delete)
            rest = [event async for event in events if "comment" not in event]
    assert [(event["event"], event["data"]["status"]) for event in rest] == [
        ("job_update", "running"),
        ("job_complete", "completed"),
    ]
    assert rest[-1]["data"] == {"job_id": job_id, "status": "completed", "result": None}


async def test_a_job_deleted_before_it_ends_ends_the_stream_with_an_error(live_url: str, backend: Backend) -> None:
    async with httpx.AsyncClient(base_url=live_url, headers=ALICE, timeout=30) as client:
        job_id = await submit(client)
        async with client.stream("GET", f"{API}/jobs/status/{job_id}/stream") as response:
            events = sse(response).__aiter__()
            assert (await anext(events))["data"]["status"] == "pending"
            assert await asyncio.to_thread(backend.job_delete, job_id)
            rest = [event async for event in events if "comment" not in event]
    assert [(event["event"], event["data"]["error"]) for event in rest] == [("error", "JobNotFoundError")]


async def test_a_finished_job_gets_its_job_complete_at_once(live_url: str, backend: Backend) -> None:
    async with httpx.AsyncClient(base_url=live_url, headers=ALICE, timeout=30) as client:
        job_id = await submit(client, "fail")
        settle(backend, start(backend, job_id), JobStatus.FAILED, error="ValueError: boom")
        async with client.stream("GET", f"{API}/jobs/status/{job_id}/stream") as response:
            events = [event async for event in sse(response)]
    assert events == [
        {
            "id": "failed:",
            "event": "job_complete",
            "data": {"job_id": job_id, "status": "failed", "error": "ValueError: boom"},
        }
    ]


async def test_idle_streams_send_heartbeats_and_resume_from_last_event_id(live_url: str, backend: Backend) -> None:
    async with httpx.AsyncClient(base_url=live_url, headers=ALICE, timeout=30) as client:
        job_id = await submit(client)
        url = f"{API}/jobs/status/{job_id}/stream"
        async with client.stream("GET", url) as response:
            events = sse(response).__aiter__()
            first = await anext(events)
            assert first["id"] == "pending:"
            assert await anext(events) == {"comment": "ping"}
        async with client.stream("GET", url, headers={"Last-Event-ID": first["id"]}) as response:
            events = sse(response).__aiter__()
            assert await anext(events) == {"comment": "ping"}  # nothing new since pending
            await asyncio.to_thread(Job.fetch(job_id, connection=backend).cancel)
            event = await anext(events)
            while event == {"comment": "ping"}:  # a heartbeat may come first on a slow machine
                event = await anext(events)
            assert (event["event"], event["data"]["status"]) == ("job_complete", "cancelled")


async def test_a_stream_resumes_from_the_last_event_id_a_polyfill_sends_in_the_query(live_url: str) -> None:
    """EventSource polyfills, which can send the API key, reconnect with ?lastEventId=
    instead of the header; a header sent too wins."""
    async with httpx.AsyncClient(base_url=live_url, headers=ALICE, timeout=30) as client:
        job_id = await submit(client)
        url = f"{API}/jobs/status/{job_id}/stream"

        async def opening(**request: Any) -> dict[str, Any]:
            async with client.stream("GET", url, **request) as response:
                return await anext(sse(response).__aiter__())

        first = await opening(params={"lastEventId": "running:0.5"})
        assert (first["event"], first["id"]) == ("job_update", "pending:")  # it saw another state: shown
        assert await opening(params={"lastEventId": "pending:"}) == {"comment": "ping"}  # nothing new since pending
        both = await opening(params={"lastEventId": "running:0.5"}, headers={"Last-Event-ID": "pending:"})
        assert both == {"comment": "ping"}  # the header wins


async def test_streams_are_confined_to_their_owner(live_url: str) -> None:
    async with httpx.AsyncClient(base_url=live_url, headers=ALICE, timeout=30) as client:
        job_id = await submit(client)
        response = await client.get(f"{API}/jobs/status/{job_id}/stream", headers=BOB)
        assert (response.status_code, response.json()["error"]) == (404, "JobNotFoundError")


async def test_hundreds_of_streams_share_one_reader_thread(live_url: str, app: FastAPI, backend: Backend) -> None:
    streams = 200
    limits = httpx.Limits(max_connections=streams + 10)
    async with httpx.AsyncClient(base_url=live_url, headers=ALICE, timeout=60, limits=limits) as client:
        job_id = await submit(client)
        threads_before = threading.active_count()

        async def follow() -> str:
            async with client.stream("GET", f"{API}/jobs/status/{job_id}/stream") as response:
                async for event in sse(response):
                    if event.get("event") == "job_complete":
                        return str(event["data"]["status"])
            return "ended without job_complete"

        tasks = [asyncio.create_task(follow()) for _ in range(streams)]
        await until(lambda: followers(app) == streams, message="every stream to subscribe")
        assert threading.active_count() - threads_before < 20  # not a thread per stream
        await asyncio.to_thread(Job.fetch(job_id, connection=backend).cancel)
        assert await asyncio.wait_for(asyncio.gather(*tasks), 30) == ["cancelled"] * streams
    await until(lambda: followers(app) == 0, message="the streams to unsubscribe")


async def test_a_client_that_saw_job_complete_gets_it_again_on_reconnect(live_url: str, backend: Backend) -> None:
    async with httpx.AsyncClient(base_url=live_url, headers=ALICE, timeout=30) as client:
        job_id = await submit(client)
        await client.post(f"{API}/jobs/cancel/{job_id}")
        url = f"{API}/jobs/status/{job_id}/stream"
        async with client.stream("GET", url, headers={"Last-Event-ID": "cancelled:"}) as response:
            events = [event async for event in sse(response)]
    assert [(event["event"], event["id"]) for event in events] == [("job_complete", "cancelled:")]


async def test_stopping_the_server_ends_open_streams_and_answers_polls(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    sock = bind("127.0.0.1", 0)
    server = make_server(app, log_level="warning")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        await until(lambda: server.started, message="uvicorn to start")
        async with httpx.AsyncClient(base_url=url_of(sock), headers=ALICE, timeout=30) as client:
            job_id = await submit(client)
            poll = asyncio.create_task(
                client.get(f"{API}/jobs/status/{job_id}/poll", params={"current_status": "pending", "timeout": 60})
            )
            async with client.stream("GET", f"{API}/jobs/status/{job_id}/stream") as response:
                events = sse(response).__aiter__()
                assert (await anext(events))["data"]["status"] == "pending"
                await until(lambda: followers(app) == 2, message="the poll and the stream to follow the job")
                server.should_exit = True
                rest = [event async for event in events]  # ends cleanly: no cut chunk
            answered = await asyncio.wait_for(poll, 30)
        assert all("comment" in event for event in rest), "nothing but heartbeats after the first event"
        assert (answered.status_code, answered.json()["changed"]) == (200, False)
        thread.join(30)
        assert not thread.is_alive()
        assert not [r for r in caplog.records if "Exception in ASGI application" in r.getMessage()]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
