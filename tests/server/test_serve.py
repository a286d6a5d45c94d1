"""``conveyor serve`` in a subprocess, with a real ``conveyor worker`` running the jobs."""

from __future__ import annotations

import asyncio
import hashlib
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

import conveyor
from cli.conftest import LineReader, conveyor_cmd, subprocess_env
from conveyor.backends.base import Backend
from conveyor.cli import cli
from dashboard.servers import ApiServer
from redis_server import RedisServer
from waiting import wait_until

from .conftest import ALICE, API, BOB, KEYS, sse, submit, until

pytestmark = pytest.mark.anyio


def stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM, so that a server with several processes stops its children too."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def serving(url: str, backend: Backend, cwd: Path, processes: int = 1) -> Iterator[str]:
    """`conveyor serve` (with this many processes) and `conveyor worker` on ``url``;
    yields the server's base URL."""
    env = subprocess_env(CONVEYOR_API_KEYS=KEYS, CONVEYOR_IMPORTS="server.jobtypes")
    command = ["serve", "-u", url, "--port", "0", "--log-level", "warning", "--workers", str(processes)]
    server = subprocess.Popen(
        conveyor_cmd(*command), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    worker = subprocess.Popen(
        conveyor_cmd("worker", "-u", url, "--concurrency", "2"), cwd=cwd, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        base = answering(LineReader(server.stdout))
        wait_until(backend.workers_list, message="the worker to register")
        yield base
    finally:
        worker.kill()
        worker.wait()
        stop(server)


@pytest.fixture
def served(url: str, backend: Backend, tmp_path: Path) -> Iterator[str]:
    with serving(url, backend, tmp_path) as base:
        yield base


async def test_a_job_submitted_over_http_runs_on_a_worker(served: str) -> None:
    async with httpx.AsyncClient(base_url=served, headers=ALICE, timeout=30) as client:
        response = await client.post(f"{API}/jobs", json={"job_type": "add", "args": [2, 3]})
        job_id = response.json()["job_id"]
        status = "pending"
        while status not in ("completed", "failed"):
            params = {"current_status": status, "timeout": 20}
            status = (await client.get(f"{API}/jobs/status/{job_id}/poll", params=params)).json()["status"]
        job = (await client.get(f"{API}/jobs/{job_id}")).json()
        assert (job["status"], job["result"], job["user_id"]) == ("completed", 5, "alice")
        assert job["worker_id"]
        assert (await client.get(f"{API}/jobs/{job_id}", headers=BOB)).status_code == 404
        workers = (await client.get(f"{API}/workers")).json()["data"]
        assert len(workers) == 1 and workers[0]["healthy"]


async def test_a_stream_follows_a_running_job_to_its_end(served: str, tmp_path: Path) -> None:
    marker = tmp_path / "finish"
    async with httpx.AsyncClient(base_url=served, headers=ALICE, timeout=30) as client:
        response = await client.post(f"{API}/jobs", json={"job_type": "steps", "args": [str(marker), 2]})
        job_id = response.json()["job_id"]
        events = []
        async with client.stream("GET", f"{API}/jobs/status/{job_id}/stream") as stream:
            async for event in sse(stream):
                if "comment" in event:
                    continue
                events.append(event)
                if event["data"].get("progress") == 1.0:
                    marker.touch()  # the job has reported all its steps: let it finish
        assert events[-1]["event"] == "job_complete"
        assert events[-1]["data"] == {"job_id": job_id, "status": "completed", "result": "2 steps"}
        assert all(event["event"] == "job_update" for event in events[:-1])
        assert "running" in [event["data"]["status"] for event in events[:-1]]


async def test_cancelling_a_running_job_stops_it_on_its_worker(served: str, tmp_path: Path) -> None:
    async with httpx.AsyncClient(base_url=served, headers=ALICE, timeout=30) as client:
        response = await client.post(f"{API}/jobs", json={"job_type": "steps", "args": [str(tmp_path / "never")]})
        job_id = response.json()["job_id"]
        poll = await client.get(f"{API}/jobs/status/{job_id}/poll", params={"current_status": "pending", "timeout": 20})
        assert poll.json()["status"] == "running"
        assert (await client.post(f"{API}/jobs/cancel/{job_id}")).json()["status"] == "cancelled"
        assert (await client.get(f"{API}/jobs/{job_id}")).json()["status"] == "cancelled"

        def restart() -> httpx.Response | None:  # refused (409) until the worker has stopped the job
            response = httpx.post(f"{served}{API}/jobs/restart/{job_id}", headers=ALICE)
            assert response.status_code in (200, 409), response.text
            return response if response.status_code == 200 else None

        restarted = wait_until(restart, message="the worker to stop the job")
        assert restarted.json() == {"job_id": job_id, "status": "pending", "message": "Job restarted and re-queued"}


def answering(output: LineReader, timeout: float = 30.0) -> str:
    """The base URL a starting ``conveyor serve`` prints, once the server answers there
    (the socket listens before the server processes have started)."""
    line = output.wait_for("conveyor API on", timeout=timeout)
    match = re.search(r"(http://[\d.]+:\d+)", line)
    assert match is not None, line
    base = match.group(1)
    wait_until(lambda: httpx.get(f"{base}/health", timeout=60).status_code == 200, message="the server to answer")
    return base


def test_several_server_processes_share_the_port(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'conveyor.db'}"  # one backend is enough: the processes are uvicorn's
    backend = conveyor.connect(url)
    with serving(url, backend, tmp_path, processes=2) as base, httpx.Client(base_url=base, headers=ALICE) as client:
        ids = [client.post(f"{API}/jobs", json={"job_type": "add", "args": [i, 1]}).json()["job_id"] for i in range(4)]

        def results() -> list[object] | None:
            found = [client.get(f"{API}/jobs/{job_id}").json()["result"] for job_id in ids]
            return found if None not in found else None

        assert wait_until(results, message="the jobs to finish") == [1, 2, 3, 4]
    backend.close()


def test_ctrl_c_stops_the_server_cleanly(tmp_path: Path) -> None:
    server = subprocess.Popen(
        conveyor_cmd("serve", "-u", f"sqlite:///{tmp_path / 'c.db'}", "--port", "0", "--log-level", "warning"),
        env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # Ctrl-C as in a terminal: a child of a background shell would start with SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509 (one call, no lock)
    )  # fmt: skip
    try:
        assert server.stdout is not None
        output = LineReader(server.stdout)
        answering(output)
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=15) == 0  # stopped as asked: not a failure
        assert "Aborted" not in output.rest()
    finally:
        stop(server)


SUPERVISOR_KILL = 30.0
"""Seconds Kubernetes, ECS and Heroku wait after SIGTERM before they SIGKILL."""


@pytest.mark.parametrize("processes", [1, 2])
async def test_sigterm_ends_open_streams_and_answers_polls_and_the_server_exits_0(
    tmp_path: Path, processes: int
) -> None:
    """A rolling deploy's SIGTERM, with clients following a job: each long-poll answers
    (unchanged status, 200) and each event stream ends cleanly, for the client to
    reconnect elsewhere, and the server exits 0 well before a supervisor's SIGKILL."""
    env = subprocess_env(CONVEYOR_API_KEYS=KEYS, CONVEYOR_IMPORTS="server.jobtypes")
    command = ["serve", "-u", f"sqlite:///{tmp_path / 'c.db'}", "--port", "0", "--log-level", "warning"]
    server = subprocess.Popen(
        conveyor_cmd(*command, "--workers", str(processes)), cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        output = LineReader(server.stdout)
        base = answering(output)
        async with httpx.AsyncClient(base_url=base, headers=ALICE, timeout=60) as client:
            job_id = await submit(client)  # no worker: it stays pending, so nothing ends the waits but the stop

            async def poll() -> httpx.Response:
                async with httpx.AsyncClient(base_url=base, headers=ALICE, timeout=60) as own:
                    await own.get("/health")  # its connection taken by a server process before the stop
                    params = {"current_status": "pending", "timeout": 60}
                    return await own.get(f"{API}/jobs/status/{job_id}/poll", params=params)

            async def stream(opened: asyncio.Event) -> list[dict[str, Any]]:
                events = []
                async with client.stream("GET", f"{API}/jobs/status/{job_id}/stream") as response:
                    async for event in sse(response):
                        events.append(event)
                        opened.set()
                return events

            polls = [asyncio.create_task(poll()) for _ in range(3)]
            opened = [asyncio.Event() for _ in range(3)]
            streams = [asyncio.create_task(stream(event)) for event in opened]
            await asyncio.wait_for(asyncio.gather(*(event.wait() for event in opened)), 30)
            if processes == 1:  # its one process follows them all
                await until(lambda: _followers(base) == 6, message="the polls and the streams to follow the job")
            began = time.monotonic()
            server.send_signal(signal.SIGTERM)
            answered = await asyncio.wait_for(asyncio.gather(*polls), SUPERVISOR_KILL)
            ended = await asyncio.wait_for(asyncio.gather(*streams), SUPERVISOR_KILL)  # cut: RemoteProtocolError
        assert [(response.status_code, response.json()["changed"]) for response in answered] == [(200, False)] * 3
        for events in ended:
            assert events[0]["data"]["status"] == "pending"
            assert all("comment" in event for event in events[1:]), "nothing but heartbeats after the first event"
        assert await asyncio.to_thread(server.wait, SUPERVISOR_KILL) == 0  # stopped as asked: not a failure
        assert time.monotonic() - began < SUPERVISOR_KILL / 3
        log = output.rest()
        assert "Traceback" not in log and "Exception" not in log, log
    finally:
        stop(server)


def _followers(base: str) -> int:
    """The server's gauge of long-polls and streams following jobs (one process's)."""
    text = httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer root-key"}).text
    match = re.search(r"^conveyor_event_followers (\S+)$", text, flags=re.M)
    return int(float(match.group(1))) if match else -1


def test_a_server_started_before_its_redis_waits_for_it(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path)  # its port chosen, nothing listening yet
    server = subprocess.Popen(
        conveyor_cmd("serve", "-u", redis.url, "--port", "0", "--log-level", "warning"),
        env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        output = LineReader(server.stdout)
        waiting = output.wait_for("trying again in 0.5s")
        assert waiting.startswith(f"Warning: Redis at {redis.url} cannot be reached")
        output.wait_for("trying again in 1s")
        redis.start()
        health = httpx.get(f"{answering(output, timeout=60)}/health")
        assert health.json()["status"] == "ok"
    finally:
        stop(server)
        redis.stop()


def test_serve_refuses_an_open_api_beyond_loopback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CONVEYOR_API_KEYS", raising=False)
    monkeypatch.delenv("CONVEYOR_API_KEYS_FILE", raising=False)
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "-u", f"sqlite:///{tmp_path / 'c.db'}"])
    assert result.exit_code == 2
    assert "refusing to serve an open API on 0.0.0.0" in result.stderr
    assert "Traceback" not in result.output


def test_serve_reports_a_busy_port_in_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--port", str(port), "-u", f"sqlite:///{tmp_path / 'c.db'}"])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_server_settings_come_from_flags_over_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from conveyor.cli import commands_serve

    served: list[object] = []

    class NotServing:
        def __init__(self, api: object, log_level: str) -> None:
            served.append(api)

        def run(self, sockets: object) -> None:
            pass

    monkeypatch.setattr(commands_serve, "make_server", NotServing)
    monkeypatch.setenv("CONVEYOR_MAX_BODY_BYTES", "999")
    monkeypatch.setenv("CONVEYOR_SSE_HEARTBEAT", "7")
    keys = tmp_path / "keys"
    keys.write_text(f"sha256:{hashlib.sha256(b'file-key').hexdigest()}:carol:user\n")
    flags = ["--port", "0", "--max-body-bytes", "2048", "--rate-limit", "10/min", "--api-keys-file", str(keys)]
    result = CliRunner().invoke(cli, ["serve", *flags, "-u", f"sqlite:///{tmp_path / 'c.db'}"])
    assert result.exit_code == 0, result.output
    settings = served[0].state.conveyor.settings  # type: ignore[attr-defined]
    assert (settings.max_body_bytes, settings.sse_heartbeat_seconds) == (2048, 7.0)  # flag, then environment
    assert settings.rate_limit.text == "10/min" and "carol" in [key.user_id for key in settings.api_keys]


def test_a_bad_server_setting_is_a_one_line_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    result = CliRunner().invoke(cli, ["serve", "--port", "0", "--rate-limit", "lots", "-u", url])
    assert result.exit_code == 2 and "CONVEYOR_RATE_LIMIT" in result.stderr and "Traceback" not in result.output
    refused = CliRunner().invoke(cli, ["serve", "--sse-heartbeat", "0", "-u", url])
    assert refused.exit_code == 2 and "--sse-heartbeat" in refused.stderr


def test_a_fresh_servers_first_stats_read_the_hosts_cpu(tmp_path: Path) -> None:
    server = ApiServer(f"sqlite:///{tmp_path / 'conveyor.db'}").start()
    try:
        busy_until = time.process_time() + 0.3
        while time.process_time() < busy_until:  # the host's CPU is busy: this process uses it
            pass
        stats = server.get("/api/v1/jobs/queue/stats")
        assert isinstance(stats, dict)
        assert stats["cpu_usage_percent"] > 0  # psutil's first reading was 0.0, whatever the load
    finally:
        server.stop()
