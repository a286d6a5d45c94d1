"""HTTP load on the REST API: POST /api/v1/jobs, then GET /api/v1/jobs/status/{id}.

Starts ``conveyor serve`` (a subprocess, on a free loopback port) on SQLite and/or on
Redis (a private redis-server it starts, or --redis-url), then runs N concurrent
clients (asyncio + httpx, keep-alive connections) for --duration seconds per phase:

  submit: each client POSTs {"job_type": "bench-noop", "args": [i]} in a loop;
  status: each client GETs the status of random jobs from the submit phase.

No worker runs: the figures are the API's own. Prints p50/p99/mean latency and
requests per second per phase and backend, next to the targets (submit p99 <= 20 ms,
status p99 <= 10 ms, >= 1,000 submits/s), and the server's own mean time per request
(from its /metrics histogram, so the client's cost is left out). Not a test: it
asserts nothing.

Each client is one keep-alive connection speaking HTTP/1.1 over asyncio streams
(``--client raw``, the default): httpx spends about three times the server's CPU per
request, so with it (``--client httpx``) the figures measure mostly the load client.

    .venv/bin/python bench/http_load.py --duration 20 --clients 50
    .venv/bin/python bench/http_load.py --backend sqlite --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
TARGETS = {"submit": {"p99_ms": 20.0, "rps": 1000.0}, "status": {"p99_ms": 10.0}}
KEY = "bench-key"
OPS_KEY = "bench-ops-key"
"""An admin's key, for /metrics only (a user's key is refused there: the figures' "server ms")."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server not found: install it, or pass --redis-url")
    port = free_port()
    with tempfile.TemporaryDirectory() as directory:
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        process = subprocess.Popen([*command, "--dir", directory], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.kill()
            process.wait()


@contextmanager
def redis_for(backend: str, redis_url: str | None) -> Iterator[str | None]:
    """The Redis URL to benchmark on (None for SQLite): --redis-url, or a private server."""
    if backend != "redis":
        yield None
    elif redis_url:
        yield redis_url
    else:
        with redis_server() as url:
            yield url


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


@contextmanager
def conveyor_serve(url: str, processes: int) -> Iterator[str]:
    """`conveyor serve` on ``url``; yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCH_DIR), os.environ.get("PYTHONPATH")])),
        "CONVEYOR_API_KEYS": f"{KEY}:bench:user,{OPS_KEY}:ops:admin",
    }
    command = [sys.executable, "-m", "conveyor", "serve", "-u", url, "--port", str(port), "--import", "httpjobs",
               "--log-level", "warning", "--workers", str(processes)]  # fmt: skip
    process = subprocess.Popen(command, env=env)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


class RawClient:
    """One keep-alive HTTP/1.1 connection on asyncio streams: a few microseconds of
    client work per request, so the figures are the server's."""

    def __init__(self, base: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode() + body)
        headers = await reader.readuntil(b"\r\n\r\n")
        status = int(headers[9:12])
        length = int(headers.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        return status, await reader.readexactly(length)

    async def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()


class HttpxClient:
    """The same requests through one shared httpx.AsyncClient (for comparison)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"}
        response = await self.client.request(method, path, content=body or None, headers=headers)
        return response.status_code, response.content

    async def close(self) -> None:
        pass


Request = Callable[[Any, int], Awaitable[tuple[int, bytes]]]


async def phase(base: str, clients: int, duration: float, kind: str, make: Request, processes: int) -> dict[str, Any]:
    """Run ``clients`` loops of ``make(client, n)`` requests for ``duration`` seconds. The
    server's own time is read only from a single process: with several, the two reads of
    /metrics may reach different ones."""
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=base, limits=limits, headers=headers, timeout=30) as shared:
        connections = [RawClient(base) if kind == "raw" else HttpxClient(shared) for _ in range(clients)]
        before = await server_seconds(shared)
        deadline = time.perf_counter() + duration

        async def loop(worker: int) -> None:
            nonlocal errors
            n = worker
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                status, _ = await make(connections[worker], n)
                latencies.append(time.perf_counter() - began)
                if status >= 400:
                    errors += 1
                n += clients

        started = time.perf_counter()
        await asyncio.gather(*(loop(i) for i in range(clients)))
        elapsed = time.perf_counter() - started
        after = await server_seconds(shared)
        for connection in connections:
            await connection.close()
    ordered = sorted(latencies)
    served = after[1] - before[1]
    return {
        "requests": len(ordered),
        "errors": errors,
        "rps": len(ordered) / elapsed,
        "p50_ms": ordered[len(ordered) // 2] * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "mean_ms": statistics.fmean(ordered) * 1000,
        "server_mean_ms": (after[0] - before[0]) / served * 1000 if served and processes == 1 else None,
    }


def server_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


async def server_seconds(client: httpx.AsyncClient) -> tuple[float, float]:
    """The server's summed request time and request count so far, from /metrics."""
    reply = await client.get("/metrics", headers={"Authorization": f"Bearer {OPS_KEY}"})
    reply.raise_for_status()
    text = reply.text
    total = count = 0.0
    for line in text.splitlines():
        if line.startswith("conveyor_http_request_duration_seconds_sum{") and "/metrics" not in line:
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith("conveyor_http_request_duration_seconds_count{") and "/metrics" not in line:
            count += float(line.rsplit(" ", 1)[1])
    return total, count


async def run_backend(base: str, clients: int, duration: float, kind: str, processes: int) -> dict[str, dict[str, Any]]:
    ids: list[str] = []

    async def submit(client: Any, n: int) -> tuple[int, bytes]:
        status, body = await client.request("POST", "/api/v1/jobs", b'{"job_type":"bench-noop","args":[%d]}' % n)
        if status == 201:
            ids.append(json.loads(body)["job_id"])
        return status, body

    async def status(client: Any, n: int) -> tuple[int, bytes]:
        return await client.request("GET", f"/api/v1/jobs/status/{random.choice(ids)}")  # type: ignore[no-any-return]

    results = {"submit": await phase(base, clients, duration, kind, submit, processes)}
    results["status"] = await phase(base, clients, duration, kind, status, processes)
    return results


def verdict(name: str, figures: dict[str, Any]) -> str:
    target = TARGETS[name]
    checks = [figures["p99_ms"] <= target["p99_ms"]]
    if "rps" in target:
        checks.append(figures["rps"] >= target["rps"])
    return "met" if all(checks) else "missed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "redis", "both"], default="both")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase (default 20)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--redis-url", help="use this Redis instead of starting a private redis-server")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw", help="load client (default raw)")
    parser.add_argument("--server-workers", type=int, default=1, help="conveyor serve --workers N (default 1)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()

    results: dict[str, Any] = {}
    backends = ["sqlite", "redis"] if args.backend == "both" else [args.backend]
    for backend in backends:
        with tempfile.TemporaryDirectory() as directory, redis_for(backend, args.redis_url) as redis_url:
            url = f"sqlite:///{directory}/bench.db" if backend == "sqlite" else redis_url
            assert url is not None
            with conveyor_serve(url, args.server_workers) as base:
                results[backend] = asyncio.run(
                    run_backend(base, args.clients, args.duration, args.client, args.server_workers)
                )

    print(
        f"\n{args.clients} {args.client} clients, {args.duration:g} s per phase, {args.server_workers} server "
        "process(es), loopback, no worker running (server ms: the process's own mean; n/a with several)\n"
    )
    print("| backend | request | requests | errors | req/s | p50 ms | p99 ms | mean ms | server ms | target |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for backend, phases in results.items():
        for name, figures in phases.items():
            target = TARGETS[name]
            wanted = f"p99 <= {target['p99_ms']:g} ms" + (f", >= {target['rps']:,.0f}/s" if "rps" in target else "")
            print(
                f"| {backend} | {'POST /jobs' if name == 'submit' else 'GET /jobs/status/{id}'} | "
                f"{figures['requests']:,} | {figures['errors']} | {figures['rps']:,.0f} | {figures['p50_ms']:.1f} | "
                f"{figures['p99_ms']:.1f} | {figures['mean_ms']:.1f} | {server_ms(figures['server_mean_ms'])} | "
                f"{wanted}: {verdict(name, figures)} |"
            )
    if args.json:
        args.json.write_text(json.dumps({"clients": args.clients, "duration": args.duration, "results": results}))


if __name__ == "__main__":
    main()
