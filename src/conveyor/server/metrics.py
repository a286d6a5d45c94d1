"""Prometheus metrics: job counts, throughput and workers read from the backend at
scrape time, and HTTP requests counted by a middleware. Each app has its own registry."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conveyor.backends.base import Backend
from conveyor.exceptions import BackendError
from conveyor.health import worker_is_healthy
from conveyor.server.events import EventHub
from conveyor.status import REST_NAMES

WINDOWS = {"1m": 60.0, "1h": 3600.0, "1d": 86400.0}


class BackendCollector(Collector):
    """Reads counters at each scrape; a store that is down shows as conveyor_backend_up 0."""

    def __init__(self, backend: Backend, hub: EventHub) -> None:
        self.backend = backend
        self.hub = hub

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("conveyor_backend_up", "Whether the job store answered this scrape.")
        streams = GaugeMetricFamily("conveyor_event_followers", "Long-polls and SSE streams following a job.")
        streams.add_metric([], self.hub.followers)
        yield streams
        try:
            families = list(self._from_backend(time.time()))
        except BackendError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _from_backend(self, now: float) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("conveyor_jobs", "Jobs per queue and REST status.", labels=["queue", "status"])
        for queue, by_status in sorted(self.backend.counts().items()):
            totals: dict[str, int] = {}
            for status, count in by_status.items():
                totals[REST_NAMES[status]] = totals.get(REST_NAMES[status], 0) + count
            for name, count in sorted(totals.items()):
                jobs.add_metric([queue, name], count)
        yield jobs
        paused = GaugeMetricFamily(
            "conveyor_queue_paused_seconds", "How long each paused queue has been paused.", labels=["queue"]
        )
        for queue, since in sorted(self.backend.queues_paused().items()):
            paused.add_metric([queue], max(0.0, now - since))
        yield paused
        ended = GaugeMetricFamily(
            "conveyor_jobs_ended", "Jobs that ended in the trailing window.", labels=["window", "outcome"]
        )
        runtime = GaugeMetricFamily(
            "conveyor_jobs_runtime_seconds",
            "Summed run time of the jobs that finished or failed in the window.",
            labels=["window"],
        )
        for window, span in WINDOWS.items():
            counted = self.backend.throughput(now - span)
            ended.add_metric([window, "finished"], counted.finished)
            ended.add_metric([window, "failed"], counted.failed)
            ended.add_metric([window, "cancelled"], counted.cancelled)
            runtime.add_metric([window], counted.runtime_total)
        yield ended
        yield runtime
        workers = self.backend.workers_list()
        registered = GaugeMetricFamily("conveyor_workers", "Registered workers by health.", labels=["healthy"])
        healthy = sum(worker_is_healthy(worker, now) for worker in workers)
        registered.add_metric(["true"], healthy)
        registered.add_metric(["false"], len(workers) - healthy)
        yield registered


class HttpMetrics:
    """ASGI middleware counting requests and their latency by route template (not raw
    path, so job ids never become label values)."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "conveyor_http_requests", "HTTP requests answered.", ["method", "route", "status"], registry=registry
        )
        self.latency = Histogram(
            "conveyor_http_request_duration_seconds",
            "Time to the response's first byte.",
            ["method", "route"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                route = getattr(scope.get("route"), "path", "unmatched")
                self.latency.labels(scope["method"], route).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.requests.labels(scope["method"], route, str(status)).inc()


def registry_for(backend: Backend, hub: EventHub) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(BackendCollector(backend, hub))
    return registry
