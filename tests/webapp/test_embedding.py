"""A FastAPI app of one's own that enqueues from its handlers and mounts conveyor's
REST API and dashboard, as the README's "Enqueueing from a web application" shows it,
served by uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

import conveyor
from conveyor import Job, Queue
from conveyor.server import Settings, create_app
from server import jobtypes  # noqa: F401  (registers the job type "add")
from server.conftest import settle, start
from waiting import wait_until


@contextlib.contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """``app`` under a plain uvicorn (not conveyor serve's), on a thread; its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, message="uvicorn to start")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()
    assert not thread.is_alive(), "uvicorn stopped"


def web_app(url: str) -> tuple[FastAPI, Queue, FastAPI]:
    """The README's recipe: one Queue at import, handlers of both kinds, conveyor mounted."""
    queue = Queue(connection=conveyor.connect(url))
    jobs_app = create_app(queue.connection, Settings())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with jobs_app.router.lifespan_context(jobs_app):  # a mounted app's own is not run
            yield

    app = FastAPI(lifespan=lifespan)

    @app.post("/sync/{n}")
    def enqueue_in_a_sync_handler(n: int) -> dict[str, str]:  # FastAPI runs it on a worker thread
        return {"job_id": queue.enqueue("server.jobtypes.add", n, 1).id}

    @app.post("/async/{n}")
    async def enqueue_in_an_async_handler(n: int) -> dict[str, str]:
        job = await asyncio.to_thread(queue.enqueue, "server.jobtypes.add", n, 1)
        return {"job_id": job.id}

    @app.post("/blocking/{n}")
    async def enqueue_on_the_event_loop(n: int) -> dict[str, str]:
        return {"job_id": queue.enqueue("server.jobtypes.add", n, 1).id}

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    app.mount("/jobs", jobs_app)
    return app, queue, jobs_app


def test_a_mounted_api_and_dashboard_work_beside_the_apps_own_routes(url: str) -> None:
    app, queue, jobs_app = web_app(url)
    try:
        with served(app) as base, httpx.Client(base_url=base, timeout=20) as http:
            assert http.get("/hello").json() == {"hello": "world"}
            ids = [http.post(path).json()["job_id"] for path in ("/sync/1", "/async/2")]
            for job_id, n in zip(ids, (1, 2), strict=True):
                assert Job.fetch(job_id, connection=queue.connection).args == (n, 1)
                assert http.get(f"/jobs/api/v1/jobs/{job_id}").json()["status"] == "pending"
            assert http.get("/jobs", follow_redirects=False).headers["location"].endswith("/jobs/")
            page = http.get("/jobs/")
            assert page.status_code == 200 and 'src="js/app.js"' in page.text  # relative: under /jobs/
            assert 'const BASE = "api/v1"' in http.get("/jobs/js/api.js").text
            assert "/jobs/openapi.json" in http.get("/jobs/docs").text
            assert http.get("/jobs/health").json()["backend_reachable"] is True
            assert http.get("/jobs/api/v1/nothing").status_code == 404
            assert http.get("/nothing").status_code == 404  # the app's own 404, not the dashboard's

            # a browser following its job: the long-poll answers once a worker takes it
            def finish_first_job() -> None:
                wait_until(lambda: jobs_app.state.conveyor.hub.followers, message="the poll to wait")
                settle(queue.connection, start(queue.connection, ids[0]), conveyor.JobStatus.FINISHED, result=2)

            worker = threading.Thread(target=finish_first_job)
            worker.start()
            polled = http.get(f"/jobs/api/v1/jobs/status/{ids[0]}/poll", params={"current_status": "pending"})
            worker.join()
            assert polled.json()["status"] in ("running", "completed")  # the first change it saw
            assert http.get(f"/jobs/api/v1/jobs/status/{ids[0]}").json()["status"] == "completed"
            reader = jobs_app.state.conveyor.hub._thread
            assert reader is not None and reader.is_alive()
        assert not reader.is_alive(), "the mounted app's event reader stopped with the server (the lifespan recipe)"
    finally:
        queue.connection.close()


def test_an_async_handler_enqueueing_on_a_thread_leaves_the_event_loop_free_while_the_store_waits(
    tmp_path: Path,
) -> None:
    """Another process holds the SQLite write lock (a long write) for a while: the
    enqueue waits for it, up to a minute. Run with asyncio.to_thread, the app answers
    other requests meanwhile; called on the event loop, nothing else is answered."""
    path = tmp_path / "jobs.db"
    app, queue, _ = web_app(f"sqlite:///{path}")
    try:
        with served(app) as base, httpx.Client(base_url=base, timeout=30) as http:
            for path_ in ("/async/1", "/blocking/2"):
                holder = sqlite3.connect(path, isolation_level=None)
                holder.execute("BEGIN IMMEDIATE")
                answers: list[httpx.Response] = []
                request = threading.Thread(target=lambda p=path_: answers.append(http.post(p)))  # type: ignore[misc]
                request.start()
                writing = queue.connection._pool._writing  # type: ignore[attr-defined]
                wait_until(writing.locked, message="the enqueue to wait for the lock")
                began = time.monotonic()
                try:
                    answered = http.get("/hello", timeout=1).status_code == 200
                except httpx.TimeoutException:
                    answered = False
                assert answered is (path_ == "/async/1"), path_
                assert not answers, "the enqueue still waits for the lock"
                holder.execute("COMMIT")
                holder.close()
                request.join()
                assert answers[0].status_code == 200
                assert Job.fetch(answers[0].json()["job_id"], connection=queue.connection).args[1] == 1
                assert time.monotonic() - began < 30
    finally:
        queue.connection.close()


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONVEYOR_API_KEYS", raising=False)
    monkeypatch.delenv("CONVEYOR_API_KEYS_FILE", raising=False)
