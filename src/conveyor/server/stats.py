"""GET /jobs/stats and /jobs/queue/stats: counts from ``counts()``, throughput from the
backend's per-minute counters, so both cost the same with ten jobs or ten million."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from conveyor.backends.base import Backend
from conveyor.clock import to_datetime
from conveyor.health import store_health, worker_is_healthy
from conveyor.rates import Rate
from conveyor.server.host import HostLoad
from conveyor.server.schemas import QueueStats, StartRate, Stats, Throughput
from conveyor.server.settings import Settings
from conveyor.status import REST_NAMES

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


def rest_counts(backend: Backend, user_id: str | None = None) -> Counter[str]:
    """Jobs per REST status, over every queue (one user's, if given)."""
    totals: Counter[str] = Counter()
    for by_status in backend.counts(user_id).values():
        for status, count in by_status.items():
            totals[REST_NAMES[status]] += count
    return totals


def stats(backend: Backend, now: float, user_id: str | None = None) -> Stats:
    """Counts of ``user_id``'s jobs when given; throughput and run time are the store's
    (its per-minute counters are not kept per user)."""
    counts = rest_counts(backend, user_id)
    windows = {span: backend.throughput(now - span) for span in (MINUTE, HOUR, DAY)}
    hour = windows[HOUR]
    ran = hour.finished + hour.failed  # (the run times summed are theirs)
    return Stats(
        pending=counts["pending"],
        running=counts["running"],
        completed=counts["completed"],
        failed=counts["failed"],
        workers=len(backend.workers_list()),
        queue_type=backend.kind,
        avg_processing_time_ms=round(hour.runtime_total / ran * 1000, 3) if ran else None,
        throughput=Throughput(last_minute=windows[MINUTE].ended, last_hour=hour.ended, last_day=windows[DAY].ended),
    )


def queue_stats(
    backend: Backend, settings: Settings, host: HostLoad, now: float, user_id: str | None = None
) -> QueueStats:
    """Counts of ``user_id``'s jobs when given; workers and health are the store's, CPU
    (since the previous call, or the app's start) and memory in use the server host's."""
    counts = rest_counts(backend, user_id)
    everyone = counts if user_id is None else rest_counts(backend)
    workers = backend.workers_list()
    healthy = sum(worker_is_healthy(worker, now) for worker in workers)
    waiting = everyone["pending"] + everyone["scheduled"] + everyone["running"]
    return QueueStats(
        pending_jobs=counts["pending"],
        running_jobs=counts["running"],
        scheduled_jobs=counts["scheduled"],
        completed_jobs=counts["completed"],
        failed_jobs=counts["failed"],
        cancelled_jobs=counts["cancelled"],
        total_jobs=sum(counts.values()),
        queue_type=backend.kind,
        active_workers=healthy,
        cpu_usage_percent=host.cpu_percent(),
        memory_usage_mb=host.memory_used_mb(),
        global_max_concurrent_jobs=settings.global_max_concurrent_jobs,
        per_user_max_concurrent_jobs=settings.per_user_max_concurrent_jobs,
        queue_rates=_start_rates(settings.queue_rates),
        job_type_rates=_start_rates(settings.job_type_rates),
        user_rate=None if settings.user_rate is None else _start_rate(settings.user_rate),
        worker_health_status=store_health(workers, now, waiting),
        last_cleanup=to_datetime(backend.maintenance_last()),
    )


def _start_rates(rates: Mapping[str, Rate]) -> dict[str, StartRate]:
    return {name: _start_rate(rate) for name, rate in rates.items()}


def _start_rate(rate: Rate) -> StartRate:
    return StartRate(count=rate.count, period_seconds=rate.period)
